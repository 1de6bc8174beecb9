"""Figures of the zero-layer section."""

from __future__ import annotations

import numpy as np

from analyses.zero_layer import CATEGORIES, ZeroLayerResult
from report.plots import style

CATEGORY_STYLE = {  # colour and marker per category, distinct in colour and in grey
    "leading-space removal": (style.OKABE_ITO["blue"], "o"),
    "unprintable byte": (style.OKABE_ITO["vermillion"], "s"),
    "machine-readable": (style.OKABE_ITO["green"], "^"),
    "other": ("#6b6b6b", "x"),
}


def exceptions(r: ZeroLayerResult) -> "style.Figure":
    fig = style.figure(height=2.8)
    left, right = fig.subplots(1, 2, width_ratios=[1.6, 1])
    cos = np.array([e.cosine for e in r.exceptions])
    ratio = np.array([e.norm_ratio for e in r.exceptions])
    for category in CATEGORIES:
        mask = np.array([e.category == category for e in r.exceptions])
        if mask.any():
            colour, marker = CATEGORY_STYLE[category]
            left.scatter(ratio[mask], cos[mask], marker=marker, color=colour,
                         label=f"{category} ({int(mask.sum()):,})", **style.cloud(int(mask.sum()), 1.5))
    grid = np.linspace(1.0, max(float(ratio.max()) * 1.05, 1.1), 200)
    left.plot(grid, 1 / grid, linestyle="--", color="#555555", linewidth=0.8, label="cos = |u|/|v|")
    left.set(xlabel="|v| / |u|", ylabel="cos(u, v)", title="how v beats u")
    left.legend(loc="lower right")
    counts = [r.category_counts[c] for c in CATEGORIES]
    y = np.arange(len(CATEGORIES))
    bars = right.barh(y, counts, color=[CATEGORY_STYLE[c][0] for c in CATEGORIES])
    for bar, hatch in zip(bars, style.HATCHES):
        bar.set_hatch(hatch)
    right.set_yticks(y, CATEGORIES)
    right.invert_yaxis()
    right.set(xlabel="exceptions", title="categories")
    return fig
