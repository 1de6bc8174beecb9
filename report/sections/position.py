"""Section: token/position embedding rivalry."""

from __future__ import annotations

import numpy as np

from analyses import position as rule
from analyses.position import PositionResult, analyse_position
from report.context import RunContext
from report.plots import position as plots
from report.section import FigureSpec, Section


def run(ctx: RunContext) -> PositionResult:
    return analyse_position(ctx.embeddings, ctx.weights.position_embeddings, ctx.options.seed)


def to_json(r: PositionResult, ctx: RunContext) -> dict:
    return {
        "has_position_embeddings": r.has_positions,
        "heavy_dims": list(r.heavy_dims),
        "heavy_dim_count": len(r.heavy_dims),
        "has_heavy_cluster": r.has_cluster,
        "rule": f"two Gaussians fitted to log10 std(position) per dim; heavy = the upper component when BIC "
                f"favours two by >= {rule.MIN_BIC_GAIN:g}, the fitted density and the data's own kernel density dip "
                f"to <= {rule.MAX_VALLEY:g} of the lower peak, Ashman's D >= {rule.MIN_ASHMAN_D:g}, each component "
                f">= {rule.MIN_WEIGHT:.0%} of dims and >= {rule.MIN_DIMS} dims; the groups' median std ratio is the "
                f"effect size, not a threshold",
        "log10_std_threshold": r.log10_threshold,
        "ashman_d": r.ashman_d,
        "bic_gain": r.bic_gain,
        "valley": r.valley,
        "upper_weight": r.upper_weight,
        "group_std_ratio": r.std_ratio_groups,
        "data_valley": r.data_valley,
        "token_std_ratio_heavy_vs_other": r.token_std_ratio,
        "token_abs_mean_ratio_heavy_vs_other": r.token_abs_mean_ratio,
        "token_std_lower_in_heavy_p": r.token_std_p,
        "token_abs_mean_higher_in_heavy_p": r.token_abs_mean_p,
        "token_low_std_dims": list(r.low_std_dims),
        "token_mean_outlier_dims": {"low": list(r.mean_outliers_low), "high": list(r.mean_outliers_high)},
        "token_low_std_and_mean_outlier_dims": list(r.odd_dims),
        "token_odd_overlap_p": r.odd_p,
        "token_odd_dims_heavy_overlap_p": r.odd_heavy_p,
        "stripe_dims": list(r.stripe_dims),
        "stripe_rotated_mean_p": r.stripe_p,
        "stripe_rotated_mean_q99": r.stripe_null_q99,
        "position_centred_fraction": r.centred_fraction,
        "heavy_dim_fourier": [
            {"dim": int(d), "strongest_band_variance_share": float(s), "period": float(p),
             "spectral_envelope_p": float(q)}
            for d, s, p, q in zip(r.heavy_dims, r.fourier_share, r.dominant_period, r.periodic_p)
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
    fourier = sorted(zip(r.heavy_dims, r.fourier_share, r.dominant_period, r.periodic_p), key=lambda t: -t[1])
    periodic = (r.fourier_share >= rule.PERIODIC_SHARE) & (r.periodic_p <= rule.PERIODIC_P)
    return {
        "r": r,
        "d": len(r.token_std),
        "n_positions": ctx.weights.n_positions,
        "fourier_rows": [{"dim": int(d), "share": float(s), "period": float(p), "p": float(q)}
                         for d, s, p, q in fourier[:12]],
        "median_share": float(np.median(r.fourier_share)) if len(r.fourier_share) else float("nan"),
        "n_periodic": int(periodic.sum()), "n_surrogates": rule.N_SURROGATES,
        "periodic_share": rule.PERIODIC_SHARE, "periodic_p": rule.PERIODIC_P,
        "rule": {"min_bic": rule.MIN_BIC_GAIN, "max_valley": rule.MAX_VALLEY, "min_d": rule.MIN_ASHMAN_D,
                 "study_ratio": rule.MIN_STD_RATIO, "min_weight": rule.MIN_WEIGHT, "min_dims": rule.MIN_DIMS},
    }


SECTION = Section("position", "Token and position embeddings compete for channel dims",
                  run, to_json, figures, context,
                  result=PositionResult)
