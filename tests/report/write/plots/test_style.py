"""House rules applied to every figure before it is saved (report/write/plots/style.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from report.write.plots import style


def _figure_with_legend() -> Figure:
    """Points fill the upper half, so matplotlib's "best" legend spot is the first free corner: lower left."""
    with style.style():
        fig = style.figure(width=4, height=3)
        ax = fig.add_subplot()
        rng = np.random.default_rng(0)
        ax.scatter(rng.uniform(0, 1, 2000), rng.uniform(0.55, 1, 2000), label="tokens")
        ax.plot([0, 1], [0.6, 0.9], label="fit")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="x", ylabel="y")
        ax.legend(loc="best")
    return fig


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_a_finalized_figure_is_drawn_once_per_save(monkeypatch, fmt):
    fig = _figure_with_legend()
    with style.style():
        style.finalize(fig)
    draws = []
    original = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: (draws.append(1), original(self, renderer))[1])
    with style.style():
        fig.savefig(io.BytesIO(), format=fmt)
    assert len(draws) == 1  # a layout engine left on the figure (even "none") makes savefig draw twice


def test_a_best_legend_is_pinned_where_matplotlib_put_it():
    fig = _figure_with_legend()
    with style.style():
        style.finalize(fig)
    legend = fig.axes[0].get_legend()
    renderer = fig.canvas.get_renderer()
    assert legend._loc == 3  # "lower left", matplotlib's code; no longer 0 ("best")
    pinned = legend.get_window_extent(renderer).bounds
    legend.set_loc("best")
    assert np.allclose(legend.get_window_extent(renderer).bounds, pinned)


def test_pinning_leaves_the_svg_unchanged():
    """The pinned legend draws exactly what a search at every draw would: same SVG bytes."""
    pinned, searched = _figure_with_legend(), _figure_with_legend()
    with style.style():
        style.finalize(pinned)
        style.finalize(searched)
        searched.axes[0].get_legend().set_loc("best")
        out = [io.BytesIO(), io.BytesIO()]
        pinned.savefig(out[0], format="svg", metadata={"Date": None})
        searched.savefig(out[1], format="svg", metadata={"Date": None})
    assert out[0].getvalue() == out[1].getvalue()
