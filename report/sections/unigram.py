"""Section: the unigram dimension."""

from __future__ import annotations

import numpy as np

from analyses.correlations import BeyondNorm, describe_beyond_norm
from analyses.position import PositionResult
from analyses.unigram import RULE, STANDOUT_Z, UnigramResult, analyse_unigram
from report.context import RunContext
from report.plots import unigram as plots
from report.section import FigureSpec, Section
from report.wording import norm_label


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
            "unigram_ln2_gains", plots.ln2_gains(r, norm_label(ctx)),
            f"Left: |gain| of every channel dim in every {norm_label(ctx)} (the norm in front of the MLP), "
            "dims spread across each layer's column and coloured by "
            f"index; dim {r.dim} is the black star, the contrast dim {r.contrast_dim} the open diamond. Right: the "
            f"robust z of dim {r.dim} per layer against the threshold {STANDOUT_Z:g}."))
    frequency = ctx.log_frequency if ctx.frequency.kind != "token-index" else None
    specs.append(FigureSpec(
        "unigram_scatter", plots.scatter_grid(r, frequency),
        f"Every token's value on dim {r.dim} (top) and on the contrast dim {r.contrast_dim} (bottom) against its "
        f"embedding norm, its token index and its log frequency ({ctx.frequency.kind}; tokens without a frequency "
        "are left out)."))
    return specs


def context(r: UnigramResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    norm = j["norm"]
    return {"j": j, "post_ln": norm["role"] != "ln_2" and not norm["shared_with_attention"]}


SECTION = Section("unigram", "The unigram dimension", run, to_json, figures, context,
                  result=UnigramResult, reads={"position": PositionResult})
