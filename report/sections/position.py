"""Section: token/position embedding rivalry."""

from __future__ import annotations

import numpy as np

from analyses import position as rule
from analyses.position import PositionResult, analyse_position
from report.run.context import RunContext
from report.run.section import FigureSpec, Section
from report.write.plots import style

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
        FigureSpec("token_embedding_heatmap", embedding_heatmap(tokens),
                   "A corner of the token embedding matrix, channel dims down, tokens across. Horizontal "
                   "stripes are dims whose values sit above or below zero for most tokens."),
        FigureSpec("overlaid_histograms", overlaid_histograms(tokens),
                   "Values of the first 30 tokens (left) and of the first 30 channel dims (right). Most dims "
                   "share one shape; the odd ones are narrower and shifted."),
        FigureSpec("token_dim_std_mean", token_dim_stats(r),
                   "Per-dim std (left) and mean (right) of the token embeddings, over all channel dims. Look "
                   "for a left tail of narrow dims and tails on both sides of the means."),
    ]
    if not r.has_positions:
        return specs
    positions = ctx.weights.position_embeddings
    specs += [
        FigureSpec("position_std_histogram", position_std_histogram(r),
                   "Spread of each dim's position embedding across positions (log scale). The dashed line is "
                   "the split that defines the position-heavy dims (hatched)."),
        FigureSpec("embedding_summary_stats", summary_stats(r),
                   "Per channel dim: token and position means and stds against the position std. Dims right of "
                   "the dashed line are position-heavy."),
        FigureSpec("dim_pair_scatter", dim_pair_scatter(tokens, positions, _dim_pairs(r, ctx.options.seed)),
                   "Tokens (black dots) and positions (red triangles) in pairs of channel dims chosen at random "
                   "from each kind."),
        FigureSpec("position_curves", position_curves(positions, r),
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


# Figures of the token/position rivalry section.
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


SECTION = Section("position", "Token and position embeddings compete for channel dims",
                  run, to_json, figures, context,
                  result=PositionResult)
