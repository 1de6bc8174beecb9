"""The unigram-dim ablation against every other dim of the token embeddings.

Setting dim j of every token row to its mean over tokens (a change δ_j of the inputs) changes the loss by
about g·δ_j + ½ δ_jᵀ G δ_j. The first term is Σ_v g[v, j]·(mean_j − E[v, j]), with g[v] the gradient of the
mean loss with respect to token v's input row summed over its occurrences. The second is the Gauss–Newton
curvature, estimated without a Hessian: the gradient of each sequence's loss under labels drawn from the
model, g̃_s, has E[g̃_s g̃_sᵀ] equal to its curvature (up to the token count), so the term is ½ Σ_s (g̃_s·δ_j)²
(Gradients holds the sums that give g̃_s·δ_j for every j at once). A trained model sits near a minimum of its
loss, where the first term is small and the second is the cost. One forward and two backward passes give
every dim's estimate. The dims leading the estimate (N_LEADING), the dims of largest variance over tokens
(N_WIDEST) and the unigram dim are ablated exactly. Each dim's effect is its exact loss change where measured,
its estimate elsewhere; the unigram dim's p is (1 + #other dims with an effect ≥ its own) / d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from analyses.inference import Delta, paired_delta, permutation_p
from analyses.stats import spearman

N_LEADING = 2  # dims with the largest estimate, ablated exactly
N_WIDEST = 2  # dims with the largest variance over tokens (besides those), ablated exactly


@dataclass(frozen=True, eq=False)
class Gradients:
    """Gradients of the baseline pass with respect to the token input rows.

    Attributes:
        rows: [token rows, d] gradient of the mean loss (nats/token) with respect to each token's row, summed
            over its occurrences.
        sampled_sum, sampled_dot: [sequences, d] for sequence s, √(T_s/n)·Σ_t g̃[s, t] and √(T_s/n)·Σ_t g̃[s, t]·x[s, t]
            (elementwise), where g̃ is the gradient of the sequence's loss under labels drawn from the model, x the
            input rows, T_s the sequence's counted tokens and n the sequences: ½ Σ_s (mean·sampled_sum − sampled_dot)²
            is the curvature term of setting each dim to `mean`.
    """

    rows: np.ndarray
    sampled_sum: np.ndarray
    sampled_dot: np.ndarray


@dataclass(frozen=True, eq=False)
class UnigramNull:
    """The unigram dim's ablation, set against every other dim.

    Attributes:
        dim: the unigram dim; delta: its exact loss change (nats/token) with the cluster-robust 95% CI.
        estimate: [d] every dim's estimated loss change (nats/token): gradient plus curvature term.
        variance_share: [d] each dim's variance over tokens as a share of the table's total (0..1): the share of
            variance its ablation removes.
        exact_dims, exact_deltas: the dims ablated exactly (the unigram dim among them) and their loss changes.
        effect: [d] exact loss change where measured, estimated elsewhere.
        null_size: dims in the null (every other dim, d − 1); rank: the unigram dim's rank by effect (1 = top).
        p_value: (1 + #null dims with effect ≥ the unigram dim's) / (1 + null_size); 1/d at best.
        effect_per_variance: delta per unit share of variance removed (nats/token); effect_per_variance_ci95
            its 95% CI (the share is fixed, so the delta's CI scaled).
        estimate_spearman: Spearman ρ of the estimates against exact changes over `exact_dims`
            (nan with fewer than three).
    """

    dim: int
    delta: Delta
    estimate: np.ndarray
    variance_share: np.ndarray
    exact_dims: tuple[int, ...]
    exact_deltas: np.ndarray
    effect: np.ndarray
    null_size: int
    rank: int
    p_value: float
    effect_per_variance: float
    effect_per_variance_ci95: tuple[float, float]
    estimate_spearman: float


def first_order_effects(gradient: np.ndarray, table: np.ndarray) -> np.ndarray:
    """[d] Σ_v gradient[v, j]·(mean_j − table[v, j]): each dim's loss change at its mean, to first order."""
    table = np.asarray(table, dtype=np.float64)
    return (np.asarray(gradient, dtype=np.float64) * (table.mean(axis=0) - table)).sum(axis=0)


def estimated_effects(gradients: Gradients, table: np.ndarray) -> np.ndarray:
    """[d] each dim's loss change at its mean over `table`'s rows: first-order plus Gauss–Newton term."""
    mean = np.asarray(table, dtype=np.float64).mean(axis=0)
    projected = mean * gradients.sampled_sum - gradients.sampled_dot
    return first_order_effects(gradients.rows[: len(table)], table) + 0.5 * (projected ** 2).sum(axis=0)


def exact_candidates(estimate: np.ndarray, variance: np.ndarray, dim: int) -> tuple[int, ...]:
    """The unigram dim, the N_LEADING dims by estimate and the N_WIDEST others by variance."""
    chosen = [dim]
    for order in (np.argsort(-estimate, kind="stable"), np.argsort(-variance, kind="stable")):
        added = 0
        for j in (int(j) for j in order):
            if added == (N_LEADING if len(chosen) == 1 else N_WIDEST):
                break
            if j not in chosen:
                chosen.append(j)
                added += 1
    return tuple(chosen)


def unigram_null(ablate: Callable[[int], object], base_losses: np.ndarray, clusters: np.ndarray,
                 gradients: Gradients, table: np.ndarray, dim: int) -> tuple[UnigramNull, object]:
    """The unigram dim against every other dim; `ablate(j)` is the Evaluation with dim j at its mean.

    Returns the result and the unigram ablation's Evaluation (for its logits)."""
    first = estimated_effects(gradients, table)
    variance = np.asarray(table, dtype=np.float64).var(axis=0)
    share = variance / variance.sum() if variance.sum() > 0 else np.zeros_like(variance)
    dims = exact_candidates(first, variance, dim)
    runs = {j: ablate(j) for j in dims}
    exact = np.array([float(runs[j].losses.mean() - np.mean(base_losses)) for j in dims])
    effect = first.copy()
    effect[list(dims)] = exact
    delta = paired_delta(base_losses, runs[dim].losses, clusters)
    others = np.delete(effect, dim)
    scale = share[dim]
    per_variance = delta.delta_loss / scale if scale > 0 else math.nan
    ci = tuple(v / scale if scale > 0 else math.nan for v in delta.ci95)
    rho = spearman(first[list(dims)], exact) if len(dims) >= 3 else math.nan
    return UnigramNull(dim, delta, first, share, dims, exact, effect, len(others),
                       1 + int(np.count_nonzero(others > effect[dim])), permutation_p(effect[dim], others),
                       per_variance, ci, float(rho)), runs[dim]
