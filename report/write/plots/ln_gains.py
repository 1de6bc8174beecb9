"""Figures of the LayerNorm-gains-vs-position section."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FormatStrFormatter, FuncFormatter, MaxNLocator

from analyses.ln_gains import LnGainsResult
from report.plots import style
from report.plots.unigram import sparse_minor_label

MAX_PANELS = 12
COLUMNS = 4
ROLE_LINES = {"ln_1": ("LN1", style.OKABE_ITO["blue"], "o", "-"),
              "ln_2": ("LN2", style.OKABE_ITO["vermillion"], "s", "--")}


def panel_layers(r: LnGainsResult) -> list[int]:
    """All layers when there are few; otherwise MAX_PANELS evenly spaced ones, always with the first and last."""
    layers = [int(x) for x in r.layers]
    if len(layers) <= MAX_PANELS:
        return layers
    picks = np.unique(np.round(np.linspace(0, len(layers) - 1, MAX_PANELS)).astype(int))
    return [layers[i] for i in picks]


def layer_grid(r: LnGainsResult, role: str) -> "style.Figure":
    shown = panel_layers(r)
    rows = int(np.ceil(len(shown) / COLUMNS))
    cols = min(COLUMNS, len(shown))
    fig = style.figure(height=1.55 * rows + 0.35)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    heavy = np.zeros(len(r.log_position_std), dtype=bool)
    heavy[list(r.heavy_dims)] = True
    x = r.log_position_std
    row_of = {int(layer): i for i, layer in enumerate(r.layers)}
    for ax, layer in zip(axes.ravel(), shown):
        i = row_of[layer]
        y = r.log_abs_gain[role][i]
        ax.scatter(x[~heavy], y[~heavy], s=3, color=style.NORMAL, marker="o", linewidths=0, rasterized=True,
                   label="other dims")
        if heavy.any():
            ax.scatter(x[heavy], y[heavy], s=7, color=style.HEAVY, marker="^", linewidths=0, rasterized=True,
                       label="position-heavy")
        ax.set_title(f"layer {layer}  ρ = {r.spearman[role][i]:.2f}", fontsize=7)
    for ax in axes.ravel()[len(shown):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("log10 std(position)", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("log10 |gain|", fontsize=7)
    axes[0, 0].legend(loc="best", fontsize=6, markerscale=2)
    fig.suptitle(f"{ROLE_LINES[role][0]} gains", fontsize=9)
    return fig


def summary(r: LnGainsResult) -> "style.Figure":
    has_heavy = all(np.isfinite(r.heavy_ratio[role]).all() and (r.heavy_ratio[role] > 0).all() for role in ROLE_LINES)
    fig = style.figure(height=2.3)
    axes = fig.subplots(1, 2 if has_heavy else 1, squeeze=False)[0]
    rho_ax = axes[0]
    for role, (label, colour, marker, linestyle) in ROLE_LINES.items():
        rho_ax.plot(r.layers, r.spearman[role], color=colour, marker=marker, linestyle=linestyle, markersize=3.5,
                    label=label)
        if has_heavy:
            axes[1].plot(r.layers, r.heavy_ratio[role], color=colour, marker=marker, linestyle=linestyle,
                         markersize=3.5, label=label)
    rho_ax.axhline(0, color="black", linewidth=0.6)
    rho_ax.set(xlabel="layer", ylabel="Spearman ρ with log std(position)", ylim=(-1.05, 1.05))
    rho_ax.legend(loc="best")
    if has_heavy:
        ratio_ax = axes[1]
        ratio_ax.axhline(1, color="black", linewidth=0.6, linestyle=":")
        ratio_ax.set(xlabel="layer", ylabel="median |gain|: heavy / other dims", yscale="log")
        ratio_ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ratio_ax.yaxis.set_minor_formatter(FuncFormatter(sparse_minor_label))
        ratio_ax.tick_params(axis="y", which="minor", labelsize=5)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig
