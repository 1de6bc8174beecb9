"""Figures of the SVD section."""

from __future__ import annotations

import numpy as np

from analyses.svd import SvdResult
from report.plots import style


def spectrum(r: SvdResult) -> "style.Figure":
    fig = style.figure(height=2.4)
    left, right = fig.subplots(1, 2)
    s = r.singular_values
    left.semilogy(np.arange(len(s)), s, marker="o", markersize=2, linewidth=0.8, color=style.NORMAL)
    left.set(xlabel="component", ylabel="singular value", title="spectrum (log scale)")
    share = np.cumsum(s ** 2) / np.sum(s ** 2)
    right.plot(np.arange(1, len(s) + 1), share, color=style.NORMAL)
    right.set(xlabel="number of components", ylabel="share of Σ W²", title="cumulative energy", xscale="log")
    return fig


def component0(r: SvdResult) -> "style.Figure":
    fig = style.figure(height=2.5)
    left, right = fig.subplots(1, 2)
    left.hist(r.coordinates[:, 0], bins=80, color=style.NORMAL)
    left.axvline(0, color="black", linestyle="--", linewidth=0.8)
    left.set(xlabel="component 0 coordinate", ylabel="tokens", title="sign of component 0")
    right.scatter(r.coordinates[:, 0], r.norms, s=0.4, color=style.TOKEN, alpha=0.3, rasterized=True, linewidths=0)
    ids = list(r.extreme_ids)
    half = len(ids) // 2
    right.scatter(r.coordinates[ids[:half], 0], r.norms[ids[:half]], s=10, marker="^",
                  color=style.OKABE_ITO["vermillion"], label="longest")
    right.scatter(r.coordinates[ids[half:], 0], r.norms[ids[half:]], s=10, marker="s",
                  color=style.OKABE_ITO["sky"], label="shortest")
    right.set(xlabel="component 0 coordinate", ylabel="embedding norm", title="norm extremes on component 0")
    right.legend(markerscale=1)
    return fig


def components_1_2(r: SvdResult, word_start: np.ndarray) -> "style.Figure":
    fig = style.figure(width=4.6, height=3.6)
    ax = fig.add_subplot()
    coords = r.coordinates
    for mask, label, colour, marker in ((word_start, "word start (leading space)", style.OKABE_ITO["blue"], "o"),
                                        (~word_start, "continuation", style.OKABE_ITO["orange"], "^")):
        ax.scatter(coords[mask, 1], coords[mask, 2], s=1.2, color=colour, marker=marker, alpha=0.35,
                   rasterized=True, linewidths=0, label=f"{label} ({int(mask.sum()):,})")
    ax.scatter([0], [0], marker="+", s=80, color="black", label="origin")
    ax.set(xlabel="component 1", ylabel="component 2")
    ax.legend(markerscale=5, loc="best")
    return fig
