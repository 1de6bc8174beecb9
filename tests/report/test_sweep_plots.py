"""Sweep figures read right at the edges: every checkpoint's step on the axis, huge steps, flat and empty series."""

from __future__ import annotations

import io

import numpy as np
import pytest

from report.sweep import trajectory
from report.write.plots import sweep as plots


def block(steps, **values) -> dict:
    series = {m: [0.1 * (i + 1) for i in range(len(steps))] for m in trajectory.METRICS}
    series.update(values)
    return {"steps": list(steps), "trajectories": series,
            "emergence": {"unigram_dim": None, "heavy_dims": None, "clump": None}}


def panel(fig, title):
    return next(ax for ax in fig.axes if ax.get_title() == title)


def labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels()]


def test_three_log_spaced_steps_each_get_a_label():
    fig = plots.trajectories({"run": block((100, 1000, 10000))})
    assert labels(panel(fig, "zero-layer self-prediction")) == ["100", "1k", "10k"]


def test_many_checkpoints_each_get_a_tick_and_the_labels_do_not_crowd():
    steps = tuple(range(0, 143001, 1000))
    ax = panel(plots.trajectories({"run": block(steps)}), "zero-layer self-prediction")
    shown = [text for text in labels(ax) if text]
    assert len(ax.get_xticks()) == len(steps)
    assert shown[0] == "0" and shown[-1] == "143k" and len(shown) <= plots.MAX_STEP_LABELS + 1


def test_steps_zero_and_ten_to_the_26_are_drawn():
    steps = (0, 10 ** 26)  # past int64: a Python int that numpy's log cannot take
    runs = {"run": block(steps, unigram_dim=[3, 3], unigram_standout=[True, True])}
    runs["run"]["emergence"]["unigram_dim"] = {"dim": 3, "step": 10 ** 26, "interval": [0, 10 ** 26]}
    for fig in (plots.trajectories(runs), plots.unigram_identity(runs)):
        fig.savefig(io.BytesIO(), format="svg")
    assert labels(panel(plots.trajectories(runs), "zero-layer self-prediction")) == ["0", "1e+26"]


def test_a_metric_no_checkpoint_has_says_so_in_its_panel():
    fig = plots.trajectories({"run": block((0, 10, 100), clump_size=[0, 0, 0], clump_overlap_final=[None] * 3)})
    for title, text in (("clump size (tokens)", "no clump at any checkpoint"),
                        ("share of final clump", "no clump at the last checkpoint")):
        ax = panel(fig, title)
        assert [t.get_text() for t in ax.texts] == [text]
        assert not ax.lines and not list(ax.get_yticks())


@pytest.mark.parametrize(("title", "metric", "value", "low", "high"), [
    ("zero-layer self-prediction", "self_predict_fraction", 1.0, 0.0, 1.0),
    ("Spearman ρ(norm, log freq)", "norm_frequency_spearman", -0.4, -1.0, 1.0),
    ("position-heavy dims", "heavy_dim_count", 8, 0.0, 16.0),
])
def test_a_flat_series_gets_its_metrics_natural_range(title, metric, value, low, high):
    ax = panel(plots.trajectories({"run": block((0, 10, 100), **{metric: [value] * 3})}), title)
    bottom, top = ax.get_ylim()
    assert bottom <= low and top >= high and top - bottom < 1.2 * (high - low)


def test_claims_matrix_gives_inconclusive_its_own_colour_and_a_legend_entry():
    verdicts = ["holds", "fails", "inconclusive", "not-applicable", None]
    fig = plots.claims_matrix("run", {"steps": [0, 10, 100, 1000, 10000],
                                      "claims": [{"id": 9, "verdicts": verdicts}]})
    (image,) = fig.axes[0].images
    rgba = image.to_rgba(image.get_array())[0]
    assert len({tuple(np.round(c, 3)) for c in rgba}) == len(verdicts)  # five distinct colours in one row
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["holds", "does not hold", "inconclusive",
                                                          "not applicable", "no result"]
    fig.savefig(io.BytesIO(), format="png")  # lays out with the legend outside the axes
