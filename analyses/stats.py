"""Small statistical tools shared by the analyses; scipy does the heavy lifting where it can."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

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


def _pearson_along_last(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    denom = np.sqrt((x * x).sum(axis=-1) * (y * y).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(axis=-1) / denom


def correlate(x: np.ndarray, y: np.ndarray, seed: int, n_resamples: int = 1000) -> Correlation:
    """Spearman and Pearson on finite pairs, with paired percentile-bootstrap 95% intervals.

    Spearman's bootstrap resamples the ranks of the full sample rather than re-ranking each resample;
    with thousands of tokens the difference is O(1/n) and it makes the bootstrap vectorisable.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    n = len(x)
    nan = float("nan")
    if n < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(nan, nan, (nan, nan), (nan, nan), n)
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    intervals = []
    for a, b in ((rx, ry), (x, y)):
        result = stats.bootstrap((a, b), _pearson_along_last, paired=True, vectorized=True,
                                 n_resamples=n_resamples, batch=max(1, min(n_resamples, 2_000_000 // n)),
                                 method="percentile", rng=np.random.default_rng(seed))
        intervals.append((float(result.confidence_interval.low), float(result.confidence_interval.high)))
    spearman = float(_pearson_along_last(rx, ry))
    pearson = float(_pearson_along_last(x, y))
    return Correlation(spearman, pearson, intervals[0], intervals[1], n)


def fisher_direction(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fisher's linear discriminant: the unit direction that best separates two labelled groups."""
    labels = np.asarray(labels, dtype=bool)
    a, b = points[labels], points[~labels]
    within = np.cov(a, rowvar=False) * (len(a) - 1) + np.cov(b, rowvar=False) * (len(b) - 1)
    within = np.atleast_2d(within) + 1e-9 * np.eye(points.shape[1])
    direction = np.linalg.solve(within, a.mean(axis=0) - b.mean(axis=0))
    return direction / (np.linalg.norm(direction) or 1.0)
