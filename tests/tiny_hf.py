"""Tiny random models of any `model_type`, built by transformers itself (`AutoConfig.for_model` +
`AutoModelForCausalLM.from_config`, `save_pretrained(safe_serialization=True)`), with a small byte-level BPE
tokenizer trained offline: the keys, shapes and config fields are exactly those transformers writes.

`write_tiny(folder, "gemma2")` returns the folder, or raises `MissingType` when the installed transformers
does not know the type (tests skip with that reason, visibly).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.planted import Spec, _corpus, _train_tokenizer

D, LAYERS, HEADS, POSITIONS = 32, 2, 4, 32

# Per-type sizes on top of the common ones (names differ between configs).
SIZES = {
    "bloom": {"n_layer": LAYERS, "n_head": HEADS},
    "gpt_bigcode": {"n_embd": D, "n_layer": LAYERS, "n_head": HEADS, "n_positions": POSITIONS, "n_inner": 2 * D,
                    "multi_query": True},
    "gptj": {"n_embd": D, "n_layer": LAYERS, "n_head": HEADS, "n_positions": POSITIONS, "rotary_dim": 4,
             "n_inner": 2 * D},
    "falcon": {"new_decoder_architecture": False, "multi_query": True, "parallel_attn": True, "bias": False,
               "alibi": False},
    "phi": {"partial_rotary_factor": 0.5},
    "mixtral": {"num_local_experts": 2, "num_experts_per_tok": 1},
    "gemma": {"head_dim": D // HEADS},
    "gemma2": {"head_dim": D // HEADS, "query_pre_attn_scalar": D // HEADS, "sliding_window": 16},
    "gemma3_text": {"head_dim": D // HEADS, "query_pre_attn_scalar": D // HEADS, "sliding_window": 16},
    "qwen3": {"head_dim": D // HEADS},
    "cohere": {"logit_scale": 0.25},
    "codegen": {"n_embd": D, "n_layer": LAYERS, "n_head": HEADS, "n_positions": POSITIONS, "rotary_dim": 4,
                "n_inner": 2 * D},
    "mpt": {"d_model": D, "n_layers": LAYERS, "n_heads": HEADS, "max_seq_len": POSITIONS, "expansion_ratio": 2},
    "qwen2_moe": {"num_experts": 2, "num_experts_per_tok": 1, "moe_intermediate_size": 16,
                  "shared_expert_intermediate_size": 24},
    "qwen3_moe": {"num_experts": 2, "num_experts_per_tok": 1, "moe_intermediate_size": 16, "head_dim": D // HEADS},
    "granite": {"embedding_multiplier": 12.0, "logits_scaling": 8.0, "residual_multiplier": 0.22},
    "smollm3": {"no_rope_layers": [1, 0]},
    "deepseek_v3": {"n_routed_experts": 2, "num_experts_per_tok": 1, "moe_intermediate_size": 16,
                    "first_k_dense_replace": 1, "n_group": 1, "topk_group": 1, "kv_lora_rank": 16, "q_lora_rank": 16,
                    "qk_rope_head_dim": 4, "qk_nope_head_dim": 4, "v_head_dim": 8},
    "gpt_oss": {"num_local_experts": 2, "num_experts_per_tok": 1, "head_dim": D // HEADS},
    "llama4_text": {"num_local_experts": 2, "num_experts_per_tok": 1, "head_dim": D // HEADS,
                    "intermediate_size_mlp": 2 * D, "no_rope_layers": [1, 0]},
}
# Multimodal containers (built as their ...ForConditionalGeneration class): the text model's sizes go in
# text_config, with a small vision tower beside it.
CONTAINERS = {
    "gemma3": ("gemma3_text", {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                               "intermediate_size": 32, "image_size": 28, "patch_size": 14}),
    "llama4": ("llama4_text", {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                               "intermediate_size": 32, "image_size": 28, "patch_size": 14, "projector_input_dim": 16,
                               "projector_output_dim": 16, "vision_output_dim": 16, "rope_theta": 10000.0}),
}
OWN_SIZES = ("gpt_bigcode", "gptj", "codegen", "mpt")  # configs whose size fields have other names
COMMON = {"hidden_size": D, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": HEADS,
          "intermediate_size": 2 * D, "max_position_embeddings": POSITIONS}


class MissingType(LookupError):
    """The installed transformers has no config class for this model_type."""


def write_tiny(folder: Path, model_type: str, seed: int = 0, tokens: int = 300, overrides: dict | None = None) -> Path:
    """A tiny random `model_type` causal LM in Hub layout in `folder` (created); `overrides`: config fields that
    pick a variant of the type (Falcon's new_decoder_architecture, StableLM's use_parallel_residual)."""
    import torch
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if model_type not in CONFIG_MAPPING_NAMES:
        raise MissingType(f"transformers {transformers.__version__} has no model_type {model_type!r}")
    folder.mkdir(parents=True, exist_ok=True)
    vocab, _ = _train_tokenizer(folder, _corpus(np.random.default_rng(seed), 400),
                                Spec(vocab_target=tokens, n_positions=POSITIONS))
    # tokenizer.json, as real checkpoints ship it: AutoTokenizer would otherwise pick the model type's own class
    transformers.GPT2TokenizerFast.from_pretrained(str(folder)).save_pretrained(str(folder))
    model_class = transformers.AutoModelForCausalLM
    ids = {"vocab_size": len(vocab), "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}
    if model_type in CONTAINERS:
        text_type, vision = CONTAINERS[model_type]
        text = COMMON | SIZES.get(text_type, {}) | ids | (overrides or {})
        config = transformers.AutoConfig.for_model(model_type, text_config=text, vision_config=vision,
                                                   mm_tokens_per_image=4)
        model_class = transformers.AutoModelForImageTextToText
    else:
        sizes = SIZES.get(model_type, {}) if model_type in OWN_SIZES else COMMON | SIZES.get(model_type, {})
        config = transformers.AutoConfig.for_model(model_type, **ids, **(sizes | (overrides or {})))
    torch.manual_seed(seed)
    model = model_class.from_config(config)
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder


def config_of(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))
