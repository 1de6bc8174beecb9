"""The calibration table's readers: the calibrated size nearest a model, the power there, the family-wise rate."""

from __future__ import annotations

import pytest

from report.calibration_table import family_wise, nearest_size, study_power, wilson

SIZES = [{"size": f"d={d}, V={v // 1000}k", "d": d, "tokens": v} for d in (64, 768, 1600) for v in (4000, 50000)]


def _cell(study, study_n):
    return {"fp": 0, "null": 60, "study": study, "study_n": study_n, "half": 0, "half_n": study_n, "why": []}


TABLE = {"sizes": SIZES, "claims": {"17": {"d=768, V=4k": _cell(7, 15), "d=768, V=50k": _cell(0, 0)}}}


@pytest.mark.parametrize("d_model, tokens, label", [
    (768, 50257, "d=768, V=50k"),  # gpt2
    (1024, 50257, "d=768, V=50k"),  # gpt2-medium: log 1024 is nearer log 768 than log 1600
    (1280, 50257, "d=1600, V=50k"),
    (96, 3000, "d=64, V=4k"),
    (768, 12000, "d=768, V=4k"),  # log 12k is nearer log 4k than log 50k
    (4096, 128000, "d=1600, V=50k"),  # beyond the table: its corner
])
def test_nearest_size_is_nearest_in_log_width_and_log_vocabulary(d_model, tokens, label):
    assert nearest_size({"sizes": SIZES}, d_model, tokens)["size"] == label


def test_nearest_size_without_a_table_or_a_shape_is_none():
    assert nearest_size(None, 768, 50257) is None and nearest_size({"sizes": []}, 768, 50257) is None
    assert nearest_size({"sizes": SIZES}, 0, 50257) is None


def test_study_power_reads_the_nearest_cell_and_nothing_where_no_planted_model_ran():
    assert study_power(TABLE, 17, 700, 5000) == (7, 15, "d=768, V=4k")
    assert study_power(TABLE, 17, 768, 50257) is None  # study_n = 0 there: not measured, not zero power
    assert study_power(TABLE, 3, 768, 5000) is None  # the claim is not in the table
    assert study_power(None, 17, 768, 5000) is None


def test_family_wise_is_absent_until_measured_and_then_comes_with_its_wilson_interval():
    assert family_wise(TABLE) is None and family_wise(None) is None
    measured = {**TABLE, "family_wise": {"null_models": 400, "with_false_holds": 12,
                                         "by_family": {"gaussian": {"models": 60, "with_false_holds": 1}}}}
    rate = family_wise(measured)
    assert rate["rate"] == pytest.approx(0.03) and rate["ci"] == wilson(12, 400)
    assert rate["ci"][0] < 0.03 < rate["ci"][1]
    assert rate["by_family"]["gaussian"] == {"models": 60, "with_false_holds": 1}
