"""Figure of the correlations section: the correlation matrix, annotated so it reads without colour."""

from __future__ import annotations

import numpy as np

from analyses.correlations import VARIABLES, CorrelationsResult
from report.plots import style

SHORT = {"unigram_dim": "unigram dim", "norm": "norm", "svd0": "SVD0", "log_frequency": "log freq.",
         "token_index": "token index"}


def _annotate(ax, values: np.ndarray, mask: np.ndarray | None = None) -> None:
    for (i, j), v in np.ndenumerate(values):
        if mask is not None and not mask[i, j]:
            continue
        text = "—" if not np.isfinite(v) else f"{v:.2f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7,
                color="white" if np.isfinite(v) and abs(v) > 0.6 else "black")


def matrix(r: CorrelationsResult) -> "style.Figure":
    fig = style.figure(height=3.0)
    main_ax, partial_ax = fig.subplots(1, 2, width_ratios=[1.35, 1])
    n = len(VARIABLES)
    lower = np.tril(np.ones((n, n), dtype=bool), -1)
    combined = np.where(lower, r.matrix_spearman, r.matrix_pearson)
    np.fill_diagonal(combined, np.nan)
    image = main_ax.imshow(np.ma.masked_invalid(combined), vmin=-1, vmax=1, cmap="RdBu_r")
    _annotate(main_ax, combined, ~np.eye(n, dtype=bool))
    names = [SHORT[v] for v in VARIABLES]
    main_ax.set_xticks(range(n), names, rotation=35, ha="right")
    main_ax.set_yticks(range(n), names)
    main_ax.set_title("Spearman (lower left) · Pearson (upper right)")
    others = [v for v in VARIABLES if v != "norm"]
    partial = np.full((len(others), len(others)), np.nan)
    position = {v: i for i, v in enumerate(others)}
    for p in r.partials:
        i, j = position[p.x], position[p.y]
        partial[max(i, j), min(i, j)] = p.spearman
    partial_ax.imshow(np.ma.masked_invalid(partial), vmin=-1, vmax=1, cmap="RdBu_r")
    _annotate(partial_ax, partial, np.isfinite(partial))
    partial_ax.set_xticks(range(len(others)), [SHORT[v] for v in others], rotation=35, ha="right")
    partial_ax.set_yticks(range(len(others)), [SHORT[v] for v in others])
    partial_ax.set_title("partial Spearman, norm held fixed")
    fig.colorbar(image, ax=[main_ax, partial_ax], label="correlation coefficient", shrink=0.8)
    return fig
