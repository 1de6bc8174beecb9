"""Section: token/position embedding rivalry."""

from __future__ import annotations

import numpy as np

from analyses.position import PositionResult, analyse_position
from report.context import RunContext
from report.plots import position as plots
from report.sections import FigureSpec, Section


def run(ctx: RunContext) -> PositionResult:
    return analyse_position(ctx.embeddings, ctx.weights.position_embeddings, ctx.options.seed)


def to_json(r: PositionResult, ctx: RunContext) -> dict:
    return {
        "has_position_embeddings": r.has_positions,
        "heavy_dims": list(r.heavy_dims),
        "heavy_dim_count": len(r.heavy_dims),
        "has_heavy_cluster": r.has_cluster,
        "rule": "Otsu split of log10 std(position) per dim; heavy if Ashman's D >= 2, groups >= 10x apart "
                "in median std, upper group <= d/2",
        "log10_std_threshold": r.log10_threshold,
        "ashman_d": r.ashman_d,
        "group_std_ratio": r.std_ratio_groups,
        "token_std_ratio_heavy_vs_other": r.token_std_ratio,
        "token_abs_mean_ratio_heavy_vs_other": r.token_abs_mean_ratio,
        "token_std_lower_in_heavy_p": r.token_std_p,
        "token_abs_mean_higher_in_heavy_p": r.token_abs_mean_p,
        "token_low_std_dims": list(r.low_std_dims),
        "token_mean_outlier_dims": {"low": list(r.mean_outliers_low), "high": list(r.mean_outliers_high)},
        "stripe_dims": list(r.stripe_dims),
        "position_centred_fraction": r.centred_fraction,
        "heavy_dim_fourier": [
            {"dim": int(d), "top3_variance_share": float(s), "dominant_period": float(p)}
            for d, s, p in zip(r.heavy_dims, r.fourier_share, r.dominant_period)
        ],
        "per_dim": {
            "token_mean": r.token_mean, "token_std": r.token_std,
            "position_mean": r.position_mean, "position_std": r.position_std,
        },
    }


def _dim_pairs(r: PositionResult, seed: int) -> list[tuple[str, int, int]]:
    rng = np.random.default_rng(seed)
    d = len(r.token_std)
    heavy = np.array(r.heavy_dims if r.heavy_dims else np.argsort(r.position_std)[::-1][:2], dtype=int)
    normal = np.setdiff1d(np.arange(d), heavy)
    pick = lambda pool, k: [int(x) for x in rng.choice(pool, size=k, replace=False)]  # noqa: E731
    pairs = []
    if len(heavy) >= 2:
        pairs.append(("position-heavy × position-heavy", *pick(heavy, 2)))
    if len(heavy) and len(normal):
        pairs.append(("position-heavy × other", pick(heavy, 1)[0], pick(normal, 1)[0]))
    if len(normal) >= 2:
        pairs.append(("other × other", *pick(normal, 2)))
    return pairs


def figures(r: PositionResult, ctx: RunContext) -> list[FigureSpec]:
    tokens = ctx.embeddings
    specs = [
        FigureSpec("token_embedding_heatmap", plots.embedding_heatmap(tokens),
                   "A corner of the token embedding matrix, channel dims down, tokens across. Horizontal "
                   "stripes are dims whose values sit above or below zero for most tokens."),
        FigureSpec("overlaid_histograms", plots.overlaid_histograms(tokens),
                   "Values of the first 30 tokens (left) and of the first 30 channel dims (right). Most dims "
                   "share one shape; the odd ones are narrower and shifted."),
        FigureSpec("token_dim_std_mean", plots.token_dim_stats(r),
                   "Per-dim std (left) and mean (right) of the token embeddings, over all channel dims. Look "
                   "for a left tail of narrow dims and tails on both sides of the means."),
    ]
    if not r.has_positions:
        return specs
    positions = ctx.weights.position_embeddings
    specs += [
        FigureSpec("position_std_histogram", plots.position_std_histogram(r),
                   "Spread of each dim's position embedding across positions (log scale). The dashed line is "
                   "the split that defines the position-heavy dims (hatched)."),
        FigureSpec("embedding_summary_stats", plots.summary_stats(r),
                   "Per channel dim: token and position means and stds against the position std. Dims right of "
                   "the dashed line are position-heavy."),
        FigureSpec("dim_pair_scatter", plots.dim_pair_scatter(tokens, positions, _dim_pairs(r, ctx.options.seed)),
                   "Tokens (black dots) and positions (red triangles) in pairs of channel dims chosen at random "
                   "from each kind."),
        FigureSpec("position_curves", plots.position_curves(positions, r),
                   "Position embeddings as functions of position: the most active dims (left) and a few of the "
                   "least active on their own scale (right)."),
    ]
    return specs


def context(r: PositionResult, ctx: RunContext) -> dict:
    fourier = sorted(zip(r.heavy_dims, r.fourier_share, r.dominant_period), key=lambda t: -t[1])
    return {
        "r": r,
        "d": len(r.token_std),
        "n_positions": ctx.weights.n_positions,
        "fourier_rows": [{"dim": int(d), "share": float(s), "period": float(p)} for d, s, p in fourier[:12]],
        "median_share": float(np.median(r.fourier_share)) if len(r.fourier_share) else float("nan"),
    }


SECTION = Section("position", "Token and position embeddings compete for channel dims",
                  run, to_json, figures, context)
