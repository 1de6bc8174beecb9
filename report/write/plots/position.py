"""Figures of the token/position rivalry section."""

from __future__ import annotations

import numpy as np

from analyses.position import PositionResult
from report.plots import style

MAX_HEATMAP_DIMS, MAX_HEATMAP_TOKENS = 96, 256


def embedding_heatmap(tokens: np.ndarray) -> "style.Figure":
    chunk = tokens[:MAX_HEATMAP_TOKENS, :MAX_HEATMAP_DIMS].T
    fig = style.figure(height=2.8)
    ax = fig.add_subplot()
    limit = float(np.quantile(np.abs(chunk), 0.99)) or 1.0
    image = ax.imshow(chunk, aspect="auto", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xlabel(f"token id (first {chunk.shape[1]})")
    ax.set_ylabel(f"channel dim (first {chunk.shape[0]})")
    fig.colorbar(image, ax=ax, label="embedding value")
    return fig


def overlaid_histograms(tokens: np.ndarray, count: int = 30) -> "style.Figure":
    fig = style.figure(height=2.6)
    left, right = fig.subplots(1, 2)
    bins = np.linspace(*np.quantile(tokens[: count * 100], [0.001, 0.999]), 60)
    for i in range(min(count, tokens.shape[0])):
        left.hist(tokens[i], bins=bins, histtype="step", linewidth=0.6)
    for j in range(min(count, tokens.shape[1])):
        right.hist(tokens[:, j], bins=bins, histtype="step", linewidth=0.6)
    left.set(title=f"first {count} tokens (each over channel dims)", xlabel="embedding value", ylabel="count")
    right.set(title=f"first {count} channel dims (each over tokens)", xlabel="embedding value", ylabel="count")
    right.set_yscale("log")
    return fig


def token_dim_stats(result: PositionResult) -> "style.Figure":
    fig = style.figure(height=2.4)
    left, right = fig.subplots(1, 2)
    heavy = np.zeros(len(result.profile.token_std), dtype=bool)
    heavy[list(result.heavy_dims)] = True
    for ax, values, label in ((left, result.profile.token_std, "std across tokens"),
                              (right, result.profile.token_mean, "mean across tokens")):
        bins = np.histogram_bin_edges(values, bins=50)
        ax.hist(values[~heavy], bins=bins, color=style.NORMAL, label="other dims")
        if heavy.any():
            ax.hist(values[heavy], bins=bins, color=style.HEAVY, hatch="////", histtype="step",
                    label="position-heavy dims")
        ax.set(xlabel=f"per-dim {label} (embedding units)", ylabel="channel dims")
        ax.set_yscale("log")
    left.legend()
    return fig


def position_std_histogram(result: PositionResult) -> "style.Figure":
    fig = style.figure(height=2.4)
    ax = fig.add_subplot()
    log_std = np.log10(np.maximum(result.profile.position_std, 1e-12))
    bins = np.histogram_bin_edges(log_std, bins=60)
    heavy = np.zeros(len(log_std), dtype=bool)
    heavy[list(result.heavy_dims)] = True
    ax.hist(log_std[~heavy], bins=bins, color=style.NORMAL, label="other dims")
    if heavy.any():
        ax.hist(log_std[heavy], bins=bins, color=style.HEAVY, hatch="////", label="position-heavy dims")
    if np.isfinite(result.cluster.log10_threshold):
        ax.axvline(result.cluster.log10_threshold, color="black", linestyle="--", label="heavy-dim boundary")
    ax.set(xlabel="log10 std of position embeddings across positions", ylabel="channel dims")
    ax.legend()
    return fig


def summary_stats(result: PositionResult) -> "style.Figure":
    fig = style.figure(height=3.2)
    ax = fig.add_subplot()
    x = np.maximum(result.profile.position_std, 1e-12)
    series = [
        (np.abs(result.profile.token_mean), "|token mean|", style.OKABE_ITO["blue"], "o"),
        (result.profile.token_std, "token std", style.OKABE_ITO["green"], "s"),
        (np.abs(result.profile.position_mean), "|position mean|", style.OKABE_ITO["vermillion"], "^"),
        (result.profile.position_std, "position std", style.OKABE_ITO["orange"], "x"),
    ]
    for values, label, colour, marker in series:
        ax.scatter(x, np.maximum(values, 1e-12), s=6, color=colour, marker=marker, label=label,
                   linewidths=0.6, alpha=0.8)
    if np.isfinite(result.cluster.log10_threshold):
        ax.axvline(10 ** result.cluster.log10_threshold, color="black", linestyle="--", linewidth=0.8)
    ax.set(xscale="log", yscale="log", xlabel="std of position embeddings (per channel dim)",
           ylabel="statistic (embedding units)")
    ax.legend(ncol=4, loc="lower right")
    return fig


def dim_pair_scatter(tokens: np.ndarray, positions: np.ndarray, pairs: list[tuple[str, int, int]]) -> "style.Figure":
    fig = style.figure(height=2.4)
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    for ax, (label, a, b) in zip(axes, pairs):
        ax.scatter(tokens[:, a], tokens[:, b], s=0.3, color=style.TOKEN, alpha=0.3, rasterized=True,
                   linewidths=0, label="tokens")
        ax.scatter(positions[:, a], positions[:, b], s=1.5, color=style.POSITION, marker="^",
                   rasterized=True, linewidths=0, label="positions")
        ax.set(title=label, xlabel=f"dim {a}", ylabel=f"dim {b}")
    axes[0].legend(markerscale=4)
    return fig


def position_curves(positions: np.ndarray, result: PositionResult, count: int = 8) -> "style.Figure":
    fig = style.figure(height=2.6)
    strong_ax, weak_ax = fig.subplots(1, 2, width_ratios=[2, 1])
    heavy = list(result.heavy_dims)
    ranked = list(np.argsort(result.profile.position_std)[::-1])
    strong = heavy[:count] if heavy else ranked[:count]
    weak = [d for d in np.argsort(result.profile.position_std) if d not in heavy][:4]
    for i, dim in enumerate(strong):
        strong_ax.plot(positions[:, dim], linestyle=style.LINESTYLES[i % 4], label=f"dim {dim}")
    for i, dim in enumerate(weak):
        weak_ax.plot(positions[:, dim], linestyle=style.LINESTYLES[i % 4], label=f"dim {dim}")
    strong_ax.set(title="most active dims", xlabel="position", ylabel="embedding value")
    weak_ax.set(title="least active dims (own scale)", xlabel="position")
    strong_ax.legend(ncol=2, fontsize=6)
    weak_ax.legend(fontsize=6)
    return fig
