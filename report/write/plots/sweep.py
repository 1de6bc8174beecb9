"""Figures of a sweep: headline numbers against training step, the unigram dim's identity over the run, the
LN gains of the final unigram dim, and the claims × checkpoints matrix. Emergence intervals are shaded spans.

Steps run on a symmetric-log axis (linear below the first non-zero step, logarithmic above), so step 0
keeps its place while the long tail of a run stays readable. Every run keeps one colour, marker and line
style in every figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from analyses.claims import FAILS, HOLDS, INCONCLUSIVE, NOT_APPLICABLE
from report.write.plots import style


@dataclass(frozen=True)
class Panel:
    """One headline number: its title, its natural range (for a series too flat to scale the axis by), and what
    the panel says when no checkpoint has it. `counts`: zero also means there is none."""

    metric: str
    title: str
    limits: tuple[float, float | None]  # None: up from the low end, as the values need
    none: str = "no value at any checkpoint"
    counts: bool = False


FRACTION, CORRELATION, COUNT = (0.0, 1.0), (-1.0, 1.0), (0.0, None)
PANELS = (Panel("self_predict_fraction", "zero-layer self-prediction", FRACTION),
          Panel("heavy_dim_count", "position-heavy dims", COUNT, "no position-heavy dims at any checkpoint", True),
          Panel("clump_size", "clump size (tokens)", COUNT, "no clump at any checkpoint", True),
          Panel("clump_overlap_final", "share of final clump", FRACTION, "no clump at the last checkpoint"),
          Panel("cos_svd0_mean", "|cos(SVD 0, mean)|", FRACTION),
          Panel("leading_space_auroc", "word-start AUROC (SVD 1–2)", FRACTION),
          Panel("norm_frequency_spearman", "Spearman ρ(norm, log freq)", CORRELATION),
          Panel("unigram_frequency_spearman", "Spearman ρ(unigram dim, log freq)", CORRELATION))
UNIGRAM_DIM = Panel("unigram_dim", "dim", COUNT, "no checkpoint was analysed")  # dim 0 is a dim: not counts
EMERGENCE_SHOWN = {"heavy_dim_count": "heavy_dims", "clump_size": "clump"}  # panel metric -> emergence key
# verdict -> (matrix code, colour, legend label); None: the checkpoint has no result. Inconclusive has its own
# colour: it is neither a hold nor a miss.
VERDICTS = {HOLDS: (0, style.OKABE_ITO["green"], "holds"), FAILS: (1, style.OKABE_ITO["vermillion"], "does not hold"),
            INCONCLUSIVE: (2, style.OKABE_ITO["yellow"], "inconclusive"),
            NOT_APPLICABLE: (3, "#dddddd", "not applicable"), None: (4, "#ffffff", "no result")}
MAX_STEP_LABELS = 7  # per panel width; every checkpoint still gets a tick


def _look(index: int) -> dict:
    return {"color": style.CYCLE[index % len(style.CYCLE)],
            "linestyle": style.LINESTYLES[index % len(style.LINESTYLES)],
            "marker": style.MARKERS[index % len(style.MARKERS)]}


def _step_axis(ax, steps) -> None:
    """Symmetric-log step axis with a tick at every checkpoint, labelled where the labels do not collide."""
    distinct = sorted({float(s) for s in steps})  # float: a step past 2**63 is a Python int numpy cannot log
    positive = [s for s in distinct if s > 0]
    ax.set_xscale("symlog", linthresh=positive[0] if positive else 1.0)
    ax.set_xlabel("training step")
    if not distinct:
        return
    scale = ax.xaxis.get_transform()
    where = scale.transform(np.array(distinct))
    margin = 0.05 * (where[-1] - where[0]) or 0.5  # the same margins whether or not a panel has data
    ax.set_xlim(*scale.inverted().transform(np.array([where[0] - margin, where[-1] + margin])))
    gap = (where[-1] - where[0]) / MAX_STEP_LABELS
    shown = [0]
    for i in range(1, len(distinct)):
        if where[i] - where[shown[-1]] >= gap:
            shown.append(i)
    last = len(distinct) - 1
    if shown[-1] != last:  # the last step is always named (where the run ends), in place of a too-close one
        shown = (shown[:-1] if len(shown) > 1 else shown) + [last]
    labels = step_labels(distinct)
    ax.set_xticks(distinct, [labels[i] if i in shown else "" for i in range(len(distinct))])
    ax.xaxis.set_minor_locator(NullLocator())


def step_labels(steps: list[float]) -> list[str]:
    """Short step labels (0, 500, 1.5k, 143k, 2M, 1e+26); in full where two short ones would read the same."""
    short = [_short(s) for s in steps]
    return short if len(set(short)) == len(short) else [f"{s:,.0f}" if s < 1e15 else f"{s:.6g}" for s in steps]


def _short(step: float) -> str:
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if 1e3 * size > step >= size or (suffix == "T" and 1e15 > step >= size):
            return f"{step / size:.3g}{suffix}"
    return f"{step:.0f}" if step < 1e3 else f"{step:.3g}"


def _value_axis(ax, panel: Panel, values: list) -> None:
    """What no checkpoint has is said in the panel; a flat series gets its metric's natural range instead of
    matplotlib's ±0.05 around the value."""
    known = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    if not known or (panel.counts and not any(known)):
        for line in list(ax.lines):
            line.remove()
        ax.text(0.5, 0.5, panel.none, transform=ax.transAxes, ha="center", va="center", fontsize="small",
                color=style.OKABE_ITO["black"])
        ax.set_yticks([])
        return
    low, high = min(known), max(known)
    if high - low > 1e-9 * max(1.0, abs(high)):
        return
    bottom, top = panel.limits
    bottom, top = min(bottom, low), max(top if top is not None else 2 * high, high, bottom + 1.0)
    margin = 0.05 * (top - bottom)
    ax.set_ylim(bottom - margin, top + margin)


def _series(steps, values) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values as float arrays, missing values (failed checkpoints) as NaN, so lines break there."""
    return (np.asarray(steps, dtype=float),
            np.array([np.nan if v is None else float(v) for v in values], dtype=float))


def emergence_span(ax, found: dict, colour) -> None:
    """A run's emergence interval shaded in its colour, its first step for good a dotted line (the line alone
    when it held from the first checkpoint)."""
    low, high = found["interval"]
    if low is not None:
        ax.axvspan(float(low), float(high), color=colour, alpha=0.15, linewidth=0)
    ax.axvline(float(high), color=colour, linestyle=":", linewidth=0.8)


def trajectories(runs: dict[str, dict]) -> style.Figure:
    """One small panel per headline number, one line per run, against training step."""
    fig = style.figure(height=6.4)
    axes = fig.subplots(4, 2).ravel()
    all_steps = [s for block in runs.values() for s in block["steps"]]
    for ax, panel in zip(axes, PANELS):
        for index, (name, block) in enumerate(runs.items()):
            x, y = _series(block["steps"], block["trajectories"][panel.metric])
            ax.plot(x, y, label=name, markersize=3, **_look(index))
        _step_axis(ax, all_steps)
        _value_axis(ax, panel, [v for block in runs.values() for v in block["trajectories"][panel.metric]])
        for index, block in enumerate(runs.values()):  # on a panel with values only, as the limits stand
            found = block["emergence"].get(EMERGENCE_SHOWN.get(panel.metric, ""))
            if found is not None and ax.lines:
                emergence_span(ax, found, _look(index)["color"])
        ax.set_title(panel.title)
    if len(runs) > 1:
        drawn = next((ax for ax in axes if ax.lines), axes[0])
        handles, labels = drawn.get_legend_handles_labels()
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
            emergence_span(ax, found, style.OKABE_ITO["black"])
        ax.set_ylabel("dim")
        ax.set_title(f"{name}: " + (f"dim {found['dim']} by step {found['step']:,}" if found else
                                    "no unigram dim stands out at the end"))
        _step_axis(ax, all_steps)
        _value_axis(ax, UNIGRAM_DIM, block["trajectories"]["unigram_dim"])
    drawn = [ax for ax in axes if ax.lines]
    if drawn:
        drawn[0].legend(loc="best")
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
    """Claims (rows) × checkpoints (columns): holds, does not hold, inconclusive, not applicable, or no result."""
    claims = block["claims"]
    no_result = VERDICTS[None][0]
    grid = np.array([[VERDICTS.get(v, VERDICTS[None])[0] for v in row["verdicts"]] for row in claims] or [[no_result]],
                    dtype=float)
    fig = style.figure(height=1.3 + 0.16 * max(len(claims), 1))
    ax = fig.subplots()
    colours = ListedColormap([colour for _, colour, _ in VERDICTS.values()])
    ax.imshow(grid, aspect="auto", cmap=colours, vmin=-0.5, vmax=len(VERDICTS) - 0.5, interpolation="nearest")
    ax.set_yticks(range(len(claims)), [str(row["id"]) for row in claims], fontsize="x-small")
    steps = block["steps"]
    shown = range(0, len(steps), max(1, len(steps) // 12))
    ax.set_xticks(list(shown), [f"{steps[i]:,}" for i in shown], rotation=60, fontsize="x-small")
    ax.set(xlabel="checkpoint (training step)", ylabel="claim", title=name)
    keys = [Patch(facecolor=colour, edgecolor="#888888", label=label) for _, colour, label in VERDICTS.values()]
    fig.legend(handles=keys, loc="outside lower center", ncol=len(keys), fontsize="x-small", frameon=False)
    return fig
