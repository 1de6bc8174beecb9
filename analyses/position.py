"""Token/position embedding rivalry: which channel dims the position embeddings use, and how the
token embeddings behave in those dims.

Rule for the position-heavy dims: take log10 of each dim's std of the position embeddings across
positions, split those d values in two by Otsu's method, and call the upper group "heavy" when the
split is clean (Ashman's D ≥ 2), the groups differ at least tenfold in median std, and the upper
group holds at most half the dims. Otherwise the model has no heavy-dim cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from analyses.claims import Claim, claim
from analyses.stats import column_moments, robust_z, two_cluster_split

MIN_ASHMAN_D = 2.0
MIN_STD_RATIO = 10.0
OUTLIER_Z = 3.5
TOP_FOURIER = 3


@dataclass(frozen=True, eq=False)
class PositionResult:
    """Per-dim statistics of token and position embeddings and the heavy-dim cluster.

    Attributes:
        token_mean, token_std: [d] mean and std of each channel dim across tokens (embedding units).
        position_mean, position_std: [d] the same across positions; None-free zeros when absent.
        has_positions: whether the model has learned position embeddings.
        heavy_dims: channel dims where the position embeddings are active (sorted).
        log10_threshold: the split on log10 std(position) that defines them.
        ashman_d: separation of the two groups of log10 std(position) (≥ 2 = distinct).
        std_ratio_groups: median std(position) of heavy dims over that of the other dims.
        has_cluster: whether a distinct heavy cluster exists by the rule above.
        token_std_ratio: median token std in heavy dims / in the other dims.
        token_abs_mean_ratio: median |token mean| in heavy dims / in the other dims.
        token_std_p, token_abs_mean_p: one-sided Mann–Whitney p-values (heavy lower std, higher |mean|).
        low_std_dims: dims whose token std is a low outlier (robust z ≤ −3.5).
        mean_outliers_low, mean_outliers_high: dims whose token mean is a low / high outlier.
        stripe_dims: dims whose |token mean| is at least half their token std (visible stripes).
        centred_fraction: share of heavy dims (all dims if none) whose |position mean| < position std.
        fourier_share: [len(heavy_dims)] share of each heavy dim's variance in its top 3 frequencies.
        dominant_period: [len(heavy_dims)] period (positions) of each heavy dim's strongest frequency.
        claims: verdicts on claims 2–7.
    """

    token_mean: np.ndarray
    token_std: np.ndarray
    position_mean: np.ndarray
    position_std: np.ndarray
    has_positions: bool
    heavy_dims: tuple[int, ...]
    log10_threshold: float
    ashman_d: float
    std_ratio_groups: float
    has_cluster: bool
    token_std_ratio: float
    token_abs_mean_ratio: float
    token_std_p: float
    token_abs_mean_p: float
    low_std_dims: tuple[int, ...]
    mean_outliers_low: tuple[int, ...]
    mean_outliers_high: tuple[int, ...]
    stripe_dims: tuple[int, ...]
    centred_fraction: float
    fourier_share: np.ndarray
    dominant_period: np.ndarray
    claims: tuple[Claim, ...]


def analyse_position(token_embeddings: np.ndarray, position_embeddings: np.ndarray | None) -> PositionResult:
    """Find the position-heavy dims and compare the token embeddings there with the other dims."""
    d = np.shape(token_embeddings)[1]
    token_mean, token_std = column_moments(token_embeddings)
    z_std, z_mean = robust_z(token_std), robust_z(token_mean)
    low_std = np.flatnonzero(z_std <= -OUTLIER_Z)
    mean_low, mean_high = np.flatnonzero(z_mean <= -OUTLIER_Z), np.flatnonzero(z_mean >= OUTLIER_Z)
    stripes = np.flatnonzero(np.abs(token_mean) >= 0.5 * token_std)

    has_positions = position_embeddings is not None and len(position_embeddings) > 1
    if has_positions:
        positions = np.asarray(position_embeddings, dtype=np.float64)
        pos_mean, pos_std = positions.mean(axis=0), positions.std(axis=0)
        log_std = np.log10(np.maximum(pos_std, 1e-12))
        split = two_cluster_split(log_std)
        heavy = split.high
        group_ratio = float(np.median(pos_std[heavy]) / max(np.median(pos_std[~heavy]), 1e-12)) if heavy.any() else 1.0
        has_cluster = bool(split.ashman_d >= MIN_ASHMAN_D and group_ratio >= MIN_STD_RATIO
                           and 1 <= heavy.sum() <= d // 2)
        heavy_dims = np.flatnonzero(heavy) if has_cluster else np.array([], dtype=int)
        centred_over = heavy_dims if len(heavy_dims) else np.arange(d)
        centred = float(np.mean(np.abs(pos_mean[centred_over]) < pos_std[centred_over]))
        share, period = _fourier(positions[:, heavy_dims])
        threshold, ashman = split.threshold, split.ashman_d
    else:
        pos_mean = pos_std = np.zeros(d)
        heavy_dims = np.array([], dtype=int)
        has_cluster, group_ratio, centred, threshold, ashman = False, float("nan"), float("nan"), float("nan"), float("nan")
        share = period = np.zeros(0)

    in_heavy = np.zeros(d, dtype=bool)
    in_heavy[heavy_dims] = True
    nan = float("nan")
    if has_cluster:
        std_ratio = float(np.median(token_std[in_heavy]) / np.median(token_std[~in_heavy]))
        mean_ratio = float(np.median(np.abs(token_mean[in_heavy])) / max(np.median(np.abs(token_mean[~in_heavy])), 1e-12))
        std_p = float(stats.mannwhitneyu(token_std[in_heavy], token_std[~in_heavy], alternative="less").pvalue)
        mean_p = float(stats.mannwhitneyu(np.abs(token_mean[in_heavy]), np.abs(token_mean[~in_heavy]),
                                          alternative="greater").pvalue)
    else:
        std_ratio = mean_ratio = std_p = mean_p = nan

    claims = (
        claim(2, len(stripes) / d, len(stripes) >= max(1, 0.01 * d),
              "holds if ≥ 1% of dims have |token mean| ≥ 0.5 × token std",
              f"{len(stripes)} of {d} dims carry a visible offset across tokens"),
        claim(3, len(low_std), len(low_std) >= 1 and len(mean_low) >= 1 and len(mean_high) >= 1,
              "holds if some dims are low outliers in token std and the token means have outliers on both "
              f"sides (robust z beyond ±{OUTLIER_Z})",
              f"{len(low_std)} low-std dims; {len(mean_low)} low-mean and {len(mean_high)} high-mean outlier dims"),
        claim(4, ashman if has_positions else None, has_cluster if has_positions else None,
              f"holds if log10 std(position) splits cleanly in two (Ashman's D ≥ {MIN_ASHMAN_D:g}), the upper "
              f"group is ≥ {MIN_STD_RATIO:g}× the lower in median std and holds ≤ half the dims",
              f"{len(heavy_dims)} heavy dims; groups differ {group_ratio:.3g}× in median std"),
        claim(5, std_ratio if has_cluster else None,
              (std_p < 0.01 and mean_p < 0.01) if has_cluster else None,
              "holds if token std is lower and |token mean| higher in heavy dims (one-sided Mann–Whitney, p < 0.01)",
              f"heavy/other medians: std ×{std_ratio:.3g}, |mean| ×{mean_ratio:.3g}"),
        claim(6, centred if has_positions else None, (centred >= 0.9) if has_positions else None,
              "holds if |mean| < std across positions in ≥ 90% of heavy dims",
              f"{centred:.1%} of dims are centred" if has_positions else ""),
        claim(7, float(np.median(share)) if len(share) else None, (float(np.median(share)) >= 0.5) if len(share) else None,
              f"holds if the median heavy dim keeps ≥ 50% of its variance in its top {TOP_FOURIER} Fourier frequencies",
              f"median dominant period {float(np.median(period)):.1f} positions" if len(period) else ""),
    )
    return PositionResult(
        token_mean=token_mean, token_std=token_std, position_mean=pos_mean, position_std=pos_std,
        has_positions=bool(has_positions), heavy_dims=tuple(int(i) for i in heavy_dims),
        log10_threshold=float(threshold), ashman_d=float(ashman), std_ratio_groups=float(group_ratio),
        has_cluster=has_cluster, token_std_ratio=std_ratio, token_abs_mean_ratio=mean_ratio,
        token_std_p=std_p, token_abs_mean_p=mean_p, low_std_dims=tuple(int(i) for i in low_std),
        mean_outliers_low=tuple(int(i) for i in mean_low), mean_outliers_high=tuple(int(i) for i in mean_high),
        stripe_dims=tuple(int(i) for i in stripes), centred_fraction=centred,
        fourier_share=share, dominant_period=period, claims=claims,
    )


def _fourier(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: share of variance in the top few non-zero frequencies, and the strongest period."""
    if curves.shape[1] == 0:
        return np.zeros(0), np.zeros(0)
    n = curves.shape[0]
    power = np.abs(np.fft.rfft(curves - curves.mean(axis=0), axis=0)[1:]) ** 2
    total = power.sum(axis=0)
    top = np.sort(power, axis=0)[-TOP_FOURIER:].sum(axis=0)
    share = np.where(total > 0, top / np.where(total > 0, total, 1), 0.0)
    period = n / (1 + np.argmax(power, axis=0))
    return share, period.astype(np.float64)
