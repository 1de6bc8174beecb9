"""SVD of the token embedding matrix (uncentred, as in the study): component 0 against the mean
embedding, components 1–2 against word starts, and whether norm extremes sit on component 0 more
than a null model predicts.

Signs of singular vectors are arbitrary; we fix each so that the mean token projects positively
(component 0) or so that its largest loading is positive (the others).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from analyses.claims import Claim, claim
from analyses.stats import auroc, fisher_direction, two_gaussian_mixture
from analyses.vectors import BLOCK_ROWS, N_EXTREMES, row_norms

N_COMPONENTS = 3
N_NULL = 200
EXTREME_PCT = 0.8  # claim 17: each group's mean percentile on component 0 at its own end (0.8 or 0.2)
MAX_P = 0.01
MIN_AUROC = 0.9
# claim 19's two clusters, as for the heavy dims (analyses.position)
MIN_BIC_GAIN, MAX_VALLEY, MIN_ASHMAN_D = 10.0, 0.5, 3.0


@dataclass(frozen=True, eq=False)
class SvdResult:
    """Singular spectrum and the first components of the token embedding matrix W [tokens, d].

    Attributes:
        singular_values: [d] singular values of W, descending (embedding units · √tokens).
        directions: [3, d] right singular vectors (unit directions in embedding space).
        coordinates: [tokens, 3] each token's projection on those directions (embedding units).
        cos_svd0_mean: |cos| between direction 0 and the mean token embedding.
        svd0_same_sign_fraction: share of tokens on the majority side of zero on component 0.
        norms: [tokens] L2 norm of each token embedding.
        word_start_auroc: AUROC of the best linear split (Fisher) of components 1–2 for word starts.
        word_start_ashman_d: Ashman's D of two Gaussians fitted to the tokens along that split.
        word_start_bic_gain: BIC(one) − BIC(two Gaussians) along the split.
        word_start_valley: the fitted density's dip between the two means / the lower peak (1 = no dip).
        split_direction: [2] the Fisher direction in the (component 1, component 2) plane.
        extreme_ids: ids of the N longest and N shortest tokens.
        longest_percentile, shortest_percentile: mean percentile (0..1) of the longest / shortest tokens on
            component 0.
        extremeness: how far both groups sit at opposite ends: min(p_long, 1 − p_short) when the longest are
            on the high side, else min(1 − p_long, p_short) (1 = each group at its own end, 0.5 = middle).
        extremeness_null_p: permutation p-value under the null that component 0 adds to the norm only through
            its own square (residual norms shuffled across tokens): the larger of the two groups' own p.
        group_null_p: (longest, shortest) each group's permutation p toward its own end.
        unigram_loading: |loading| of the unigram dim on direction 0, or NaN.
        unigram_loading_rank: its rank among the d loadings (0 = largest), or -1.
        claims: verdicts on claims 15–19.
    """

    singular_values: np.ndarray
    directions: np.ndarray
    coordinates: np.ndarray
    cos_svd0_mean: float
    svd0_same_sign_fraction: float
    norms: np.ndarray
    word_start_auroc: float
    word_start_ashman_d: float
    word_start_bic_gain: float
    word_start_valley: float
    split_direction: np.ndarray
    extreme_ids: tuple[int, ...]
    longest_percentile: float
    shortest_percentile: float
    extremeness: float
    extremeness_null_p: float
    group_null_p: tuple[float, float]
    unigram_loading: float
    unigram_loading_rank: int
    claims: tuple[Claim, ...]


def analyse_svd(token_embeddings: np.ndarray, word_start: np.ndarray, unigram_dim: int | None,
                seed: int, device: str = "cpu", unigram_standout: bool = True,
                unigram_carries_frequency: bool | None = None) -> SvdResult:
    """Decompose W, orient the components, and test the study's claims about components 0–2.

    Claim 18 applies only when `unigram_standout` (the unigram dim is more than a fallback). Any dim with a large
    mean loads on component 0 (it lies along the mean), so the claim — the unigram dim, a frequency feature, is
    part of component 0 — also needs the dim to be a unigram dim: `unigram_carries_frequency` says whether its
    link to frequency beyond the row's length is shown (True), absent (False) or undecided / unmeasurable
    (None: then a strong loading is "inconclusive")."""
    w = torch.as_tensor(np.asarray(token_embeddings, dtype=np.float32), device=device)
    # The Gram matrix squares W's condition number: accumulate it in float64 (a block of rows at a time), or
    # the smallest singular values lose relative precision.
    gram = sum(block.T @ block for block in (w[a:a + BLOCK_ROWS].double() for a in range(0, len(w), BLOCK_ROWS)))
    gram = gram.cpu().numpy()
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1]
    singular = np.sqrt(np.clip(eigenvalues[order], 0, None))
    directions = eigenvectors[:, order[:N_COMPONENTS]].T.copy()
    blocks = np.array_split(np.asarray(token_embeddings), max(1, len(w) // BLOCK_ROWS))
    mean = sum(block.sum(axis=0, dtype=np.float64) for block in blocks) / len(w)
    for k in range(len(directions)):
        flip = directions[k] @ mean < 0 if k == 0 else directions[k][np.argmax(np.abs(directions[k]))] < 0
        directions[k] *= -1 if flip else 1
    coords = (w @ torch.as_tensor(directions.T, dtype=torch.float32, device=device)).double().cpu().numpy()
    norms = row_norms(token_embeddings)  # float64, as every section's norms: the same longest tokens everywhere
    cos_mean = float(abs(directions[0] @ mean) / (np.linalg.norm(mean) or 1.0))
    same_sign = float(max(np.mean(coords[:, 0] > 0), np.mean(coords[:, 0] < 0)))

    labels = np.asarray(word_start, dtype=bool)
    if 0 < labels.sum() < len(labels):
        plane = coords[:, 1:3]
        split = fisher_direction(plane, labels)
        score = plane @ split
        ws_auroc = auroc(score, labels)
        fit = two_gaussian_mixture(score)
        ws_ashman, ws_bic, ws_valley = fit.ashman_d, fit.bic_gain, fit.valley
    else:
        split = np.zeros(2)
        ws_auroc, ws_ashman, ws_bic, ws_valley = float("nan"), float("nan"), float("nan"), float("nan")

    extreme_ids, (p_long, p_short), extremeness, null_p, group_p = _norm_extremes(coords[:, 0], norms, seed)
    if unigram_dim is not None:
        loadings = np.abs(directions[0])
        loading = float(loadings[unigram_dim])
        rank = int(np.sum(loadings > loading))
    else:
        loading, rank = float("nan"), -1
    d = w.shape[1]
    has_dim = unigram_dim is not None and unigram_standout
    strong = bool(loading >= 3 / np.sqrt(d))
    clusters = bool(np.isfinite(ws_auroc) and ws_auroc >= MIN_AUROC and ws_bic >= MIN_BIC_GAIN
                    and ws_valley <= MAX_VALLEY and ws_ashman >= MIN_ASHMAN_D)
    claims = (
        claim("svd0_along_mean", cos_mean, cos_mean >= 0.95, "holds if |cos(component 0, mean embedding)| ≥ 0.95"),
        claim("svd0_one_sign", same_sign, same_sign >= 0.99, "holds if ≥ 99% of tokens share the sign of component 0"),
        claim("svd0_norm_extremes", extremeness, bool(extremeness >= EXTREME_PCT and null_p < MAX_P),
              f"effect: the {N_EXTREMES} longest and the {N_EXTREMES} shortest tokens sit at opposite ends "
              f"of component 0, each group's mean percentile ≥ {EXTREME_PCT:g} toward its end "
              "(value = the weaker group); null: residual "
              f"norms shuffled across tokens ({N_NULL} permutations), each group tested toward its own end; "
              f"holds if both groups' p < {MAX_P:g}",
              f"mean percentile on component 0: longest {p_long:.0%}, shortest {p_short:.0%}; "
              f"permutation p = {group_p[0]:.3g} (longest), {group_p[1]:.3g} (shortest)"),
        claim("unigram_dim_on_svd0", loading if has_dim else None,
              (strong and unigram_carries_frequency is True) if has_dim else None,
              "holds if the unigram dim's |loading| on direction 0 is ≥ 3/√d (three times an even share; a random "
              "direction reaches it with probability 0.3%) and the dim is a unigram dim: its link to frequency "
              "beyond the row's length is shown (an off-centre dim without it loads on component 0 through its "
              "mean alone); inconclusive where that link is undecided or cannot be measured",
              (f"rank {rank + 1} of {d} loadings; " + _frequency_link(unigram_carries_frequency))
              if has_dim else "no unigram dim stands out",
              inconclusive=strong and unigram_carries_frequency is None),
        claim("svd12_split_word_starts", ws_auroc if np.isfinite(ws_auroc) else None,
              clusters if np.isfinite(ws_auroc) else None,
              f"holds if the best linear split of components 1–2 separates word starts (AUROC ≥ {MIN_AUROC:g}) and the "
              f"tokens along it form two clusters (two Gaussians beat one by BIC ≥ {MIN_BIC_GAIN:g}, density dip ≤ "
              f"{MAX_VALLEY:g} of the lower peak, Ashman's D ≥ {MIN_ASHMAN_D:g})",
              f"two-Gaussian fit along the split: BIC gain {ws_bic:.3g}, dip {ws_valley:.2f}, "
              f"Ashman's D {ws_ashman:.2f}"
              if np.isfinite(ws_auroc) else "no word-start labels to split"),
    )
    return SvdResult(singular, directions, coords, cos_mean, same_sign, norms, float(ws_auroc),
                     float(ws_ashman), float(ws_bic), float(ws_valley), split, extreme_ids, p_long, p_short,
                     extremeness, null_p, group_p, loading, rank, claims)


def _frequency_link(carries: bool | None) -> str:
    if carries is None:
        return "whether the dim carries frequency beyond the row's length is undecided or unmeasured"
    return f"its link to frequency beyond the row's length is {'shown' if carries else 'absent'}"


def _norm_extremes(svd0: np.ndarray, norms: np.ndarray, seed: int):
    """The longest and shortest ids, their mean percentiles on component 0, the directional statistic and its
    permutation p, with each group's own p (the same statistics on norms rebuilt from component 0 and shuffled
    residuals).

    Each group is tested toward its own end and the claim needs both (p = the larger of the two): a residual
    that is merely larger at both ends of component 0 (seen on mean-shifted random matrices, where the
    component is the mean direction) pushes the longest toward one end but the shortest away from the other,
    and the shuffle, which removes that, would otherwise credit the longest group's excess to the pair."""
    k = max(1, min(N_EXTREMES, len(norms) // 4))
    percentile = (np.argsort(np.argsort(svd0, kind="stable"), kind="stable") + 0.5) / len(svd0)

    def statistic(ids: np.ndarray) -> tuple[float, float, float, float, float]:
        """Mean percentiles of the two groups, the weaker group's distance toward its end, and each group's."""
        high, low = float(percentile[ids[:k]].mean()), float(percentile[ids[k:]].mean())
        toward = (high, 1 - low) if min(high, 1 - low) >= min(1 - high, low) else (1 - high, low)
        return high, low, min(toward), toward[0], toward[1]

    order = np.argsort(norms, kind="stable")
    ids = np.concatenate([order[-k:][::-1], order[:k]])
    p_long, p_short, observed, long_end, short_end = statistic(ids)
    residual_sq = np.clip(norms ** 2 - svd0 ** 2, 0, None)
    rng = np.random.default_rng(seed)
    null = np.array([statistic(_ends(svd0 ** 2 + rng.permutation(residual_sq), k))[3:] for _ in range(N_NULL)])
    p_each = tuple(float((1 + np.sum(null[:, j] >= value - 1e-12)) / (1 + N_NULL))
                   for j, value in enumerate((long_end, short_end)))
    return tuple(int(i) for i in ids), (p_long, p_short), observed, max(p_each), p_each


def _ends(values: np.ndarray, k: int) -> np.ndarray:
    """The ids of the k largest and the k smallest values: the same sets a stable argsort gives (among ties
    at a cut, the later ids count as larger), found by partitioning in linear time."""
    n = len(values)
    high = np.partition(values, n - k)[n - k]
    above, at_high = np.flatnonzero(values > high), np.flatnonzero(values == high)
    low = np.partition(values, k - 1)[k - 1]
    below, at_low = np.flatnonzero(values < low), np.flatnonzero(values == low)
    return np.concatenate([above, at_high[len(at_high) - (k - len(above)):], below, at_low[:k - len(below)]])
