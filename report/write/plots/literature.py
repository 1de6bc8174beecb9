"""Figure of the literature section: where the published odd tokens sit in this model."""

from __future__ import annotations

import numpy as np

from analyses.literature import LiteratureResult
from report.plots import style
from report.plots.outliers import label_column, short_label

MAX_LABELS = 30


def placement(r: LiteratureResult, norms: np.ndarray, centroid_distance: np.ndarray, clump: tuple[int, ...],
              display: tuple[str, ...]) -> "style.Figure":
    ids = np.array([f.token_id for f in r.found])
    shown = ids[np.argsort(centroid_distance[ids], kind="stable")[::-1]][:MAX_LABELS]
    fig = style.figure(height=min(6.0, max(3.0, 0.16 * len(shown) + 0.8)))
    ax, labels = fig.subplots(1, 2, width_ratios=[1.5, 1])
    ax.scatter(norms, centroid_distance, color="#9a9a9a", label=f"all tokens ({len(norms):,})",
               **style.cloud(len(norms)))
    if clump:
        ax.scatter(norms[list(clump)], centroid_distance[list(clump)], marker="s", s=16, facecolors="none",
                   edgecolors=style.OKABE_ITO["vermillion"], linewidths=0.9, label="our clumps")
    ax.scatter(norms[ids], centroid_distance[ids], marker="^", s=18, color=style.OKABE_ITO["blue"],
               label="published tokens", linewidths=0)
    ax.set(xlabel="embedding norm", ylabel="distance to the centroid")
    ax.legend(loc="best")
    label_column(ax, labels, [(norms[i], centroid_distance[i]) for i in shown],
                 [f"{short_label(display[i])}  ({i})" for i in shown])
    return fig
