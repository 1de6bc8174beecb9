"""The declared digest of results.json (report/write/digest.py): every declared path resolves in a report this version
writes, with its declared type; a renamed key or a value of another type raises instead of showing "—"."""

from __future__ import annotations

import json

import pytest

from report.write import digest
from report.write.digest import HEADLINES, SchemaMismatch, read
from report.write.results_json import SCHEMA_VERSION

DEFAULTS = {int: 0, float: 0.5, bool: False, str: "", list: []}


def document_with(**values) -> dict:
    """A results.json document holding every declared key (typed placeholders), with `values` (by headline
    name) in place of the placeholders."""
    document = {"schema_version": SCHEMA_VERSION}
    for headline in HEADLINES:
        if headline.derive is None:
            *parents, last = headline.path.split(".")
            node = document
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = values.get(headline.name, DEFAULTS[headline.type])
    return document


def _without(document: dict, path: str) -> dict:
    *parents, last = path.split(".")
    node = document
    for part in parents:
        node = node[part]
    del node[last]
    return document


def test_every_declared_path_resolves_with_its_type_in_a_written_report(built_report):
    document = json.loads((built_report.folder / "results.json").read_text(encoding="utf-8"))
    values = read(document).values
    assert set(values) == {h.name for h in HEADLINES}
    for headline in HEADLINES:  # the planted checkpoint's report has a value (not null) at every declared path
        if headline.name not in {"revision", "unembedding_row_cos_median", "unembedding_norm_spearman"}:
            assert values[headline.name] is not None, headline.name
    assert values["d_model"] == document["model"]["d_model"] and values["clump_size"] > 0


def test_a_renamed_key_raises_instead_of_reading_as_missing():
    document = _without(document_with(), "analyses.svd.cos_svd0_mean")
    document["analyses"]["svd"]["cos_svd_0_mean"] = 0.9
    with pytest.raises(SchemaMismatch, match="analyses.svd.cos_svd0_mean"):
        read(document)


@pytest.mark.parametrize("name, value", [("d_model", "64"), ("d_model", 64.0), ("tied_embeddings", 1),
                                         ("heavy_dims", [1, "2"]), ("unigram_dim", None), ("cos_svd0_mean", "0.5")])
def test_a_value_of_another_type_raises(name, value):
    with pytest.raises(SchemaMismatch):
        read(document_with(**{name: value}))


def test_null_reads_as_none_only_where_declared_nullable():
    document = document_with(cos_svd0_mean=None, revision=None)
    document["analyses"]["model_card"]["unembedding"] = None  # tied embeddings: the parent is null
    values = read(document).values
    assert values["cos_svd0_mean"] is None and values["revision"] is None
    assert values["unembedding_row_cos_median"] is None and values["unembedding_norm_spearman"] is None


def test_an_older_document_lacks_only_the_keys_added_since(monkeypatch):
    added = digest.Headline("added_later", "analyses.svd.added_later", float, since=SCHEMA_VERSION + 1)
    monkeypatch.setattr(digest, "HEADLINES", HEADLINES + (added,))
    assert read(document_with())["added_later"] is None  # written before the key existed
    newer = document_with()
    newer["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(SchemaMismatch, match="added_later"):
        read(newer)
    older = _without(document_with(), "model.d_model")  # present since version 1: missing is a mismatch
    with pytest.raises(SchemaMismatch, match="model.d_model"):
        read(older)


def test_derived_values():
    claims = [{"id": i, "verdict": v} for i, v in ((6, "holds"), (8, "inconclusive"), (4, "holds"), (5, "fails"),
                                                  (3, "not-applicable"))]
    values = read(document_with(d_model=8, heavy_dim_count=2, singular_values=[3.0, 4.0], clump_token_ids=[1, 5],
                                claims=claims,
                                correlations=[{"x": "log_frequency", "y": "norm", "spearman": -0.4}])).values
    assert values["heavy_dim_share"] == 0.25 and values["svd0_energy"] == pytest.approx(9 / 25)
    assert values["clump_size"] == 2 and values["norm_frequency_spearman"] == -0.4
    assert values["claims_holding"] == "2 / 4 (1 inconclusive)"
    assert values["findings_holding"] == "2 / 2"  # claims 4 and 6; 5 and 8 are parts of 4's finding
    assert values["holds_count"] == 2
    assert read(document_with())["claims_holding"] is None  # no claims at all


def test_names_are_unique_and_shown_rows_have_a_format():
    names = [h.name for h in HEADLINES]
    assert len(names) == len(set(names))
    assert all(h.format in {"num", "pct", "text"} for h in digest.SHOWN)
    assert all(h.path.startswith(digest.DERIVED) == (h.derive is not None) for h in HEADLINES)
