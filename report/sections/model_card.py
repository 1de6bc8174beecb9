"""Section: the model card and glossary — what was analysed, and the shapes the report uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyses.stats import spearman
from analyses.vectors import row_cosines, row_norms
from report.load.architectures import architecture_for
from report.load.tokens import tokenizer_sha256
from report.run.context import RunContext
from report.run.section import Section


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
    norm_kind: str = "LayerNorm"
    notes: tuple[str, ...] = ()
    unembedding: dict | None = None  # how the untied output matrix relates to W; None when tied
    tokenizer_sha256: str = ""
    padding: dict | None = None  # norms of the rows past the vocabulary, analysed apart; None when none
    token_encoding: str = ""  # how token strings encode text: byte-level, sentencepiece, wordpiece, plain
    added_tokens: int = 0  # tokens added to the vocabulary as text (add_tokens), shown as that text
    tokens_beyond_embedding: int = 0  # tokenizer entries past the embedding's last row: they have no row
    norm_roles: dict | None = None  # {role: checkpoint key of its first norm}, from the architecture's adapter
    effective_gain: str = "weight"  # the factor each norm multiplies by, in terms of its stored weight
    positions: str = ""  # what "position embeddings" means in this architecture
    not_applicable: dict | None = None  # {section key: why it has nothing to measure here}
    tensor_dtypes: tuple[tuple[str, str], ...] = ()  # (checkpoint key, stored dtype) of every tensor read
    config_vocab_size: int | None = None  # config.json's vocab_size where it is smaller than the embedding


NORM_KINDS = {"layernorm": "LayerNorm (gain and bias)", "rmsnorm": "RMSNorm (gain only, no bias)",
              "layernorm-no-bias": "LayerNorm without bias (gain only)",
              "no-parameters": "LayerNorm without parameters (no gain, no bias)"}


ROLE_LABELS = {"ln_emb": "on the embeddings", "ln_1": "LN1", "ln_2": "LN2", "ln_post": "on sublayer outputs",
               "ln_f": "LNf"}


def effective_gain(arch) -> str:
    if arch.norm == "no-parameters":
        return "1 in every dim (the norms have no parameters)"
    return f"{arch.gain_offset:g} + weight" if arch.gain_offset else "weight"


def stored_dtypes(tensor_dtypes) -> str:
    """The dtypes the tensors were stored in, in one phrase: "float32", or "float16 (24), float32 (2)"."""
    counts: dict[str, int] = {}
    for _, dtype in tensor_dtypes:
        counts[dtype] = counts.get(dtype, 0) + 1
    if len(counts) <= 1:
        return next(iter(counts), "")  # "" for weights built by hand, not read from a checkpoint
    return ", ".join(f"{dtype} ({n})" for dtype, n in sorted(counts.items()))


def padding_summary(weights, n_tokens: int) -> dict | None:
    """Rows without a token (vocabulary padded for speed) are kept out of every statistic; this is how
    they look next to the real tokens. Norms in embedding units."""
    rows = weights.token_embeddings[n_tokens:]
    if len(rows) == 0:
        return None
    norms = row_norms(rows)
    token_norms = row_norms(weights.token_embeddings[:n_tokens])
    return {"rows": int(len(rows)), "first_row": int(n_tokens), "norm_min": float(norms.min()),
            "norm_median": float(np.median(norms)), "norm_max": float(norms.max()),
            "token_norm_median": float(np.median(token_norms)),
            "all_identical": bool(np.all(rows == rows[0]))}


def unembedding_summary(inputs: np.ndarray, outputs: np.ndarray) -> dict:
    """How an untied output matrix relates to the input one, row by row (both [tokens, d])."""
    norm_in, norm_out = row_norms(inputs), row_norms(outputs)
    mean_in, mean_out = inputs.mean(axis=0, dtype=np.float64), outputs.mean(axis=0, dtype=np.float64)
    mean_cos = float(mean_in @ mean_out / (np.linalg.norm(mean_in) * np.linalg.norm(mean_out) or 1.0))
    return {"norm_spearman": spearman(norm_in, norm_out),
            "norm_pearson": float(np.corrcoef(norm_in, norm_out)[0, 1]),
            "mean_direction_cos": mean_cos, "row_cos_median": float(np.median(row_cosines(inputs, outputs))),
            "norm_ratio_median": float(np.median(norm_out / np.where(norm_in > 0, norm_in, 1)))}


def run(ctx: RunContext) -> ModelCard:
    w, t = ctx.weights, ctx.tokens
    arch = architecture_for(w.config)
    n = ctx.n_tokens
    unembedding = None if w.unembedding is None else unembedding_summary(ctx.embeddings, w.unembedding[:n])
    return ModelCard(
        model_id=w.model_id, revision=w.revision, architecture=w.architecture,
        vocab_size=w.vocab_rows, tokens=ctx.n_tokens, padding_rows=w.vocab_rows - ctx.n_tokens,
        special_tokens=int(t.special.sum()), word_start_tokens=int(t.word_start.sum()),
        d_model=w.d_model, n_positions=w.n_positions, n_layers=w.n_layers, layer_norms=len(w.layer_norms),
        tied=w.tied, frequency_kind=ctx.frequency.kind, frequency_detail=ctx.frequency.detail,
        frequency_known=int(ctx.frequency.known), tensors_sha256=w.tensors_sha256,
        norm_kind=NORM_KINDS[arch.norm], norm_roles=arch.norm_roles(), effective_gain=effective_gain(arch),
        positions=arch.positions, not_applicable=dict(arch.not_applicable),
        notes=arch.notes, unembedding=unembedding,
        tokenizer_sha256=tokenizer_sha256(t), padding=padding_summary(w, n),
        token_encoding=t.scheme, added_tokens=int(t.added.sum()) if t.added is not None else 0,
        tokens_beyond_embedding=t.beyond_embedding, tensor_dtypes=tuple(sorted(w.tensor_dtype.items())),
        config_vocab_size=arch.vocab_size if arch.vocab_size < w.vocab_rows else None,
    )


def to_json(card: ModelCard, ctx: RunContext) -> dict:
    return {"tokens": card.tokens, "padding_rows": card.padding_rows, "special_tokens": card.special_tokens,
            "word_start_tokens": card.word_start_tokens, "frequency_known_tokens": card.frequency_known,
            "word_start_rule": ctx.weights.word_start_rule, "norm_kind": card.norm_kind,
            "conventions": list(card.notes), "tokenizer_sha256": card.tokenizer_sha256,
            "analysed_matrix": "input embedding", "unembedding": card.unembedding, "padding": card.padding,
            "token_encoding": card.token_encoding, "added_tokens": card.added_tokens,
            "tokens_beyond_embedding": card.tokens_beyond_embedding, "fetch": ctx.weights.fetch,
            "norm_roles": card.norm_roles, "effective_gain": card.effective_gain, "positions": card.positions,
            "not_applicable": card.not_applicable, "stored_dtype": stored_dtypes(card.tensor_dtypes),
            "tensor_dtypes": dict(card.tensor_dtypes), "config_vocab_size": card.config_vocab_size,
            "model_id": card.model_id, "revision": card.revision, "architecture": card.architecture,
            "vocab_size": card.vocab_size, "d_model": card.d_model, "n_positions": card.n_positions,
            "n_layers": card.n_layers, "layer_norms": card.layer_norms, "tied": card.tied,
            "frequency_kind": card.frequency_kind, "frequency_detail": card.frequency_detail}


def fetch_line(fetch: dict | None) -> str | None:
    """How the weights came from the Hub, in one sentence (None for local folders and the HF cache)."""
    if not fetch:
        return None
    if "bytes_fetched" not in fetch:
        return f"{fetch['method']}: {', '.join(fetch['files'])}"
    files = ", ".join(f"{name} ({n / 2**20:,.1f} MiB)" for name, n in fetch["files"].items())
    share = fetch["bytes_fetched"] / max(1, fetch["bytes_in_weight_files"])
    return (f"{fetch['bytes_fetched'] / 2**20:,.1f} MiB fetched by ranged reads ({share:.1%} of the "
            f"{fetch['bytes_in_weight_files'] / 2**20:,.1f} MiB of weight files): {fetch['tensors']} tensors "
            f"from {files}; whole: {', '.join(fetch['small_files'])}")


def figures(card: ModelCard, ctx: RunContext) -> list:
    return []


def context(card: ModelCard, ctx: RunContext) -> dict:
    """The fragment (`j`), the fetch in words, the role labels and the tensors' digests (results.json's
    model.tensor_sha256)."""
    j = to_json(card, ctx)
    return {"j": j, "fetch": fetch_line(j["fetch"]), "role_labels": ROLE_LABELS,
            "tensor_sha256": ctx.weights.tensor_sha256}


SECTION = Section("model_card", "The model and the notation", run, to_json, figures, context,
                  result=ModelCard)
