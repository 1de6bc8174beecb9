"""Figures of the unigram-dimension section."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FormatStrFormatter, FuncFormatter, MaxNLocator

from analyses.unigram import STANDOUT_Z, UnigramResult
from report.plots import style

COLUMN_WIDTH = 0.7  # share of a layer's column that its dims spread over


def sparse_minor_label(value: float, _position) -> str:
    """Label only the 2s, 3s and 5s between decades, so minor labels never collide."""
    mantissa = value / 10 ** np.floor(np.log10(value)) if value > 0 else 0
    return f"{value:g}" if round(mantissa) in (2, 3, 5) and abs(mantissa - round(mantissa)) < 1e-6 else ""


def ln2_gains(r: UnigramResult, norm_label: str = "LN2") -> "style.Figure":
    """|gain| of every dim in the norm in front of each MLP (`norm_label` names it), and the unigram dim's z."""
    fig = style.figure(height=2.8)
    gain_ax, z_ax = fig.subplots(1, 2, width_ratios=[2.2, 1])
    n_layers, d = r.abs_gains.shape
    offsets = (np.arange(d) / max(d - 1, 1) - 0.5) * COLUMN_WIDTH
    x = (np.arange(n_layers)[:, None] + offsets[None, :]).ravel()
    colours = np.tile(np.arange(d), n_layers)
    points = gain_ax.scatter(x, r.abs_gains.ravel(), c=colours, cmap=style.MAGNITUDE_CMAP, s=2, linewidths=0,
                             rasterized=True)
    steps = np.arange(n_layers)
    gain_ax.plot(steps + offsets[r.dim], r.abs_gains[:, r.dim], color="black", marker="*", markersize=8,
                 linestyle="-", linewidth=0.8, label=f"dim {r.dim} (unigram)")
    gain_ax.plot(steps + offsets[r.contrast_dim], r.abs_gains[:, r.contrast_dim], color="black", marker="D",
                 markerfacecolor="white", markersize=4, linestyle=":", linewidth=0.8,
                 label=f"dim {r.contrast_dim} (contrast)")
    gain_ax.set(xlabel=f"{norm_label} of layer", ylabel="|gain| (multiplier)", yscale="log")
    gain_ax.set_xticks(steps[:: max(1, n_layers // 12)], [str(int(v)) for v in r.layers[:: max(1, n_layers // 12)]])
    gain_ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    gain_ax.yaxis.set_minor_formatter(FuncFormatter(sparse_minor_label))
    gain_ax.tick_params(axis="y", which="minor", labelsize=5)
    gain_ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=6)
    fig.colorbar(points, ax=gain_ax, label="channel dim", pad=0.01)
    runner_up = next((d for d, _, _ in r.candidates(2) if d != r.dim), None)
    z_ax.plot(r.layers, r.dim_z, color="black", marker="*", linestyle="-", label=f"dim {r.dim}")
    if runner_up is not None:
        z_ax.plot(r.layers, r.z[:, runner_up], color=style.OKABE_ITO["orange"], marker="o", markersize=3,
                  linestyle="--", label=f"dim {runner_up} (runner-up)")
    z_ax.axhline(STANDOUT_Z, color=style.HEAVY, linestyle=":", label=f"threshold {STANDOUT_Z:g}")
    z_ax.set(xlabel="layer", ylabel=f"robust z of |gain| in {norm_label}")
    z_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    z_ax.legend(loc="best", fontsize=6)
    return fig


def scatter_grid(r: UnigramResult, log_frequency: np.ndarray | None) -> "style.Figure":
    columns = [("embedding norm", r.norms), ("token index", np.arange(len(r.values), dtype=float))]
    if log_frequency is not None and np.isfinite(log_frequency).any():
        columns.append(("log10 frequency", np.asarray(log_frequency, dtype=float)))
    fig = style.figure(height=4.0)
    axes = fig.subplots(2, len(columns), squeeze=False)
    for row, (dim, values, marker) in enumerate(((r.dim, r.values, "o"), (r.contrast_dim, r.contrast_values, "s"))):
        for col, (label, x) in enumerate(columns):
            ax = axes[row, col]
            keep = np.isfinite(x)
            ax.scatter(x[keep], values[keep], s=1.0, marker=marker, color=style.TOKEN, alpha=0.35, linewidths=0,
                       rasterized=True)
            ax.set_xlabel(f"{label}{' (embedding units)' if col == 0 else ''}")
            if col == 0:
                ax.set_ylabel(f"dim {dim} value{' (unigram)' if row == 0 else ' (contrast)'}")
    return fig
