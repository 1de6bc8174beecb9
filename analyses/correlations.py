"""How the candidate frequency features correlate: the unigram dim, the embedding norm, SVD component 0,
log frequency and token index, pairwise (Spearman and Pearson with bootstrap intervals) and with the
norm held fixed (partial Spearman).

Claims 10, 11, 12 and 14 are read off the Spearman coefficients. Each states an effect size, a null and a
threshold: the coefficient has the claimed sign with |ρ| ≥ MIN_RHO (a weak correlation at least; at 50k
tokens a ρ of 0.02 already excludes zero) and its bootstrap 95% interval's inner end has the claimed sign.
The claims about the unigram dim also contrast it with every other dim (the study's point is dim 138
against dim 137): its ρ must lie beyond the DIM_PERCENTILE percentile of the same ρ over all dims (in the
claimed direction, on up to DIM_SAMPLE tokens drawn with the seed). Claims about the unigram dim do not
apply when no dim stands out; claims about frequency do not apply without a real frequency source or with
fewer than MIN_N tokens of known frequency.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Mapping

import numpy as np
from scipy import stats

from analyses.claims import Claim, claim
from analyses.stats import correlate_many

VARIABLES = ("unigram_dim", "norm", "svd0", "log_frequency", "token_index")
CONTROL = "norm"
MIN_N = 30
MIN_RHO = 0.1
DIM_PERCENTILE = 0.95
DIM_SAMPLE = 4096
LABELS = {"unigram_dim": "the unigram dim", "norm": "embedding norm", "svd0": "SVD component 0",
          "log_frequency": "log frequency", "token_index": "token index"}
STRENGTH = ((0.1, "no meaningful"), (0.3, "a weak"), (0.5, "a moderate"), (0.7, "a strong"), (1.01, "a very strong"))


@dataclass(frozen=True)
class PairCorrelation:
    """One pair's correlation.

    Attributes:
        x, y: variable names (from VARIABLES).
        spearman, pearson: coefficients over tokens where both are finite.
        ci95, pearson_ci95: 95% percentile-bootstrap intervals of Spearman and Pearson.
        n: number of tokens used.
        meaning: one sentence saying what the numbers mean.
    """

    x: str
    y: str
    spearman: float
    pearson: float
    ci95: tuple[float, float]
    pearson_ci95: tuple[float, float]
    n: int
    meaning: str


@dataclass(frozen=True)
class PartialCorrelation:
    """Spearman correlation of x and y with `control` partialled out.

    Attributes:
        x, y, control: variable names.
        spearman: the partial rank correlation.
        ci95: approximate 95% interval by Fisher's z (standard error 1/√(n − 4)).
        n: tokens where all three are finite.
        raw_spearman: the same pair's Spearman on those tokens without the control.
    """

    x: str
    y: str
    control: str
    spearman: float
    ci95: tuple[float, float]
    n: int
    raw_spearman: float


@dataclass(frozen=True, eq=False)
class CorrelationsResult:
    """Pairwise and partial correlations among the frequency candidates.

    Attributes:
        pairs: every pair of VARIABLES, in a fixed order.
        partials: every pair not involving CONTROL, controlling for it.
        matrix_spearman, matrix_pearson: [5, 5] the coefficients, rows and columns in VARIABLES order.
        unigram_dim: the dim the unigram_dim variable reads; unigram_standout whether it stood out.
        frequency_usable: whether log frequency comes from text (not the token-index fallback).
        n_resamples, seed: bootstrap settings.
        dim_spearman: {"norm" | "token_index" | "log_frequency": [d] Spearman ρ of every dim's token values with
            that variable, on the sampled tokens} (empty without token embeddings).
        dim_percentile: {same keys: share of the other dims whose ρ the unigram dim's exceeds in the claimed
            direction} (NaN where not computable).
        claims: verdicts on claims 10, 11, 12 and 14.
    """

    pairs: tuple[PairCorrelation, ...]
    partials: tuple[PartialCorrelation, ...]
    matrix_spearman: np.ndarray
    matrix_pearson: np.ndarray
    unigram_dim: int
    unigram_standout: bool
    frequency_usable: bool
    n_resamples: int
    seed: int
    dim_spearman: dict
    dim_percentile: dict
    claims: tuple[Claim, ...]

    def pair(self, x: str, y: str) -> PairCorrelation:
        return next(p for p in self.pairs if {p.x, p.y} == {x, y})


def analyse_correlations(variables: Mapping[str, np.ndarray], unigram_dim: int, unigram_standout: bool,
                         frequency_usable: bool, seed: int, n_resamples: int = 1000,
                         token_embeddings: np.ndarray | None = None,
                         candidates: tuple[int, ...] = ()) -> CorrelationsResult:
    """Correlate every pair of the five `variables` ([tokens] each; NaN = unknown) and test claims 10–14.

    `token_embeddings` [tokens, d] gives the per-dim contrast of the unigram-dim claims; without it those
    claims do not apply. `candidates`: every dim that qualifies as a unigram dim; the others than
    `unigram_dim` are tested the same way and reported in the claims' details."""
    data = {name: np.asarray(variables[name], dtype=np.float64) for name in VARIABLES}
    pairs = []
    found = correlate_many(data, list(combinations(VARIABLES, 2)), seed=seed, n_resamples=n_resamples)
    for (x, y), c in found.items():
        pairs.append(PairCorrelation(x, y, c.spearman, c.pearson, c.spearman_ci95, c.pearson_ci95, c.n,
                                     describe(x, y, c.spearman, c.spearman_ci95, c.n)))
    partials = tuple(_partial(data, x, y, CONTROL) for x, y in combinations(VARIABLES, 2) if CONTROL not in (x, y))
    index = {name: i for i, name in enumerate(VARIABLES)}
    spearman, pearson = np.eye(len(VARIABLES)), np.eye(len(VARIABLES))
    for p in pairs:
        i, j = index[p.x], index[p.y]
        spearman[i, j] = spearman[j, i] = p.spearman
        pearson[i, j] = pearson[j, i] = p.pearson
    result = dict(pairs=tuple(pairs), partials=partials, matrix_spearman=spearman, matrix_pearson=pearson)
    dim_rho = dim_spearman(token_embeddings, data, seed) if token_embeddings is not None else {}
    sign = {"norm": -1, "token_index": -1, "log_frequency": +1}
    percentile = {}
    for name, rho in dim_rho.items():
        own = rho[unigram_dim]
        others = np.delete(rho, unigram_dim)
        others = others[np.isfinite(others)]
        percentile[name] = float(np.mean(sign[name] * others < sign[name] * own)) \
            if np.isfinite(own) and len(others) else float("nan")
    others = {}
    for name, rho in dim_rho.items():
        for dim in candidates:
            if dim != unigram_dim and np.isfinite(rho[dim]):
                rest = np.delete(rho, dim)
                rest = rest[np.isfinite(rest)]
                share_below = float(np.mean(sign[name] * rest < sign[name] * rho[dim]))
                others.setdefault(name, []).append((int(dim), float(rho[dim]), share_below))
    claims = _claims({(p.x, p.y): p for p in pairs}, unigram_dim, unigram_standout, frequency_usable, percentile,
                     others)
    return CorrelationsResult(**result, unigram_dim=int(unigram_dim), unigram_standout=bool(unigram_standout),
                              frequency_usable=bool(frequency_usable), n_resamples=int(n_resamples), seed=int(seed),
                              dim_spearman=dim_rho, dim_percentile=percentile, claims=claims)


def dim_spearman(token_embeddings: np.ndarray, data: Mapping[str, np.ndarray], seed: int) -> dict:
    """Spearman ρ of every dim with norm, token index and log frequency, on ≤ DIM_SAMPLE tokens drawn with
    the seed from those where the variable is finite (one rank matrix serves every dim)."""
    tokens = np.asarray(token_embeddings)
    rng = np.random.default_rng(seed)
    found = {}
    for name in ("norm", "token_index", "log_frequency"):
        y = np.asarray(data[name], dtype=np.float64)
        ids = np.flatnonzero(np.isfinite(y))
        if len(ids) < MIN_N or np.ptp(y[ids]) == 0:
            found[name] = np.full(tokens.shape[1], np.nan)
            continue
        if len(ids) > DIM_SAMPLE:
            ids = np.sort(rng.choice(ids, DIM_SAMPLE, replace=False))
        ranks = stats.rankdata(tokens[ids].astype(np.float64), axis=0)
        ranks -= ranks.mean(axis=0)
        target = stats.rankdata(y[ids])
        target -= target.mean()
        scale = np.sqrt((ranks ** 2).sum(axis=0) * (target ** 2).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            found[name] = np.where(scale > 0, target @ ranks / np.where(scale > 0, scale, 1), np.nan)
    return found


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe(x: str, y: str, rho: float, ci95: tuple[float, float], n: int) -> str:
    """One sentence: strength from |ρ|, direction, whether the interval excludes zero, and n."""
    if not np.isfinite(rho):
        return f"{_first_upper(LABELS[x])} and {LABELS[y]} cannot be compared here (n = {n:,} tokens)."
    strength = next(word for bound, word in STRENGTH if abs(rho) < bound)
    direction = "rises" if rho > 0 else "falls"
    lo, hi = ci95
    sure = lo > 0 or hi < 0
    if strength == "no meaningful":
        text = f"{_first_upper(LABELS[x])} shows no meaningful monotone relation to {LABELS[y]} (ρ = {rho:.2f}"
    else:
        text = (f"{_first_upper(LABELS[x])} {direction} with {LABELS[y]}: {strength} "
                f"{'positive' if rho > 0 else 'negative'} rank correlation (ρ = {rho:.2f}")
    text += f", 95% CI [{lo:.2f}, {hi:.2f}], n = {n:,})"
    if sure:
        return text + "; the interval excludes zero."
    return text + "; the interval includes zero, so even the sign is not established."


def _partial(data: dict, x: str, y: str, control: str) -> PartialCorrelation:
    keep = np.isfinite(data[x]) & np.isfinite(data[y]) & np.isfinite(data[control])
    n = int(keep.sum())
    nan = float("nan")
    if n < 5 or min(np.ptp(data[v][keep]) for v in (x, y, control)) == 0:
        return PartialCorrelation(x, y, control, nan, (nan, nan), n, nan)
    rx, ry, rz = (stats.rankdata(data[v][keep]) for v in (x, y, control))
    r = np.corrcoef(np.vstack([rx, ry, rz]))
    rxy, rxz, ryz = r[0, 1], r[0, 2], r[1, 2]
    denominator = np.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))
    partial = float(np.clip((rxy - rxz * ryz) / denominator, -1, 1)) if denominator > 0 else nan
    half = 1.96 / np.sqrt(max(n - 4, 1))  # Fisher z with one controlled variable
    centre = np.arctanh(np.clip(partial, -0.999999, 0.999999))
    return PartialCorrelation(x, y, control, partial, (float(np.tanh(centre - half)), float(np.tanh(centre + half))),
                              n, float(rxy))


def _claims(pairs: dict, dim: int, standout: bool, frequency_usable: bool, percentile: dict,
            others: dict | None = None) -> tuple[Claim, ...]:
    def verdict(name: str, x: str, y: str, sign: int, needs_dim: bool, needs_frequency: bool) -> Claim:
        p = pairs[(x, y)]
        word = "< 0" if sign < 0 else "> 0"
        bound = "upper" if sign < 0 else "lower"
        rule = (f"effect: Spearman ρ({x}, {y}) {word} with |ρ| ≥ {MIN_RHO:g}; null: ρ = 0, rejected when the bootstrap "
                f"95% CI's {bound} end is {word}")
        if needs_dim:
            rule += (f"; contrast: the unigram dim's ρ with {y} beyond the {DIM_PERCENTILE:.0%} percentile "
                     "of the same ρ over all dims")
        if needs_dim and not standout:
            return claim(name, None, None, rule, f"no unigram dim stands out (dim {dim} is only the fallback)")
        if needs_frequency and (not frequency_usable or p.n < MIN_N):
            why = ("no frequency source beyond token index" if not frequency_usable
                   else f"only {p.n} tokens of known frequency")
            return claim(name, None, None, rule, why)
        if not np.isfinite(p.spearman):
            return claim(name, None, None, rule, f"not computable (n = {p.n})")
        end = p.ci95[1] if sign < 0 else p.ci95[0]
        effect = bool(sign * p.spearman >= MIN_RHO and sign * end > 0)
        detail = f"ρ = {p.spearman:.3f}, 95% CI [{p.ci95[0]:.3f}, {p.ci95[1]:.3f}], n = {p.n:,}"
        if not needs_dim:
            return claim(name, p.spearman, effect, rule, detail)
        where = percentile.get(y, float("nan"))
        if not np.isfinite(where):  # without the contrast only a failed effect can be decided
            return claim(name, p.spearman, False if not effect else None, rule,
                         detail + "; no per-dim contrast available")
        extra = "".join(f"; qualifying dim {k}: ρ {r:.3f} on sampled tokens, beyond {q:.0%} of the other dims"
                        for k, r, q in (others or {}).get(y, ()))
        return claim(name, p.spearman, effect and where >= DIM_PERCENTILE, rule,
                     detail + f"; beyond {where:.1%} of the other dims" + extra)

    return (
        verdict("unigram_dim_high_for_short_tokens", "unigram_dim", "norm", -1,
                needs_dim=True, needs_frequency=False),
        verdict("unigram_dim_high_for_early_tokens", "unigram_dim", "token_index", -1,
                needs_dim=True, needs_frequency=False),
        verdict("unigram_dim_rises_with_frequency", "unigram_dim", "log_frequency", +1,
                needs_dim=True, needs_frequency=True),
        verdict("frequent_tokens_shorter", "norm", "log_frequency", -1,
                needs_dim=False, needs_frequency=True),
    )
