"""Where each architecture keeps the tensors the report reads.

An adapter maps a Hub config to canonical tensor names and the file keys that hold them. Canonical
names: `token_embeddings`, `position_embeddings`, `unembedding`, and LayerNorms as
`layers.{i}.ln_1` / `layers.{i}.ln_2` / `final_ln` with `.weight` / `.bias`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerNormSpec:
    """One LayerNorm: its canonical name, its layer (-1 for the final one), its role, its key."""

    name: str
    layer: int
    role: str  # "ln_1" (before attention), "ln_2" (before the MLP), "ln_f" (final)
    key: str  # key of the weight in the checkpoint, without ".weight"


@dataclass(frozen=True)
class Architecture:
    """How to find one architecture's tensors and read its config."""

    name: str
    token_embeddings: str
    position_embeddings: str | None
    unembedding: str | None
    layer_norms: tuple[LayerNormSpec, ...]
    prefixes: tuple[str, ...]  # key prefixes that files may put in front of every name
    d_model: int
    vocab_size: int
    n_positions: int | None
    n_layers: int
    word_start_rule: str  # "leading-space" (byte-level BPE) or "no-continuation" (WordPiece ##)


def gpt2(config: dict) -> Architecture:
    n_layers = int(config["n_layer"])
    norms = []
    for i in range(n_layers):
        norms.append(LayerNormSpec(f"layers.{i}.ln_1", i, "ln_1", f"h.{i}.ln_1"))
        norms.append(LayerNormSpec(f"layers.{i}.ln_2", i, "ln_2", f"h.{i}.ln_2"))
    norms.append(LayerNormSpec("final_ln", -1, "ln_f", "ln_f"))
    return Architecture(
        name="gpt2",
        token_embeddings="wte.weight",
        position_embeddings="wpe.weight",
        unembedding="lm_head.weight",
        layer_norms=tuple(norms),
        prefixes=("", "transformer."),
        d_model=int(config["n_embd"]),
        vocab_size=int(config["vocab_size"]),
        n_positions=int(config["n_positions"]),
        n_layers=n_layers,
        word_start_rule="leading-space",
    )


ADAPTERS = {"gpt2": gpt2}


def architecture_for(config: dict) -> Architecture:
    """The adapter for a config's `model_type`; unknown types are refused by the caller."""
    model_type = str(config.get("model_type", ""))
    if model_type not in ADAPTERS:
        supported = ", ".join(sorted(ADAPTERS))
        raise KeyError(f"model_type {model_type!r} is not supported (supported: {supported})")
    return ADAPTERS[model_type](config)
