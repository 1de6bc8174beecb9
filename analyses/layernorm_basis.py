"""LayerNorm's preferred basis, quantified: how unequal each LayerNorm's gains are across channel dims,
compared with what the same numbers would look like in a random orthonormal basis, and whether the
gains line up with the basis-specific structure of the embeddings.

Two nulls:
- rotation: in a random orthonormal basis the diagonal of diag(|w|) becomes rᵀ diag(|w|) r for unit
  vectors r, and a token dim's variance becomes rᵀ C r (C the token covariance). Both are computed from
  diagonal weights (|w| directly, C through its eigenvalues), so no rotated V×d matrix is ever formed;
  d independent random unit directions stand in for one random basis.
  Reported only: any unequal gain vector is more unequal than its own rotations, so it decides nothing.
- permutation: the rank correlation between log|w| and the per-dim log std of the position embeddings
  (token embeddings when the model has none), against the same correlation with the dims shuffled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from analyses.claims import Claim, claim
from analyses.stats import average_ranks, column_moments, recurrence_p, robust_z

OUTLIER_Z = 5.0  # |robust z| of a gain; iid Gaussian gains reach it with probability ~6e-7 per dim
TOP_DIMS = 5
POOL_FACTOR = 8  # random directions drawn per dim for the rotation null
SPECTRUM_TOKENS = 16384
MAX_P = 0.01  # claim 1: the most recurrent outlier dim's recurrence p
WEAK_P = 0.1  # claim 1: a recurrence p between MAX_P and this is inconclusive


@dataclass(frozen=True, eq=False)
class LayerNormBasisResult:
    """Spread of every LayerNorm's gains, and the two nulls.

    Attributes:
        labels: (role, layer) per LayerNorm in model order; role is ln_1, ln_2 or ln_f (layer −1).
        abs_gains: [n, d] |gain| per LayerNorm and dim (dimensionless multipliers).
        cv: [n] coefficient of variation of |gain| across dims (std / mean; dimensionless).
        kurtosis: [n] excess kurtosis of |gain| across dims (0 for a Gaussian).
        max_abs_z: [n] largest |robust z| of |gain| over dims.
        outlier_dims: per LayerNorm, the dims with |robust z| of |gain| ≥ OUTLIER_Z.
        top_dims: per LayerNorm, the TOP_DIMS dims with the largest |robust z|, as (dim, z, gain).
        rotated_cv_band, rotated_kurtosis_band: [n, 3] 2.5%, 50% and 97.5% quantiles of the same
            statistics for the effective gains rᵀ diag(|w|) r in random bases.
        token_std_cv: CV of the per-dim std of the token embeddings in the standard basis.
        token_std_null: [n_rotations] that CV in random bases.
        token_std_p: one-sided p of the observed CV under the rotation null (add-one estimate).
        token_std_null_z: (observed − null mean) / null std.
        profile_source: "position" or "token": whose per-dim log std the gains are ranked against.
        spearman_profile: [n] Spearman ρ of log|gain| and that profile, per LayerNorm.
        spearman_null_q95: 95% quantile of |ρ| with the dims permuted (shared by all LayerNorms).
        spearman_p: [n] two-sided permutation p per LayerNorm (add-one estimate).
        gains_beyond_rotation: [n] whether each LayerNorm's gain CV exceeds the 97.5% quantile of its rotated band.
        recurring_dim: the dim that is an outlier in the most LayerNorms (-1 if none); recurring_count that number.
        recurring_p: p of that count when each dim is an outlier in each LayerNorm at that LayerNorm's rate over
            the other dims (analyses.stats.recurrence_p): outliers scattered at random do not count.
        n_rotations, n_permutations: sizes of the two nulls.
        claims: the verdict on claim 1, decided by recurring_p alone.
    """

    labels: tuple[tuple[str, int], ...]
    abs_gains: np.ndarray
    cv: np.ndarray
    kurtosis: np.ndarray
    max_abs_z: np.ndarray
    outlier_dims: tuple[tuple[int, ...], ...]
    top_dims: tuple[tuple[tuple[int, float, float], ...], ...]
    rotated_cv_band: np.ndarray
    rotated_kurtosis_band: np.ndarray
    token_std_cv: float
    token_std_null: np.ndarray
    token_std_p: float
    token_std_null_z: float
    profile_source: str
    spearman_profile: np.ndarray
    spearman_null_q95: float
    spearman_p: np.ndarray
    gains_beyond_rotation: np.ndarray
    recurring_dim: int
    recurring_count: int
    recurring_p: float
    n_rotations: int
    n_permutations: int
    claims: tuple[Claim, ...]

    @property
    def outlier_counts(self) -> np.ndarray:
        """[n] number of outlier dims per LayerNorm."""
        return np.array([len(dims) for dims in self.outlier_dims], dtype=int)

    @property
    def outlier_share(self) -> float:
        """Share of LayerNorms with at least one outlier gain."""
        return float(np.mean(self.outlier_counts > 0)) if len(self.outlier_counts) else float("nan")


def analyse_layernorm_basis(labels: Sequence[tuple[str, int]], gains: np.ndarray, token_embeddings: np.ndarray,
                            position_embeddings: np.ndarray | None, seed: int, n_rotations: int = 200,
                            n_permutations: int = 1000, device: str = "cpu") -> LayerNormBasisResult:
    """Measure each LayerNorm's gain spread against a rotated basis and a permuted one.

    `labels` names each row of `gains` [n_norms, d] as (role, layer); `seed` fixes both nulls.
    """
    gains = np.abs(np.asarray(gains, dtype=np.float64)).reshape(len(labels), -1)
    z = np.array([robust_z(g) for g in gains]).reshape(gains.shape)
    cv = _cv(gains, axis=1)
    kurt = _kurtosis(gains, axis=1)
    max_abs_z = np.abs(z).max(axis=1) if len(gains) else np.zeros(0)
    outlier_dims = tuple(tuple(int(i) for i in np.flatnonzero(np.abs(row) >= OUTLIER_Z)) for row in z)
    outliers = np.array([len(dims) for dims in outlier_dims], dtype=int)
    top = tuple(tuple((int(i), float(row_z[i]), float(row_g[i]))
                      for i in np.argsort(-np.abs(row_z), kind="stable")[:TOP_DIMS])
                for row_z, row_g in zip(z, gains))

    rng = np.random.default_rng(seed)
    eigenvalues, token_std = _token_spectrum(token_embeddings, device, rng)
    null_cv, null_kurt, null_token_cv = _rotation_null(gains, eigenvalues, n_rotations, rng)
    band = lambda a: np.quantile(a, [0.025, 0.5, 0.975], axis=0).T if len(gains) else np.zeros((0, 3))  # noqa: E731
    token_cv = float(_cv(token_std))
    token_p = float((1 + np.sum(null_token_cv >= token_cv)) / (1 + n_rotations))
    null_sd = float(null_token_cv.std())
    token_null_z = float((token_cv - null_token_cv.mean()) / null_sd) if null_sd > 0 else float("inf")

    has_positions = position_embeddings is not None and len(position_embeddings) > 1
    profile = np.asarray(position_embeddings, dtype=np.float64).std(axis=0) if has_positions else token_std
    rho, q95, p_perm = _permutation_null(np.log10(np.maximum(gains, 1e-12)), np.log10(np.maximum(profile, 1e-12)),
                                         n_permutations, rng)

    beyond = cv > band(null_cv)[:, 2] if len(gains) else np.zeros(0, dtype=bool)
    per_dim = np.zeros(gains.shape[1] if gains.ndim == 2 else 0, dtype=int)
    for dims in outlier_dims:
        per_dim[list(dims)] += 1
    recurring = int(np.argmax(per_dim)) if per_dim.any() else -1
    count = int(per_dim.max()) if per_dim.any() else 0
    marks = np.zeros((len(gains), per_dim.size), dtype=bool)
    for row, dims in enumerate(outlier_dims):
        marks[row, list(dims)] = True
    recurring_p = recurrence_p(marks, recurring) if count >= 2 else 1.0
    # The rotated band is reported, not decisive: any unequal gain vector beats its own rotations.
    holds = None if not len(gains) else bool(recurring_p < MAX_P)
    recurring_share = count / len(gains) if len(gains) else float("nan")
    claims = (claim(
        "gains_favour_standard_basis", recurring_share if len(gains) else None, holds,
        f"effect: the share of LayerNorms in which the most recurrent outlier dim (|robust z| of |gain| ≥ "
        f"{OUTLIER_Z:g}) is an outlier; null: each dim is an outlier in each LayerNorm at that LayerNorm's rate over "
        f"the other dims (Poisson-binomial, Bonferroni over dims), so outliers scattered over dims do not count; "
        f"holds if p < {MAX_P:g}; inconclusive if p < {WEAK_P:g}",
        f"dim {recurring} is an outlier in {count} of {len(gains)} LayerNorms (p {recurring_p:.2g}); "
        f"{int(np.sum(outliers > 0))} have some outlier gain; {int(np.sum(beyond))} have a gain CV beyond the rotated "
        f"band (reported only)",
        inconclusive=bool(len(gains) and recurring_p < WEAK_P)),)
    return LayerNormBasisResult(
        labels=tuple((str(r), int(layer)) for r, layer in labels), abs_gains=gains, cv=cv,
        kurtosis=np.asarray(kurt, dtype=np.float64),
        max_abs_z=max_abs_z, outlier_dims=outlier_dims, top_dims=top,
        rotated_cv_band=band(null_cv), rotated_kurtosis_band=band(null_kurt),
        token_std_cv=token_cv, token_std_null=null_token_cv, token_std_p=token_p, token_std_null_z=token_null_z,
        profile_source="position" if has_positions else "token", spearman_profile=rho, spearman_null_q95=q95,
        spearman_p=p_perm, gains_beyond_rotation=beyond, recurring_dim=recurring, recurring_count=count,
        recurring_p=recurring_p, n_rotations=int(n_rotations), n_permutations=int(n_permutations), claims=claims,
    )


def _cv(values: np.ndarray, axis: int = -1) -> np.ndarray:
    mean = np.abs(values.mean(axis=axis))
    return np.where(mean > 0, values.std(axis=axis) / np.where(mean > 0, mean, 1.0), np.nan)


def _kurtosis(values: np.ndarray, axis: int) -> np.ndarray:
    """Excess kurtosis m4 / m2² − 3 along `axis` (scipy's default estimator, without its per-call overhead);
    NaN where the values are (nearly) constant and it is undefined."""
    centred = values - values.mean(axis=axis, keepdims=True)
    m2, m4 = (centred ** 2).mean(axis=axis), (centred ** 4).mean(axis=axis)
    if values.shape[axis] < 4:
        return np.full(m2.shape, np.nan)
    flat = np.sqrt(m2) <= 1e-9 * np.maximum(np.abs(values).mean(axis=axis), 1e-30)
    return np.where(flat, np.nan, m4 / np.where(flat, 1.0, m2) ** 2 - 3.0)


def _token_spectrum(token_embeddings: np.ndarray, device: str,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of the token covariance (d×d, never V×V) and the per-dim std in the standard basis.

    The std uses every token, a block of rows at a time in float64 (no transient copy of the matrix), rounded
    to float32 as torch.std of the float32 matrix gives it (torch accumulates in float64 too: the same values).
    The eigenvalues only set the null's spread, so they come from at most SPECTRUM_TOKENS tokens drawn at
    random: sampling noise adds about 1/√(2n) relative to each direction's std, far below the spread between
    random directions.
    """
    rows = np.asarray(token_embeddings, dtype=np.float32)
    std = column_moments(rows)[1].astype(np.float32).astype(np.float64)
    w = torch.as_tensor(rows, device=device)
    if len(w) > SPECTRUM_TOKENS:
        rows = np.sort(rng.choice(len(w), size=SPECTRUM_TOKENS, replace=False))
        w = w[torch.as_tensor(rows, device=w.device)]
    centred = w - w.mean(dim=0)
    covariance = (centred.T @ centred).double().cpu().numpy() / len(centred)
    return np.clip(np.linalg.eigvalsh((covariance + covariance.T) / 2), 0, None), std


def _rotation_null(gains: np.ndarray, eigenvalues: np.ndarray, n_rotations: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CV and kurtosis of effective gains, and CV of token std, over `n_rotations` random bases.

    A unit vector r has rᵀ diag(a) r = Σ aᵢ rᵢ², so one matrix of squared random unit vectors serves the
    gains (already diagonal) and the token covariance (diagonal in its eigenbasis, where a uniformly
    random direction is still uniformly random). Directions are iid, so each random basis is d draws
    (with replacement) from a pool of POOL_FACTOR·d directions: a bootstrap of the same distribution
    that costs one pool instead of `n_rotations` d×d matrices.
    """
    d = len(eigenvalues)
    diagonals = np.vstack([gains, eigenvalues[None, :]]).T.astype(np.float32)  # [d, n_norms + 1]
    pool = []
    for _ in range(POOL_FACTOR):
        squares = rng.standard_normal((d, d), dtype=np.float32) ** 2
        squares /= squares.sum(axis=1, keepdims=True)
        pool.append(squares @ diagonals)
    effective_pool = np.vstack(pool).astype(np.float64)  # [POOL_FACTOR·d directions, n_norms + 1]
    picks = rng.integers(0, len(effective_pool), size=(n_rotations, d))
    cvs, kurts, token_cvs = [], [], []
    for rows in picks:
        effective = effective_pool[rows]
        cvs.append(_cv(effective[:, :-1], axis=0))
        kurts.append(_kurtosis(effective[:, :-1], axis=0))
        token_cvs.append(float(_cv(np.sqrt(effective[:, -1]))))
    return np.array(cvs).reshape(n_rotations, -1), np.array(kurts).reshape(n_rotations, -1), np.array(token_cvs)


def _permutation_null(log_gains: np.ndarray, log_profile: np.ndarray, n_permutations: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, float, np.ndarray]:
    """Spearman ρ of each row of log_gains with log_profile, and a permutation null shared by all rows.

    Permuting the profile's ranks is equivalent to permuting each LayerNorm's gains, and lets one
    matrix product test every LayerNorm at once.
    """
    d = len(log_profile)
    if len(log_gains) == 0 or np.ptp(log_profile) == 0:
        return np.full(len(log_gains), np.nan), float("nan"), np.full(len(log_gains), np.nan)
    def standard(ranks: np.ndarray) -> np.ndarray:
        spread = ranks.std(axis=-1, keepdims=True) * np.sqrt(d)
        return (ranks - ranks.mean(axis=-1, keepdims=True)) / np.where(spread > 0, spread, np.nan)

    gain_ranks = standard(average_ranks(log_gains, axis=1))
    profile_ranks = standard(average_ranks(log_profile))
    with np.errstate(invalid="ignore"):
        rho = gain_ranks @ profile_ranks
        shuffled = rng.permuted(np.tile(profile_ranks, (n_permutations, 1)), axis=1)
        null = np.abs(shuffled @ np.nan_to_num(gain_ranks).T)  # [permutations, n_norms]
    p = (1 + (null >= np.abs(rho)[None, :] - 1e-12).sum(axis=0)) / (1 + n_permutations)
    p = np.where(np.isfinite(rho), p, np.nan)
    return rho, float(np.quantile(null, 0.95)), p
