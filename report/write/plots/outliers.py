"""Figures of the outliers section."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from analyses.outliers import OutliersResult
from report.plots import style

CLUMP_COLOURS = [style.OKABE_ITO["vermillion"], style.OKABE_ITO["green"], style.OKABE_ITO["purple"],
                 style.OKABE_ITO["orange"]]
MAX_LABELS = 40
LABEL_CHARS = 28


def _y(r: OutliersResult) -> np.ndarray:
    return r.unigram_values if r.unigram_values is not None else r.centroid_distance


def short_label(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def overview(r: OutliersResult, y_label: str) -> "style.Figure":
    fig = style.figure(height=3.4)
    ax = fig.add_subplot()
    y = _y(r)
    ax.scatter(r.norms, y, color="#9a9a9a", label=f"all tokens ({len(y):,})", **style.cloud(len(y)))
    for ids, label, marker, colour in ((r.longest, f"{len(r.longest)} longest", "^", style.OKABE_ITO["blue"]),
                                       (r.shortest, f"{len(r.shortest)} shortest", "v", style.OKABE_ITO["sky"])):
        ax.scatter(r.norms[list(ids)], y[list(ids)], marker=marker, s=14, color=colour, label=label, linewidths=0)
    for n, clump in enumerate(r.clumps[: len(CLUMP_COLOURS)]):
        ids = list(clump)
        ax.scatter(r.norms[ids], y[ids], marker="s", s=16, facecolors="none", linewidths=0.9,
                   edgecolors=CLUMP_COLOURS[n], label=f"clump {n + 1} ({len(ids)} tokens)")
    ax.set(xlabel="embedding norm", ylabel=y_label)
    ax.legend(loc="best")
    return fig


def clump_zoom(r: OutliersResult, y_label: str, display: tuple[str, ...]) -> "style.Figure":
    """The largest clump in a window around it; labels stacked in a column, joined to their points."""
    ids = np.array(r.clumps[0])
    y = _y(r)
    x0, x1 = r.norms[ids].min(), r.norms[ids].max()
    y0, y1 = y[ids].min(), y[ids].max()
    pad_x = max((x1 - x0) * 0.6, 1e-3 * max(abs(x1), 1e-9))
    pad_y = max((y1 - y0) * 0.6, 1e-3 * max(abs(y1), 1e-9))
    window = ((r.norms > x0 - pad_x) & (r.norms < x1 + pad_x) & (y > y0 - pad_y) & (y < y1 + pad_y))
    window[ids] = False
    shown = ids[np.argsort(y[ids], kind="stable")][::-1][:MAX_LABELS]  # top of the column = highest point
    height = min(6.5, max(2.6, 0.16 * len(shown) + 0.6))
    fig = style.figure(height=height)
    ax, labels = fig.subplots(1, 2, width_ratios=[1.5, 1])
    ax.scatter(r.norms[window], y[window], color="#9a9a9a", **style.cloud(int(window.sum()) + 1))
    ax.scatter(r.norms[ids], y[ids], marker="s", s=14, facecolors="none", edgecolors=CLUMP_COLOURS[0], linewidths=0.9)
    ax.set(xlim=(x0 - pad_x, x1 + pad_x), ylim=(y0 - pad_y, y1 + pad_y), xlabel="embedding norm", ylabel=y_label,
           title=f"clump 1: {len(ids)} tokens" + (f" (first {MAX_LABELS} labelled)" if len(ids) > MAX_LABELS else ""))
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(6))
    label_column(ax, labels, [(r.norms[i], y[i]) for i in shown],
                 [f"{short_label(display[i])}  ({i})" for i in shown])
    return fig


def label_column(ax, labels, points, texts) -> None:
    """Write `texts` in a column on the empty axes `labels` (same row as `ax`), each joined by a thin line to its
    point on `ax`. Each label sits at its point's height where it can, pushed apart just enough not to overlap."""
    labels.set_axis_off()
    labels.set(xlim=(0, 1), ylim=(0, 1))
    if not texts:
        return
    low, high = ax.get_ylim()
    wanted = np.clip([(y - low) / (high - low) if high > low else 0.5 for _, y in points], 0.02, 0.98)
    order = np.argsort(-wanted, kind="stable")
    slots = _spread(wanted[order], gap=min(0.07, 0.96 / max(len(texts) - 1, 1)))
    for k, slot in zip(order, slots):
        note = labels.annotate(texts[k], xy=points[k], xycoords=ax.transData, xytext=(0.04, slot),
                               textcoords=labels.transAxes, fontsize=6, va="center", ha="left", annotation_clip=False,
                               arrowprops={"arrowstyle": "-", "color": "#777777", "linewidth": 0.4, "shrinkA": 0,
                                           "shrinkB": 2})
        note.set_in_layout(False)  # the column is sized by its axes; long labels must not squeeze the plot


def _spread(targets: np.ndarray, gap: float, low: float = 0.02, high: float = 0.98) -> np.ndarray:
    """Positions as close to the (descending) targets as possible, at least `gap` apart, within [low, high]."""
    slots = np.array(targets, dtype=float)
    for i in range(1, len(slots)):
        slots[i] = min(slots[i], slots[i - 1] - gap)
    if len(slots) and slots[-1] < low:
        slots[-1] = low
        for i in range(len(slots) - 2, -1, -1):
            slots[i] = max(slots[i], slots[i + 1] + gap)
    return np.minimum(slots, high)
