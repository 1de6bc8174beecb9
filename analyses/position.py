"""Token/position embedding rivalry: which channel dims the position embeddings use, and how the
token embeddings behave in those dims.

Rule for the position-heavy dims (claim 4): fit one and two Gaussians to log10 of each dim's std of the
position embeddings across positions (EM). The upper component is a distinct cluster when all hold:
    evidence  BIC(one) − BIC(two) ≥ MIN_BIC_GAIN (very strong evidence for two components);
    modes     the fitted density dips between the two means to ≤ MAX_VALLEY of the lower peak, the components
              are MIN_ASHMAN_D apart (Ashman's D from the fitted parameters), and the data's own density
              (Gaussian kernel, Silverman's bandwidth) dips there to ≤ MAX_VALLEY too — a uniform spread is fitted
              by two Gaussians with a dip, but has none itself;
    weight    each component holds ≥ MIN_WEIGHT of the dims and ≥ MIN_DIMS dims (no cap on the upper one's
              share: a lone far outlier is not a component, a majority of active dims is fine).
How far apart the groups are (median std ratio) is the effect size, not a threshold: a clean split at 4× is a
cluster. A unimodal spread — Gaussian, skewed, heavy-tailed or uniform, however wide — fails the modes test.
All but one of the four evidence tests passing (weights met) is "inconclusive". Heavy dims are the dims whose
posterior favours the upper component.

Claim 2 (stripes): a stripe is a dim whose token mean is an outlier among the per-dim means (|robust z| ≥
OUTLIER_Z) and sits ≥ STRIPE_OFFSET of its own token std from the median dim's mean. Null: the token cloud kept,
its mean vector turned to N_MEAN_ROTATIONS random directions of the same norm (a common offset in any direction
other than the data's own puts no dim apart); p = share of rotations with as many stripes.

Claim 7 (periodic): per heavy dim, analyses.stats.envelope_periodicity: a spectral line above the curve's own
smoothed spectrum (a spectral-envelope null), plus at least PERIODIC_SHARE of the variance in its band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from analyses.claims import Claim, claim
from analyses.stats import column_moments, density_valley, envelope_periodicity, robust_z, two_gaussian_mixture

MIN_BIC_GAIN = 10.0
MAX_VALLEY = 0.5
MIN_ASHMAN_D = 3.0
MIN_STD_RATIO = 10.0  # the study's size of the split: reported as an effect size, never a threshold
MIN_WEIGHT, MIN_DIMS = 0.01, 3
OUTLIER_Z = 3.5
STRIPE_OFFSET = 0.5  # claim 2: a stripe's mean also sits ≥ half its own token std from the median dim's mean
STRIPE_P_INCONCLUSIVE = 0.05
N_MEAN_ROTATIONS = 999
MAX_FEW_SHARE = 0.25  # claim 3: "a few" odd dims, so most dims still share one distribution
MAX_P = 0.01
MOSTLY = 0.5  # claim 5: more than half of the odd token dims are heavy
CENTRED_SHARE = 0.9
PERIODIC_SHARE, PERIODIC_P = 0.5, 0.01  # claim 7, per heavy dim
N_SURROGATES = 199


@dataclass(frozen=True, eq=False)
class DimProfile:
    """Per-dim statistics of the token and position embeddings (the curves the section's figures draw).

    Attributes:
        token_mean, token_std: [d] mean and std of each channel dim across tokens (embedding units).
        position_mean, position_std: [d] the same across positions (embedding units); zeros when absent.
        centred_fraction: share of all dims whose |position mean| < position std (NaN without positions).
    """

    token_mean: np.ndarray
    token_std: np.ndarray
    position_mean: np.ndarray
    position_std: np.ndarray
    centred_fraction: float


@dataclass(frozen=True, eq=False)
class TokenOutliers:
    """Channel dims whose token statistics stand apart from the other dims' (claims 2 and 3).

    Attributes:
        low_std_dims: dims whose log10 token std is a low outlier (robust z ≤ −3.5).
        mean_outliers_low, mean_outliers_high: dims whose token mean is a low / high outlier (robust z beyond ±3.5).
        odd_dims: dims that are both low-std and mean outliers (claim 3).
        odd_p: hypergeometric p of that overlap, were the two outlier sets independent.
        stripe_dims: dims whose token mean is a robust-z outlier among the dim means and ≥ 0.5 token std from
            the median dim's mean (stripes).
        stripe_z: [len(stripe_dims)] robust z of those dims' token means.
        stripe_p: share of mean-vector rotations with at least as many stripes (add-one estimate).
        stripe_null_q99: 99% quantile of the stripe count (dims) under those rotations.
    """

    low_std_dims: tuple[int, ...]
    mean_outliers_low: tuple[int, ...]
    mean_outliers_high: tuple[int, ...]
    odd_dims: tuple[int, ...]
    odd_p: float
    stripe_dims: tuple[int, ...]
    stripe_z: np.ndarray
    stripe_p: float
    stripe_null_q99: float


@dataclass(frozen=True, eq=False)
class HeavyCluster:
    """The two-Gaussian mixture of log10 std(position) that decides the heavy dims (claim 4), and how the token
    embeddings differ there (claim 5). NaN throughout without position embeddings.

    Attributes:
        has_cluster: whether a distinct heavy cluster exists by the rule in this module's docstring.
        log10_threshold: log10 std(position) where the two components' posteriors cross (NaN if no cluster).
        ashman_d: separation of the fitted components (Ashman's D, unitless).
        bic_gain: BIC(one Gaussian) − BIC(two).
        valley: fitted density's lowest point between the component means / the lower peak (1 = no dip).
        upper_weight: fitted weight of the upper component (share of dims).
        std_ratio_groups: median std(position) of heavy dims over that of the other dims (upper vs lower
            component when there is no cluster); the cluster's effect size.
        data_valley: the data's own (kernel) density at its lowest between the component means / the lower
            side's peak (1 = no dip, 0 = an empty gap).
        token_std_ratio: median token std in heavy dims / in the other dims.
        token_abs_mean_ratio: median |token mean| in heavy dims / in the other dims.
        token_std_p, token_abs_mean_p: one-sided Mann–Whitney p-values (heavy lower std, higher |mean|).
        odd_heavy_p: hypergeometric p of the overlap of the odd dims (low-std and mean outliers; where there are
            none, low-std or mean outliers) with the heavy dims.
    """

    has_cluster: bool
    log10_threshold: float
    ashman_d: float
    bic_gain: float
    valley: float
    upper_weight: float
    std_ratio_groups: float
    data_valley: float
    token_std_ratio: float
    token_abs_mean_ratio: float
    token_std_p: float
    token_abs_mean_p: float
    odd_heavy_p: float


@dataclass(frozen=True, eq=False)
class HeavyDimPeriodicity:
    """How periodic each heavy dim's position curve is (claim 7; analyses.stats.envelope_periodicity).

    Attributes:
        fourier_share: [len(heavy_dims)] share of each heavy dim's detrended variance in its strongest band of
            ≥ 2 cycles.
        dominant_period: [len(heavy_dims)] period of that band (positions).
        periodic_p: [len(heavy_dims)] p of a spectral line against the dim's smoothed spectrum.
    """

    fourier_share: np.ndarray
    dominant_period: np.ndarray
    periodic_p: np.ndarray


@dataclass(frozen=True, eq=False)
class PositionResult:
    """Token and position embeddings per channel dim, the heavy-dim cluster and the verdicts on claims 2–7.

    Attributes:
        has_positions: whether the model has learned position embeddings.
        heavy_dims: channel dims where the position embeddings are active (sorted; empty without a cluster).
        profile: per-dim token and position statistics (DimProfile).
        token_outliers: low-spread, off-mean and stripe dims of the token embeddings (TokenOutliers).
        cluster: the mixture fit behind heavy_dims and the token statistics there (HeavyCluster).
        periodicity: the heavy dims' position curves against a spectral-envelope null (HeavyDimPeriodicity).
        claims: verdicts on claims 2–7.
    """

    has_positions: bool
    heavy_dims: tuple[int, ...]
    profile: DimProfile
    token_outliers: TokenOutliers
    cluster: HeavyCluster
    periodicity: HeavyDimPeriodicity
    claims: tuple[Claim, ...]


def cluster_evidence(position_std: np.ndarray):
    """The claim-4 tests on per-dim position stds: (mixture fit, heavy mask, group std ratio, data valley,
    {test: passed} for the four evidence tests, whether the weights allow a component)."""
    pos_std = np.asarray(position_std, dtype=np.float64)
    d = len(pos_std)
    log_std = np.log10(np.maximum(pos_std, 1e-12))
    fit = two_gaussian_mixture(log_std)
    heavy = fit.high
    ratio = float(np.median(pos_std[heavy]) / max(np.median(pos_std[~heavy]), 1e-12)) \
        if heavy.any() and (~heavy).any() else 1.0
    spread = min(log_std.std(), np.subtract(*np.percentile(log_std, [75, 25])) / 1.34)
    valley = density_valley(log_std, fit.means[0], fit.means[1], 0.9 * spread * d ** -0.2) if d >= 4 else 1.0
    tests = {"bic": fit.bic_gain >= MIN_BIC_GAIN, "fitted valley": fit.valley <= MAX_VALLEY,
             "ashman": fit.ashman_d >= MIN_ASHMAN_D, "data valley": valley <= MAX_VALLEY}
    weights_ok = bool(min(fit.weights) >= MIN_WEIGHT and MIN_DIMS <= heavy.sum() <= d - MIN_DIMS)  # not a lone outlier
    return fit, heavy, ratio, valley, tests, weights_ok


def heavy_cluster(position_std: np.ndarray):
    """The claim-4 rule on per-dim position stds: (mixture fit, heavy mask, group std ratio, has_cluster)."""
    fit, heavy, ratio, _, tests, weights_ok = cluster_evidence(position_std)
    return fit, heavy, ratio, bool(weights_ok and all(tests.values()))


def stripes(token_mean: np.ndarray, token_std: np.ndarray) -> np.ndarray:
    """Claim 2's stripe dims: token mean a robust-z outlier among the dim means, and ≥ STRIPE_OFFSET of the dim's
    own token std from the median dim's mean."""
    offset = np.abs(token_mean - np.median(token_mean))
    return np.flatnonzero((np.abs(robust_z(token_mean)) >= OUTLIER_Z)
                          & (offset >= STRIPE_OFFSET * np.maximum(token_std, 1e-30)))


def stripe_null(token_mean: np.ndarray, token_std: np.ndarray, seed: int, n: int = N_MEAN_ROTATIONS) -> np.ndarray:
    """[n] stripe counts with the token cloud kept and its mean vector turned to random directions (same norm)."""
    rng = np.random.default_rng(seed)
    norm = float(np.linalg.norm(token_mean))
    counts = np.empty(n, dtype=int)
    for i in range(n):
        direction = rng.standard_normal(len(token_mean))
        counts[i] = len(stripes(norm * direction / np.linalg.norm(direction), token_std))
    return counts


def analyse_position(token_embeddings: np.ndarray, position_embeddings: np.ndarray | None,
                     seed: int = 0) -> PositionResult:
    """Find the position-heavy dims and compare the token embeddings there with the other dims."""
    d = np.shape(token_embeddings)[1]
    token_mean, token_std = column_moments(token_embeddings)
    z_std = robust_z(np.log10(np.maximum(token_std, 1e-30)))
    z_mean = robust_z(token_mean)
    low_std = np.flatnonzero(z_std <= -OUTLIER_Z)
    mean_low, mean_high = np.flatnonzero(z_mean <= -OUTLIER_Z), np.flatnonzero(z_mean >= OUTLIER_Z)
    mean_out = np.union1d(mean_low, mean_high)
    odd = np.intersect1d(low_std, mean_out)
    odd_p = _overlap_p(len(odd), d, len(low_std), len(mean_out))
    stripe_dims = stripes(token_mean, token_std)
    null_stripes = stripe_null(token_mean, token_std, seed)
    stripe_p = float((1 + np.sum(null_stripes >= len(stripe_dims))) / (1 + len(null_stripes)))
    stripe_z = robust_z(token_mean)[stripe_dims]

    has_positions = position_embeddings is not None and len(position_embeddings) > 1
    nan = float("nan")
    if has_positions:
        positions = np.asarray(position_embeddings, dtype=np.float64)
        pos_mean, pos_std = positions.mean(axis=0), positions.std(axis=0)
        fit, heavy, group_ratio, data_valley, cluster_tests, weights_ok = cluster_evidence(pos_std)
        has_cluster = bool(weights_ok and all(cluster_tests.values()))
        heavy_dims = np.flatnonzero(heavy) if has_cluster else np.array([], dtype=int)
        centred = float(np.mean(np.abs(pos_mean) < pos_std))
        share, period, periodic_p = envelope_periodicity(positions[:, heavy_dims], seed, N_SURROGATES)
        log_std = np.log10(np.maximum(pos_std, 1e-12))
        threshold = float((log_std[~heavy].max() + log_std[heavy].min()) / 2) if heavy.any() and (~heavy).any() else nan
        ashman, bic_gain, valley, weight = fit.ashman_d, fit.bic_gain, fit.valley, fit.weights[1]
    else:
        pos_mean = pos_std = np.zeros(d)
        heavy_dims = np.array([], dtype=int)
        has_cluster, group_ratio, centred, threshold, ashman, bic_gain, valley, weight = (False,) + (nan,) * 7
        data_valley, cluster_tests, weights_ok = nan, {}, False
        share = period = periodic_p = np.zeros(0)

    in_heavy = np.zeros(d, dtype=bool)
    in_heavy[heavy_dims] = True
    # the claim's dims are low-spread AND high-mean (claim 3's odd dims); only where none are both, the dims that
    # are either, whose overlap can make the claim inconclusive but not hold (stripes are high-mean only)
    odd_token_dims = np.asarray(odd, dtype=int) if len(odd) else np.union1d(low_std, mean_out)
    odd_heavy_p = _overlap_p(int(in_heavy[odd_token_dims].sum()), d, len(odd_token_dims), len(heavy_dims))
    if has_cluster:
        std_ratio = float(np.median(token_std[in_heavy]) / np.median(token_std[~in_heavy]))
        mean_ratio = float(np.median(np.abs(token_mean[in_heavy]))
                           / max(np.median(np.abs(token_mean[~in_heavy])), 1e-12))
        std_p = float(stats.mannwhitneyu(token_std[in_heavy], token_std[~in_heavy], alternative="less").pvalue)
        mean_p = float(stats.mannwhitneyu(np.abs(token_mean[in_heavy]), np.abs(token_mean[~in_heavy]),
                                          alternative="greater").pvalue)
    else:
        std_ratio = mean_ratio = std_p = mean_p = nan

    stripe_stats = (stripe_dims, stripe_z, stripe_p, float(np.quantile(null_stripes, 0.99)))
    cluster_stats = (has_cluster, heavy_dims, group_ratio, ashman, bic_gain, valley, weight, data_valley,
                     cluster_tests, weights_ok)
    claims = _claims(d, stripe_stats, low_std, mean_out, odd, odd_p, has_positions, cluster_stats, in_heavy,
                     odd_token_dims, odd_heavy_p, centred, share, period, periodic_p)
    return PositionResult(
        has_positions=bool(has_positions), heavy_dims=tuple(int(i) for i in heavy_dims),
        profile=DimProfile(token_mean=token_mean, token_std=token_std, position_mean=pos_mean, position_std=pos_std,
                           centred_fraction=centred),
        token_outliers=TokenOutliers(
            low_std_dims=tuple(int(i) for i in low_std), mean_outliers_low=tuple(int(i) for i in mean_low),
            mean_outliers_high=tuple(int(i) for i in mean_high), odd_dims=tuple(int(i) for i in odd), odd_p=odd_p,
            stripe_dims=tuple(int(i) for i in stripe_dims), stripe_z=stripe_z, stripe_p=stripe_p,
            stripe_null_q99=stripe_stats[3]),
        cluster=HeavyCluster(
            has_cluster=has_cluster, log10_threshold=float(threshold) if has_cluster else nan,
            ashman_d=float(ashman), bic_gain=float(bic_gain), valley=float(valley), upper_weight=float(weight),
            std_ratio_groups=float(group_ratio), data_valley=float(data_valley), token_std_ratio=std_ratio,
            token_abs_mean_ratio=mean_ratio, token_std_p=std_p, token_abs_mean_p=mean_p, odd_heavy_p=odd_heavy_p),
        periodicity=HeavyDimPeriodicity(fourier_share=share, dominant_period=period, periodic_p=periodic_p),
        claims=claims,
    )


def _overlap_p(overlap: int, d: int, a: int, b: int) -> float:
    """P(overlap ≥ observed) when a set of `a` dims and a set of `b` dims are drawn independently of each other."""
    if a == 0 or b == 0:
        return 1.0
    return float(stats.hypergeom.sf(overlap - 1, d, a, b))


def _claims(d, stripe_stats, low_std, mean_out, odd, odd_p, has_positions, cluster_stats, in_heavy, odd_token_dims,
            odd_heavy_p, centred, share, period, periodic_p):
    stripe_dims, stripe_z, stripe_p, stripe_q99 = stripe_stats
    has_cluster, heavy_dims, group_ratio, ashman, bic_gain, valley, weight, data_valley, tests, weights_ok = \
        cluster_stats
    few = max(2, int(MAX_FEW_SHARE * d))
    n_heavy_odd = int(in_heavy[odd_token_dims].sum())
    mostly = n_heavy_odd / len(odd_token_dims) if len(odd_token_dims) else float("nan")
    overlap = bool(mostly > MOSTLY and odd_heavy_p < MAX_P)
    periodic = (share >= PERIODIC_SHARE) & (periodic_p <= PERIODIC_P)
    lines = periodic_p <= PERIODIC_P
    n_stripes = len(stripe_dims)
    cluster_near = weights_ok and sum(tests.values()) >= len(tests) - 1  # one evidence test short
    return (
        claim("token_dims_striped", n_stripes / d, n_stripes >= 1 and stripe_p <= MAX_P,
              f"effect: stripe dims, whose token mean is an outlier among the dims' means (|robust z| ≥ "
              f"{OUTLIER_Z:g}) and ≥ {STRIPE_OFFSET:g} of its own token std from the median dim's mean; null: the "
              f"token cloud kept and its mean vector turned to {N_MEAN_ROTATIONS} random directions of the same "
              f"norm; holds if ≥ 1 stripe and p ≤ {MAX_P:g}; inconclusive if p ≤ {STRIPE_P_INCONCLUSIVE:g}",
              f"{n_stripes} of {d} dims are stripes"
              + (f" (median |z| {float(np.median(np.abs(stripe_z))):.3g})" if n_stripes else "")
              + f"; rotated means give ≤ {stripe_q99:g} in 99% of rotations (p {stripe_p:.2g})",
              inconclusive=n_stripes >= 1 and stripe_p <= STRIPE_P_INCONCLUSIVE),
        claim("few_low_spread_token_dims", len(odd), 2 <= len(odd) <= few and odd_p < MAX_P,
              f"effect: dims that are both low outliers in log token std and outliers in token mean (robust z beyond "
              f"±{OUTLIER_Z:g}); null: the two outlier sets are independent (hypergeometric); holds if 2 to {few} "
              f"dims are both and p < {MAX_P:g}",
              f"{len(low_std)} low-std dims, {len(mean_out)} mean-outlier dims, {len(odd)} both "
              f"(hypergeometric p {odd_p:.2g})"),
        claim("position_dims_clustered", ashman if has_positions else None, has_cluster if has_positions else None,
              f"two Gaussians fitted to log10 std(position) per dim: holds if BIC favours two by ≥ {MIN_BIC_GAIN:g}, "
              f"the fitted density dips between them to ≤ {MAX_VALLEY:g} of the lower peak, Ashman's D ≥ "
              f"{MIN_ASHMAN_D:g}, the data's own kernel density dips there to ≤ {MAX_VALLEY:g}, and each component "
              f"holds ≥ {MIN_WEIGHT:.0%} of dims (≥ {MIN_DIMS}); the groups' median std ratio is the effect size (the "
              f"study's: ≥ {MIN_STD_RATIO:g}×), not a threshold; inconclusive if one of the four tests fails",
              (f"{len(heavy_dims)} heavy dims; BIC gain {bic_gain:.3g}, fitted valley {valley:.2f}, data valley "
               f"{data_valley:.2f}, upper weight {weight:.1%}, groups ×{group_ratio:.3g} in median std"
               + ("" if has_cluster else "; failed: " + (", ".join(t for t, ok in tests.items() if not ok)
                                                         or "component weights")))
              if has_positions else "no position embeddings",
              inconclusive=bool(has_positions and cluster_near)),
        claim("low_spread_dims_are_position_dims", mostly if has_cluster and len(odd_token_dims) else None,
              (overlap and len(odd) > 0) if has_cluster and len(odd_token_dims) else None,
              f"effect: share of the odd token dims (low-std and mean outliers) that are heavy; null: drawn "
              f"independently of the heavy dims (hypergeometric); holds if the share > {MOSTLY:.0%} and p < {MAX_P:g}; "
              "inconclusive where no dim is both and the dims that are either pass",
              (f"{n_heavy_odd} of {len(odd_token_dims)} {'odd' if len(odd) else 'low-std or mean-outlier'} token dims "
               f"are heavy (p {odd_heavy_p:.2g})" if has_cluster and len(odd_token_dims) else
               "no heavy-dim cluster" if not has_cluster else "no odd token dims"),
              inconclusive=overlap and not len(odd)),
        claim("positions_centred", centred if has_positions else None,
              (centred >= CENTRED_SHARE) if has_positions else None,
              f"holds if |mean| < std across positions in ≥ {CENTRED_SHARE:.0%} of all dims",
              f"{centred:.1%} of dims are centred" if has_positions else "no position embeddings"),
        claim("positions_smooth_periodic", float(np.mean(periodic)) if len(share) else None,
              bool(np.mean(periodic) > 0.5) if len(share) else None,
              f"per heavy dim: a frequency bin of ≥ 2 cycles stands above the higher side of its neighbours' power, "
              f"against {N_SURROGATES} surrogates of a Gaussian process with the dim's own smoothed spectrum (a "
              f"spectral-envelope null: random walks and smooth trends have smooth spectra), p ≤ {PERIODIC_P:g}, and "
              f"≥ {PERIODIC_SHARE:g} of the detrended variance lies in its strongest band; holds if more than half "
              f"the heavy dims are periodic; inconclusive if more than half have such a line, or ≥ a quarter are "
              f"periodic",
              f"{int(periodic.sum())} of {len(share)} heavy dims periodic, {int(lines.sum())} with a spectral line; "
              f"median period {float(np.median(period)):.1f} positions" if len(period) else "no heavy-dim cluster",
              inconclusive=bool(len(share) and (np.mean(lines) > 0.5 or np.mean(periodic) >= 0.25))),
    )
