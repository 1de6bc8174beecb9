"""Figures of the open-questions section."""

from __future__ import annotations

import numpy as np
from matplotlib import ticker

from analyses.experiments import ExperimentsResult
from analyses.mlp_read import MlpReadResult
from report.plots import style

ROLE_STYLE = {"mlp_in": ("MLP in (read)", style.CYCLE[0], "o", "-"),
              "mlp_out": ("MLP out (write)", style.CYCLE[1], "s", "--"),
              "attn_value": ("attn value (read)", style.CYCLE[2], "^", ":"),
              "attn_out": ("attn out (write)", style.CYCLE[3], "D", "-.")}


def mlp_read(m: MlpReadResult) -> "style.Figure":
    fig = style.figure(height=2.6)
    left, right = fig.subplots(1, 2)
    p = m.profile("mlp_in")
    layers = np.asarray(m.layers)
    d = p.strength.shape[1]
    xs = np.repeat(layers, d) + np.tile(np.linspace(-0.3, 0.3, d), len(layers))
    left.scatter(xs, p.strength.ravel(), **style.cloud(xs.size), color=style.OKABE_ITO["sky"], label="all dims")
    left.scatter(layers, p.strength[:, m.dim], marker="*", s=40, color="black", label=f"dim {m.dim}", zorder=3)
    left.set(xlabel="layer", ylabel="read strength ‖gain·W_in row‖", title="what each MLP reads", yscale="log")
    for ax in (left, right):
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    left.legend(loc="best")
    for q in m.profiles:
        label, colour, marker, line = ROLE_STYLE[q.role]
        right.plot(layers, q.dim_percentile, marker=marker, linestyle=line, color=colour, markersize=3, label=label)
    right.axhline(1 - 5 / d, color="grey", linestyle=":", linewidth=0.8)
    right.set(xlabel="layer", ylabel=f"percentile of dim {m.dim}", ylim=(-0.02, 1.02), title="the unigram dim's rank")
    right.legend(loc="best", fontsize=6)
    return fig


def logits(m: MlpReadResult, log_frequency: np.ndarray) -> "style.Figure":
    fig = style.figure(width=style.HALF_WIDTH * 1.3, height=2.6)
    ax = fig.add_subplot()
    n = len(m.logit_effect)
    known = np.isfinite(log_frequency[:n])
    ax.scatter(log_frequency[:n][known], m.logit_effect[known], **style.cloud(int(known.sum())), color=style.TOKEN)
    f = m.logit_frequency
    ax.set(xlabel="log frequency", ylabel="logit change per unit of the dim",
           title=f"dim {m.dim}: Spearman ρ = {f.spearman:.2f} [{f.spearman_ci95[0]:.2f}, {f.spearman_ci95[1]:.2f}]")
    return fig


def _errorbar(ax, x, delta, **kwargs) -> None:
    lo, hi = delta.ci95
    ax.errorbar([x], [delta.delta_loss], yerr=[[delta.delta_loss - lo], [hi - delta.delta_loss]], capsize=2, **kwargs)


def smoothing(e: ExperimentsResult) -> "style.Figure":
    fig = style.figure(width=style.HALF_WIDTH * 1.3, height=2.6)
    ax = fig.add_subplot()
    points = sorted(e.smoothing, key=lambda p: p.variance_removed)
    ax.plot([0] + [p.variance_removed for p in points], [0] + [p.delta.delta_loss for p in points],
            color=style.POSITION, linewidth=0.6, linestyle="--")
    for k, point in enumerate(points):
        _errorbar(ax, point.variance_removed, point.delta, marker="o", color=style.POSITION, markersize=3)
        ax.annotate(f"{point.cutoff}", (point.variance_removed, point.delta.delta_loss), fontsize=6,
                    xytext=(4, 6 if k % 2 else -9), textcoords="offset points")  # alternate: close points
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set(xlabel="share of position variance removed", ylabel="Δ loss (nats/token)",
           title="low-passed position embeddings (labels: frequencies kept)")
    return fig


def ablations(e: ExperimentsResult) -> "style.Figure":
    fig = style.figure(height=2.5)
    left, right = fig.subplots(1, 2)
    for x, (name, delta) in enumerate(sorted(e.dims_dropped.items(), reverse=True)):
        _errorbar(left, x, delta, marker="o", color=style.HEAVY if name == "heavy" else style.NORMAL)
    left.set_xticks(range(len(e.dims_dropped)), [n.replace("_", "-") for n in sorted(e.dims_dropped, reverse=True)])
    left.axhline(0, color="grey", linewidth=0.6)
    left.set(xlim=(-0.6, 1.6), ylabel="Δ loss (nats/token)", title="position dims set to their mean")
    u = e.unigram
    order = np.argsort(u.estimate, kind="stable")
    right.scatter(np.arange(len(order)), u.estimate[order], s=3, color=style.OKABE_ITO["sky"],
                  label="estimate, every dim")
    where = {int(d): k for k, d in enumerate(order)}
    others = [d for d in u.exact_dims if d != u.dim]
    right.scatter([where[d] for d in others], [u.effect[d] for d in others], s=12, color="black", marker="o",
                  label="exact")
    _errorbar(right, where[u.dim], u.delta, marker="*", markersize=7, color="black")
    right.axhline(0, color="grey", linewidth=0.6)
    right.set(xlabel="dims, by estimated Δ loss", ylabel="Δ loss (nats/token)",
              title=f"token dim {u.dim} at its mean: rank {u.rank} of {u.null_size + 1}, p = {u.p_value:.3g}")
    right.legend(loc="best", fontsize=6)
    return fig


def repetition(e: ExperimentsResult, clump_ids) -> "style.Figure":
    fig = style.figure(height=2.6)
    ax = fig.add_subplot()
    floor = 1e-12
    probes = list(zip(e.repetition_ids, e.repetition_probability))
    groups = (("ordinary", [(None, p) for p in e.ordinary_probability], style.NORMAL, "o"),
              ("clump", [(i, p) for i, p in probes if i in clump_ids], style.OKABE_ITO["vermillion"], "^"),
              ("outliers, candidates", [(i, p) for i, p in probes if i not in clump_ids], style.OKABE_ITO["green"],
               "s"))
    marked_x, marked_y = [], []
    for x, (label, members, colour, marker) in enumerate(groups):
        values = np.maximum(np.array([p for _, p in members], dtype=float), floor)
        xs = x + np.linspace(-0.25, 0.25, max(len(values), 1))[: len(values)]
        ax.scatter(xs, values, s=8, color=colour, marker=marker, label=f"{label} ({len(values)})")
        for (i, _), px, py in zip(members, xs, values):
            if i is not None and i in e.cannot_repeat:
                marked_x.append(px)
                marked_y.append(py)
    if marked_x:
        ax.scatter(marked_x, marked_y, s=20, facecolors="none", edgecolors="black", linewidths=0.8,
                   label=f"confirmed ({len(marked_x)}, q ≤ {e.repetition_fdr:g})")
    ax.set_xticks(range(3), [g[0] for g in groups])
    ax.set(yscale="log", ylabel="P(token | token repeated)", title="can the model repeat the token?")
    ax.legend(loc="best")
    return fig
