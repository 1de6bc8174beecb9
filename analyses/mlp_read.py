"""What the blocks read from and write into the unigram dim, and what the unigram dim does to the logits.

Read strength of channel dim j by a layer's MLP: the L2 norm of row j of diag(g) · W_in, with W_in oriented
[d_model, hidden] and g the gain of the norm in front of the MLP: how much a unit of the normalised
residual's dim j moves the MLP's hidden units. Write strength into dim j: the norm of W_out's column j
(W_out oriented [hidden, d_model]). Attention's value (read) and output (write) matrices give the same
numbers as a contrast. For each layer the unigram dim's percentile among all dims (share of dims with a
lower strength) and whether it is in the top TOP_K; the weight-only percentile (without the gain) says
whether the matrices themselves single the dim out or only the norm does.

Logits: a unit step along the unigram dim at the final norm's input changes token t's logit by
g_f[u]·U[t,u], less the mean over dims g_f[j]·U[t,j]/d where the norm centres (LayerNorm; not RMSNorm).
Its Spearman ρ with log frequency (bootstrap CI over tokens) says whether the dim pushes frequent tokens up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyses.stats import Correlation, correlate

TOP_K = 5  # a dim "is read most" in a layer when it is among the TOP_K strongest of all dims
ROLE_SIDES = {"mlp_in": "read", "mlp_out": "write", "attn_value": "read", "attn_out": "write"}
ROWS_PER_BLOCK = 8192  # head rows widened to float64 at once


@dataclass(frozen=True, eq=False)
class RoleProfile:
    """One kind of block matrix across layers, seen per channel dim.

    Attributes:
        role: mlp_in, mlp_out, attn_value or attn_out.
        side: "read" (rows of diag(gain) · W_in) or "write" (columns of W_out).
        strength: [L, d] read strength (gain-weighted weight norm) or write strength (weight norm), weight units.
        weight_only: [L, d] the same without the norm's gain (equal to `strength` for writes).
        dim_percentile: [L] share of the other dims with a lower strength than the unigram dim, per layer (0..1).
        weight_only_percentile: [L] the same on `weight_only`.
        top_layers: layers in which the unigram dim is among the TOP_K strongest dims.
        strongest_dim: [L] the strongest dim per layer.
    """

    role: str
    side: str
    strength: np.ndarray
    weight_only: np.ndarray
    dim_percentile: np.ndarray
    weight_only_percentile: np.ndarray
    top_layers: tuple[int, ...]
    strongest_dim: np.ndarray

    @property
    def median_percentile(self) -> float:
        return float(np.median(self.dim_percentile)) if len(self.dim_percentile) else float("nan")


@dataclass(frozen=True, eq=False)
class MlpReadResult:
    """Per-dim read and write strengths of every block, and the unigram dim's effect on the logits.

    Attributes:
        dim: the unigram dim examined.
        layers: [L] layer indices.
        profiles: one RoleProfile per role the checkpoint has, in ROLE_SIDES order.
        logit_effect: [tokens] logit change per unit step along the dim at the final norm's input (logit units).
        logit_frequency: Spearman/Pearson of logit_effect with log frequency (tokens with a known frequency),
            None without frequencies.
    """

    dim: int
    layers: np.ndarray
    profiles: tuple[RoleProfile, ...]
    logit_effect: np.ndarray
    logit_frequency: Correlation | None

    def profile(self, role: str) -> RoleProfile | None:
        return next((p for p in self.profiles if p.role == role), None)


def _percentiles(values: np.ndarray, dim: int) -> np.ndarray:
    """[L] share of the other dims whose value is below the dim's, per row (1: the strongest)."""
    return (values < values[:, [dim]]).sum(axis=1) / max(values.shape[1] - 1, 1)


def role_profile(role: str, weight_norms: np.ndarray, gains: np.ndarray | None, dim: int,
                 layers: np.ndarray) -> RoleProfile:
    """A RoleProfile from per-layer, per-dim weight norms [L, d] and (for reads) the norms' gains [L, d]."""
    weight_only = np.asarray(weight_norms, dtype=np.float64)
    strength = weight_only * np.abs(gains) if gains is not None else weight_only
    rank = np.argsort(np.argsort(-strength, axis=1, kind="stable"), axis=1, kind="stable")[:, dim]
    return RoleProfile(role, ROLE_SIDES[role], strength, weight_only, _percentiles(strength, dim),
                       _percentiles(weight_only, dim), tuple(int(layers[i]) for i in np.flatnonzero(rank < TOP_K)),
                       strength.argmax(axis=1))


def logit_effect(unembedding: np.ndarray, final_gain: np.ndarray | None, dim: int, centred: bool) -> np.ndarray:
    """[tokens] logit change per unit step along `dim` at the final norm's input (the norm's own scale
    1/σ aside); without a final norm the gain is 1."""
    d = unembedding.shape[1]
    gain = np.ones(d) if final_gain is None else np.asarray(final_gain, dtype=np.float64)
    effect = gain[dim] * np.asarray(unembedding[:, dim], dtype=np.float64)
    if centred:  # LayerNorm subtracts the mean over dims: the step e_u becomes e_u - 1/d
        # In float64 a block of rows at a time: a whole float64 copy of a 256k-token head would be 4.7 GB.
        mean_step = np.concatenate([np.asarray(unembedding[a:a + ROWS_PER_BLOCK], dtype=np.float64) @ gain
                                    for a in range(0, len(unembedding), ROWS_PER_BLOCK)])
        effect = effect - mean_step / d
    return effect


def analyse_mlp_read(layers, weight_norms: dict[str, np.ndarray], read_gains: dict[str, np.ndarray], dim: int,
                     unembedding: np.ndarray, final_gain: np.ndarray | None, centred: bool,
                     log_frequency: np.ndarray | None, seed: int) -> MlpReadResult:
    """Profiles of the roles in `weight_norms` ({role: [L, d]}; reads weighted by `read_gains[role]` [L, d])
    and the dim's logit effect through the unembedding [tokens, d] against `log_frequency` [tokens]."""
    layers = np.asarray(layers, dtype=int)
    profiles = tuple(role_profile(role, weight_norms[role], read_gains.get(role), dim, layers)
                     for role in ROLE_SIDES if role in weight_norms)
    effect = logit_effect(unembedding, final_gain, dim, centred)
    frequency = None
    if log_frequency is not None and np.isfinite(log_frequency).sum() >= 4:
        frequency = correlate(effect, np.asarray(log_frequency, dtype=np.float64), seed)
    return MlpReadResult(dim, layers, profiles, effect, frequency)
