"""Section: the unigram dimension."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FormatStrFormatter, FuncFormatter, MaxNLocator

from analyses.correlations import BeyondNorm, describe_beyond_norm
from analyses.position import PositionResult
from analyses.unigram import RULE, STANDOUT_Z, UnigramResult, analyse_unigram
from report.run.context import RunContext
from report.run.section import FigureSpec, Section
from report.write.plots import style
from report.write.wording import norm_label


def run(ctx: RunContext) -> UnigramResult:
    w = ctx.weights
    norms = w.norms_with_role(w.mlp_norm_role)
    position = ctx.earlier("position")
    return analyse_unigram([ln.layer for ln in norms],
                           np.array([ln.weight for ln in norms]).reshape(len(norms), w.d_model),
                           ctx.embeddings, position.profile.position_std if position.has_positions else None,
                           position.heavy_dims, ctx.log_frequency, seed=ctx.options.seed)


def _buckers(r: UnigramResult, ctx: RunContext, rows) -> list[dict]:
    log_f = ctx.log_frequency
    return [ctx.token(i) | {"residual": res, "value": float(r.values[i]), "log_frequency": float(log_f[i])}
            for i, res in rows]


def to_json(r: UnigramResult, ctx: RunContext) -> dict:
    return {
        "dim": r.dim,
        "standout": r.standout,
        "norm": {"role": ctx.weights.mlp_norm_role, "label": norm_label(ctx),
                 "meaning": "the LayerNorm whose output feeds each MLP"
                            + (" (here the block's one norm, which feeds attention as well)"
                               if ctx.weights.shared_norm else ""),
                 "shared_with_attention": ctx.weights.shared_norm},
        "rule": RULE,
        "standout_z": STANDOUT_Z,
        "layers_standing_out": list(r.layers_standing_out),
        "z_per_layer": [{"layer": int(layer), "z": float(z)} for layer, z in zip(r.layers, r.dim_z)],
        "candidates": [{"dim": d, "layers_standing_out": n, "mean_z": z} for d, n, z in r.candidates()],
        "qualifying_dims": list(r.qualifying),
        "chance_p": r.chance_p,
        "contrast_dim": r.contrast_dim,
        "dim_stats": {
            "token_mean": r.token_mean, "token_std": r.token_std, "position_std": r.position_std,
            "position_std_percentile": r.position_pct, "abs_token_mean_percentile_non_heavy": r.abs_mean_pct,
            "token_std_percentile_non_heavy": r.std_pct,
        },
        "frequency": {"kind": ctx.frequency.kind, "spearman": r.frequency_spearman, "n": r.frequency_n,
                      "beyond_norm": beyond_norm_json(r.frequency_beyond_norm)},
        "buckers": {
            "rule": "residuals of rank(dim value) on rank(log frequency), rank fractions fitted with slope Spearman ρ",
            "above_trend": _buckers(r, ctx, r.buckers_above),
            "below_trend": _buckers(r, ctx, r.buckers_below),
        },
    }


def beyond_norm_json(link: BeyondNorm | None) -> dict | None:
    """A BeyondNorm as results.json holds it, with the sentence the report shows."""
    if link is None:
        return None
    return {"target": link.target, "spearman": link.statistic, "ci95": list(link.ci95),
            "spearman_without_control": link.raw, "n": link.n, "matched_dims": list(link.matched_dims),
            "matched_median": link.matched_median, "matched_percentile": link.matched_percentile,
            "meaning": describe_beyond_norm(link),
            "method": "partial Spearman given the length of the rest of the row (for target norm: Spearman of the "
                      "dim's share of its row with that length); Fisher-z 95% interval; matched dims: nearest in "
                      "|token mean| / token std, statistic turned to the dim's mean sign, on sampled tokens"}


def figures(r: UnigramResult, ctx: RunContext) -> list[FigureSpec]:
    specs = []
    if len(r.layers):
        specs.append(FigureSpec(
            "unigram_ln2_gains", ln2_gains(r, norm_label(ctx)),
            f"Left: |gain| of every channel dim in every {norm_label(ctx)} (the norm in front of the MLP), "
            "dims spread across each layer's column and coloured by "
            f"index; dim {r.dim} is the black star, the contrast dim {r.contrast_dim} the open diamond. Right: the "
            f"robust z of dim {r.dim} per layer against the threshold {STANDOUT_Z:g}."))
    frequency = ctx.log_frequency if ctx.frequency.kind != "token-index" else None
    specs.append(FigureSpec(
        "unigram_scatter", scatter_grid(r, frequency),
        f"Every token's value on dim {r.dim} (top) and on the contrast dim {r.contrast_dim} (bottom) against its "
        f"embedding norm, its token index and its log frequency ({ctx.frequency.kind}; tokens without a frequency "
        "are left out)."))
    return specs


def context(r: UnigramResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    norm = j["norm"]
    return {"j": j, "post_ln": norm["role"] != "ln_2" and not norm["shared_with_attention"]}


# Figures of the unigram-dimension section.
COLUMN_WIDTH = 0.7  # share of a layer's column that its dims spread over


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
    gain_ax.yaxis.set_minor_formatter(FuncFormatter(style.sparse_minor_label))
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


SECTION = Section("unigram", "The unigram dimension", run, to_json, figures, context,
                  result=UnigramResult, reads={"position": PositionResult})
