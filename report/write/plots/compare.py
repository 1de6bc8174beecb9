"""Figures of the comparison: overlays on axes that do not depend on d (component / d, relative depth,
log spread), and one figure per pair of checkpoints of the same shape.

Every model keeps one colour, marker and line style in every figure: series carry the model's index in
the order the models were given, so a figure that leaves a model out does not shift the others' colours.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

from report.write.plots import style

ROLES = (("ln_1", "LN1 (first norm of each layer)"), ("ln_2", "LN2 (second norm of each layer)"))


def _look(index: int) -> dict:
    return {"color": style.CYCLE[index % len(style.CYCLE)],
            "linestyle": style.LINESTYLES[index % len(style.LINESTYLES)],
            "marker": style.MARKERS[index % len(style.MARKERS)]}


def spectra(series: list[tuple[int, str, np.ndarray]]) -> "style.Figure":
    """Singular values of W, each divided by the root of their sum of squares, against component / d."""
    fig = style.figure(height=2.5)
    left, right = fig.subplots(1, 2)
    for index, label, s in series:
        s = np.asarray(s, dtype=np.float64)
        x = (np.arange(len(s)) + 0.5) / len(s)
        look = _look(index)
        every = max(1, len(s) // 8)
        left.semilogy(x, s / np.sqrt(np.sum(s ** 2)), label=label, color=look["color"],
                      linestyle=look["linestyle"], marker=look["marker"], markevery=every, markersize=3)
        right.plot(x, np.cumsum(s ** 2) / np.sum(s ** 2), label=label, color=look["color"],
                   linestyle=look["linestyle"], marker=look["marker"], markevery=every, markersize=3)
    left.set(xlabel="component / d", ylabel="singular value / √(Σ s²)", title="normalised spectrum (log scale)")
    right.set(xlabel="components / d", ylabel="share of Σ W²", title="cumulative energy", ylim=(0, 1.02))
    _legend(fig, left)
    return fig


def ln_gains_by_depth(series: list[tuple[int, str, int, list[tuple[str, int, np.ndarray]], bool]]) -> "style.Figure":
    """Median gain per layer (line), its 10–90% band (shade) and largest gain (dotted), by relative depth. A model
    whose one norm per block feeds attention and the MLP (last item True) shows that norm in both panels."""
    fig = style.figure(height=2.7)
    axes = fig.subplots(1, 2)
    for ax, (role, title) in zip(axes, ROLES):
        for index, label, n_layers, gains, shared in series:
            read = "ln_1" if shared else role
            rows = sorted((layer, g) for r, layer, g in gains if r == read)
            if not rows:
                continue
            label = f"{label} (its LN1: one norm feeds both)" if shared and role == "ln_2" else label
            look = _look(index)
            depth = (np.array([layer for layer, _ in rows]) + 0.5) / max(n_layers, 1)
            stack = np.stack([g for _, g in rows])
            ax.fill_between(depth, np.quantile(stack, 0.1, axis=1), np.quantile(stack, 0.9, axis=1),
                            color=look["color"], alpha=0.15, linewidth=0)
            ax.plot(depth, np.median(stack, axis=1), color=look["color"], linestyle=look["linestyle"],
                    marker=look["marker"], markersize=3, label=label)
            ax.plot(depth, stack.max(axis=1), color=look["color"], linestyle=":", linewidth=0.7)
        ax.set(xlabel="relative depth (layer + ½) / layers", title=title, xlim=(0, 1))
    for ax in axes:
        ax.set_ylabel("gain")
    _legend(fig, axes[0])
    return fig


def position_std(series: list[tuple[int, str, np.ndarray]]) -> "style.Figure":
    """Histogram of each dim's position-embedding std across positions (log scale), as a share of dims."""
    fig = style.figure(height=2.4)
    ax = fig.add_subplot()
    logs = [np.log10(np.maximum(np.asarray(std, dtype=np.float64), 1e-12)) for _, _, std in series]
    bins = np.linspace(min(v.min() for v in logs), max(v.max() for v in logs) + 1e-9, 50)
    for (index, label, _), values in zip(series, logs):
        look = _look(index)
        ax.hist(values, bins=bins, weights=np.full(len(values), 1 / len(values)), histtype="step",
                color=look["color"], linestyle=look["linestyle"], linewidth=1.1, label=label)
    ax.set(xlabel="log10 std of the position embedding across positions", ylabel="share of channel dims")
    _legend(fig, ax)
    return fig


def token_norms(series: list[tuple[int, str, np.ndarray]]) -> "style.Figure":
    """Histogram of token-embedding norms relative to each model's median norm (log scale)."""
    fig = style.figure(height=2.3)
    ax = fig.add_subplot()
    logs = [np.log10(np.maximum(n, 1e-12) / max(float(np.median(n)), 1e-12)) for _, _, n in series]
    low = min(float(np.quantile(v, 0.001)) for v in logs)
    high = max(float(np.quantile(v, 0.999)) for v in logs)
    bins = np.linspace(low, high + 1e-9, 60)
    for (index, label, _), values in zip(series, logs):
        look = _look(index)
        ax.hist(np.clip(values, low, high), bins=bins, weights=np.full(len(values), 1 / len(values)),
                histtype="step", color=look["color"], linestyle=look["linestyle"], linewidth=1.1, label=label)
    ax.set(xlabel="log10 (norm / the model's median norm)", ylabel="share of tokens")
    _legend(fig, ax)
    return fig


def _legend(fig, ax) -> None:
    """One legend of the models above the panels, where it cannot cover data."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 4))


def pair(diff: dict) -> "style.Figure":
    """Left: each dim's largest gain change over all norms. Right: token norms before and after."""
    has_gains = diff["ln_gains"] is not None
    fig = style.figure(height=2.6)
    axes = fig.subplots(1, 2 if has_gains else 1, squeeze=False)[0]
    if has_gains:
        ax = axes[0]
        per_dim = np.asarray(diff["ln_gains"]["max_abs_change_per_dim"])
        ax.plot(np.arange(len(per_dim)), per_dim, color=style.NORMAL, linewidth=0.7)
        for row in diff["ln_gains"]["dims_moved_most"][:5]:
            ax.annotate(str(row["dim"]), (row["dim"], row["max_abs_change"]), fontsize=6, xytext=(2, 2),
                        textcoords="offset points")
        ax.set(xlabel="channel dim", ylabel="largest |Δ gain| over all norms", title="LayerNorm gains")
    ax = axes[-1]
    log_a, log_ratio = diff["_log_norm_a"], diff["_log_ratio"]
    ax.scatter(np.exp(log_a), np.exp(log_a + log_ratio), **style.cloud(len(log_a)), color=style.TOKEN,
               label="tokens")
    moved = [t["id"] for t in diff["tokens"]["grew_most"] + diff["tokens"]["shrank_most"]]
    ax.scatter(np.exp(log_a[moved]), np.exp((log_a + log_ratio)[moved]), s=9, marker="^",
               color=style.OKABE_ITO["vermillion"], label="moved most")
    lo, hi = float(np.exp(log_a.min())), float(np.exp(log_a.max()))
    ax.plot([lo, hi], [lo, hi], color="black", linestyle="--", linewidth=0.7, label="unchanged")
    ax.set(xscale="log", yscale="log", xlabel=f"norm in {diff['a']}", ylabel=f"norm in {diff['b']}",
           title="token embedding norms")
    ax.legend(loc="upper left")
    return fig


def all_figures(digests, diffs) -> list[tuple[str, "Callable[[], style.Figure]", str]]:
    """(file name, a function that draws the figure, caption) for every comparison figure, in reading order.
    Drawing is left to the caller, so figures can be drawn in parallel."""
    out = []
    spectra_series = [(i, m.label, m.results["singular_values"]) for i, m in enumerate(digests)]
    spectra_series = [(i, label, s) for i, label, s in spectra_series if s]
    if spectra_series:
        out.append(("compare_svd_spectra", partial(spectra, spectra_series),
                    "Singular values of each model's token embedding matrix, scaled by the root of their sum "
                    "of squares, against component number divided by d, so models of different width share "
                    "the axes."))
    shared = [m.label for m in digests if m.shared_norm]
    out.append(("compare_ln_gains", partial(ln_gains_by_depth, [(i, m.label, m.n_layers, list(m.gains), m.shared_norm)
                                                                for i, m in enumerate(digests)]),
                "LayerNorm gains by relative depth: the median over channel dims (line), the 10–90% range "
                "(shade) and the largest gain (dotted). The norm on the embeddings and the final norm are "
                "left out." + (f" {', '.join(shared)}: one norm per block feeds attention and the MLP, so the same "
                               "gains appear in both panels." if shared else "")))
    positions = [(i, m.label, m.results["position_std"]) for i, m in enumerate(digests) if m.results["has_positions"]]
    if positions:
        out.append(("compare_position_std", partial(position_std, positions),
                    "How much each channel dim's position embedding varies across positions (log scale), as a "
                    "share of each model's dims. Position-heavy dims form the right-hand group."))
    out.append(("compare_token_norms",
                partial(token_norms, [(i, m.label, m.token_norms) for i, m in enumerate(digests)]),
                "Token embedding norms, each divided by its model's median norm. A spike on the left is a "
                "clump of short, rarely trained vectors."))
    for diff in diffs:
        gains = ("the largest change of each channel dim's gain over all norms (left, the top five dims "
                 "labelled) and " if diff["ln_gains"] is not None else "")
        out.append((pair_figure_name(diff), partial(pair, diff),
                    f"From {diff['a']} to {diff['b']}: {gains}every token's embedding norm in the two checkpoints "
                    "(log scales; triangles grew or shrank most; the dashed line is no change)."))
    return out


def pair_figure_name(diff: dict) -> str:
    safe = lambda label: "".join(c if c.isalnum() or c in "._-" else "-" for c in label)  # noqa: E731
    return f"compare_pair_{safe(diff['a'])}__{safe(diff['b'])}"
