"""The study's claims as checklist rows, and the one way analyses state a verdict on them."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

HOLDS, FAILS, NOT_APPLICABLE = "holds", "fails", "not-applicable"

# Our paraphrase of each numbered claim in shared/CLAIMS.md.
STATEMENTS = {
    1: "LayerNorm gains single out the standard basis: their spread across channel dims is far beyond chance.",
    2: "Token embeddings are striped: some channel dims sit systematically above or below the rest across tokens.",
    3: "Most channel dims share one distribution over tokens; a few have lower spread and larger means.",
    4: "Position embeddings are active in a distinct cluster of channel dims and near zero elsewhere.",
    5: "The low-spread, high-mean token dims are mostly the position-heavy dims.",
    6: "Position embeddings are centred near zero in every dim (|mean| below the std).",
    7: "Position embeddings are smooth, roughly periodic functions of position.",
    8: "Layer 0's gains turn the position-heavy dims down; later layers mostly adjust a few outliers.",
    9: "One channel dim stands out in the pre-MLP (LN2) gains across many layers: the unigram dim.",
    10: "The unigram dim is higher for tokens with short embedding vectors.",
    11: "The unigram dim is higher for tokens early in the BPE vocabulary.",
    12: "The unigram dim rises with a token's frequency in text.",
    13: "The unigram dim has little position activity, an off-centre token mean and a high token variance.",
    14: "More frequent tokens have shorter embedding vectors.",
    15: "SVD component 0 points almost exactly along the mean token embedding.",
    16: "All tokens share one sign on SVD component 0.",
    17: "The longest and shortest embedding vectors are extreme on SVD component 0.",
    18: "The unigram dim loads strongly on SVD component 0.",
    19: "SVD components 1 and 2 split tokens into word-start and continuation clusters.",
    20: "In the zero-layer model (W Wᵀ) almost every token predicts itself.",
    21: "The exceptions u → v are nearly parallel vectors with |u| < |v|.",
    22: "Many exceptions drop a leading space (\" word\" → \"word\").",
    23: "The other exceptions involve unprintable bytes or machine-readable text.",
    24: "A crowded clump of rarely trained tokens sits at low norm and low unigram-dim value.",
}


@dataclass(frozen=True)
class Claim:
    """One checklist row.

    Attributes:
        id: the claim's number in CLAIMS.md.
        statement: the claim in our words.
        value: the number that tests it (None when not applicable).
        rule: the test, with its threshold, in words.
        verdict: "holds", "fails" or "not-applicable".
        detail: one sentence on what was measured, with units.
    """

    id: int
    statement: str
    value: float | None
    rule: str
    verdict: str
    detail: str = ""


def claim(claim_id: int, value: float | None, holds: bool | None, rule: str, detail: str = "") -> Claim:
    """A verdict on claim `claim_id`; `holds=None` means the claim does not apply to this model."""
    verdict = NOT_APPLICABLE if holds is None else (HOLDS if holds else FAILS)
    number = None if value is None else float(value)
    return Claim(claim_id, STATEMENTS[claim_id], number, rule, verdict, detail)


# Which weights each claim's verdict reads: a claim is "not applicable" when any of them is degenerate.
TOKENS, POSITIONS, GAINS = "token embeddings", "position embeddings", "LayerNorm gains"
READS = {1: (GAINS,), 2: (TOKENS,), 3: (TOKENS,), 4: (POSITIONS,), 5: (TOKENS, POSITIONS), 6: (POSITIONS,),
         7: (POSITIONS,), 8: (GAINS, POSITIONS), 9: (GAINS,), 10: (TOKENS, GAINS), 11: (TOKENS, GAINS),
         12: (TOKENS, GAINS), 13: (TOKENS, POSITIONS, GAINS), 14: (TOKENS,), 15: (TOKENS,), 16: (TOKENS,),
         17: (TOKENS,), 18: (TOKENS, GAINS), 19: (TOKENS,), 20: (TOKENS,), 21: (TOKENS,), 22: (TOKENS,),
         23: (TOKENS,), 24: (TOKENS,)}
SAMPLE_ROWS = 4096  # rows looked at for duplicates and ties (evenly spaced, so the check is deterministic)


def _matrix_problem(rows: np.ndarray, what: str) -> str | None:
    """Why a [n, d] weight matrix cannot carry any statistical claim, or None when it can."""
    rows = np.asarray(rows)
    if rows.size == 0:
        return f"the {what} are empty"
    sample = rows[np.linspace(0, len(rows) - 1, min(len(rows), SAMPLE_ROWS)).astype(int)].astype(np.float64)
    if not all(np.isfinite(block).all() for block in np.array_split(rows, max(1, len(rows) // 8192))):
        return f"the {what} hold non-finite values"
    if not np.any(sample):
        return f"the {what} are all zero"
    distinct_rows = len(np.unique(sample, axis=0))
    if distinct_rows <= 1:
        return f"every row of the {what} is the same vector"
    if distinct_rows < 0.5 * len(sample):
        return f"most rows of the {what} are exact duplicates ({distinct_rows} distinct of {len(sample)} sampled)"
    levels = 1 + (np.diff(np.sort(sample, axis=0), axis=0) != 0).sum(axis=0)  # distinct values per dim
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
        reasons = [problems[name] for name in READS.get(c.id, ()) if name in problems]
        out.append(replace(c, verdict=NOT_APPLICABLE, value=None, detail="degenerate input: " + "; ".join(reasons))
                   if reasons else c)
    return tuple(out)
