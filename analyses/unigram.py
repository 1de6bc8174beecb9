"""The unigram dimension: the channel dim that the pre-MLP LayerNorms turn up in most layers (LN2 in pre-LN
models such as GPT-2; in post-LN models the norm after attention is the one that feeds the MLP).

Discovery rule: in every pre-MLP norm, take the robust z of |gain| across dims. A dim stands out in a layer when
its z ≥ STANDOUT_Z (high side only: the claim is about a dim the MLPs are made to attend to). The unigram
dim is the dim that stands out in the most pre-MLP norms; ties go to the larger mean z over layers. If no dim
stands out in at least MIN_LAYERS layers, the model has no unigram dim: we still name the dim with the
highest mean z (so downstream sections have a dim to look at) but flag `standout=False`.

Claim 9 holds when the unigram dim stands out in at least half of the pre-MLP norms (and MIN_LAYERS), and
that count is beyond chance: with each layer's standout rate over the other dims as the base rate, the
Poisson-binomial probability that any of the d dims stands out that often (Bonferroni over d) is under
MAX_P (analyses.stats.recurrence_p). Every dim
that qualifies is reported (`qualifying`); claims about "the" unigram dim read the first.
Claim 13 (needs a standing-out dim and position embeddings): the dim is not position-heavy and its
position std is at or below the median dim's; its |token mean| is at or above the OFF_CENTRE_PCT
percentile of the non-heavy dims; its token std is at or above the HIGH_STD_PCT percentile of them. That profile
fits any off-centre wide dim, so the claim also needs the dim to be a unigram dim: its link to log frequency
beyond the length of the rest of its row (claim 12's statistic and matched contrast, analyses.correlations). The
profile with that link shown: holds; without the profile, or with the link absent: does not hold; the profile
with the link undecided or no frequency source: inconclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analyses.claims import Claim, claim
from analyses.correlations import (
    SHOWN,
    UNDECIDED,
    BeyondNorm,
    MatchedContrast,
    describe_beyond_norm,
    link_states,
    overall,
    unigram_link,
)
from analyses.stats import average_ranks, column_moments, recurrence_p, robust_z, spearman
from analyses.vectors import row_norms

STANDOUT_Z = 5.0
MIN_LAYERS = 2
MAX_POSITION_PCT = 0.5
OFF_CENTRE_PCT = 0.9
HIGH_STD_PCT = 0.75
N_BUCKERS = 12
MAX_P = 0.01
MIN_FREQUENCY_TOKENS = 30

RULE = (f"In each pre-MLP norm, robust z of |gain| across dims; a dim stands out in a layer if z ≥ {STANDOUT_Z:g}. "
        f"The unigram dim stands out in the most pre-MLP norms (ties: larger mean z); at least {MIN_LAYERS} are "
        "needed, else the dim with the highest mean z is named and flagged as not standing out.")


@dataclass(frozen=True, eq=False)
class UnigramResult:
    """The discovered unigram dim, how it behaves across tokens, and the tokens that buck its trend.

    Attributes:
        dim: the unigram dim (always set; see `standout`).
        standout: whether it stands out in ≥ MIN_LAYERS pre-MLP norms by the rule.
        layers: [L] layer index of each pre-MLP norm.
        abs_gains: [L, d] |gain| of each pre-MLP norm (dimensionless multipliers).
        z: [L, d] robust z of |gain| per pre-MLP norm (layer) and dim.
        standout_counts: [d] number of pre-MLP norms in which each dim stands out.
        qualifying: every dim that stands out in ≥ half the pre-MLP norms (and MIN_LAYERS), best first.
        chance_p: p of the unigram dim's count under each layer's standout rate over the other dims
            (analyses.stats.recurrence_p).
        layers_standing_out: layers in which the unigram dim stands out.
        contrast_dim: the nearest dim (by index) that is neither position-heavy nor standing out anywhere.
        values, contrast_values: [tokens] the two dims' token embedding values (embedding units).
        norms: [tokens] L2 norm of each token embedding (embedding units).
        token_mean, token_std: the unigram dim's mean and std across tokens.
        position_std: its std across positions (NaN without position embeddings).
        position_pct: share of dims with a lower position std than the unigram dim.
        abs_mean_pct, std_pct: share of non-heavy dims with a lower |token mean| / token std.
        frequency_spearman: Spearman ρ of the dim with log frequency over tokens with a known frequency.
        frequency_n: number of such tokens.
        frequency_beyond_norm: the dim's partial Spearman ρ with log frequency given the length of the rest of its
            row, with its matched contrast (analyses.correlations.BeyondNorm); None without MIN_FREQUENCY_TOKENS
            tokens of known frequency.
        buckers_above, buckers_below: (token id, residual) of the tokens whose rank on the dim is most
            above / below what their frequency rank predicts (residual in rank fractions, −1..1).
        claims: verdicts on claims 9 and 13.
    """

    dim: int
    standout: bool
    layers: np.ndarray
    abs_gains: np.ndarray
    z: np.ndarray
    standout_counts: np.ndarray
    qualifying: tuple[int, ...]
    chance_p: float
    layers_standing_out: tuple[int, ...]
    contrast_dim: int
    values: np.ndarray
    contrast_values: np.ndarray
    norms: np.ndarray
    token_mean: float
    token_std: float
    position_std: float
    position_pct: float
    abs_mean_pct: float
    std_pct: float
    frequency_spearman: float
    frequency_n: int
    frequency_beyond_norm: BeyondNorm | None
    buckers_above: tuple[tuple[int, float], ...]
    buckers_below: tuple[tuple[int, float], ...]
    claims: tuple[Claim, ...]

    @property
    def dim_z(self) -> np.ndarray:
        """[L] robust z of the unigram dim in each pre-MLP norm."""
        return self.z[:, self.dim] if self.z.size else np.zeros(0)

    def candidates(self, count: int = 5) -> list[tuple[int, int, float]]:
        """The dims that stand out most often: (dim, layers standing out, mean z), best first."""
        mean_z = self.z.mean(axis=0) if self.z.size else np.zeros(len(self.standout_counts))
        order = np.lexsort((-mean_z, -self.standout_counts))[:count]
        return [(int(i), int(self.standout_counts[i]), float(mean_z[i])) for i in order]


def analyse_unigram(layers: Sequence[int], mlp_norm_gains: np.ndarray, token_embeddings: np.ndarray,
                    position_std: np.ndarray | None, heavy_dims: Sequence[int],
                    log_frequency: np.ndarray, seed: int = 0) -> UnigramResult:
    """Find the unigram dim from the pre-MLP norms' gains [L, d] and describe it on the token embeddings [tokens, d].

    `log_frequency` [tokens] may hold NaN for tokens of unknown frequency; they are left out of its
    statistics. `seed` draws the tokens of the matched-dim contrast.
    """
    tokens = np.asarray(token_embeddings)
    d = tokens.shape[1]
    gains = np.abs(np.asarray(mlp_norm_gains, dtype=np.float64)).reshape(len(layers), d)
    z = np.array([robust_z(g) for g in gains]).reshape(len(layers), d)
    counts = (z >= STANDOUT_Z).sum(axis=0) if len(layers) else np.zeros(d, dtype=int)
    mean_z = z.mean(axis=0) if len(layers) else np.zeros(d)
    dim = int(np.lexsort((-mean_z, -counts))[0])  # most layers, then largest mean z, then lowest index
    standout = bool(counts[dim] >= MIN_LAYERS)
    heavy = np.zeros(d, dtype=bool)
    heavy[list(heavy_dims)] = True
    contrast = _contrast_dim(dim, heavy | (counts > 0))

    token_mean, token_std = column_moments(tokens)
    normal = ~heavy
    has_positions = position_std is not None and np.ptp(np.asarray(position_std)) > 0
    pos_std = np.asarray(position_std, dtype=np.float64) if has_positions else np.full(d, np.nan)
    position_pct = float(np.mean(pos_std < pos_std[dim])) if has_positions else float("nan")
    abs_mean_pct = float(np.mean(np.abs(token_mean[normal]) < abs(token_mean[dim])))
    std_pct = float(np.mean(token_std[normal] < token_std[dim]))

    values = tokens[:, dim].astype(np.float64)
    log_frequency = np.asarray(log_frequency, dtype=np.float64)
    known = np.isfinite(log_frequency)
    rho, above, below = float("nan"), (), ()
    if known.sum() >= MIN_FREQUENCY_TOKENS and np.ptp(values[known]) > 0 and np.ptp(log_frequency[known]) > 0:
        rho, above, below = _buckers(values, log_frequency, known)
    norms = row_norms(tokens)
    link = unigram_link(values, norms, dim, "log_frequency", log_frequency,
                        MatchedContrast(tokens, seed, (token_mean, token_std), norms)) \
        if known.sum() >= MIN_FREQUENCY_TOKENS else None

    needed = max(MIN_LAYERS, int(np.ceil(len(layers) / 2)))
    order = np.lexsort((-mean_z, -counts))
    qualifying = tuple(int(i) for i in order if counts[i] >= needed)
    chance_p = recurrence_p(z >= STANDOUT_Z, dim) if len(layers) else 1.0
    claims = (_claim9(dim, standout, counts[dim], len(layers), qualifying, chance_p),
              _claim13(dim, standout, bool(heavy[dim]), has_positions, position_pct, abs_mean_pct, std_pct, link))
    return UnigramResult(
        dim=dim, standout=standout, layers=np.asarray(layers, dtype=int), abs_gains=gains, z=z, standout_counts=counts,
        qualifying=qualifying, chance_p=chance_p,
        layers_standing_out=(tuple(int(layers[i]) for i in np.flatnonzero(z[:, dim] >= STANDOUT_Z))
                             if len(layers) else ()),
        contrast_dim=contrast, values=values, contrast_values=tokens[:, contrast].astype(np.float64),
        norms=norms, token_mean=float(token_mean[dim]),
        token_std=float(token_std[dim]),
        position_std=float(pos_std[dim]), position_pct=position_pct, abs_mean_pct=abs_mean_pct, std_pct=std_pct,
        frequency_spearman=rho, frequency_n=int(known.sum()), frequency_beyond_norm=link,
        buckers_above=above, buckers_below=below,
        claims=claims,
    )


def _contrast_dim(dim: int, excluded: np.ndarray) -> int:
    """The nearest dim by index, lower first, that is not excluded (the study used 137 next to 138)."""
    d = len(excluded)
    for step in range(1, d):
        for candidate in (dim - step, dim + step):
            if 0 <= candidate < d and not excluded[candidate]:
                return candidate
    return (dim + 1) % d if d > 1 else dim


def _buckers(values: np.ndarray, log_frequency: np.ndarray, known: np.ndarray):
    """Residuals of rank(value) on rank(frequency), both as fractions in (0, 1), fitted by their Spearman ρ."""
    ids = np.flatnonzero(known)
    n = len(ids)
    value_rank = (average_ranks(values[ids]) - 0.5) / n - 0.5
    freq_rank = (average_ranks(log_frequency[ids]) - 0.5) / n - 0.5
    rho = spearman(values[ids], log_frequency[ids])
    residual = value_rank - rho * freq_rank
    order = np.argsort(residual, kind="stable")
    above = tuple((int(ids[i]), float(residual[i])) for i in order[::-1][:N_BUCKERS])
    below = tuple((int(ids[i]), float(residual[i])) for i in order[:N_BUCKERS])
    return rho, above, below


def _claim9(dim: int, standout: bool, count: int, n_layers: int, qualifying: tuple[int, ...], chance_p: float) -> Claim:
    needed = max(MIN_LAYERS, int(np.ceil(n_layers / 2)))
    holds = bool(standout and count >= needed and chance_p < MAX_P)
    others = [i for i in qualifying if i != dim]
    return claim("unigram_dim_in_gains", int(count), holds,
                 f"effect: one dim has pre-MLP |gain| robust z ≥ {STANDOUT_Z:g} in ≥ half of the pre-MLP norms "
                 f"(here ≥ {needed} of {n_layers}); null: each dim stands out in a layer at that layer's rate "
                 f"over the other dims (Poisson-binomial, Bonferroni over dims); holds if p < {MAX_P:g}",
                 f"dim {dim} stands out in {int(count)} of {n_layers} pre-MLP norms (p {chance_p:.2g})"
                 + ("" if standout else "; no dim stands out, so this is only the highest mean z")
                 + (f"; other dims that also qualify: {', '.join(map(str, others))}" if others else ""))


def _claim13(dim: int, standout: bool, is_heavy: bool, has_positions: bool, position_pct: float,
             abs_mean_pct: float, std_pct: float, link: BeyondNorm | None) -> Claim:
    chance = MAX_POSITION_PCT * (1 - OFF_CENTRE_PCT) * (1 - HIGH_STD_PCT)
    rule = (f"effect: the dim's percentiles among the non-heavy dims; null: a non-heavy dim drawn at random "
            f"(meets all three with probability {chance:.2%} when the three are independent); the profile is met if "
            f"the dim is not position-heavy with position std at or below the median dim "
            f"(percentile ≤ {MAX_POSITION_PCT:.0%}), |token mean| at or above the {OFF_CENTRE_PCT:.0%} percentile "
            f"and token std at or above the {HIGH_STD_PCT:.0%} percentile of the non-heavy dims. Any off-centre wide "
            "dim meets it, so the dim must also be a unigram dim: claim 12's partial ρ(dim, log frequency | |rest of "
            "row|) shown with its matched contrast. Holds with both; does not hold without the profile or with that "
            "link absent; inconclusive with the link undecided or no frequency source")
    if not standout or not has_positions:
        why = "no unigram dim stands out" if not standout else "the model has no position embeddings"
        return claim("unigram_dim_profile", None, None, rule, why)
    quiet = not is_heavy and position_pct <= MAX_POSITION_PCT
    profile = quiet and abs_mean_pct >= OFF_CENTRE_PCT and std_pct >= HIGH_STD_PCT
    detail = (f"dim {dim}: position std percentile {position_pct:.0%}{' (heavy)' if is_heavy else ''}, "
              f"|token mean| percentile {abs_mean_pct:.0%}, token std percentile {std_pct:.0%}")
    if link is None or not np.isfinite(link.statistic):
        state = UNDECIDED
        detail += "; no frequency source, so whether it is a unigram dim beyond the row's length is not known"
    else:
        state = overall(link_states(link))
        detail += "; " + describe_beyond_norm(link)
    return claim("unigram_dim_profile", abs_mean_pct, profile and state == SHOWN, rule, detail,
                 inconclusive=profile and state == UNDECIDED)
