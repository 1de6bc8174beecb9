"""LayerNorm gains against position activity: per layer, how the pre-attention (LN1) and pre-MLP (LN2)
gains relate to how much the position embeddings use each channel dim.

Per LayerNorm we rank-correlate log10 |gain| with log10 std(position) over dims, and compare the median
|gain| of the position-heavy dims with that of the other dims. "Outlier" dims are those whose log10 |gain|
has |robust z| ≥ OUTLIER_Z within their LayerNorm.

Claim 8's rule: layer 0's LN1 turns the heavy dims down as a group (median |gain| ratio heavy/other ≤
MAX_LAYER0_RATIO and one-sided Mann–Whitney p < MAX_P), while later layers do not treat the heavy dims
as a group (median over their LayerNorms of |log10 ratio| at most half of layer 0's) and change only a
few dims (median outlier count ≤ max(MIN_FEW, FEW_SHARE · d)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

from analyses.claims import Claim, claim
from analyses.stats import robust_z, spearman

OUTLIER_Z = 5.0
MAX_LAYER0_RATIO = 0.8
MAX_P = 0.01
FEW_SHARE, MIN_FEW = 0.02, 3
ROLES = ("ln_1", "ln_2")


@dataclass(frozen=True, eq=False)
class LnGainsResult:
    """Per-layer statistics of LN1 and LN2 gains against position activity.

    Attributes:
        layers: [L] layer indices (0-based), the rows of every per-layer array.
        log_position_std: [d] log10 std of the position embeddings over positions, per dim (NaN if none).
        log_abs_gain: {"ln_1": [L, d], "ln_2": [L, d]} log10 |gain| per layer and dim.
        heavy_dims: the position-heavy dims this section compares against (from the position analysis).
        spearman: {role: [L]} Spearman ρ of log10 |gain| and log10 std(position) across dims.
        heavy_ratio: {role: [L]} median |gain| of heavy dims / median |gain| of the other dims.
        heavy_lower_p: {role: [L]} one-sided Mann–Whitney p that heavy-dim |gains| are lower.
        outlier_dims: {role: per layer, the dims with |robust z| of log10 |gain| ≥ OUTLIER_Z}.
        applicable: whether there are position embeddings and heavy dims to compare.
        claims: the verdict on claim 8.
    """

    layers: np.ndarray
    log_position_std: np.ndarray
    log_abs_gain: dict
    heavy_dims: tuple[int, ...]
    spearman: dict
    heavy_ratio: dict
    heavy_lower_p: dict
    outlier_dims: dict
    applicable: bool
    claims: tuple[Claim, ...]

    def outlier_counts(self, role: str) -> np.ndarray:
        return np.array([len(dims) for dims in self.outlier_dims[role]], dtype=int)


def analyse_ln_gains(layers: Sequence[int], ln1_gains: np.ndarray, ln2_gains: np.ndarray,
                     position_std: np.ndarray | None, heavy_dims: Sequence[int]) -> LnGainsResult:
    """Compare each layer's LN1 and LN2 gains [L, d] with the per-dim position std [d] and heavy dims."""
    gains = {"ln_1": np.abs(np.asarray(ln1_gains, dtype=np.float64)),
             "ln_2": np.abs(np.asarray(ln2_gains, dtype=np.float64))}
    d = gains["ln_1"].shape[1] if gains["ln_1"].ndim == 2 else 0
    log_gain = {role: np.log10(np.maximum(g, 1e-12)).reshape(len(layers), d) for role, g in gains.items()}
    has_positions = position_std is not None and np.ptp(np.asarray(position_std)) > 0
    log_pos = (np.log10(np.maximum(np.asarray(position_std, dtype=np.float64), 1e-12)) if has_positions
               else np.full(d, np.nan))
    heavy = np.zeros(d, dtype=bool)
    heavy[list(heavy_dims)] = True
    applicable = bool(has_positions and heavy.any() and (~heavy).any() and len(layers) > 0)

    rho, ratio, lower_p, outliers = {}, {}, {}, {}
    for role in ROLES:
        rows = log_gain[role]
        rho[role] = np.array([spearman(row, log_pos) if has_positions else np.nan for row in rows])
        no_heavy = np.full(len(rows), np.nan)
        ratio[role] = np.array([_heavy_ratio(g, heavy) for g in gains[role]]) if heavy.any() else no_heavy
        lower_p[role] = np.array([_lower_p(g, heavy) for g in gains[role]]) if heavy.any() else no_heavy.copy()
        outliers[role] = tuple(tuple(int(i) for i in np.flatnonzero(np.abs(robust_z(row)) >= OUTLIER_Z))
                               for row in rows)

    claims = (_claim8(np.asarray(layers), ratio, lower_p, outliers, d, applicable),)
    return LnGainsResult(
        layers=np.asarray(layers, dtype=int), log_position_std=log_pos, log_abs_gain=log_gain,
        heavy_dims=tuple(int(i) for i in heavy_dims), spearman=rho, heavy_ratio=ratio, heavy_lower_p=lower_p,
        outlier_dims=outliers, applicable=applicable, claims=claims,
    )


def _heavy_ratio(abs_gain: np.ndarray, heavy: np.ndarray) -> float:
    other = np.median(abs_gain[~heavy]) if (~heavy).any() else np.nan
    return float(np.median(abs_gain[heavy]) / other) if other and np.isfinite(other) else float("nan")


def _lower_p(abs_gain: np.ndarray, heavy: np.ndarray) -> float:
    if not heavy.any() or not (~heavy).any():
        return float("nan")
    return float(stats.mannwhitneyu(abs_gain[heavy], abs_gain[~heavy], alternative="less").pvalue)


def _claim8(layers: np.ndarray, ratio: dict, lower_p: dict, outliers: dict, d: int, applicable: bool) -> Claim:
    few = max(MIN_FEW, int(FEW_SHARE * d))
    rule = (f"holds if layer 0's LN1 has median |gain| heavy/other ≤ {MAX_LAYER0_RATIO:g} (one-sided Mann–Whitney "
            f"p < {MAX_P:g}) and, in later layers, the median |log10 ratio| is at most half of layer 0's and the "
            f"median LayerNorm has ≤ {few} outlier dims (|robust z| of log10 |gain| ≥ {OUTLIER_Z:g})")
    first = np.flatnonzero(layers == 0)
    if not applicable or not len(first):
        return claim("layer0_gains_dial_down_position_dims", None, None, rule,
                     "no position-heavy dims to compare" if len(layers) else "no layers")
    i0 = int(first[0])
    ratio0, p0 = float(ratio["ln_1"][i0]), float(lower_p["ln_1"][i0])
    dials_down = bool(ratio0 <= MAX_LAYER0_RATIO and p0 < MAX_P)
    later = layers > 0
    if not later.any():
        return claim("layer0_gains_dial_down_position_dims", ratio0, dials_down, rule,
                     f"layer 0 LN1 heavy/other ×{ratio0:.3g} (p {p0:.2g}); no later layers")
    later_shift = float(np.median(np.abs(np.log10(np.concatenate([ratio[r][later] for r in ROLES])))))
    later_outliers = float(np.median([len(outliers[r][i]) for r in ROLES for i in np.flatnonzero(later)]))
    layer0_shift = abs(float(np.log10(ratio0))) if ratio0 > 0 else float("inf")
    holds = dials_down and later_shift <= 0.5 * layer0_shift and later_outliers <= few
    return claim("layer0_gains_dial_down_position_dims", ratio0, holds, rule,
                 f"layer 0 LN1 heavy/other ×{ratio0:.3g} (p {p0:.2g}); later layers: median |log10 ratio| "
                 f"{later_shift:.3g} vs {layer0_shift:.3g} at layer 0, median {later_outliers:g} outlier dims")
