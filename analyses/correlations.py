"""How the candidate frequency features correlate: the unigram dim, the embedding norm, SVD component 0,
log frequency and token index, pairwise (Spearman and Pearson with bootstrap intervals) and with the
norm held fixed (partial Spearman).

Claim 14 (frequent tokens are shorter) is read off the Spearman coefficient: the claimed sign with
|ρ| ≥ MIN_RHO (a weak correlation at least; at 50k tokens a ρ of 0.02 already excludes zero) and its bootstrap
95% interval's inner end with the claimed sign.

Claims 10, 11 and 12 are about the unigram dim, and a raw coordinate is confounded with its row's length: when
norms shrink with frequency, every off-centre dim that scales with its row tracks the norm, and through it
frequency and token index, with a sign set by its mean. So these claims are decided on the dim's link BEYOND
the length of the rest of its row, |x₋ⱼ| (the row's norm without the dim itself: the dim's own square would
tie any wide dim to the full norm):
  claim 10: ρ(xⱼ, |x₋ⱼ|) < 0 (the claim as stated) and ρ(xⱼ/|x₋ⱼ|, |x₋ⱼ|) < 0 — the dim is higher for short
            rows than a coordinate that merely scales with its row (which gives ρ = 0 whatever its mean);
  claim 11: partial Spearman ρ(xⱼ, token index | |x₋ⱼ|) < 0;
  claim 12: partial Spearman ρ(xⱼ, log frequency | |x₋ⱼ|) > 0.
Effect size: the statistic with the claimed sign and |ρ| ≥ MIN_RHO; Fisher-z 95% interval (standard error
√(1.06 / (n − 3 − controls)), Spearman's). Contrast: the same statistic for the MATCHED dims nearest to the dim
in |token mean| / token std (their raw coordinates share its mechanical tie to the row's length), each dim's
sign turned so its mean is positive, on up to DIM_SAMPLE tokens drawn with the seed; the dim's must lie beyond
DIM_PERCENTILE of theirs. Three-way verdict: holds when every part is shown; does not hold when any part is
absent (the interval lies below MIN_RHO in the claimed direction, or the dim is below the matched median);
inconclusive otherwise. Claims about the unigram dim do not apply when no dim stands out; claims about frequency
do not apply without a real frequency source or with fewer than MIN_N tokens of known frequency.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Mapping

import numpy as np

from analyses.claims import Claim, claim
from analyses.stats import average_ranks, column_moments, correlate_many, spearman
from analyses.vectors import row_norms

VARIABLES = ("unigram_dim", "norm", "svd0", "log_frequency", "token_index")
CONTROL = "norm"
MIN_N = 30
MIN_RHO = 0.1
DIM_PERCENTILE = 0.95
DIM_SAMPLE = 4096
MATCHED = 32  # dims in each contrast: enough for a 95th percentile to mean "beyond all but one or two"
ABSENT_PERCENTILE = 0.5  # below the matched dims' median: the dim does no more than they do
SHOWN, ABSENT, UNDECIDED = "shown", "absent", "undecided"
CLAIMED_SIGN = {"norm": -1, "token_index": -1, "log_frequency": +1}
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
        ci95: approximate 95% interval by Fisher's z (standard error √(1.06 / (n − 4)), Spearman's).
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


@dataclass(frozen=True)
class BeyondNorm:
    """The unigram dim's link to one variable beyond the length of the rest of its row, |x₋ⱼ|.

    Attributes:
        dim: the dim (j).
        target: "norm" (claim 10), "token_index" (claim 11) or "log_frequency" (claim 12).
        statistic: Spearman ρ (dimensionless, −1..1) over every token where it is defined: for "norm", of the
            length-normalised coordinate xⱼ/|x₋ⱼ| with |x₋ⱼ|; otherwise the partial ρ of xⱼ with the target
            given |x₋ⱼ|.
        ci95: its Fisher-z 95% interval.
        raw: Spearman ρ without the control: of xⱼ with |x₋ⱼ| ("norm") or with the target.
        raw_ci95: its Fisher-z 95% interval.
        n: tokens used.
        matched_dims: the contrast, the dims nearest to the dim in |token mean| / token std.
        matched_median: the median of their statistic on the sampled tokens, each dim's sign turned to the
            unigram dim's mean sign (so it is what the dim's |mean|/std alone predicts); NaN without embeddings.
        matched_percentile: share of the matched dims whose statistic (so oriented) the dim's own, on the same
            sampled tokens, exceeds in the claimed direction (0..1; NaN without token embeddings).
    """

    dim: int
    target: str
    statistic: float
    ci95: tuple[float, float]
    raw: float
    raw_ci95: tuple[float, float]
    n: int
    matched_dims: tuple[int, ...]
    matched_median: float
    matched_percentile: float

    @property
    def controls(self) -> int:
        return 0 if self.target == "norm" else 1


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
        beyond_norm: {"norm" | "token_index" | "log_frequency": BeyondNorm} the unigram dim's link to each beyond
            the length of the rest of its row, which decides claims 10–12 (empty when the dim values or norms are
            missing).
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
    beyond_norm: dict
    claims: tuple[Claim, ...]

    def pair(self, x: str, y: str) -> PairCorrelation:
        return next(p for p in self.pairs if {p.x, p.y} == {x, y})


def analyse_correlations(variables: Mapping[str, np.ndarray], unigram_dim: int, unigram_standout: bool,
                         frequency_usable: bool, seed: int, n_resamples: int = 1000,
                         token_embeddings: np.ndarray | None = None,
                         candidates: tuple[int, ...] = ()) -> CorrelationsResult:
    """Correlate every pair of the five `variables` ([tokens] each; NaN = unknown) and test claims 10–14.

    `token_embeddings` [tokens, d] gives the matched-dim contrast of the unigram-dim claims; without it those
    claims can at best be inconclusive. `candidates`: every dim that qualifies as a unigram dim; the others than
    `unigram_dim` are tested the same way and reported in the claims' details."""
    data = {name: np.asarray(variables[name], dtype=np.float64) for name in VARIABLES}
    pairs = []
    found = correlate_many(data, list(combinations(VARIABLES, 2)), seed=seed, n_resamples=n_resamples)
    for (x, y), c in found.items():
        pairs.append(PairCorrelation(x, y, c.spearman, c.pearson, c.spearman_ci95, c.pearson_ci95, c.n,
                                     describe(x, y, c.spearman, c.spearman_ci95, c.n)))
    partials = tuple(_partial(data, x, y, CONTROL) for x, y in combinations(VARIABLES, 2) if CONTROL not in (x, y))
    index = {name: i for i, name in enumerate(VARIABLES)}
    spearman_matrix, pearson_matrix = np.eye(len(VARIABLES)), np.eye(len(VARIABLES))
    for p in pairs:
        i, j = index[p.x], index[p.y]
        spearman_matrix[i, j] = spearman_matrix[j, i] = p.spearman
        pearson_matrix[i, j] = pearson_matrix[j, i] = p.pearson
    result = dict(pairs=tuple(pairs), partials=partials, matrix_spearman=spearman_matrix,
                  matrix_pearson=pearson_matrix)
    dim_rho = dim_spearman(token_embeddings, data, seed) if token_embeddings is not None else {}
    percentile = {}
    for name, rho in dim_rho.items():
        own = rho[unigram_dim]
        others = np.delete(rho, unigram_dim)
        others = others[np.isfinite(others)]
        sign = CLAIMED_SIGN[name]
        percentile[name] = float(np.mean(sign * others < sign * own)) \
            if np.isfinite(own) and len(others) else float("nan")
    contrast = MatchedContrast(token_embeddings, seed) if token_embeddings is not None else None
    targets = {"norm": None, "token_index": data["token_index"], "log_frequency": data["log_frequency"]}
    beyond = {name: unigram_link(data["unigram_dim"], data["norm"], unigram_dim, name, target, contrast)
              for name, target in targets.items()}
    others = {name: [unigram_link(token_embeddings[:, dim], data["norm"], dim, name, target, contrast)
                     for dim in candidates if dim != unigram_dim]
              for name, target in targets.items()} if contrast is not None else {}
    claims = _claims({(p.x, p.y): p for p in pairs}, unigram_dim, unigram_standout, frequency_usable, beyond,
                     others)
    return CorrelationsResult(**result, unigram_dim=int(unigram_dim), unigram_standout=bool(unigram_standout),
                              frequency_usable=bool(frequency_usable), n_resamples=int(n_resamples), seed=int(seed),
                              dim_spearman=dim_rho, dim_percentile=percentile, beyond_norm=beyond, claims=claims)


def rest_length(values: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """[tokens] |x₋ⱼ|: each row's length without the dim whose `values` are given (`norms` = full lengths)."""
    return np.sqrt(np.clip(np.asarray(norms, np.float64) ** 2 - np.asarray(values, np.float64) ** 2, 0, None))


def fisher_ci(rho: float, n: int, controls: int = 0) -> tuple[float, float]:
    """95% interval of a Spearman (partial) ρ by Fisher's z, standard error √(1.06 / (n − 3 − controls))."""
    if not np.isfinite(rho) or n - 3 - controls < 1:
        return float("nan"), float("nan")
    half = 1.96 * np.sqrt(1.06 / (n - 3 - controls))
    centre = np.arctanh(np.clip(rho, -0.999999, 0.999999))
    return float(np.tanh(centre - half)), float(np.tanh(centre + half))


def _partial_rho(x: np.ndarray, y: np.ndarray, control: np.ndarray) -> tuple[float, float]:
    """(partial Spearman ρ of x and y given `control`, plain Spearman ρ of x and y); NaN where undefined."""
    nan = float("nan")
    if len(x) < 5 or min(np.ptp(x), np.ptp(y), np.ptp(control)) == 0:
        return nan, nan
    r = np.corrcoef(np.vstack([average_ranks(v) for v in (x, y, control)]))
    rxy, rxz, ryz = r[0, 1], r[0, 2], r[1, 2]
    denominator = np.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))
    partial = float(np.clip((rxy - rxz * ryz) / denominator, -1, 1)) if denominator > 0 else nan
    return partial, float(rxy)


def _link_statistic(values: np.ndarray, norms: np.ndarray, target: np.ndarray | None) -> tuple[float, float, int]:
    """(statistic, raw ρ, n) of BeyondNorm for one dim's `values`; `target` None means the norm (claim 10)."""
    rest = rest_length(values, norms)
    keep = np.isfinite(values) & np.isfinite(rest) & (rest > 0)
    if target is not None:
        keep &= np.isfinite(target)
    n = int(keep.sum())
    x, rest = values[keep], rest[keep]
    if target is None:
        return spearman(x / rest, rest), spearman(x, rest), n
    statistic, raw = _partial_rho(x, target[keep], rest)
    return statistic, raw, n


class MatchedContrast:
    """The token sample and per-dim moments that every matched-dim contrast reads (computed once)."""

    def __init__(self, token_embeddings: np.ndarray, seed: int,
                 moments: tuple[np.ndarray, np.ndarray] | None = None, norms: np.ndarray | None = None):
        """`moments` (column_moments of the tokens) and `norms` (their row_norms), where the caller has them."""
        self.tokens = np.asarray(token_embeddings)
        self.seed = seed
        mean, std = column_moments(self.tokens) if moments is None else moments
        self.mean_sign = np.where(mean < 0, -1.0, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.offset = np.where(std > 0, np.abs(mean) / np.where(std > 0, std, 1), np.nan)
        self.norms = row_norms(self.tokens) if norms is None else np.asarray(norms, dtype=np.float64)

    def matched(self, dim: int) -> np.ndarray:
        """The MATCHED dims nearest to `dim` in |token mean| / token std (constant dims left out)."""
        distance = np.abs(self.offset - self.offset[dim])
        distance[dim] = np.inf
        distance[~np.isfinite(distance)] = np.inf
        order = np.argsort(distance, kind="stable")[:MATCHED]
        return order[np.isfinite(distance[order])]

    def compare(self, dim: int, target: np.ndarray | None, sign: int) -> tuple[tuple[int, ...], float, float]:
        """(matched dims, their median statistic in `dim`'s orientation, share of them `dim` beats in the claimed
        `sign`), on up to DIM_SAMPLE tokens drawn with the seed among those where `target` is finite."""
        matched = self.matched(dim)
        ids = np.arange(len(self.tokens)) if target is None else np.flatnonzero(np.isfinite(target))
        if len(ids) > DIM_SAMPLE:
            ids = np.sort(np.random.default_rng(self.seed).choice(ids, DIM_SAMPLE, replace=False))
        nan = float("nan")
        if len(ids) < MIN_N or not len(matched):
            return tuple(int(k) for k in matched), nan, nan
        rows, norms = self.tokens[ids].astype(np.float64), self.norms[ids]
        sampled_target = None if target is None else target[ids]
        own = _link_statistic(rows[:, dim], norms, sampled_target)[0]
        theirs = np.array([_link_statistic(rows[:, k], norms, sampled_target)[0] for k in matched])
        theirs = theirs * self.mean_sign[matched] * self.mean_sign[dim]  # each turned to the dim's mean sign
        theirs = theirs[np.isfinite(theirs)]
        if not np.isfinite(own) or not len(theirs):
            return tuple(int(k) for k in matched), nan, nan
        return (tuple(int(k) for k in matched), float(np.median(theirs)),
                float(np.mean(sign * theirs < sign * own)))


def unigram_link(values: np.ndarray, norms: np.ndarray, dim: int, target_name: str, target: np.ndarray | None,
                 contrast: MatchedContrast | None) -> BeyondNorm:
    """BeyondNorm of one dim (`values` [tokens], the rows' full `norms` [tokens]) for `target_name`; `target`
    [tokens] is None for "norm". Without `contrast` the matched fields are NaN."""
    values = np.asarray(values, dtype=np.float64)
    target = None if target is None else np.asarray(target, dtype=np.float64)
    statistic, raw, n = _link_statistic(values, np.asarray(norms, dtype=np.float64), target)
    controls = 0 if target is None else 1
    nan = float("nan")
    matched, median, share = contrast.compare(dim, target, CLAIMED_SIGN[target_name]) \
        if contrast is not None else ((), nan, nan)
    return BeyondNorm(int(dim), target_name, statistic, fisher_ci(statistic, n, controls), raw, fisher_ci(raw, n),
                      n, matched, median, share)


def effect_state(rho: float, ci95: tuple[float, float], sign: int) -> str:
    """SHOWN: ρ has the claimed sign with |ρ| ≥ MIN_RHO and its interval excludes 0; ABSENT: the whole interval
    is short of MIN_RHO in the claimed direction; UNDECIDED otherwise (or not computable)."""
    if not np.isfinite(rho) or not np.all(np.isfinite(ci95)):
        return UNDECIDED
    inner, outer = (ci95[1], ci95[0]) if sign < 0 else (ci95[0], ci95[1])
    if sign * rho >= MIN_RHO and sign * inner > 0:
        return SHOWN
    return ABSENT if sign * outer < MIN_RHO else UNDECIDED


def contrast_state(share: float) -> str:
    """SHOWN beyond DIM_PERCENTILE of the matched dims, ABSENT below ABSENT_PERCENTILE, else UNDECIDED."""
    if not np.isfinite(share):
        return UNDECIDED
    return SHOWN if share >= DIM_PERCENTILE else ABSENT if share < ABSENT_PERCENTILE else UNDECIDED


def link_states(link: BeyondNorm, frequency: BeyondNorm | None = None) -> dict[str, str]:
    """The state of every part of the rule on `link` (claims 10–12): the link beyond the row's length with its
    matched contrast, and for "norm" the raw link too (the claim as stated). For "norm" the beyond-the-length
    part is shown by either route, the dim's share of its row or (given `frequency`, claim 12's link) frequency
    information beyond the length: a dim with a negative mean that follows frequency can look like a coordinate
    scaling with its row when judged against the length alone."""
    sign = CLAIMED_SIGN[link.target]
    beyond = _route(link)
    if link.target != "norm":
        return {"beyond the length": beyond}
    routes = [beyond] + ([_route(frequency)] if frequency is not None else [])
    either = SHOWN if SHOWN in routes else ABSENT if set(routes) == {ABSENT} else UNDECIDED
    return {"raw": effect_state(link.raw, link.raw_ci95, sign), "beyond the length": either}


def _route(link: BeyondNorm) -> str:
    """One route's state: its effect beyond the row's length and its matched contrast together."""
    return overall({"effect": effect_state(link.statistic, link.ci95, CLAIMED_SIGN[link.target]),
                    "matched": contrast_state(link.matched_percentile)})


def overall(states: dict[str, str]) -> str:
    """ABSENT if any part is absent, SHOWN if all are shown, else UNDECIDED."""
    values = set(states.values())
    return ABSENT if ABSENT in values else SHOWN if values == {SHOWN} else UNDECIDED


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
        ranks = average_ranks(tokens[ids], axis=0)  # float32 values rank as their float64 copies
        ranks -= ranks.mean(axis=0)
        target = average_ranks(y[ids])
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
    partial, raw = _partial_rho(data[x][keep], data[y][keep], data[control][keep])
    return PartialCorrelation(x, y, control, partial, fisher_ci(partial, n, controls=1), n, raw)


WHAT = {"norm": "the length of its row", "token_index": "token index", "log_frequency": "log frequency"}


def describe_beyond_norm(link: BeyondNorm) -> str:
    """One sentence: whether the dim's link to its target is more than the row's length, with the numbers (for
    "norm", by the dim's share of its row alone)."""
    state = _route(link)
    if link.target == "norm":
        verb = {SHOWN: "is", ABSENT: "is not", UNDECIDED: "may or may not be"}[state]
        text = (f"Dim {link.dim} as a share of its row {verb} higher for short rows than a coordinate that merely "
                f"scales with its row: ρ(x/|rest of row|, |rest of row|) = {link.statistic:.2f} "
                f"{_interval(link.ci95)}, while its raw ρ(x, |rest of row|) = {link.raw:.2f} "
                f"{_interval(link.raw_ci95)}, n = {link.n:,}")
    else:
        verb = {SHOWN: "is more than", ABSENT: "is not more than", UNDECIDED: "may or may not be more than"}[state]
        text = (f"Dim {link.dim}'s link to {WHAT[link.target]} {verb} the row's length: partial ρ given the norm "
                f"(of the rest of the row) = {link.statistic:.2f} {_interval(link.ci95)}, n = {link.n:,}")
    if np.isfinite(link.matched_percentile):
        text += (f"; beyond {link.matched_percentile:.0%} of the {len(link.matched_dims)} dims closest in "
                 f"|mean|/std (their median {link.matched_median:.2f})")
    return text + "."


def _interval(ci95: tuple[float, float]) -> str:
    return f"(95% CI [{ci95[0]:.2f}, {ci95[1]:.2f}])"


def _claims(pairs: dict, dim: int, standout: bool, frequency_usable: bool, beyond: dict,
            others: dict | None = None) -> tuple[Claim, ...]:
    def verdict(name: str, target: str, needs_frequency: bool) -> Claim:
        link = beyond[target]
        rule = _rule(target)
        if not standout:
            return claim(name, None, None, rule, f"no unigram dim stands out (dim {dim} is only the fallback)")
        if needs_frequency and (not frequency_usable or link.n < MIN_N):
            why = ("no frequency source beyond token index" if not frequency_usable
                   else f"only {link.n} tokens of known frequency")
            return claim(name, None, None, rule, why)
        if not np.isfinite(link.statistic):
            return claim(name, None, None, rule, f"not computable (n = {link.n})")
        frequency = beyond["log_frequency"] if target == "norm" and frequency_usable and \
            np.isfinite(beyond["log_frequency"].statistic) else None
        states = link_states(link, frequency)
        state = overall(states)
        detail = " ".join([describe_beyond_norm(link)] + ([describe_beyond_norm(frequency)] if frequency else []))
        detail += " Parts: " + ", ".join(f"{k} {v}" for k, v in states.items())
        if not np.isfinite(link.matched_percentile):
            detail += "; no matched-dim contrast available"
        detail += "".join(f"; qualifying dim {o.dim}: {o.statistic:.3f}, beyond {o.matched_percentile:.0%} of its "
                          "matched dims" for o in (others or {}).get(target, ()))
        return claim(name, link.statistic, state == SHOWN, rule, detail, inconclusive=state == UNDECIDED)

    p = pairs[("norm", "log_frequency")]
    rule14 = (f"effect: Spearman ρ(norm, log_frequency) < 0 with |ρ| ≥ {MIN_RHO:g}; null: ρ = 0, rejected when the "
              "bootstrap 95% CI's upper end is < 0")
    if not frequency_usable or p.n < MIN_N:
        why = ("no frequency source beyond token index" if not frequency_usable
               else f"only {p.n} tokens of known frequency")
        frequent_shorter = claim("frequent_tokens_shorter", None, None, rule14, why)
    elif not np.isfinite(p.spearman):
        frequent_shorter = claim("frequent_tokens_shorter", None, None, rule14, f"not computable (n = {p.n})")
    else:
        frequent_shorter = claim("frequent_tokens_shorter", p.spearman,
                                 bool(-p.spearman >= MIN_RHO and p.ci95[1] < 0), rule14,
                                 f"ρ = {p.spearman:.3f}, 95% CI [{p.ci95[0]:.3f}, {p.ci95[1]:.3f}], n = {p.n:,}")
    return (
        verdict("unigram_dim_high_for_short_tokens", "norm", needs_frequency=False),
        verdict("unigram_dim_high_for_early_tokens", "token_index", needs_frequency=False),
        verdict("unigram_dim_rises_with_frequency", "log_frequency", needs_frequency=True),
        frequent_shorter,
    )


def _rule(target: str) -> str:
    """The stated rule of claim 10 ("norm"), 11 ("token_index") or 12 ("log_frequency")."""
    contrast = (f"contrast: the same statistic for the {MATCHED} dims nearest in |token mean|/token std (each turned "
                f"to the dim's mean sign; on ≤ {DIM_SAMPLE} sampled tokens), the dim's beyond {DIM_PERCENTILE:.0%} "
                f"of theirs; holds when every part is shown, does not hold when a 95% CI lies short of "
                f"|ρ| = {MIN_RHO:g} or the dim is below the matched median, else inconclusive")
    if target == "norm":
        return (f"effect: Spearman ρ(dim, |rest of row|) ≤ −{MIN_RHO:g} (the claim) and ρ(dim/|rest of row|, "
                f"|rest of row|) ≤ −{MIN_RHO:g} (more than a coordinate scaling with its row) or, with a frequency "
                f"source, claim 12's partial ρ(dim, log_frequency | |rest of row|) ≥ {MIN_RHO:g}, each with its "
                f"Fisher 95% CI excluding 0; null: the dim scales with its row (ρ of the share = 0, partial ρ = 0); "
                + contrast)
    word = "< 0" if CLAIMED_SIGN[target] < 0 else "> 0"
    return (f"effect: partial Spearman ρ(dim, {target} | |rest of row|) {word} with |ρ| ≥ {MIN_RHO:g} and its Fisher "
            f"95% CI excluding 0; null: the dim follows {target} only through the row's length (partial ρ = 0); "
            + contrast)
