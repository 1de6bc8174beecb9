"""Small statistical tools shared by the analyses; scipy does the heavy lifting where it can."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy import signal, sparse, stats

from analyses.vectors import BLOCK_ROWS

MAD_TO_SIGMA = 1.4826


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x − median) / (1.4826 · MAD): a z-score that outliers cannot inflate."""
    values = np.asarray(values, dtype=np.float64)
    median = np.median(values)
    mad = MAD_TO_SIGMA * np.median(np.abs(values - median))
    scale = mad if mad > 0 else (np.std(values) or 1.0)
    return (values - median) / scale


@dataclass(frozen=True)
class TwoClusterSplit:
    """The best split of 1-D values into a low and a high group.

    Attributes:
        threshold: values above it form the high group (same units as the input).
        high: boolean mask of the high group.
        ashman_d: separation of the two groups, √2·|μ₁−μ₂|/√(σ₁²+σ₂²); above 2 means cleanly separated.
    """

    threshold: float
    high: np.ndarray
    ashman_d: float


def two_cluster_split(values: np.ndarray) -> TwoClusterSplit:
    """Otsu's split: the threshold that maximises the between-group variance of 1-D values."""
    values = np.asarray(values, dtype=np.float64)
    order = np.sort(values)
    n = len(order)
    if n < 4 or order[0] == order[-1]:
        return TwoClusterSplit(float(order[-1]) if n else 0.0, np.zeros(n, dtype=bool), 0.0)
    prefix = np.cumsum(order)
    counts = np.arange(1, n)
    mean_low = prefix[:-1] / counts
    mean_high = (prefix[-1] - prefix[:-1]) / (n - counts)
    between = counts * (n - counts) * (mean_low - mean_high) ** 2
    cut = int(np.argmax(between))  # low group = order[: cut + 1]
    threshold = float((order[cut] + order[cut + 1]) / 2)
    high = values > threshold
    low_values, high_values = values[~high], values[high]
    spread = np.sqrt(low_values.var() + high_values.var())
    gap = abs(high_values.mean() - low_values.mean())
    ashman = float(np.sqrt(2) * gap / spread) if spread > 0 else float("inf")
    return TwoClusterSplit(threshold, high, ashman)


def average_ranks(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """scipy.stats.rankdata(values, axis=axis) with its default 'average' method (ties share the mean of their
    ranks, 1-based, float64), the same values exactly, about 4× faster: one unstable sort per slice (the order
    among ties does not change their shared rank), then only the runs of ties get their shared rank.
    Input with NaN (scipy gives the whole slice NaN) or no elements goes to scipy."""
    x = np.asarray(values)
    if x.size == 0 or x.ndim == 0 or (x.dtype.kind in "fc" and np.isnan(x).any()):
        return stats.rankdata(x, axis=axis)
    moved = np.swapaxes(x, axis, -1)  # the layout scipy returns (a later mean over an axis sums in its order)
    rows = np.ascontiguousarray(moved).reshape(-1, moved.shape[-1])
    n = rows.shape[1]
    order = np.argsort(rows, axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    tied = np.zeros(rows.shape, dtype=bool)  # tied[r, k]: sorted values k and k + 1 of slice r are equal
    np.equal(ordered[:, 1:], ordered[:, :-1], out=tied[:, :-1])
    sorted_ranks = np.empty(rows.shape)
    sorted_ranks[:] = np.arange(1.0, n + 1)
    # A run of ties [first, last] (never across slices: the last column of `tied` is False) shares the rank
    # (first + last) / 2 + 1, a half-integer and so exact in float64, as scipy's
    edges = np.diff(tied.ravel().view(np.int8), prepend=np.int8(0), append=np.int8(0))
    first, stop = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # runs of True: [first, stop)
    if len(first):
        sizes = stop - first + 1  # the run's last tie joins sorted value `stop` to it
        members = np.repeat(first - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
        shared = (first % n + stop % n) / 2 + 1
        sorted_ranks.ravel()[members] = np.repeat(shared, sizes)
    ranks = np.empty(rows.shape)
    np.put_along_axis(ranks, order, sorted_ranks, axis=1)
    return np.swapaxes(ranks.reshape(moved.shape), -1, axis)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ of paired values; NaN when it is undefined (fewer than 3 pairs, or either side constant)."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0 or np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    # scipy.stats.spearmanr's own arithmetic without its p-value: the ranks in the column-major [n, 2] layout
    # that its apply_along_axis builds, then np.corrcoef over columns (the same bits).
    ranked = np.stack([average_ranks(x), average_ranks(y)]).T
    return float(np.corrcoef(ranked, rowvar=False)[1, 0])


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for boolean `labels` (0.5 = chance, ties count half)."""
    labels = np.asarray(labels, dtype=bool)
    positives, negatives = scores[labels], scores[~labels]
    if len(positives) == 0 or len(negatives) == 0:
        return float("nan")
    u = stats.mannwhitneyu(positives, negatives, alternative="two-sided").statistic
    return float(u / (len(positives) * len(negatives)))


@dataclass(frozen=True)
class Correlation:
    """A correlation with its bootstrap interval.

    Attributes:
        spearman, pearson: the coefficients on all finite pairs.
        spearman_ci95, pearson_ci95: 95% percentile-bootstrap intervals (resampling tokens).
        n: number of finite pairs used.
    """

    spearman: float
    pearson: float
    spearman_ci95: tuple[float, float]
    pearson_ci95: tuple[float, float]
    n: int


def _standardise(values: np.ndarray) -> np.ndarray:
    """Centre and scale along the last axis, so a Pearson r is the mean of a product."""
    centred = values - values.mean(axis=-1, keepdims=True)
    scale = np.sqrt((centred * centred).mean(axis=-1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return centred / scale


def correlate_many(columns: dict[str, np.ndarray], pairs: list[tuple[str, str]], seed: int,
                   n_resamples: int = 1000, chunk: int = 100) -> dict[tuple[str, str], Correlation]:
    """Spearman and Pearson for each pair on its finite rows, with paired percentile-bootstrap 95% CIs.

    Pairs with the same finite rows share one set of resampled token indices. A resample enters only as
    a count per token, so each resample's statistics come from count-weighted sums (one matrix product
    for a chunk of resamples) instead of gathering every column. Spearman's bootstrap resamples the
    ranks of the full sample rather than re-ranking each resample; with thousands of tokens the
    difference is O(1/n).
    """
    nan = float("nan")
    groups: dict[bytes, tuple[np.ndarray, list]] = {}
    for x, y in pairs:
        mask = np.isfinite(columns[x]) & np.isfinite(columns[y])
        groups.setdefault(mask.tobytes(), (mask, []))[1].append((x, y))
    found = {}
    for mask, group in groups.values():
        n = int(mask.sum())
        names = list(dict.fromkeys(v for pair in group for v in pair))
        raw = {v: np.asarray(columns[v], dtype=np.float64)[mask] for v in names}
        usable = n >= 4 and all(np.ptp(raw[v]) > 0 for v in names)
        if not usable:
            for pair in group:
                ok = n >= 4 and np.ptp(raw[pair[0]]) > 0 and np.ptp(raw[pair[1]]) > 0
                found[pair] = correlate_many(columns, [pair], seed, n_resamples)[pair] if ok and len(group) > 1 \
                    else Correlation(nan, nan, (nan, nan), (nan, nan), n)
            continue
        ranks = {v: average_ranks(raw[v]) for v in names}
        point = {pair: (float(np.mean(_standardise(ranks[pair[0]]) * _standardise(ranks[pair[1]]))),
                        float(np.mean(_standardise(raw[pair[0]]) * _standardise(raw[pair[1]])))) for pair in group}
        rng = np.random.default_rng(seed)
        draws = {pair: (np.empty(n_resamples), np.empty(n_resamples)) for pair in group}
        # A resample is a count per token; every statistic needs only count-weighted sums of the
        # standardised columns, their squares and their pairwise products: one matrix product per chunk.
        z = {(kind, v): _standardise(data[v]) for kind, data in (("rank", ranks), ("raw", raw)) for v in names}
        basis = list(z.values()) + [z[key] ** 2 for key in z] + \
            [z[(kind, x)] * z[(kind, y)] for kind in ("rank", "raw") for x, y in group]
        at = {key: i for i, key in enumerate(z)}
        square = {key: len(z) + i for i, key in enumerate(z)}
        product = {(kind, pair): 2 * len(z) + i
                   for i, (kind, pair) in enumerate((k, p) for k in ("rank", "raw") for p in group)}
        basis = np.stack(basis, axis=1)  # [n, columns]
        counts = np.empty((min(chunk, n_resamples), n))
        for start in range(0, n_resamples, chunk):
            # int32 draws are the int64 ones (n < 2³¹ takes the same 32-bit path), with half the memory traffic;
            # one bincount per resample stays in cache
            rows = rng.integers(0, n, size=(min(chunk, n_resamples - start), n), dtype=np.int32)
            for i, row in enumerate(rows):
                counts[i] = np.bincount(row, minlength=n)
            sums = counts[:len(rows)] @ basis / n  # [resamples, columns]
            for x, y in group:
                for slot, kind in enumerate(("rank", "raw")):
                    mx, my = sums[:, at[(kind, x)]], sums[:, at[(kind, y)]]
                    cov = sums[:, product[(kind, (x, y))]] - mx * my
                    var_x, var_y = sums[:, square[(kind, x)]] - mx * mx, sums[:, square[(kind, y)]] - my * my
                    with np.errstate(invalid="ignore", divide="ignore"):
                        draws[(x, y)][slot][start:start + len(rows)] = cov / np.sqrt(var_x * var_y)
        for pair in group:
            spearman_ci, pearson_ci = (tuple(float(q) for q in np.nanpercentile(d, [2.5, 97.5])) for d in draws[pair])
            found[pair] = Correlation(point[pair][0], point[pair][1], spearman_ci, pearson_ci, n)
    return {pair: found[pair] for pair in pairs}


def correlate(x: np.ndarray, y: np.ndarray, seed: int, n_resamples: int = 1000) -> Correlation:
    """Spearman and Pearson of one pair on its finite rows, with paired percentile-bootstrap 95% CIs."""
    return correlate_many({"x": np.asarray(x), "y": np.asarray(y)}, [("x", "y")], seed, n_resamples)[("x", "y")]


def fisher_direction(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fisher's linear discriminant: the unit direction that best separates two labelled groups."""
    labels = np.asarray(labels, dtype=bool)
    a, b = points[labels], points[~labels]

    def scatter(group: np.ndarray) -> np.ndarray:  # (n − 1) × covariance; a single point scatters nothing
        if len(group) < 2:
            return np.zeros((points.shape[1],) * 2)
        return np.atleast_2d(np.cov(group, rowvar=False) * (len(group) - 1))

    within = scatter(a) + scatter(b) + 1e-9 * np.eye(points.shape[1])
    direction = np.linalg.solve(within, a.mean(axis=0) - b.mean(axis=0))
    return direction / (np.linalg.norm(direction) or 1.0)


_shared: dict | None = None  # while a `shared_moments()` block is open: {matrix key: (matrix, moments)}


@contextmanager
def shared_moments():
    """Within this block column_moments of one matrix (the same memory, shape, strides and dtype) is computed
    once and handed to every later caller: for a run of analyses, which never modify their inputs, over one
    model (report.run.synthetic_run). Each matrix is kept alive until the block ends, so no other array can take
    its address meanwhile."""
    global _shared
    outer = _shared
    _shared = {} if outer is None else outer
    try:
        yield
    finally:
        _shared = outer


def column_moments(rows: np.ndarray, chunk: int = BLOCK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) std of every column in float64, two passes a block of rows at a time: no
    full-size float64 copy of a float32 matrix, and no cancellation from subtracting large squares."""
    rows = np.asarray(rows)
    shared = _shared
    if shared is None:
        return _column_moments(rows, chunk)
    key = (rows.__array_interface__["data"][0], rows.shape, rows.strides, rows.dtype.str, chunk)
    if key not in shared:
        shared[key] = (rows, _column_moments(rows, chunk))
    mean, std = shared[key][1]
    return mean.copy(), std.copy()  # callers own their arrays, as without sharing


def _column_moments(rows: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    total = np.zeros(rows.shape[1])
    for start in range(0, len(rows), chunk):
        total += rows[start:start + chunk].sum(axis=0, dtype=np.float64)
    mean = total / len(rows)
    squares = np.zeros(rows.shape[1])
    for start in range(0, len(rows), chunk):
        centred = rows[start:start + chunk] - mean
        squares += np.einsum("ij,ij->j", centred, centred)
    return mean, np.sqrt(squares / len(rows))


@dataclass(frozen=True)
class Mixture:
    """A two-component Gaussian mixture fitted to 1-D values by maximum likelihood (EM), against one Gaussian.

    Attributes:
        weights, means, sds: (low, high) component parameters, ordered by mean (input units).
        high: boolean mask of the values whose posterior favours the high component.
        bic_gain: BIC(one Gaussian) − BIC(two components); > 10 is very strong evidence for two.
        ashman_d: √2·|μ₂−μ₁|/√(σ₁²+σ₂²) from the fitted parameters (> 2 needed for two modes).
        valley: lowest fitted density between the two means over the lower of the two peak densities
            (1.0 when the fitted density has no dip between them, i.e. is unimodal).
    """

    weights: tuple[float, float]
    means: tuple[float, float]
    sds: tuple[float, float]
    high: np.ndarray
    bic_gain: float
    ashman_d: float
    valley: float


def _mixture_density(grid: np.ndarray, weights, means, sds) -> np.ndarray:
    return sum(w * stats.norm.pdf(grid, m, s) for w, m, s in zip(weights, means, sds))


def two_gaussian_mixture(values: np.ndarray, iterations: int = 300) -> Mixture:
    """EM from several deterministic starts (Otsu's split; the top and bottom 50/25/10/3% as one component);
    the fit with the highest likelihood wins. Each sd is floored at 2% of the overall sd so a component of
    near-identical values cannot make the likelihood unbounded."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    total_sd = float(x.std()) if n else 0.0
    one_component = Mixture((1.0, 0.0), (float(x.mean()) if n else 0.0,) * 2, (0.0, 0.0), np.zeros(n, dtype=bool),
                            0.0, 0.0, 1.0)
    if n < 4 or not total_sd > 0:  # also NaN: nothing to split
        return one_component
    floor = 0.02 * total_sd
    one = float(stats.norm.logpdf(x, x.mean(), total_sd).sum())
    order = np.sort(x)
    starts = [x > two_cluster_split(x).threshold]
    for q in (0.5, 0.25, 0.1, 0.03):
        k = max(2, int(round(q * n)))
        starts += [x >= order[n - k], x <= order[k - 1]]
    best = None
    for start in starts:
        if start.all() or not start.any():
            continue
        fit = _em(x, np.stack([~start, start]).astype(np.float64), floor, iterations)
        if best is None or fit[0] > best[0] + 1e-9:
            best = fit
    if best is None:  # no start splits the values (each puts all of them on one side)
        return one_component
    loglik, weights, means, sds, resp = best
    lo, hi = np.argsort(means)
    weights, means, sds = (float(weights[lo]), float(weights[hi])), (float(means[lo]), float(means[hi])), \
        (float(sds[lo]), float(sds[hi]))
    bic_gain = float(2 * (loglik - one) - 3 * np.log(n))  # two components have 3 more parameters
    ashman = float(np.sqrt(2) * (means[1] - means[0]) / np.sqrt(sds[0] ** 2 + sds[1] ** 2))
    grid = np.linspace(means[0], means[1], 401)
    density = _mixture_density(grid, weights, means, sds)
    valley = float(density.min() / min(density[0], density[-1])) if means[1] > means[0] else 1.0
    return Mixture(weights, means, sds, resp[hi] > resp[lo], bic_gain, ashman, min(valley, 1.0))


def _em(x: np.ndarray, resp: np.ndarray, floor: float, iterations: int):
    """EM of two Gaussians on `x` [n] from responsibilities `resp` [2, n]; (log-likelihood, weights, means, sds,
    resp). Every step writes into buffers allocated once (the arithmetic, and so every bit, is the plain
    expression's: x − μ, its square, resp · that, ...), which halves the time of a fit on 50k values."""
    n = len(x)
    half_log_2pi = 0.5 * np.log(2 * np.pi)
    deviation, scratch = np.empty_like(resp), np.empty_like(resp)
    top, total = np.empty(n), np.empty(n)
    loglik = -np.inf
    for _ in range(iterations):
        mass = resp.sum(axis=1) + 1e-12
        weights = mass / n
        means = (resp @ x) / mass
        np.subtract(x[None, :], means[:, None], out=deviation)
        np.square(deviation, out=scratch)
        np.multiply(resp, scratch, out=scratch)
        sds = np.maximum(np.sqrt(scratch.sum(axis=1) / mass), floor)
        constant = np.log(np.maximum(weights, 1e-300)) - np.log(sds) - half_log_2pi
        np.divide(deviation, sds[:, None], out=scratch)  # logp = constant − 0.5 (deviation / sd)²
        np.square(scratch, out=scratch)
        np.multiply(0.5, scratch, out=scratch)
        np.subtract(constant[:, None], scratch, out=scratch)
        np.maximum(scratch[0], scratch[1], out=top)
        np.subtract(scratch, top, out=resp)
        np.exp(resp, out=resp)
        np.add(resp[0], resp[1], out=total)
        new = float((top + np.log(total)).sum())
        resp /= total
        if new - loglik < 1e-9 * abs(new):
            loglik = new
            break
        loglik = new
    return loglik, weights, means, sds, resp


def ar1_periodicity(curves: np.ndarray, seed: int,
                    n_surrogates: int = 199) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of `curves` [n, k]: the periodic share, its period, and a p-value against red noise.

    The periodic share is the largest share of a column's linearly detrended variance in one frequency band
    of at least two cycles over the n positions (a peak k ≥ 2 and its neighbours k ± 1, leaving out k = 1:
    one cycle cannot be told from a bump). The null is AR(1) noise with the column's own lag-1
    autocorrelation (up to a random walk), detrended the same way: smoothness alone — a random walk, a
    ramp, a bump — is not evidence of periodicity; only a peak beyond red noise is. A column that is all
    trend (detrended variance under 1e-6 of its variance) has share 0 and p = 1."""
    curves = np.asarray(curves, dtype=np.float64)
    n, k = curves.shape
    if k == 0 or n < 8:
        return np.zeros(k), np.zeros(k), np.ones(k)
    t = np.arange(n, dtype=np.float64)
    design = np.stack([np.ones(n), (t - t.mean()) / n], axis=1)
    projector = np.eye(n) - design @ np.linalg.pinv(design)

    def peak(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # series [n, m] -> share, peak index k
        power = np.abs(np.fft.rfft(projector @ series, axis=0)[1:]) ** 2  # row i is frequency i + 1
        total = power.sum(axis=0)
        cut = power.copy()
        cut[0] = 0.0  # frequency 1 (one cycle) counts in the total, never in a band
        peak = np.argmax(cut, axis=0)
        columns = np.arange(power.shape[1])
        band = sum(cut[np.clip(peak + step, 0, len(cut) - 1), columns] * ((peak + step >= 0) & (peak + step < len(cut)))
                   for step in (-1, 0, 1))
        share = np.where(total > 0, band / np.where(total > 0, total, 1), 0.0)
        return share, 1 + peak

    detrended = projector @ curves
    share, where = peak(curves)
    period = n / where
    rng = np.random.default_rng(seed)
    p = np.ones(k)
    for j in range(k):
        x = detrended[:, j]
        if float(x @ x) <= 1e-6 * float(((curves[:, j] - curves[:, j].mean()) ** 2).sum()):
            share[j], p[j] = 0.0, 1.0
            continue
        r = float(x[1:] @ x[:-1] / float(x[:-1] @ x[:-1]))
        phi = float(np.clip(r + (1 + 3 * r) / n, 0.0, 1.0))  # Kendall's bias correction of the lag-1 estimate
        noise = rng.standard_normal((n, n_surrogates))
        if phi < 0.999:
            noise[0] /= np.sqrt(1 - phi ** 2)  # start in the stationary distribution
        null, _ = peak(signal.lfilter([1.0], [1.0, -phi], noise, axis=0))
        p[j] = (1 + np.sum(null >= share[j] - 1e-12)) / (1 + n_surrogates)
    return share, period.astype(np.float64), p


def recurrence_p(outliers: np.ndarray, dim: int) -> float:
    """How surprising it is that `dim` is an outlier in as many rows (e.g. LayerNorms) as it is.

    `outliers` [rows, d] marks each row's outlier dims. Null: in each row every dim is an outlier with that
    row's own rate among the *other* dims ((count + ½) / d, so a row where only `dim` stands out still has a
    non-zero rate); rows are independent, so the count is Poisson-binomial. Bonferroni over the d dims."""
    outliers = np.asarray(outliers, dtype=bool)
    rows, d = outliers.shape
    if rows == 0 or d < 2:
        return 1.0
    others = outliers.sum(axis=1) - outliers[:, dim]
    rates = (others + 0.5) / d
    count = int(outliers[:, dim].sum())
    distribution = np.zeros(rows + 1)
    distribution[0] = 1.0
    for rate in rates:  # Poisson-binomial by dynamic programming
        distribution[1:] = distribution[1:] * (1 - rate) + distribution[:-1] * rate
        distribution[0] *= 1 - rate
    return float(min(1.0, d * distribution[count:].sum()))


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Each value's percentile among all values, in [0, 1] (mid-rank for ties)."""
    return (average_ranks(values) - 0.5) / len(values)


EULER_GAMMA = 0.5772156649015329  # E[log X] = −γ for X ~ Exp(1): a periodogram ordinate over its spectrum


def _envelope_smoother(m: int, neighbours: int) -> sparse.csr_matrix:
    """[m, m] linear map from the log periodogram (bins 1..m) to a local-linear estimate, at each bin k ≥ 2, of the
    mean log power of the `neighbours` nearest other bins (a fitted line in log frequency, read at log k)."""
    rows, columns, values = [], [], []
    bins = np.arange(1, m + 1)
    for k in range(2, m + 1):
        near = bins[max(0, k - 2 - neighbours):k + 1 + neighbours]
        candidates = near[near != k]
        chosen = candidates[np.argsort(np.abs(candidates - k), kind="stable")[:neighbours]]
        if len(chosen) < 3:
            continue
        x = np.log(chosen) - np.log(k)
        design = np.stack([np.ones_like(x), x], axis=1)
        rows += [k - 1] * len(chosen)
        columns += list(chosen - 1)
        values += list(np.linalg.pinv(design)[0])  # the line's intercept at x = 0, i.e. at log k
    return sparse.csr_matrix((values, (rows, columns)), shape=(m, m))


def _side_means(m: int, width: int) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """[m, m] maps from the log periodogram to the mean log power of the `width` bins just below / just above each
    bin (fewer near the ends; an empty row where there are none)."""
    maps = []
    for side in (-1, 1):
        rows, columns, values = [], [], []
        for k in range(1, m + 1):
            chosen = [k + side * step for step in range(1, width + 1) if 1 <= k + side * step <= m]
            rows += [k - 1] * len(chosen)
            columns += [j - 1 for j in chosen]
            values += [1.0 / max(len(chosen), 1)] * len(chosen)
        maps.append(sparse.csr_matrix((values, (rows, columns)), shape=(m, m)))
    return maps[0], maps[1]


def envelope_periodicity(curves: np.ndarray, seed: int, n_surrogates: int = 199, neighbours: int = 24,
                         side_width: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of `curves` [n, k]: the periodic share, its period, and the p-value of a spectral line.

    Share and period are ar1_periodicity's: the largest share of the linearly detrended variance in one band
    of ≥ 2 cycles, and n / its peak bin.

    The test asks whether one frequency bin k ≥ 2 stands out of the curve's own smooth spectrum on both sides.
    Statistic: the largest ratio, over bins, of a bin's power to the higher of the geometric mean powers of the
    `side_width` bins just below and just above it (times e^γ: a periodogram ordinate is its spectrum times an
    Exp(1) draw). A steep smooth spectrum is never a peak: one side is as high as the bin.
    Null (a spectral-envelope null, not phase randomisation, which would keep a line): a Gaussian process whose
    spectrum is the curve's smoothed one — a local-linear fit of log power against log frequency over the
    `neighbours` nearest other bins, after bins far above it (lines) are replaced by it. Surrogate periodograms
    are that spectrum times independent Exp(1) draws and go through the same statistic. Random walks,
    integrated noise, splines, Gaussian-process draws and polynomial trends all have smooth spectra, so they
    are not periodic; a sinusoid is a line. Only the mean is removed before the test: removing a line from a
    sinusoid would add a sawtooth whose leakage hides a 2-cycle line; a trend's own leakage is smooth."""
    curves = np.asarray(curves, dtype=np.float64)
    n, k = curves.shape
    if k == 0 or n < 16:
        return np.zeros(k), np.zeros(k), np.ones(k)
    share, period, _ = ar1_periodicity(curves, seed, n_surrogates=0)
    centred = curves - curves.mean(axis=0)
    power = np.abs(np.fft.rfft(centred, axis=0)[1:n // 2]) ** 2  # bins 1..m, Nyquist left out
    m = len(power)
    smoother = _envelope_smoother(m, neighbours)
    below, above = _side_means(m, side_width)

    def envelope(periodogram: np.ndarray) -> np.ndarray:
        floor = 1e-300 + 1e-30 * periodogram.max(axis=0, keepdims=True)
        smooth = np.exp(smoother @ np.log(np.maximum(periodogram, floor)) + EULER_GAMMA)
        smooth[0] = periodogram[0]  # bin 1 is never tested; surrogates keep its observed power
        return smooth

    def statistic(periodogram: np.ndarray) -> np.ndarray:  # [m, s] -> [s] largest peak ratio over bins ≥ 2
        log_power = np.log(np.maximum(periodogram, 1e-300 + 1e-30 * periodogram.max(axis=0, keepdims=True)))
        sides = np.exp(np.maximum(below @ log_power, above @ log_power) + EULER_GAMMA)
        return (periodogram[1:] / sides[1:]).max(axis=0)

    observed = statistic(power)
    spectrum = envelope(power)
    for _ in range(2):  # a line must not lift its neighbours' envelope in the surrogates
        spectrum = envelope(np.where(power > 1.5 * np.log(m) * spectrum, spectrum, power))
    rng = np.random.default_rng(seed)
    p = np.ones(k)
    flat = (centred ** 2).sum(axis=0) <= 1e-24 * np.maximum((curves ** 2).sum(axis=0), 1e-300)
    for j in np.flatnonzero(~flat & (share > 0)):
        null = statistic(spectrum[:, j:j + 1] * rng.exponential(size=(m, n_surrogates)))
        p[j] = (1 + np.sum(null >= observed[j] * (1 - 1e-12))) / (1 + n_surrogates)
    return share, period, p


def density_valley(values: np.ndarray, low: float, high: float, bandwidth: float) -> float:
    """How deeply the values' own density dips between `low` and `high`: the lowest Gaussian-kernel density
    estimate between them over the lower of the highest estimates on either side of that low point (1 = no dip,
    0 = an empty gap). Unlike a fitted mixture's valley, a uniform spread shows no dip here."""
    x = np.asarray(values, dtype=np.float64)
    if not high > low or bandwidth <= 0 or len(x) < 2:
        return 1.0
    grid = np.linspace(low, high, 201)
    density = np.zeros_like(grid)
    for start in range(0, len(x), 4096):
        density += np.exp(-0.5 * ((grid[:, None] - x[None, start:start + 4096]) / bandwidth) ** 2).sum(axis=1)
    lowest = int(np.argmin(density))
    peak = min(density[:lowest + 1].max(), density[lowest:].max())
    return float(density[lowest] / peak) if peak > 0 else 1.0
