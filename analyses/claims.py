"""The study's claims as checklist rows, and the one way analyses state a verdict on them."""

from __future__ import annotations

from dataclasses import dataclass

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
