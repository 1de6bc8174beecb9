"""From a tiny planted checkpoint to report.html, report.pdf, results.json and figures/ through the CLI (the
session's shared `built_report`)."""

from __future__ import annotations

import json

import pytest
from pypdf import PdfReader

from analyses.claims import VERDICTS
from report.run import pipeline
from report.sections import all_sections

REQUIRED = {
    "model": ["id", "revision", "architecture", "vocab_size", "d_model", "n_positions", "n_layers",
              "tied_embeddings", "tensors_sha256"],
    "frequency_source": ["kind", "detail"],
}
REQUIRED_ANALYSES = {
    "position": ["heavy_dims"],
    "unigram": ["dim", "correlations"],
    "svd": ["cos_svd0_mean", "leading_space_auroc"],
    "zero_layer": ["self_predict_fraction", "exceptions"],
    "outliers": ["clump_token_ids", "under_trained"],
    "mlp_read": ["dim", "roles"],
}


@pytest.fixture(scope="module")
def report_dir(built_report):
    """The session's report of the planted checkpoint, written by `python -m report` (tests/conftest.py)."""
    return built_report.folder


def test_progress_total_is_every_step_taken(built_report):
    """The bar's total comes from the registry and the named steps, and matches the steps a report takes."""
    (bar,) = built_report.progress_bars
    steps = [name for name, _ in bar.timings]
    assert steps == [*pipeline.STEPS_BEFORE, *(s.key for s in all_sections()), *pipeline.STEPS_AFTER]
    assert bar.bar.total == len(steps)


@pytest.fixture(scope="module")
def results(report_dir):
    return json.loads((report_dir / "results.json").read_text(encoding="utf-8"))


def test_all_outputs_written(report_dir):
    for name in ("report.html", "report.pdf", "results.json"):
        assert (report_dir / name).stat().st_size > 0
    svgs = sorted(p.stem for p in (report_dir / "figures").glob("*.svg"))
    pngs = sorted(p.stem for p in (report_dir / "figures").glob("*.png"))
    assert svgs and svgs == pngs
    assert "svd_components_1_2" in svgs
    assert not [p for p in report_dir.parent.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_results_schema(results):
    assert results["schema_version"] == 1
    for group, keys in REQUIRED.items():
        assert set(keys) <= set(results[group]), group
    for key, fields in REQUIRED_ANALYSES.items():
        assert set(fields) <= set(results["analyses"][key]), key
    assert results["frequency_source"]["kind"] == "corpus"
    for row in results["analyses"]["unigram"]["correlations"]:
        assert {"x", "y", "spearman", "pearson", "ci95", "n"} <= set(row)
    for claim in results["claims"]:
        assert claim["verdict"] in VERDICTS
        assert {"id", "name", "statement", "value"} <= set(claim)
    assert len(results["claims"]) >= 14
    assert "lacks" in results["experiments"]["skipped"]  # the planted files hold no attention output weights


def test_results_match_the_planted_truth(results, planted):
    spec = planted.spec
    analyses = results["analyses"]
    assert analyses["position"]["heavy_dims"] == sorted(spec.heavy_dims)
    assert analyses["unigram"]["dim"] == spec.unigram_dim
    assert analyses["svd"]["cos_svd0_mean"] > 0.95
    assert analyses["svd"]["leading_space_auroc"] > 0.95
    exceptions = {(e["token"]["id"], e["predicts"]["id"]) for e in analyses["zero_layer"]["exceptions"]}
    assert set(planted.pairs) <= exceptions
    assert set(planted.clump) <= set(analyses["outliers"]["clump_token_ids"])
    assert results["model"]["vocab_size"] == planted.vocab_size
    assert results["model"]["d_model"] == spec.d_model


def test_pdf_has_every_section(report_dir):
    reader = PdfReader(str(report_dir / "report.pdf"))
    assert 8 <= len(reader.pages) <= 120
    text = " ".join(page.extract_text() for page in reader.pages)
    squeeze = lambda s: "".join(s.split())  # noqa: E731  (PDF text extraction drops or adds spaces)
    for section in all_sections():
        assert squeeze(section.title) in squeeze(text), section.title


def test_html_is_self_contained(report_dir):
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert 'src="http' not in html and "href=\"http" not in html
