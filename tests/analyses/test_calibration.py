"""Calibration machinery (a tiny `make calibrate`), the heavy-dim rule on the calibration's own null and planted
models, and the degeneracy guard that turns verdicts on degenerate weights into "not applicable"."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analyses.calibration import CLAIMS, FAMILIES, null_model, planted_model
from analyses.claims import NOT_APPLICABLE, degeneracy, guard
from analyses.position import analyse_position, heavy_cluster
from analyses.svd import analyse_svd
from analyses.zero_layer import analyse_zero_layer
from report import calibrate
from report.run.synthetic_run import verdicts


def test_wilson_interval_matches_known_values():
    assert calibrate.wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-3)
    assert calibrate.wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-3)
    assert calibrate.wilson(0, 0) == (0.0, 1.0)


def test_small_calibration_writes_the_table_and_the_readme_block(tmp_path):
    data = calibrate.run(calibrate.SMALL_PLAN, log=lambda *_: None)
    data["summary"] = calibrate.summarise(data)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{calibrate.START}\nstale\n{calibrate.END}\nafter\n", encoding="utf-8")
    out = tmp_path / "calibration.json"
    calibrate.write(data, out, readme)
    loaded = json.loads(out.read_text(encoding="utf-8"))
    assert set(loaded["claims"]) == {str(c) for c in CLAIMS}
    size = loaded["sizes"][0]["size"]
    for by_size in loaded["claims"].values():
        row = by_size[size]
        assert 0 <= row["fp"] <= row["null"] and 0 <= row["study"] <= row["study_n"] <= 1
        assert row["null"] >= 1  # every claim has at least one model where its effect is absent
    assert loaded["claims"]["4"][size]["null"] >= len(FAMILIES) - 1  # all but the smooth-positions null lack it
    text = readme.read_text(encoding="utf-8")
    assert "stale" not in text and text.startswith("# x\n\nbefore\n") and text.endswith("after\n")
    assert text.count(calibrate.START) == 1 and "| 24 |" in text
    # a second write replaces the block, never appends
    calibrate.write(data, out, readme)
    assert readme.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("family", FAMILIES)
def test_only_the_smooth_positions_null_has_a_heavy_dim_cluster(family):
    for seed in range(3):
        model = null_model(family, 256, 600, seed)
        found = heavy_cluster(model.positions.std(axis=0))[3]
        assert found == (family == "smooth-positions"), (family, seed)


@pytest.mark.parametrize("d", [64, 768])
def test_the_planted_three_percent_cluster_is_found(d):
    model = planted_model(1.0, d, 600, seed=d)
    fit, heavy, ratio, found = heavy_cluster(model.positions.std(axis=0))
    assert found and heavy.sum() == max(4, round(0.03 * d))


def test_planted_study_effects_are_found_and_contrast_effects_are_not():
    """One planted model and its contrast through every verdict: the machinery's own known answer."""
    study = verdicts(planted_model(1.0, 64, 3000, seed=1), seed=0)
    held = {c for c, (v, _) in study.items() if v == "holds"}
    assert {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19} <= held
    contrast = planted_model(1.0, 64, 3000, seed=2, contrast=True)
    found = verdicts(contrast, seed=0)
    false_positives = {c for c in contrast.absent if found[c][0] == "holds"}
    assert not false_positives, {c: found[c] for c in false_positives}


# --- degenerate weights -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["zeros", "constant", "ties"])
def test_degenerate_token_embeddings_make_every_token_claim_not_applicable(kind):
    """Claims 2, 17 and 20 were seen holding on all-zero or constant embeddings (1.0 on a matrix of ties)."""
    n, d = 400, 16
    tokens = {"zeros": np.zeros((n, d)), "constant": np.full((n, d), 0.3),
              "ties": np.sign(np.random.default_rng(0).normal(size=(n, d)))}[kind].astype(np.float32)
    positions = np.random.default_rng(1).normal(size=(64, d))
    found = analyse_position(tokens, positions).claims
    found += analyse_svd(tokens, np.arange(n) % 2 == 0, None, seed=0).claims
    found += analyse_zero_layer(tokens, [b"a%d" % i for i in range(n)], np.zeros(n, dtype=bool)).claims
    problems = degeneracy(tokens, positions, None)
    assert list(problems) == ["token embeddings"]
    checked = {c.id: c for c in guard(found, problems)}
    for claim_id in (2, 3, 15, 16, 17, 19, 20, 21, 22, 23):
        assert checked[claim_id].verdict == NOT_APPLICABLE and checked[claim_id].value is None
        detail = checked[claim_id].detail
        assert detail.startswith("degenerate input: ") and "token embeddings" in detail
    assert checked[4].verdict != NOT_APPLICABLE or "degenerate" not in checked[4].detail  # positions are fine



def test_duplicate_rows_count_as_floats_do_minus_zero_equal_to_zero():
    """Rows that differ only in the sign of a zero are one row (np.unique's float equality), and the count
    of distinct rows is the one reported."""
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(10, 6))
    signed_zeros = np.where(rng.random((30, 6)) < 0.5, 0.0, -0.0)
    tokens = np.vstack([np.tile(rows, (5, 1)), signed_zeros])  # 10 distinct rows and one zero row in 80
    assert degeneracy(tokens) == {"token embeddings": "most rows of the token embeddings are exact duplicates "
                                                      "(11 distinct of 80 sampled)"}
    assert degeneracy(np.vstack([rng.normal(size=(70, 6)), signed_zeros[:10]])) == {}

def test_healthy_weights_pass_the_degeneracy_check_unchanged():
    rng = np.random.default_rng(2)
    tokens, positions, gains = rng.normal(size=(500, 12)), rng.normal(size=(32, 12)), 1 + 0.1 * rng.normal(size=(3, 12))
    assert degeneracy(tokens, positions, gains) == {}
    claims = analyse_position(tokens, positions).claims
    assert guard(claims, {}) == claims


def test_constant_gains_and_positions_are_degenerate():
    rng = np.random.default_rng(3)
    problems = degeneracy(rng.normal(size=(200, 8)), np.zeros((16, 8)), np.ones((4, 8)))
    assert set(problems) == {"position embeddings", "LayerNorm gains"}
    assert degeneracy(np.full((10, 4), np.nan)) == {"token embeddings": "the token embeddings hold non-finite values"}


def test_the_claims_section_applies_the_guard_to_every_section_result():
    """The checklist (and through it the summary and results.json) is the one place verdicts are gathered."""
    from types import SimpleNamespace

    from report.sections import claims as section

    n, d = 300, 8
    tokens = np.zeros((n, d), dtype=np.float32)
    position = analyse_position(tokens, np.random.default_rng(4).normal(size=(32, d)))
    norms = [SimpleNamespace(weight=1 + 0.1 * np.random.default_rng(i).normal(size=d)) for i in range(3)]
    ctx = SimpleNamespace(every_earlier=lambda: {"position": position}, embeddings=tokens,
                          weights=SimpleNamespace(layer_norms=norms, d_model=d,
                                                  position_embeddings=np.random.default_rng(4).normal(size=(32, d))))
    checked = {c.id: c for c in section.run(ctx)}
    assert checked[2].verdict == checked[3].verdict == NOT_APPLICABLE
    assert "all zero" in checked[2].detail
    assert checked[4].detail == next(c for c in position.claims if c.id == 4).detail  # positions are healthy


def _row(fp, null, study, study_n):
    return {"fp": fp, "null": null, "study": study, "study_n": study_n, "half": 0, "half_n": study_n, "why": []}


def test_a_known_cause_is_stated_only_beside_the_miss_it_explains():
    sizes = [{"size": s, "replicates": 1, "zero_layer_and_clump": 1} for s in ("d=64, V=4k", "d=768, V=4k")]
    low_power_at_64 = {"d=64, V=4k": _row(0, 80, 1, 3), "d=768, V=4k": _row(0, 60, 3, 3)}
    summary = calibrate.summarise({"sizes": sizes, "claims": {"17": low_power_at_64, "5": low_power_at_64}})
    assert not summary["17"]["meets_targets"]
    assert summary["17"]["misses"][0] == "power 33% at d=64, V=4k"
    assert summary["17"]["misses"][-1].startswith("why: at d = 64")
    assert not any(m.startswith("why") for m in summary["5"]["misses"])  # no cause known for claim 5
    false_positives_too = {"d=64, V=4k": _row(0, 80, 1, 3), "d=768, V=4k": _row(9, 60, 3, 3)}
    summary = calibrate.summarise({"sizes": sizes, "claims": {"17": false_positives_too}})
    assert not any(m.startswith("why") for m in summary["17"]["misses"])  # the cause does not explain those
    weak_at_768 = {"d=64, V=4k": _row(0, 80, 3, 3), "d=768, V=4k": _row(0, 60, 1, 3)}
    summary = calibrate.summarise({"sizes": sizes, "claims": {"17": weak_at_768}})
    assert not any(m.startswith("why") for m in summary["17"]["misses"])


def test_the_plan_shows_the_targets_at_the_sizes_the_report_is_used_at():
    shapes = {(d, n) for d, n, *_ in calibrate.PLAN}
    assert {(768, 50257), (1024, 50257)} <= shapes  # GPT-2 small's and medium's shapes
    families_lacking = 10  # most claims lack their effect in at least 10 of the 14 null models of a replicate
    for *_, null_reps, planted_reps, expensive_reps in calibrate.PLAN:
        assert null_reps * families_lacking >= calibrate.needed_replicates(calibrate.MAX_FPR, all_hits=False)
        assert planted_reps >= calibrate.needed_replicates(calibrate.MIN_POWER, all_hits=True)
        assert 1 <= expensive_reps <= max(null_reps, planted_reps)



def test_the_plan_advances_replicates_evenly_and_starts_the_costliest_models_of_each_step_first():
    tasks = calibrate.plan_tasks(calibrate.PLAN)
    assert len(set(tasks)) == len(tasks) == sum(14 * nulls + 2 * planted for _, _, nulls, planted, _ in calibrate.PLAN)
    reps = {(d, n): (nulls, planted) for d, n, nulls, planted, _ in calibrate.PLAN}
    shares = [rep / reps[(d, n)][name in calibrate.PLANTED] for d, n, rep, name, _, _ in tasks]
    assert shares == sorted(shares)  # a time-limited run covers every size and both targets evenly
    biggest, smallest = max(d * n for d, n, *_ in calibrate.PLAN), min(d * n for d, n, *_ in calibrate.PLAN)
    assert tasks[0][0] * tasks[0][1] == biggest and tasks[0][4]  # the pair pass at the biggest size goes first
    assert tasks[-1][0] * tasks[-1][1] == smallest  # workers end on the smallest models


def test_every_study_size_planted_model_runs_the_searches_where_a_size_runs_them():
    """Claims 20–24's power rests on all planted replicates (35 show ≥ 90% at 95%), not on the first few."""
    for plan in (calibrate.PLAN, calibrate.limit_searches(calibrate.PLAN, 4000)):
        tasks = calibrate.plan_tasks(plan)
        searched = {(d, n): e for d, n, _, _, e in plan}
        for d, n, rep, name, searches, _ in tasks:
            if name == "study":
                assert searches == (searched[(d, n)] > 0)
            else:
                assert searches == (rep < searched[(d, n)])


def test_searches_can_be_left_out_above_a_vocabulary_size_and_the_table_says_so():
    plan = calibrate.limit_searches(calibrate.PLAN, 4000)
    assert [e for *_, n, _, _, e in plan if n > 4000] == [0, 0] and all(e for *_, n, _, _, e in plan if n <= 4000)
    sizes = [{"size": "d=64, V=4k", "replicates": 1, "zero_layer_and_clump": 1},
             {"size": "d=64, V=50k", "replicates": 1, "zero_layer_and_clump": 0}]
    claims = {"22": {"d=64, V=4k": _row(0, 7, 1, 1), "d=64, V=50k": _row(0, 0, 0, 0)},
              "2": {"d=64, V=4k": _row(0, 7, 1, 1), "d=64, V=50k": _row(0, 7, 1, 1)}}
    summary = calibrate.summarise({"sizes": sizes, "claims": claims})
    assert summary["22"]["misses"] == ["not run at d=64, V=50k (the zero-layer and clump searches were left out there)"]
    assert summary["2"]["misses"] == [] and summary["2"]["status"] == "not shown"  # 0 of 7 nulls shows ≤ 35% only


def test_a_target_counts_as_met_only_when_its_95_percent_bound_meets_it():
    assert calibrate.needed_replicates(calibrate.MAX_FPR, all_hits=False) == 73  # 0 of 73: upper bound 4.99%
    assert calibrate.needed_replicates(calibrate.MIN_POWER, all_hits=True) == 35  # 35 of 35: lower bound 90.1%
    sizes = [{"size": "d=64, V=4k", "replicates": 1, "zero_layer_and_clump": 1}]
    enough = calibrate.summarise({"sizes": sizes, "claims": {"1": {"d=64, V=4k": _row(0, 73, 35, 35)}}})["1"]
    assert enough["status"] == "shown" and enough["meets_targets"] and enough["unshown"] == []
    few_nulls = calibrate.summarise({"sizes": sizes, "claims": {"1": {"d=64, V=4k": _row(0, 60, 35, 35)}}})["1"]
    assert few_nulls["status"] == "not shown" and not few_nulls["meets_targets"]
    assert few_nulls["unshown"] == ["false-positive rate up to 6% at d=64, V=4k (0 of 60 null models; 73 without a "
                                    "false positive would show ≤ 5%)"]
    few_planted = calibrate.summarise({"sizes": sizes, "claims": {"1": {"d=64, V=4k": _row(0, 80, 15, 15)}}})["1"]
    assert few_planted["unshown"][0].startswith("power as low as 80% at d=64, V=4k (15 of 15 planted models; 35 hits")
    assert "not shown at 95%" in calibrate._verdict_cell(few_planted)
    missed = calibrate.summarise({"sizes": sizes, "claims": {"1": {"d=64, V=4k": _row(5, 80, 15, 15)}}})["1"]
    assert missed["status"] == "missed" and missed["unshown"] == []


def test_a_claim_no_section_decides_fails_the_calibration_loudly(monkeypatch):
    from analyses.claims import REGISTRY, ClaimSpec
    from report.run import synthetic_run

    orphan = ClaimSpec(99, "orphan_claim", "Nothing decides this.", "position", "analyses.position", ("tokens",))
    monkeypatch.setattr(synthetic_run, "REGISTRY", (*REGISTRY, orphan))
    with pytest.raises(synthetic_run.UndecidedClaim, match="99 \\(orphan_claim\\)"):
        verdicts(planted_model(1.0, 32, 600, seed=1), seed=0, expensive=False)


def test_a_claim_without_a_planted_effect_is_flagged_not_scored_as_power_zero(monkeypatch):
    monkeypatch.setattr(calibrate, "PLANTED_EFFECTS", calibrate.PLANTED_EFFECTS - {2})
    sizes = [{"size": "d=64, V=4k", "replicates": 1, "zero_layer_and_clump": 1}]
    summary = calibrate.summarise({"sizes": sizes, "claims": {"2": {"d=64, V=4k": _row(0, 7, 0, 0)}}})
    assert summary["2"]["status"] == "missed" and "no planted effect" in summary["2"]["misses"][0]


def test_the_calibration_runs_the_reports_own_sections():
    """One path: the verdicts come from the sections a report runs, in the pipeline's own runner."""
    from report.run import synthetic_run

    keys = [s.key for s in synthetic_run.claim_sections()]
    assert keys[-1] == "claims"
    assert {"position", "unigram", "svd", "correlations", "zero_layer", "outliers"} <= set(keys)
    assert not {"zero_layer", "outliers"} & {s.key for s in synthetic_run.claim_sections(expensive=False)}


def test_a_stopped_calibration_resumes_and_gives_the_same_table(tmp_path):
    store = calibrate.Store(tmp_path)
    first = calibrate.run(calibrate.SMALL_PLAN, log=lambda *_: None, store=store)
    lines = []
    again = calibrate.run(calibrate.SMALL_PLAN, log=lines.append, store=store)
    assert again == first
    assert any(line.startswith(f"  resumed {len(calibrate.plan_tasks(calibrate.SMALL_PLAN))} of") for line in lines)


def test_a_calibration_on_a_dask_cluster_gives_the_same_table(tmp_path):
    distributed = pytest.importorskip("distributed")
    local = calibrate.run(calibrate.SMALL_PLAN, log=lambda *_: None)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = calibrate.run(calibrate.SMALL_PLAN, log=lambda *_: None, cluster=cluster.scheduler_address)
    assert remote == local


def test_the_family_wise_rate_counts_null_models_with_any_false_holds():
    outcomes = [{"task": [64, 600, 0, "gaussian", True, 0], "absent": [2, 3], "present": [],
                 "verdicts": {"2": ["holds", ""], "3": ["holds", ""], "6": ["holds", ""]}},
                {"task": [64, 600, 1, "gaussian", True, 0], "absent": [2, 3], "present": [],
                 "verdicts": {"2": ["fails", ""], "3": ["inconclusive", ""]}},
                {"task": [64, 600, 0, "study", True, 0], "absent": [], "present": [2],
                 "verdicts": {"2": ["holds", ""]}}]
    rate = calibrate.family_wise(outcomes)
    assert rate["null_models"] == 2 and rate["with_false_holds"] == 1
    assert rate["by_family"]["gaussian"]["claims"] == {"2": 1, "3": 1}


@pytest.mark.parametrize("family", calibrate.TRAINED_LIKE)
def test_trained_like_nulls_lack_the_effects_they_confound(family):
    """Known answers on the nulls that look trained: no claim whose effect a family lacks may hold."""
    model = null_model(family, 96, 2000, seed=5)
    found = verdicts(model, seed=0)
    false = {c: found[c] for c in model.absent if found[c][0] == "holds"}
    assert not false, false


def test_a_time_limited_calibration_counts_what_it_scored_and_says_so(tmp_path):
    data = calibrate.run(calibrate.SMALL_PLAN, log=lambda *_: None, store=calibrate.Store(tmp_path), time_limit=0)
    size = data["sizes"][0]
    assert size["models_scored"] == 1 < size["models_planned"]
    data["summary"] = calibrate.summarise(data)
    assert f"stopped by the time limit: 1 of {size['models_planned']} models scored" in calibrate.markdown(data)
    resumed = calibrate.run(calibrate.SMALL_PLAN, log=lambda *_: None, store=calibrate.Store(tmp_path))
    assert resumed["sizes"][0]["models_scored"] == size["models_planned"]


@pytest.mark.parametrize("seed", [3, 4])
def test_no_planted_effect_at_the_studys_size_is_called_absent(seed):
    """At the study's effect sizes every claim holds or, at worst, is inconclusive: never "does not hold"."""
    model = planted_model(1.0, 128, 3000, seed=seed)
    found = verdicts(model, seed=0)
    absent = {c: found[c] for c in model.present if found[c][0] in ("fails", "not-applicable")}
    assert not absent, absent
