"""Tiny checkpoints of every architecture family the report supports, in Hub layout, written by the tests.

`write_family(folder, "bert")` writes a transformers-style config.json with small sizes, a tokenizer
(WordPiece vocab.txt for BERT and DistilBERT, byte-level BPE like tests/planted.py for the rest) and a
model.safetensors whose keys are spelled as the Hub's files spell them (`bert.embeddings…`,
`model.decoder…`, `gpt_neox.embed_in…` with Pythia's `embed_out`, `model.layers…` with RMSNorm gains
and no biases). The values hold a little of the study's structure (a mean offset, a word-start
direction, position-heavy dims, a unigram dim in the gains of the norm that feeds each MLP — the second norm of a
pre-LN block, the first of a post-LN one — and a decoy dim in the other norm's gains) so every section has
something to measure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from tests.planted import Spec, _corpus, _train_tokenizer

FAMILIES = ("bert", "roberta", "distilbert", "gpt_neo", "opt", "gpt_neox", "llama")
HEAVY = (2, 7, 11, 19)
UNIGRAM = 5  # loud in the gains of the norm that feeds each MLP
DECOY = 13  # loud in the gains of the other norm of each block: must not be taken for the unigram dim


@dataclass(frozen=True)
class Family:
    """One family's tiny checkpoint: how it is spelled and what the loader should find."""

    model_type: str
    wordpiece: bool
    position_key: str | None  # None: rotary positions
    position_offset: int
    untied_key: str | None  # key of a separate output matrix, or None when tied
    rmsnorm: bool
    post_ln: bool = False  # norms after each sublayer: the first norm of a block feeds the MLP


SPECS = {
    "bert": Family("bert", True, "bert.embeddings.position_embeddings.weight", 0, None, False, post_ln=True),
    "roberta": Family("roberta", False, "roberta.embeddings.position_embeddings.weight", 2, None, False, post_ln=True),
    "distilbert": Family("distilbert", True, "distilbert.embeddings.position_embeddings.weight", 0, None, False,
                         post_ln=True),
    "gpt_neo": Family("gpt_neo", False, "transformer.wpe.weight", 0, None, False),
    "opt": Family("opt", False, "model.decoder.embed_positions.weight", 2, None, False),
    "gpt_neox": Family("gpt_neox", False, None, 0, "embed_out.weight", False),
    "llama": Family("llama", False, None, 0, "lm_head.weight", True),
}


def _layers(n_layers: int, first: str, second: str) -> list[tuple[str, str]]:
    return [(t.format(i=i), role) for i in range(n_layers) for t, role in ((first, "ln_1"), (second, "ln_2"))]


def _keys(family: str, n_layers: int) -> tuple[str, list[tuple[str, str]], dict[str, tuple]]:
    """(token embedding key, (LayerNorm key without .weight, role) in model order, other keys -> shape)."""
    if family in ("bert", "roberta"):
        p = f"{family}."
        norms = [(f"{p}embeddings.LayerNorm", "ln_emb")] + _layers(
            n_layers, p + "encoder.layer.{i}.attention.output.LayerNorm", p + "encoder.layer.{i}.output.LayerNorm")
        return f"{p}embeddings.word_embeddings.weight", norms, {f"{p}embeddings.token_type_embeddings.weight": (2,)}
    if family == "distilbert":
        p = "distilbert."
        norms = [(f"{p}embeddings.LayerNorm", "ln_emb")] + _layers(
            n_layers, p + "transformer.layer.{i}.sa_layer_norm", p + "transformer.layer.{i}.output_layer_norm")
        return f"{p}embeddings.word_embeddings.weight", norms, {"vocab_layer_norm.weight": ()}
    if family == "gpt_neo":
        norms = _layers(n_layers, "transformer.h.{i}.ln_1", "transformer.h.{i}.ln_2")
        return "transformer.wte.weight", norms + [("transformer.ln_f", "ln_f")], {}
    if family == "opt":
        p = "model.decoder."
        norms = _layers(n_layers, p + "layers.{i}.self_attn_layer_norm", p + "layers.{i}.final_layer_norm")
        return f"{p}embed_tokens.weight", norms + [(f"{p}final_layer_norm", "ln_f")], {}
    if family == "gpt_neox":
        p = "gpt_neox."
        norms = _layers(n_layers, p + "layers.{i}.input_layernorm", p + "layers.{i}.post_attention_layernorm")
        return f"{p}embed_in.weight", norms + [(f"{p}final_layer_norm", "ln_f")], {}
    if family == "llama":
        norms = _layers(n_layers, "model.layers.{i}.input_layernorm", "model.layers.{i}.post_attention_layernorm")
        return "model.embed_tokens.weight", norms + [("model.norm", "ln_f")], {}
    raise KeyError(family)


def _config(family: str, d: int, n_layers: int, n_positions: int, vocab: int) -> dict:
    common = {"vocab_size": vocab, "architectures": [], "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0,
              "tie_word_embeddings": SPECS[family].untied_key is None}
    if family in ("bert", "roberta"):
        extra = 2 if family == "roberta" else 0
        return common | {"model_type": family, "hidden_size": d, "num_hidden_layers": n_layers,
                         "num_attention_heads": 4, "intermediate_size": 2 * d, "type_vocab_size": 2,
                         "max_position_embeddings": n_positions + extra, "pad_token_id": 1 if extra else 0}
    if family == "distilbert":
        return common | {"model_type": family, "dim": d, "n_layers": n_layers, "n_heads": 4, "hidden_dim": 2 * d,
                         "max_position_embeddings": n_positions, "sinusoidal_pos_embds": False}
    if family == "gpt_neo":
        return common | {"model_type": family, "hidden_size": d, "num_layers": n_layers, "num_heads": 4,
                         "attention_types": [[["global", "local"], n_layers // 2]],
                         "max_position_embeddings": n_positions}
    if family == "opt":
        return common | {"model_type": family, "hidden_size": d, "num_hidden_layers": n_layers, "ffn_dim": 2 * d,
                         "num_attention_heads": 4, "max_position_embeddings": n_positions, "word_embed_proj_dim": d,
                         "do_layer_norm_before": True}
    if family == "gpt_neox":
        return common | {"model_type": family, "hidden_size": d, "num_hidden_layers": n_layers,
                         "num_attention_heads": 4, "intermediate_size": 2 * d, "max_position_embeddings": n_positions,
                         "rotary_pct": 0.25, "use_parallel_residual": True}
    return common | {"model_type": "llama", "hidden_size": d, "num_hidden_layers": n_layers, "num_attention_heads": 4,
                     "num_key_value_heads": 4, "intermediate_size": 2 * d, "max_position_embeddings": n_positions}


def _wordpiece(folder: Path, text: str, vocab_target: int) -> list[str]:
    from tokenizers import BertWordPieceTokenizer

    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(text.splitlines(), vocab_size=vocab_target, min_frequency=2, show_progress=False)
    wordpiece.save_model(str(folder))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True}), encoding="utf-8")
    return (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()


def write_family(folder: Path, family: str, d_model: int = 32, n_layers: int = 2, n_positions: int = 32,
                 seed: int = 0) -> Path:
    """Write a tiny `family` checkpoint into `folder` (created if needed) and return the folder."""
    spec = SPECS[family]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    text = _corpus(rng, n_sentences=800)
    if spec.wordpiece:
        tokens = _wordpiece(folder, text, 400)
        word_start = np.array([not t.startswith("##") for t in tokens])
    else:
        tokens, _ = _train_tokenizer(folder, text, Spec(vocab_target=400, n_positions=n_positions))
        word_start = np.array([t.startswith("Ġ") for t in tokens])
    vocab, d = len(tokens), d_model

    w = rng.normal(0, 0.1, (vocab, d)) + 0.03
    w[:, list(HEAVY)] *= 0.3
    direction = rng.normal(0, 1, d)
    w += np.where(word_start, 0.15, -0.15)[:, None] * direction / np.linalg.norm(direction)
    w[:, UNIGRAM] = 0.2 - 0.2 * np.arange(vocab) / vocab + rng.normal(0, 0.02, vocab)
    token_key, norm_keys, extra = _keys(family, n_layers)
    tensors = {token_key: w}
    if spec.position_key:
        rows = n_positions + spec.position_offset
        p = rng.normal(0, 0.002, (rows, d))
        position = np.arange(rows)[:, None]
        p[:, list(HEAVY)] = 0.3 * np.sin(2 * np.pi * position / np.array([32, 16, 11, 8]) + rng.uniform(0, 6, 4))
        p[: spec.position_offset] = 0.0  # rows no position uses
        tensors[spec.position_key] = p
    for key, role in norm_keys:
        gain = 1 + rng.normal(0, 0.05, d)
        if role in ("ln_1", "ln_2"):
            feeds_mlp = role == ("ln_1" if spec.post_ln else "ln_2")
            gain[UNIGRAM if feeds_mlp else DECOY] = 3.0
        tensors[key + ".weight"] = gain
        if not spec.rmsnorm:
            tensors[key + ".bias"] = rng.normal(0, 0.01, d)
    for key, rows in extra.items():
        tensors[key] = rng.normal(0, 0.02, rows + (d,))
    if spec.untied_key:
        tensors[spec.untied_key] = 0.5 * w + rng.normal(0, 0.02, w.shape)  # related to w, not a copy
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sorted(tensors.items())},
              str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = _config(family, d, n_layers, n_positions, vocab)
    (folder / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    return folder
