"""The study's claims: their registry (number, name, statement, section, deciding analysis), the checklist
rows, and the one way analyses state a verdict on them.

The study's 24 claims are declared below (STUDY); a claim added later is declared next to the analysis that
decides it, `CLAIM = declare(ClaimSpec(...))`, and joins the registry when that module is imported (every
registered section imports its analysis, so a report and the calibration see them all)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from analyses.vectors import BLOCK_ROWS

HOLDS, FAILS, NOT_APPLICABLE = "holds", "fails", "not-applicable"
# "fails" reads "does not hold"; INCONCLUSIVE: the effect was not found, but a miss was likely even if it is there
# (the evidence sits between the two rules, or the calibration measured low power at this size).
INCONCLUSIVE = "inconclusive"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_APPLICABLE)

# Which weights a claim's verdict reads: the claim is "not applicable" when any of them is degenerate.
TOKENS, POSITIONS, GAINS = "token embeddings", "position embeddings", "LayerNorm gains"


@dataclass(frozen=True)
class ClaimSpec:
    """One of the study's claims, as the report knows it.

    Attributes:
        id: its visible number, the numbering of the study's CLAIMS.md.
        name: a short snake_case name; code and templates refer to the claim by it.
        statement: the claim in our words.
        section: key of the report section whose claim table shows it.
        decided_by: the analyses module whose function gives the verdict.
        reads: the weights the verdict reads (TOKENS, POSITIONS, GAINS).
        depends_on: numbers of the claims whose finding this claim's test reads (the heavy dims, the unigram dim,
            the zero-layer exceptions); the first is the finding it is a part of. Empty for an independent claim.
        plant: for the calibration, how to plant the claim's effect in a synthetic model:
            plant(model, size, rng) -> model (analyses.calibration.Synthetic; size 1 = the study's effect). None:
            the calibration measures its false-positive rate only and flags "no planted effect".
    """

    id: int
    name: str
    statement: str
    section: str
    decided_by: str
    reads: tuple[str, ...]
    depends_on: tuple[int, ...] = ()
    plant: Callable | None = field(default=None, compare=False, repr=False)


# Claims tested on another claim's finding: true or false together with it, so they are parts of one finding,
# not independent confirmations. claim -> the claims whose finding it reads (the first is its finding).
DEPENDS_ON = {5: (4, 3), 7: (4,), 8: (4,),  # the heavy-dim cluster (and claim 3's low-spread dims)
              10: (9,), 11: (9,), 12: (9,), 13: (9,), 18: (9,), 24: (9,),  # the chosen unigram dim
              21: (20,), 22: (20,), 23: (20,)}  # the zero-layer exceptions
SHARED = {4: "the position-heavy dims", 9: "the chosen unigram dim", 20: "the zero-layer exceptions"}  # what parts read
# The in-repository source of the study's claims. The numbers are those of the study's CLAIMS.md (kept
# outside this repository), so they stay the visible number; everything else refers to a claim by name.
# A new claim is declared in the analysis that decides it (`declare`), not here; its section's claim table picks
# it up through `section`.
STUDY = tuple(ClaimSpec(*row, depends_on=DEPENDS_ON.get(row[0], ())) for row in (
    (1, "gains_favour_standard_basis",
     "LayerNorm gains single out the standard basis: their spread across channel dims is far beyond chance.",
     "layernorm_basis", "analyses.layernorm_basis", (GAINS,)),
    (2, "token_dims_striped",
     "Token embeddings are striped: some channel dims sit systematically above or below the rest across tokens.",
     "position", "analyses.position", (TOKENS,)),
    (3, "few_low_spread_token_dims",
     "Most channel dims share one distribution over tokens; a few have lower spread and larger means.",
     "position", "analyses.position", (TOKENS,)),
    (4, "position_dims_clustered",
     "Position embeddings are active in a distinct cluster of channel dims and near zero elsewhere.",
     "position", "analyses.position", (POSITIONS,)),
    (5, "low_spread_dims_are_position_dims",
     "The low-spread, high-mean token dims are mostly the position-heavy dims.",
     "position", "analyses.position", (TOKENS, POSITIONS)),
    (6, "positions_centred",
     "Position embeddings are centred near zero in every dim (|mean| below the std).",
     "position", "analyses.position", (POSITIONS,)),
    (7, "positions_smooth_periodic",
     "Position embeddings are smooth, roughly periodic functions of position.",
     "position", "analyses.position", (POSITIONS,)),
    (8, "layer0_gains_dial_down_position_dims",
     "Layer 0's gains turn the position-heavy dims down; later layers mostly adjust a few outliers.",
     "ln_gains", "analyses.ln_gains", (GAINS, POSITIONS)),
    (9, "unigram_dim_in_gains",
     "One channel dim stands out in the pre-MLP (LN2) gains across many layers: the unigram dim.",
     "unigram", "analyses.unigram", (GAINS,)),
    (10, "unigram_dim_high_for_short_tokens",
     "The unigram dim is higher for tokens with short embedding vectors.",
     "correlations", "analyses.correlations", (TOKENS, GAINS)),
    (11, "unigram_dim_high_for_early_tokens",
     "The unigram dim is higher for tokens early in the BPE vocabulary.",
     "correlations", "analyses.correlations", (TOKENS, GAINS)),
    (12, "unigram_dim_rises_with_frequency",
     "The unigram dim rises with a token's frequency in text.",
     "correlations", "analyses.correlations", (TOKENS, GAINS)),
    (13, "unigram_dim_profile",
     "The unigram dim has little position activity, an off-centre token mean and a high token variance.",
     "unigram", "analyses.unigram", (TOKENS, POSITIONS, GAINS)),
    (14, "frequent_tokens_shorter",
     "More frequent tokens have shorter embedding vectors.",
     "correlations", "analyses.correlations", (TOKENS,)),
    (15, "svd0_along_mean",
     "SVD component 0 points almost exactly along the mean token embedding.",
     "svd", "analyses.svd", (TOKENS,)),
    (16, "svd0_one_sign",
     "All tokens share one sign on SVD component 0.",
     "svd", "analyses.svd", (TOKENS,)),
    (17, "svd0_norm_extremes",
     "The longest and shortest embedding vectors are extreme on SVD component 0.",
     "svd", "analyses.svd", (TOKENS,)),
    (18, "unigram_dim_on_svd0",
     "The unigram dim loads strongly on SVD component 0.",
     "svd", "analyses.svd", (TOKENS, GAINS)),
    (19, "svd12_split_word_starts",
     "SVD components 1 and 2 split tokens into word-start and continuation clusters.",
     "svd", "analyses.svd", (TOKENS,)),
    (20, "tokens_predict_themselves",
     "In the zero-layer model (W Wᵀ) almost every token predicts itself.",
     "zero_layer", "analyses.zero_layer", (TOKENS,)),
    (21, "exceptions_parallel_and_longer",
     "The exceptions u → v are nearly parallel vectors with |u| < |v|.",
     "zero_layer", "analyses.zero_layer", (TOKENS,)),
    (22, "exceptions_drop_leading_space",
     "Many exceptions drop a leading space (\" word\" → \"word\").",
     "zero_layer", "analyses.zero_layer", (TOKENS,)),
    (23, "exceptions_odd_bytes_or_code",
     "The other exceptions involve unprintable bytes or machine-readable text.",
     "zero_layer", "analyses.zero_layer", (TOKENS,)),
    (24, "rare_token_clump",
     "A crowded clump of rarely trained tokens sits at low norm and low unigram-dim value.",
     "outliers", "analyses.outliers", (TOKENS,)),
))
BY_NAME = {c.name: c for c in STUDY}  # every registered claim; updated in place by `declare`
BY_ID = {c.id: c for c in STUDY}  # in order of number


class _Registered(Sequence):
    """Every registered claim in order of number, read live: a claim declared after this module was imported (next
    to its analysis) is in it."""

    def __getitem__(self, index):
        return tuple(BY_ID.values())[index]

    def __len__(self) -> int:
        return len(BY_ID)

    def __iter__(self):
        return iter(tuple(BY_ID.values()))

    def __repr__(self) -> str:
        return f"REGISTRY({', '.join(c.name for c in self)})"


REGISTRY = _Registered()
READS = (TOKENS, POSITIONS, GAINS)


def declare(new: ClaimSpec) -> ClaimSpec:
    """Register a claim declared next to the analysis that decides it (`CLAIM = declare(ClaimSpec(...))`); returns
    it. Declaring the same claim again (a module imported twice) changes nothing; a number or name another claim holds,
    a malformed name, an unknown input or a dependency on an unregistered claim is an error at once."""
    if BY_ID.get(new.id) == new:  # the same declaration again: keep the newer planting function
        BY_ID[new.id] = BY_NAME[new.name] = new
        return new
    problems = [f"claim number {new.id} is taken by {BY_ID[new.id].name!r}"] if new.id in BY_ID else []
    problems += [f"claim name {new.name!r} is taken by claim {BY_NAME[new.name].id}"] if new.name in BY_NAME else []
    problems += [] if re.fullmatch(r"[a-z][a-z0-9_]*", new.name) else [f"claim name {new.name!r} is not snake_case"]
    problems += [f"it reads {read!r}; inputs are {', '.join(READS)}" for read in new.reads if read not in READS]
    problems += [] if new.reads else ["it reads no input: name the weights its verdict reads"]
    problems += [f"it depends on claim {n}, which is not registered" for n in new.depends_on if n not in BY_ID]
    if problems:
        raise ValueError(f"cannot declare claim {new.id} ({new.name}): " + "; ".join(problems))
    BY_NAME[new.name] = new
    ordered = sorted({**BY_ID, new.id: new}.values(), key=lambda c: c.id)
    BY_ID.clear()
    BY_ID.update((c.id, c) for c in ordered)
    return new


def spec(name: str) -> ClaimSpec:
    """The registered claim called `name`; an unknown name is an error at once, never an empty row."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no claim named {name!r}; the registered claims are: {', '.join(BY_NAME)}") from None


def finding_of(number: int) -> int:
    """The number of the claim whose finding claim `number` is part of (itself for an independent claim)."""
    depends = BY_ID[number].depends_on if number in BY_ID else ()
    return depends[0] if depends else number


def findings() -> dict[int, tuple[int, ...]]:
    """{finding's claim number: the numbers of its dependent parts}, every registered claim in exactly one, in order.
    These are the independent findings a verdict count should be read in."""
    groups: dict[int, list[int]] = {}
    for c in REGISTRY:
        groups.setdefault(finding_of(c.id), [])
        if finding_of(c.id) != c.id:
            groups[finding_of(c.id)].append(c.id)
    return {root: tuple(parts) for root, parts in sorted(groups.items())}


def in_finding_order(claims) -> list:
    """Claims (Claim objects or results.json dicts), each finding's parts right after it: 1, 2, 3, 4, 5, 7, 8, 6, …"""
    rank = {number: i for i, number in enumerate(n for root, parts in findings().items() for n in (root, *parts))}
    return sorted(claims, key=lambda c: (rank.get(_number(c), len(rank)), _number(c)))


def _number(claim) -> int:
    """The visible number of a Claim or of its results.json dict."""
    return claim["id"] if isinstance(claim, dict) else claim.id


def in_section(claims, section: str) -> list:
    """The claims (Claim objects or their results.json dicts) whose registered section is `section`, in
    order. Matched by number, so results written before claims had names still match."""
    return [c for c in claims if _number(c) in BY_ID and BY_ID[_number(c)].section == section]


def named(claims, name: str) -> list:
    """The claims (Claim objects or their results.json dicts) that are the claim called `name`: one, or
    none when it was not tested. An unknown name raises KeyError."""
    wanted = spec(name).id
    return [c for c in claims if _number(c) == wanted]


@dataclass(frozen=True)
class Claim:
    """One checklist row.

    Attributes:
        id: the claim's visible number (ClaimSpec.id).
        name: the claim's registered name.
        statement: the claim in our words.
        value: the number that tests it (None when not applicable).
        rule: the test, with its threshold, in words.
        verdict: "holds", "fails" (does not hold), "inconclusive" or "not-applicable".
        detail: one sentence on what was measured, with units.
    """

    id: int
    name: str
    statement: str
    value: float | None
    rule: str
    verdict: str
    detail: str = ""


def claim(name: str, value: float | None, holds: bool | None, rule: str, detail: str = "",
          inconclusive: bool = False) -> Claim:
    """A verdict on the claim called `name`; `holds=None` means the claim does not apply to this model, and
    `inconclusive` turns a "does not hold" into "inconclusive" (the evidence neither shows the effect nor its
    absence)."""
    registered = spec(name)
    verdict = NOT_APPLICABLE if holds is None else HOLDS if holds else INCONCLUSIVE if inconclusive else FAILS
    number = None if value is None else float(value)
    return Claim(registered.id, name, registered.statement, number, rule, verdict, detail)


SAMPLE_ROWS = 4096  # rows looked at for duplicates and ties (evenly spaced, so the check is deterministic)


def _matrix_problem(rows: np.ndarray, what: str) -> str | None:
    """Why a [n, d] weight matrix cannot carry any statistical claim, or None when it can."""
    rows = np.asarray(rows)
    if rows.size == 0:
        return f"the {what} are empty"
    sample = rows[np.linspace(0, len(rows) - 1, min(len(rows), SAMPLE_ROWS)).astype(int)].astype(np.float64)
    if not all(np.isfinite(block).all() for block in np.array_split(rows, max(1, len(rows) // BLOCK_ROWS))):
        return f"the {what} hold non-finite values"
    if not np.any(sample):
        return f"the {what} are all zero"
    # np.unique(sample, axis=0) counts rows equal as floats; on finite values that is equal bytes once −0.0
    # is made +0.0 (adding 0.0 does), and a set of row bytes counts them without sorting 8 KB rows
    distinct_rows = len({row.tobytes() for row in sample + 0.0})
    if distinct_rows <= 1:
        return f"every row of the {what} is the same vector"
    if distinct_rows < 0.5 * len(sample):
        return f"most rows of the {what} are exact duplicates ({distinct_rows} distinct of {len(sample)} sampled)"
    levels = 1 + (np.diff(np.sort(sample.T, axis=1), axis=1) != 0).sum(axis=1)  # distinct values per dim
    if np.mean(levels <= 1) > 0.5:
        return f"most channel dims of the {what} are constant"
    if len(sample) >= 8 and np.median(levels) <= 2:
        return f"the {what} take at most two values per dim: ties everywhere"
    return None


def degeneracy(token_embeddings: np.ndarray | None, position_embeddings: np.ndarray | None = None,
               gains: np.ndarray | None = None) -> dict[str, str]:
    """{input: reason} for each degenerate input (all-zero, constant, duplicated rows, ties everywhere,
    non-finite). Gains are degenerate when every LayerNorm's gain is the same in all dims. Absent inputs are
    left to the claims themselves (they say "no position embeddings")."""
    found = {}
    if token_embeddings is not None and (problem := _matrix_problem(token_embeddings, TOKENS)):
        found[TOKENS] = problem
    if position_embeddings is not None and len(position_embeddings) > 1 and \
            (problem := _matrix_problem(position_embeddings, POSITIONS)):
        found[POSITIONS] = problem
    if gains is not None and np.size(gains):
        g = np.asarray(gains, dtype=np.float64).reshape(len(gains), -1)
        if not np.isfinite(g).all():
            found[GAINS] = "the LayerNorm gains hold non-finite values"
        elif np.all(np.ptp(g, axis=1) == 0):
            found[GAINS] = "every LayerNorm gives all dims the same gain"
    return found


def guard(claims: tuple[Claim, ...], problems: dict[str, str]) -> tuple[Claim, ...]:
    """The one place degenerate weights are handled: every claim that reads a degenerate input becomes
    "not applicable" with the reason; the others are unchanged."""
    out = []
    for c in claims:
        reasons = [problems[read] for read in BY_NAME[c.name].reads if read in problems]
        out.append(replace(c, verdict=NOT_APPLICABLE, value=None, detail="degenerate input: " + "; ".join(reasons))
                   if reasons else c)
    return tuple(out)
