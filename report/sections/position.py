"""Section: token/position embedding rivalry."""

from __future__ import annotations

import numpy as np

from analyses import position as rule
from analyses.position import PositionResult, analyse_position
from report.context import RunContext
from report.plots import position as plots
from report.section import FigureSpec, Section

SHOWN_FOURIER_ROWS = 12  # the most periodic heavy dims in the table


def run(ctx: RunContext) -> PositionResult:
    return analyse_position(ctx.embeddings, ctx.weights.position_embeddings, ctx.options.seed)


def to_json(r: PositionResult, ctx: RunContext) -> dict:
    profile, outliers, cluster, periodicity = r.profile, r.token_outliers, r.cluster, r.periodicity
    periodic = (periodicity.fourier_share >= rule.PERIODIC_SHARE) & (periodicity.periodic_p <= rule.PERIODIC_P)
    return {
        "has_position_embeddings": r.has_positions,
        "n_positions": ctx.weights.n_positions,
        "heavy_dims": list(r.heavy_dims),
        "heavy_dim_count": len(r.heavy_dims),
        "has_heavy_cluster": cluster.has_cluster,
        "rule": f"two Gaussians fitted to log10 std(position) per dim; heavy = the upper component when BIC "
                f"favours two by >= {rule.MIN_BIC_GAIN:g}, the fitted density and the data's own kernel density dip "
                f"to <= {rule.MAX_VALLEY:g} of the lower peak, Ashman's D >= {rule.MIN_ASHMAN_D:g}, each component "
                f">= {rule.MIN_WEIGHT:.0%} of dims and >= {rule.MIN_DIMS} dims; the groups' median std ratio is the "
                f"effect size, not a threshold",
        "log10_std_threshold": cluster.log10_threshold,
        "ashman_d": cluster.ashman_d,
        "bic_gain": cluster.bic_gain,
        "valley": cluster.valley,
        "upper_weight": cluster.upper_weight,
        "group_std_ratio": cluster.std_ratio_groups,
        "data_valley": cluster.data_valley,
        "token_std_ratio_heavy_vs_other": cluster.token_std_ratio,
        "token_abs_mean_ratio_heavy_vs_other": cluster.token_abs_mean_ratio,
        "token_std_lower_in_heavy_p": cluster.token_std_p,
        "token_abs_mean_higher_in_heavy_p": cluster.token_abs_mean_p,
        "token_low_std_dims": list(outliers.low_std_dims),
        "token_mean_outlier_dims": {"low": list(outliers.mean_outliers_low), "high": list(outliers.mean_outliers_high)},
        "token_low_std_and_mean_outlier_dims": list(outliers.odd_dims),
        "token_odd_overlap_p": outliers.odd_p,
        "token_odd_dims_heavy_overlap_p": cluster.odd_heavy_p,
        "stripe_dims": list(outliers.stripe_dims),
        "stripe_rotated_mean_p": outliers.stripe_p,
        "stripe_rotated_mean_q99": outliers.stripe_null_q99,
        "position_centred_fraction": profile.centred_fraction,
        "heavy_dim_fourier": [
            {"dim": int(d), "strongest_band_variance_share": float(s), "period": float(p),
             "spectral_envelope_p": float(q)}
            for d, s, p, q in zip(r.heavy_dims, periodicity.fourier_share, periodicity.dominant_period,
                                  periodicity.periodic_p)
        ],
        "periodic_heavy_dim_count": int(periodic.sum()),
        "per_dim": {
            "token_mean": profile.token_mean, "token_std": profile.token_std,
            "position_mean": profile.position_mean, "position_std": profile.position_std,
        },
    }


def _dim_pairs(r: PositionResult, seed: int) -> list[tuple[str, int, int]]:
    rng = np.random.default_rng(seed)
    d = len(r.profile.token_std)
    heavy = np.array(r.heavy_dims if r.heavy_dims else np.argsort(r.profile.position_std)[::-1][:2], dtype=int)
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
    j = to_json(r, ctx)
    by_share = sorted(j["heavy_dim_fourier"], key=lambda row: -row["strongest_band_variance_share"])
    return {
        "j": j,
        "fourier_rows": by_share[:SHOWN_FOURIER_ROWS],
        "n_surrogates": rule.N_SURROGATES, "periodic_share": rule.PERIODIC_SHARE, "periodic_p": rule.PERIODIC_P,
        "rule": {"min_bic": rule.MIN_BIC_GAIN, "max_valley": rule.MAX_VALLEY, "min_d": rule.MIN_ASHMAN_D,
                 "study_ratio": rule.MIN_STD_RATIO, "min_weight": rule.MIN_WEIGHT, "min_dims": rule.MIN_DIMS},
    }


SECTION = Section("position", "Token and position embeddings compete for channel dims",
                  run, to_json, figures, context,
                  result=PositionResult)
