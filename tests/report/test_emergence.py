"""Emergence as an interval of steps (report/sweep/emergence.py, through report/sweep/trajectory.py): known
answers on planted verdict series, in the style of tests/planted_series.py — the step each structure switches
on at is planted, then the verdicts are damaged the way real sweeps damage them (isolated misses after the
onset, a flip at the last checkpoint, failed checkpoints)."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.colors
import numpy as np
import pytest

from report.sweep import emergence, trajectory
from tests.report.write.test_digest import document_with

# Pythia's 154 checkpoints: 0, 1, 2, 4, …, 512, then every 1,000 steps to 143,000
PYTHIA_STEPS = [0] + [2 ** i for i in range(10)] + list(range(1000, 143001, 1000))


@dataclass(frozen=True)
class PlantedVerdicts:
    """A verdict that switches on at checkpoint `onset` (an index), then misses at `misses`; `failed` are
    checkpoints whose analysis failed (None)."""

    steps: tuple[int, ...]
    onset: int | None
    misses: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()

    def flags(self) -> list[bool | None]:
        return [None if i in self.failed else self.onset is not None and i >= self.onset and i not in self.misses
                for i in range(len(self.steps))]


def holds_to_the_end(steps, flags):
    """The old rule: the first known checkpoint from which every known verdict holds."""
    known = [(s, f) for s, f in zip(steps, flags) if f is not None]
    if not known or not known[-1][1]:
        return None
    first = len(known) - 1
    while first > 0 and known[first - 1][1]:
        first -= 1
    return known[first][0]


def simulated_runs(count: int, miss_rate: float, isolated: bool, seed: int = 0) -> list[PlantedVerdicts]:
    """154-checkpoint runs with the onset between steps 1 and 10,000 (where the study's structures appear), each
    later checkpoint missing with `miss_rate`; `isolated`: a miss right after another is dropped."""
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(count):
        onset = int(rng.integers(1, PYTHIA_STEPS.index(10000) + 1))
        later = np.arange(onset + 1, len(PYTHIA_STEPS))
        misses = [int(i) for i in later[rng.random(len(later)) < miss_rate]]
        if isolated:
            misses = [i for i in misses if i - 1 not in misses]
        runs.append(PlantedVerdicts(tuple(PYTHIA_STEPS), onset, tuple(misses)))
    return runs


@pytest.mark.parametrize("miss_rate", [0.01, 0.02])
def test_isolated_misses_leave_the_planted_step_inside_the_interval_and_not_ten_times_late(miss_rate):
    runs = simulated_runs(300, miss_rate, isolated=True)
    late_by_the_old_rule = 0
    for run in runs:
        planted = run.steps[run.onset]
        found = emergence.change_point(list(run.steps), run.flags())
        low, high = found["interval"]
        assert low < planted <= high, (run, found)
        assert high < 10 * planted, (run, found)
        assert found["step"] == high and found["previous_step"] == low
        assert set(found["exceptions"]) <= {run.steps[i] for i in run.misses}
        old = holds_to_the_end(run.steps, run.flags())
        late_by_the_old_rule += old is None or old >= 10 * planted
    assert late_by_the_old_rule > 0.5 * len(runs)  # the damage these tests guard against is real


def test_misses_in_a_row_right_after_the_onset_read_as_a_later_onset_but_not_ten_times_later():
    for run in simulated_runs(300, 0.02, isolated=False):
        found = emergence.change_point(list(run.steps), run.flags())
        assert found["interval"][1] < 10 * run.steps[run.onset], (run, found)
    steps = [0, 10, 20, 30, 40, 50, 60, 70]
    found = emergence.change_point(steps, PlantedVerdicts(tuple(steps), onset=2, misses=(3, 4)).flags())
    assert found["interval"] == [40, 50] and found["exceptions"] == [20]  # F F T F F T T T: on at 50 fits best


def test_one_flip_at_the_last_checkpoint_does_not_erase_emergence():
    steps = PYTHIA_STEPS
    run = PlantedVerdicts(tuple(steps), onset=60, misses=(len(steps) - 1,))
    assert holds_to_the_end(steps, run.flags()) is None  # the old rule loses it
    found = emergence.change_point(steps, run.flags())
    assert found["interval"] == [steps[59], steps[60]]
    assert found["exceptions"] == [steps[-1]] and found["gaps"] == []


def test_a_miss_right_after_the_onset_widens_the_interval_over_both_readings():
    steps = [0, 10, 20, 30, 40, 50, 60, 70]
    flags = PlantedVerdicts(tuple(steps), onset=2, misses=(3,)).flags()  # F F T F T T T T
    found = emergence.change_point(steps, flags)
    assert found["interval"] == [10, 40]  # on at 20 with a miss at 30, or on at 40 with a false start at 20
    assert found["exceptions"] == []


def test_an_early_false_start_is_an_exception_not_the_onset():
    steps = list(range(0, 200, 10))
    flags = [False] * 20
    flags[3] = True  # an isolated "holds" long before the structure
    for i in range(12, 20):
        flags[i] = True
    found = emergence.change_point(steps, flags)
    assert found["interval"] == [110, 120] and found["exceptions"] == [30]


def test_a_failed_checkpoint_is_a_named_gap_inside_the_interval():
    steps = [0, 100, 200, 300, 400, 500]
    whole = emergence.change_point(steps, PlantedVerdicts(tuple(steps), onset=3).flags())
    assert whole["interval"] == [200, 300] and whole["gaps"] == []
    damaged = emergence.change_point(steps, PlantedVerdicts(tuple(steps), onset=3, failed=(2,)).flags())
    assert damaged["interval"] == [100, 300] and damaged["gaps"] == [200]
    from_the_start = emergence.change_point(steps, [None, None, True, True, True, True])
    assert from_the_start["interval"] == [None, 200] and from_the_start["gaps"] == [0, 100]
    after = emergence.change_point(steps, PlantedVerdicts(tuple(steps), onset=3, failed=(4,)).flags())
    assert after["interval"] == [200, 300] and after["gaps"] == []  # outside the interval: not a gap


@pytest.mark.parametrize("flags", [
    [False] * 6,                                  # never holds
    [None] * 6,                                   # nothing known
    [True, False, False, False, False, False],    # held once, long ago
    [False, True, True, True, False, False],      # appeared and vanished: "never" fits as well
    [False] * 4 + [True, False],                  # one hold then a miss: no better than "never"
    [False, False] + [True] * 7 + [False] * 3,    # faded: holds at only 70% from the change point on
])
def test_a_condition_that_has_not_emerged_is_null(flags):
    assert emergence.change_point(list(range(0, 10 * len(flags), 10)), flags) is None


def test_holding_throughout_has_no_step_without():
    found = emergence.change_point([0, 5, 9], [True, True, True])
    assert found == {"step": 0, "previous_step": None, "interval": [None, 0], "gaps": [], "exceptions": []}


def _document(dim, standout, heavy=False, clump=()):
    return document_with(unigram_dim=dim, unigram_standout=standout, has_heavy_cluster=heavy,
                         heavy_dims=[1, 2] if heavy else [], clump_token_ids=list(clump))


def _block(documents):
    steps = [100 * i for i in range(len(documents))]
    outcomes = [{"status": "failed", "results": None} if d is None else {"status": "ok", "results": d}
                for d in documents]
    return trajectory.run_block(steps, [], outcomes)


def test_a_last_checkpoint_flip_keeps_the_unigram_dim_and_the_clump():
    clump = range(10, 20)
    documents = [_document(5, False), _document(5, False), _document(7, True, True, clump),
                 _document(7, True, True, clump), _document(7, True, True, clump), _document(7, True, True, clump),
                 _document(3, True, False, ())]  # the last checkpoint: another dim, no heavy dims, no clump
    found = _block(documents)["emergence"]
    assert found["unigram_dim"]["dim"] == 7 and found["unigram_dim"]["interval"] == [100, 200]
    assert found["heavy_dims"]["interval"] == [100, 200] and found["heavy_dims"]["dims"] == [1, 2]
    assert found["clump"]["interval"] == [100, 200] and found["clump"]["size"] == 10
    for key in ("unigram_dim", "heavy_dims", "clump"):
        assert found[key]["exceptions"] == [600]
        assert found[key]["rule"] == trajectory.RULES[key] and emergence.RULE in found[key]["rule"]


def test_a_failed_checkpoint_shows_as_a_gap_in_the_run_block():
    documents = [_document(5, False), _document(5, False), None, _document(5, True), _document(5, True)]
    found = _block(documents)["emergence"]["unigram_dim"]
    assert found["interval"] == [100, 300] and found["gaps"] == [200]


def test_the_spread_over_runs():
    def run(step):
        return {"emergence": {"unigram_dim": None if step is None else {"step": step},
                              "heavy_dims": {"step": 50}, "clump": None}}

    blocks = {"a": run(400), "b": run(100), "c": run(None), "d": run(1600), "e": run(800)}
    spread = trajectory.emergence_spread(blocks)
    assert spread["unigram_dim"] == {"runs": 5, "emerged": 4, "never": ["c"], "min": 100, "median": 400,
                                     "max": 1600}
    assert spread["heavy_dims"] == {"runs": 5, "emerged": 5, "never": [], "min": 50, "median": 50, "max": 50}
    assert spread["clump"] == {"runs": 5, "emerged": 0, "never": ["a", "b", "c", "d", "e"], "min": None,
                               "median": None, "max": None}


def test_the_figures_shade_each_runs_interval_in_its_colour():
    from report.write.plots import sweep as plots

    def block(heavy, clump):
        series = {m: [1.0, 2.0, 3.0, 4.0] for m in trajectory.METRICS}
        return {"steps": [0, 100, 200, 300], "trajectories": series,
                "emergence": {"unigram_dim": {"dim": 1, "step": 200, "interval": [100, 200]},
                              "heavy_dims": heavy, "clump": clump}}

    runs = {"a": block({"step": 300, "interval": [200, 300]}, None),
            "b": block({"step": 0, "interval": [None, 0]}, {"step": 100, "interval": [0, 100]})}
    fig = plots.trajectories(runs)

    def spans(title):
        ax = next(ax for ax in fig.axes if ax.get_title() == title)
        return [(round(p.get_x()), round(p.get_x() + p.get_width()), p.get_facecolor()[:3]) for p in ax.patches]

    colour = [tuple(matplotlib.colors.to_rgb(plots._look(i)["color"])) for i in (0, 1)]
    assert spans("position-heavy dims") == [(200, 300, colour[0])]  # run b held from the first: a line only
    assert spans("clump size (tokens)") == [(0, 100, colour[1])]
    assert spans("zero-layer self-prediction") == []
    runs["a"]["trajectories"]["heavy_dim_count"] = [0, 0, 0, 0]
    runs["b"]["trajectories"]["heavy_dim_count"] = [None] * 4
    fig = plots.trajectories(runs)
    assert spans("position-heavy dims") == []  # a panel that says it has no value shows no interval either
    identity = plots.unigram_identity(runs)
    assert [[(round(p.get_x()), round(p.get_x() + p.get_width())) for p in ax.patches] for ax in identity.axes] \
        == [[(100, 200)], [(100, 200)]]


def test_the_report_shows_intervals_gaps_exceptions_and_the_spread():
    from report.write import render

    documents = [_document(5, False), _document(5, False), None, _document(5, True), _document(5, True),
                 _document(5, True), _document(5, True), _document(5, False)]
    runs = {"seed-a": _block(documents), "seed-b": _block([_document(5, False)] * 3)}
    for block in runs.values():
        block["checkpoints"] = [{"step": s, "status": "ok", "results": None, "report": None, "error": None}
                                for s in block["steps"]]
    doc = {"name": "seeds", "runs": runs, "across_runs": trajectory.across_runs(runs),
           "emergence_spread": trajectory.emergence_spread(runs),
           "settings": {"frequency": "token-index", "corpus": None, "seed": 0},
           "provenance": {"tool_version": "0", "python": "3", "libraries": {}}}
    names = ["sweep_unigram_identity", "sweep_trajectories", "sweep_claims_0", "sweep_claims_1"]
    figures = {n: {"name": n, "uri": "", "number": i, "caption": "", "width_in": 1} for i, n in enumerate(names)}
    html = render.render_html("sweep.html.j2", doc=doc, figures=figures, runs=list(runs.items()))
    assert "dim 5, steps 100 – 300 <span class=\"rule\">(gap: step 200 failed)</span>" in html
    assert "(verdict differs from the fit at step 700)" in html
    assert "<th>unigram_dim</th><td>1 of 2 runs</td><td>300</td>" in html and "<td>seed-b</td>" in html
    assert emergence.RULE in html
