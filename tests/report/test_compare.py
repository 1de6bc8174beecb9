"""The comparison: pure functions on hand-made digests, and one CLI run over three models — two revisions of
one Hub id (served from a Hub cache made by the test) and a narrower model — from reports to OUT/comparison/."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader
from safetensors.numpy import load_file, save_file

from analyses.vectors import row_cosines
from report.cli import main
from report.compare import ModelDigest, claims_matrix, headline, overlaps, pair_diff, short_labels, token_lists
from report.errors import ReportError
from report.load.hub import split_revision
from report.run import pipeline
from report.write.digest import read
from report.write.render import WarningLog
from tests.planted import Spec, plant
from tests.report.write.test_digest import document_with

HUB_ID = "tiny-gpt2"
MOVED_DIMS = (5, 44)  # gains raised in revision v2 (layer 1 LN2)
GROWN_ROWS = (150, 250)  # token rows scaled ×3 in revision v2
NARROW = Spec(d_model=48, heavy_dims=(3, 9, 17, 22, 31, 40), unigram_dim=13, seed=2)


# -- pure functions ------------------------------------------------------------------------------------------

def _digest(label, results, norms=(1.0, 2.0, 3.0), texts=("a", "b", "c"), tokenizer="t", gains=()):
    return ModelDigest(label, None, read(results), tuple(gains), np.asarray(norms, dtype=float), tuple(texts),
                       tokenizer)


def _results(d=8, **values):
    return document_with(model_id="m", d_model=d, n_layers=1, **values)


def test_headline_rows_are_the_declared_values_in_order():
    a = _digest("a", _results(d=8, cos_svd0_mean=0.5, singular_values=[3.0, 4.0], heavy_dim_count=2,
                              has_positions=True))
    b = _digest("b", _results(d=16, cos_svd0_mean=None))
    rows = {row["key"]: row for row in headline([a, b])}
    assert list(rows)[:3] == ["model.architecture", "model.d_model", "model.n_layers"]
    assert rows["analyses.svd.cos_svd0_mean"]["values"] == [0.5, None]
    assert rows["model.d_model"]["values"] == [8, 16]
    assert rows["derived.heavy_dim_share"]["values"] == [0.25, 0.0]
    assert rows["derived.heavy_dim_share"]["applies"] == [True, False]  # b has no learned positions
    assert rows["derived.svd0_energy"]["values"][0] == pytest.approx(9 / 25)
    assert rows["derived.clump_size"]["values"] == [0, 0]


def test_claims_matrix_marks_untested_claims_absent():
    a = _results(claims=[{"id": 15, "statement": "s", "verdict": "holds", "value": 0.99}])
    b = _results(claims=[{"id": 4, "statement": "s", "verdict": "not-applicable", "value": None}])
    matrix = claims_matrix([_digest("a", a), _digest("b", b)])
    assert [row["id"] for row in matrix] == [4, 15]
    assert [row["name"] for row in matrix] == ["position_dims_clustered", "svd0_along_mean"]  # from the registry
    assert matrix[0]["cells"] == [None, {"verdict": "not-applicable", "value": None}]
    assert matrix[1]["cells"] == [{"verdict": "holds", "value": 0.99}, None]


def test_overlaps_by_id_only_with_a_shared_tokenizer():
    texts = ("x", "y", "z", "w")
    a = _digest("a", _results(clump_token_ids=[0, 1, 2]), norms=np.ones(4), texts=texts, tokenizer="same")
    b = _digest("b", _results(clump_token_ids=[1, 2, 3]), norms=np.ones(4), texts=texts, tokenizer="same")
    c = _digest("c", _results(clump_token_ids=[1, 2, 3]), norms=np.ones(4), texts=("y", "q", "x", "r"),
                tokenizer="other")
    assert token_lists(a) == {"clump": [0, 1, 2]}
    rows = {(o["a"], o["b"]): o for o in overlaps([a, b, c])}
    assert rows["a", "b"]["by_id"] == {"shared": 2, "jaccard": 0.5, "ids": [1, 2]}
    assert rows["a", "c"]["by_id"] is None
    assert rows["a", "c"]["by_string"]["shared"] == 1 and rows["a", "c"]["by_string"]["examples"] == ["x"]


def test_norm_extremes_split_into_longest_and_shortest():
    a = _digest("a", _results(norm_extreme_ids=[3, 1, 0, 2]), norms=np.ones(4), texts=tuple("wxyz"))
    assert token_lists(a) == {"clump": [], "longest vectors": [3, 1], "shortest vectors": [0, 2]}


def test_pair_diff_finds_what_moved():
    rng = np.random.default_rng(0)
    w_a = rng.normal(size=(50, 6))
    w_b = w_a.copy()
    w_b[7] *= 4.0  # grows, same direction
    w_b[9] = -w_b[9]  # turns around, same norm
    gains_a = [("ln_1", 0, np.ones(6)), ("ln_2", 0, np.ones(6))]
    gains_b = [("ln_1", 0, np.ones(6)), ("ln_2", 0, np.array([1, 1, 1, 2.5, 1, 1.0]))]
    texts = tuple(str(i) for i in range(50))
    a = _digest("a", _results(d=6), np.linalg.norm(w_a, axis=1), texts, gains=gains_a)
    b = _digest("b", _results(d=6), np.linalg.norm(w_b, axis=1), texts, gains=gains_b)
    diff = pair_diff(a, b, row_cosines(w_a, w_b))
    assert [t["id"] for t in diff["tokens"]["grew_most"]] == [7]
    assert diff["tokens"]["grew_most"][0]["norm_ratio"] == pytest.approx(4.0)
    assert diff["tokens"]["shrank_most"] == []
    assert diff["tokens"]["turned_most"][0]["id"] == 9 and diff["tokens"]["turned_most"][0]["cos"] == pytest.approx(-1)
    assert diff["ln_gains"]["dims_moved_most"] == [
        {"dim": 3, "max_abs_change": 1.5, "in": "layer 0 LN2", "from": 1.0, "to": 2.5}]


def test_labels_and_revision_syntax(tmp_path):
    assert short_labels(["openai-community/gpt2", "gpt2-medium", "/x/a", "/y/a"]) == [
        "gpt2", "gpt2-medium", "/x/a", "/y/a"]
    assert split_revision("gpt2@v1.0") == ("gpt2", "v1.0")
    assert split_revision("EleutherAI/pythia-70m@step1000") == ("EleutherAI/pythia-70m", "step1000")
    assert split_revision("gpt2") == ("gpt2", None)
    folder = tmp_path / "model@home"
    folder.mkdir()
    assert split_revision(str(folder)) == (str(folder), None)
    with pytest.raises(ReportError, match="MODEL@REVISION"):
        split_revision("gpt2@")


def test_the_same_model_twice_is_refused_before_any_work(planted, tmp_path, capsys):
    code = main(["--model", str(planted.folder), "--model", str(planted.folder) + "/", "--out", str(tmp_path),
                 "--quiet", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and "would both be written" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


# -- end to end ----------------------------------------------------------------------------------------------

def _hub_cache(root: Path, source: Path, revisions: dict[str, Path]) -> Path:
    """A Hugging Face cache holding HUB_ID at each named revision (a ref file and a snapshot folder)."""
    repo = root / f"models--{HUB_ID}"
    for index, (name, folder) in enumerate(revisions.items()):
        commit = f"{index + 1:040x}"
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / name).write_text(commit, encoding="utf-8")
        shutil.copytree(folder, repo / "snapshots" / commit)
    return root


def _revision_two(source: Path, target: Path) -> Path:
    """A second checkpoint of the same model: two LN2 gains raised, two token rows scaled."""
    shutil.copytree(source, target)
    tensors = load_file(str(target / "model.safetensors"))
    tensors["h.1.ln_2.weight"][list(MOVED_DIMS)] += 0.8
    tensors["wte.weight"][list(GROWN_ROWS)] *= 3.0
    save_file(tensors, str(target / "model.safetensors"), metadata={"format": "pt"})
    return target


@pytest.fixture(scope="module")
def compared(planted, tmp_path_factory):
    """`--model tiny-gpt2@v1 --model <narrow> --model tiny-gpt2@v2` through the CLI; returns OUT."""
    import huggingface_hub.constants

    root = tmp_path_factory.mktemp("compare")
    v2 = _revision_two(planted.folder, root / "v2")
    cache = _hub_cache(root / "hub", planted.folder, {"v1": planted.folder, "v2": v2})
    narrow = plant(root / "narrow", NARROW)
    out = root / "out"
    watch = WarningLog()
    logging.getLogger("weasyprint").addHandler(watch)
    loads = []

    def counted(source, *args, **kwargs):
        loads.append(source.path)
        return load_weights(source, *args, **kwargs)

    load_weights = pipeline.load_weights
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
        patch.setenv("WEIGHTS_REPORT_NO_CACHE", "1")
        patch.setattr(pipeline, "load_weights", counted)
        code = main(["--model", f"{HUB_ID}@v1", "--model", str(narrow.folder), "--model", f"{HUB_ID}@v2",
                     "--out", str(out), "--frequency", "token-index", "--quiet"])
    logging.getLogger("weasyprint").removeHandler(watch)
    assert code == 0
    return out, watch.messages, loads


@pytest.fixture(scope="module")
def document(compared):
    out, *_ = compared
    return json.loads((out / "comparison" / "comparison.json").read_text(encoding="utf-8"))


def _results_of(out: Path, folder: str) -> dict:
    return json.loads((out / folder / "results.json").read_text(encoding="utf-8"))


FOLDERS = (f"{HUB_ID}--v1", "narrow", f"{HUB_ID}--v2")


def test_every_report_and_the_comparison_are_written(compared):
    out, warnings, _ = compared
    assert sorted(p.name for p in out.iterdir()) == sorted(("comparison",) + FOLDERS)  # no temporary folders
    comparison = out / "comparison"
    for name in ("report.html", "report.pdf", "comparison.json"):
        assert (comparison / name).stat().st_size > 0
    svgs = sorted(p.stem for p in (comparison / "figures").glob("*.svg"))
    assert svgs == sorted(p.stem for p in (comparison / "figures").glob("*.png"))
    assert {"compare_svd_spectra", "compare_ln_gains", "compare_position_std", "compare_token_norms",
            f"compare_pair_{HUB_ID}-v1__{HUB_ID}-v2"} <= set(svgs)
    assert not [w for w in warnings if "glyph" in w.lower()]


def test_each_model_is_loaded_once_for_its_report_and_the_comparison(compared):
    _, _, loads = compared
    assert len(loads) == 3 and len(set(loads)) == 3  # one load per model; the comparison loads none


def test_revisions_get_their_own_folders_and_ids(compared):
    out, *_ = compared
    assert _results_of(out, FOLDERS[0])["model"]["id"] == f"{HUB_ID}@v1"
    assert _results_of(out, FOLDERS[2])["model"]["id"] == f"{HUB_ID}@v2"
    assert _results_of(out, FOLDERS[0])["model"]["revision"] == f"{1:040x}"


def test_comparison_numbers_are_the_per_model_numbers(compared, document):
    out, *_ = compared
    per_model = [_results_of(out, folder) for folder in FOLDERS]
    assert [m["d_model"] for m in document["models"]] == [64, 48, 64]
    assert [m["label"] for m in document["models"]] == [f"{HUB_ID}@v1", "narrow", f"{HUB_ID}@v2"]
    checked = 0
    for row in document["headline"]:
        if row["key"].startswith("derived."):
            continue
        assert row["values"] == [_at(r, row["key"]) for r in per_model], row["key"]
        checked += row["values"].count(None) < len(row["values"])
    assert checked >= 10
    for row in document["claims"]:
        for cell, results in zip(row["cells"], per_model):
            claim = next((c for c in results["claims"] if c["id"] == row["id"]), None)
            assert cell == (None if claim is None else {"verdict": claim["verdict"], "value": claim["value"]})
    dims = document["dims"]
    assert [d["unigram_dim"] for d in dims] == [r["analyses"]["unigram"]["dim"] for r in per_model]
    assert [d["heavy_dim_count"] for d in dims] == [len(r["analyses"]["position"]["heavy_dims"]) for r in per_model]
    assert [d["heavy_dim_count"] for d in dims] == [8, 6, 8]  # planted


def test_the_two_revisions_are_compared_row_by_row(document):
    (pair,) = document["pairs"]
    assert (pair["a"], pair["b"]) == (f"{HUB_ID}@v1", f"{HUB_ID}@v2")
    moved = pair["ln_gains"]["dims_moved_most"]
    assert sorted(row["dim"] for row in moved) == sorted(MOVED_DIMS)
    assert {row["in"] for row in moved} == {"layer 1 LN2"}
    assert all(row["max_abs_change"] == pytest.approx(0.8, abs=1e-5) for row in moved)
    tokens = pair["tokens"]
    assert tokens["same_tokenizer"]
    assert sorted(t["id"] for t in tokens["grew_most"]) == sorted(GROWN_ROWS)
    assert all(t["norm_ratio"] == pytest.approx(3.0, rel=1e-4) for t in tokens["grew_most"])
    assert tokens["shrank_most"] == [] and tokens["turned_most"] == []


def test_outlier_lists_overlap_by_id_between_revisions(document):
    rows = [o for o in document["overlaps"] if (o["a"], o["b"]) == (f"{HUB_ID}@v1", f"{HUB_ID}@v2")]
    assert rows and all(o["shared_tokenizer"] and o["by_id"] is not None for o in rows)
    shortest = next(o for o in rows if o["list"] == "shortest vectors")
    assert shortest["by_id"]["jaccard"] == 1.0  # the planted clump did not move


def test_comparison_pdf_reads(compared):
    out, *_ = compared
    reader = PdfReader(str(out / "comparison" / "report.pdf"))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 5
    for heading in ("Headline numbers", "The study's claims, model by model", "Overlays",
                    "Shared outlier tokens", "What moved between checkpoints"):
        assert heading in text
    html = (out / "comparison" / "report.html").read_text(encoding="utf-8")
    assert f'href="../{FOLDERS[1]}/report.html"' in html


def _at(document: dict, path: str):
    """The value at a dotted path, by hand (not through the code under test)."""
    for part in path.split("."):
        document = None if document is None else document[part]
    return document


def test_claims_matrix_lists_parts_under_their_finding_and_counts_inconclusive_apart():
    claims = [{"id": i, "statement": "s", "verdict": v, "value": 0.5}
              for i, v in ((6, "holds"), (8, "inconclusive"), (4, "holds"), (5, "fails"), (3, "not-applicable"))]
    a = _digest("a", _results(claims=claims))
    matrix = claims_matrix([a])
    assert [(row["id"], row["part_of"]) for row in matrix] == [(3, None), (4, None), (5, 4), (8, 4), (6, None)]
    assert a.results["claims_holding"] == "2 / 4 (1 inconclusive)"
    assert a.results["findings_holding"] == "2 / 2"  # claims 4 and 6; 5 and 8 are parts of 4's finding
    without = _digest("a", _results(claims=[c for c in claims if c["verdict"] != "inconclusive"]))
    assert without.results["claims_holding"] == "2 / 3"  # as before inconclusive verdicts existed


def test_a_shared_norm_model_shows_its_one_norm_in_both_gain_panels():
    from report.write.plots.compare import ln_gains_by_depth

    gains = [("ln_1", layer, np.full(8, 1.0 + layer)) for layer in range(3)]
    pre_ln = [(role, layer, np.full(8, 2.0)) for layer in range(3) for role in ("ln_1", "ln_2")]
    fig = ln_gains_by_depth([(0, "phi", 3, gains, True), (1, "gpt2", 3, pre_ln, False)])
    ln1, ln2 = fig.axes[:2]
    labels = [line.get_label() for line in ln2.get_lines() if not line.get_label().startswith("_")]
    assert labels == ["phi (its LN1: one norm feeds both)", "gpt2"]
    medians = [line for line in ln2.get_lines() if line.get_label().startswith("phi")][0].get_ydata()
    np.testing.assert_allclose(medians, [1.0, 2.0, 3.0])  # the LN1 gains, drawn again as the pre-MLP norm
    assert [line.get_label() for line in ln1.get_lines() if not line.get_label().startswith("_")] == ["phi", "gpt2"]
