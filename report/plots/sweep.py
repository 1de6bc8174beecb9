"""Figures of a sweep: headline numbers against training step, the unigram dim's identity over the run, the
LN gains of the final unigram dim, and the claims × checkpoints matrix.

Steps run on a symmetric-log axis (linear below the first non-zero step, logarithmic above), so step 0
keeps its place while the long tail of a run stays readable. Every run keeps one colour, marker and line
style in every figure.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap

from report.plots import style

PANELS = (("self_predict_fraction", "zero-layer self-prediction"), ("heavy_dim_count", "position-heavy dims"),
          ("clump_size", "clump size (tokens)"), ("clump_overlap_final", "share of final clump"),
          ("cos_svd0_mean", "|cos(SVD 0, mean)|"), ("leading_space_auroc", "word-start AUROC (SVD 1–2)"),
          ("norm_frequency_spearman", "Spearman ρ(norm, log freq)"),
          ("unigram_frequency_spearman", "Spearman ρ(unigram dim, log freq)"))
VERDICTS = (("holds", 0), ("fails", 1), ("not-applicable", 2), (None, 3))


def _look(index: int) -> dict:
    return {"color": style.CYCLE[index % len(style.CYCLE)],
            "linestyle": style.LINESTYLES[index % len(style.LINESTYLES)],
            "marker": style.MARKERS[index % len(style.MARKERS)]}


def _step_axis(ax, steps) -> None:
    positive = [s for s in steps if s > 0]
    ax.set_xscale("symlog", linthresh=min(positive) if positive else 1.0)
    ax.set_xlabel("training step")


def _series(steps, values) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values as float arrays, missing values (failed checkpoints) as NaN, so lines break there."""
    return (np.asarray(steps, dtype=float),
            np.array([np.nan if v is None else float(v) for v in values], dtype=float))


def trajectories(runs: dict[str, dict]) -> style.Figure:
    """One small panel per headline number, one line per run, against training step."""
    fig = style.figure(height=6.4)
    axes = fig.subplots(4, 2).ravel()
    all_steps = [s for block in runs.values() for s in block["steps"]]
    for ax, (metric, title) in zip(axes, PANELS):
        for index, (name, block) in enumerate(runs.items()):
            x, y = _series(block["steps"], block["trajectories"][metric])
            ax.plot(x, y, label=name, markersize=3, **_look(index))
        _step_axis(ax, all_steps)
        ax.set_title(title)
    if len(runs) > 1:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 4))
    return fig


def unigram_identity(runs: dict[str, dict]) -> style.Figure:
    """Which dim the unigram analysis names at each checkpoint (filled: it stands out; hollow: it does not),
    with the emergence step marked. Dims are per run: the same height in two runs means nothing."""
    fig = style.figure(height=1.4 + 0.9 * len(runs))
    axes = np.atleast_1d(fig.subplots(len(runs), 1, sharex=True))
    all_steps = [s for block in runs.values() for s in block["steps"]]
    for index, (ax, (name, block)) in enumerate(zip(axes, runs.items())):
        look = _look(index)
        x, y = _series(block["steps"], block["trajectories"]["unigram_dim"])
        standout = np.array([bool(v) for v in block["trajectories"]["unigram_standout"]])
        ax.plot(x, y, color=look["color"], linewidth=0.6)
        ax.scatter(x[standout], y[standout], color=look["color"], s=16, label="stands out")
        ax.scatter(x[~standout], y[~standout], facecolors="none", edgecolors=look["color"], s=16,
                   label="does not stand out")
        found = block["emergence"]["unigram_dim"]
        if found is not None:
            ax.axvline(found["step"], color=style.OKABE_ITO["black"], linestyle=":", linewidth=0.8)
        ax.set_ylabel("dim")
        ax.set_title(f"{name}: " + (f"dim {found['dim']} from step {found['step']:,}" if found else
                                    "no unigram dim stands out at the end"))
        _step_axis(ax, all_steps)
    axes[0].legend(loc="best")
    return fig


def unigram_ln_gains(name: str, block: dict) -> style.Figure | None:
    """|gain| of the final unigram dim in every LayerNorm of one run, one line per layer, against step."""
    gains = block["unigram_dim_ln_gains"]
    if gains is None or not gains["by_norm"]:
        return None
    roles = list(gains["by_norm"].items())
    fig = style.figure(height=2.4)
    axes = np.atleast_1d(fig.subplots(1, len(roles), sharey=True))
    for ax, (role, layers) in zip(axes, roles):
        colours = matplotlib.colormaps[style.MAGNITUDE_CMAP](np.linspace(0, 0.9, max(len(layers), 1)))
        for layer, values in enumerate(layers):
            x, y = _series(block["steps"], values)
            ax.plot(x, np.abs(y), color=colours[layer], label=f"layer {layer}", marker="o", markersize=2)
        _step_axis(ax, block["steps"])
        ax.set_title(f"{role}: |gain| of dim {gains['dim']}")
    axes[0].set_ylabel("|gain|")
    if len(axes[-1].lines) <= 12:
        axes[-1].legend(loc="best", fontsize="x-small")
    return fig


def claims_matrix(name: str, block: dict) -> style.Figure:
    """Claims (rows) × checkpoints (columns): holds, fails, not applicable, or no result."""
    claims = block["claims"]
    codes = dict(VERDICTS)
    grid = np.array([[codes.get(v, 3) for v in row["verdicts"]] for row in claims] or [[3]], dtype=float)
    fig = style.figure(height=1.0 + 0.16 * max(len(claims), 1))
    ax = fig.subplots()
    colours = ListedColormap([style.OKABE_ITO["green"], style.OKABE_ITO["vermillion"], "#dddddd", "#ffffff"])
    ax.imshow(grid, aspect="auto", cmap=colours, vmin=-0.5, vmax=3.5, interpolation="nearest")
    ax.set_yticks(range(len(claims)), [str(row["id"]) for row in claims], fontsize="x-small")
    steps = block["steps"]
    shown = range(0, len(steps), max(1, len(steps) // 12))
    ax.set_xticks(list(shown), [f"{steps[i]:,}" for i in shown], rotation=60, fontsize="x-small")
    ax.set(xlabel="checkpoint (training step)", ylabel="claim", title=f"{name}: green holds, vermillion fails, "
           "grey not applicable, white no result")
    return fig
