"""Section: the model card and glossary — what was analysed, and the shapes the report uses."""

from __future__ import annotations

from dataclasses import dataclass

from report.context import RunContext
from report.sections import Section


@dataclass(frozen=True)
class ModelCard:
    """What the report analysed. Counts are plain integers; `tied` says whether W is also the unembedding."""

    model_id: str
    revision: str | None
    architecture: str
    vocab_size: int
    tokens: int
    padding_rows: int
    special_tokens: int
    word_start_tokens: int
    d_model: int
    n_positions: int
    n_layers: int
    layer_norms: int
    tied: bool
    frequency_kind: str
    frequency_detail: str
    frequency_known: int
    tensors_sha256: str


def run(ctx: RunContext) -> ModelCard:
    w, t = ctx.weights, ctx.tokens
    return ModelCard(
        model_id=w.model_id, revision=w.revision, architecture=w.architecture,
        vocab_size=w.vocab_rows, tokens=ctx.n_tokens, padding_rows=w.vocab_rows - ctx.n_tokens,
        special_tokens=int(t.special.sum()), word_start_tokens=int(t.word_start.sum()),
        d_model=w.d_model, n_positions=w.n_positions, n_layers=w.n_layers, layer_norms=len(w.layer_norms),
        tied=w.tied, frequency_kind=ctx.frequency.kind, frequency_detail=ctx.frequency.detail,
        frequency_known=int(ctx.frequency.known), tensors_sha256=w.tensors_sha256,
    )


def to_json(card: ModelCard, ctx: RunContext) -> dict:
    return {"tokens": card.tokens, "padding_rows": card.padding_rows, "special_tokens": card.special_tokens,
            "word_start_tokens": card.word_start_tokens, "frequency_known_tokens": card.frequency_known}


def figures(card: ModelCard, ctx: RunContext) -> list:
    return []


def context(card: ModelCard, ctx: RunContext) -> dict:
    return {"card": card, "tensor_sha256": ctx.weights.tensor_sha256}


SECTION = Section("model_card", "The model and the notation", run, to_json, figures, context)
