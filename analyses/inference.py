"""Inference for the forward-pass experiments: intervals on the corpus's unit, permutation p-values over dims,
and false-discovery control over many probed tokens.

- Intervals: the corpus's sequences come in clusters (documents, or single sequences taken at separated places
  of one text). A mean over sequences gets a cluster-robust t-interval: the standard error from the clusters'
  summed residuals (CR1, G/(G−1) small-sample factor), Student's t with G − 1 degrees of freedom.
- Permutation p over dims: p = (1 + #null ≥ effect) / (1 + n_null); with every other dim as the null the
  smallest reachable p is 1/d.
- Probes against a reference sample: p = (1 + #reference ≤ value) / (1 + n_reference), then
  Benjamini–Hochberg q-values; a probe is confirmed when q ≤ the level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Delta:
    """Mean loss change over sequences (nats/token) and its cluster-robust 95% CI."""

    delta_loss: float
    ci95: tuple[float, float]


def cluster_interval(values: np.ndarray, clusters: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """`level` t-interval of the mean of `values` [n] whose entries come in `clusters` [n] (labels).

    The mean is over entries; its variance is estimated from each cluster's summed residuals, so entries of one
    cluster may be correlated. With fewer than two clusters the interval is (nan, nan)."""
    values = np.asarray(values, dtype=np.float64)
    _, labels = np.unique(np.asarray(clusters), return_inverse=True)
    groups, n = int(labels.max()) + 1 if len(labels) else 0, len(values)
    mean = float(values.mean()) if n else math.nan
    if groups < 2:
        return math.nan, math.nan
    residual = np.bincount(labels, weights=values - mean, minlength=groups)
    se = math.sqrt(groups / (groups - 1) * float((residual ** 2).sum())) / n
    half = float(stats.t.ppf(0.5 + level / 2, groups - 1)) * se
    return mean - half, mean + half


def paired_delta(baseline: np.ndarray, changed: np.ndarray, clusters: np.ndarray) -> Delta:
    """Mean of (changed − baseline) per sequence, with the cluster-robust 95% CI (paired: same sequences)."""
    difference = np.asarray(changed, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    if not difference.any():
        return Delta(0.0, (0.0, 0.0))
    return Delta(float(difference.mean()), cluster_interval(difference, clusters))


def permutation_p(effect: float, null: np.ndarray) -> float:
    """(1 + #null ≥ effect) / (1 + n_null): the share of the null and the tested one at least as large."""
    null = np.asarray(null, dtype=np.float64)
    return float((1 + np.count_nonzero(null >= effect)) / (1 + len(null)))


def lower_tail_p(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each value's p against `reference`: (1 + #reference ≤ value) / (1 + n_reference)."""
    reference = np.sort(np.asarray(reference, dtype=np.float64))
    below = np.searchsorted(reference, np.asarray(values, dtype=np.float64), side="right")
    return (1 + below) / (1 + len(reference))


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (adjusted p): q_(i) = min over j ≥ i of p_(j)·m/j, at most 1."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def reference_size(n_probes: int, level: float) -> int:
    """Reference draws needed for the smallest p, 1/(1 + n), to clear BH's first step, level/m."""
    return max(1, math.ceil(n_probes / level))
