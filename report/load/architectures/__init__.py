"""Where each architecture keeps the tensors the report reads, one small adapter per family.

An adapter maps a Hub config to canonical tensor names and the file keys that hold them. Canonical
names: `token_embeddings`, `position_embeddings`, `unembedding`, and LayerNorms as
`layers.{i}.ln_1` / `layers.{i}.ln_2` / `final_ln` with `.weight` / `.bias`.

Roles of the LayerNorms, by family:

| family                | ln_1 (first norm in a block) | ln_2 (second norm in a block)    | other                      |
|-----------------------|------------------------------|----------------------------------|----------------------------|
| gpt2, gpt_neo         | `ln_1`, before attention     | `ln_2`, before the MLP           | `ln_f` final               |
| opt                   | `self_attn_layer_norm`       | `final_layer_norm` (per layer)   | `decoder.final_layer_norm` |
| gpt_neox (Pythia)     | `input_layernorm`            | `post_attention_layernorm` (MLP) | `final_layer_norm`         |
| llama, mistral, qwen2 | `input_layernorm`            | `post_attention_layernorm`       | `norm` final               |
| bert, roberta         | `attention.output.LayerNorm` | `output.LayerNorm`               | `embeddings.LayerNorm`     |
| distilbert            | `sa_layer_norm`              | `output_layer_norm`              | `embeddings.LayerNorm`     |
| phi, gptj, cohere     | the block's one norm         | the same norm (`shared_norm`)    | final norm                 |
| falcon                | `input_layernorm` / `ln_attn`| the same norm / `ln_mlp`         | `ln_f`                     |
| stablelm              | `input_layernorm`            | `post_attention_layernorm`       | `norm`                     |
| mpt                   | `norm_1`                     | `norm_2`                         | `norm_f`                   |
| codegen               | the block's one `ln_1`       | the same norm (`shared_norm`)    | `ln_f`                     |

llama, mistral and qwen2 use RMSNorm for all three; so do the Llama-layout families of report.load.architectures.recent
(granite, smollm3, the MoE types), while starcoder2 uses LayerNorms with a bias under the same names.

BERT-family encoders are post-LN: their first norm sits *after* attention (so it is the one that
feeds the MLP) and their second after the MLP (feeding the next layer's attention). We keep the
roles by position in the block (first norm → ln_1, second → ln_2) and say so in the report; the
norm on the embedding sum has role `ln_emb` and layer -1, and these models have no final norm. Where a
section needs "the norm in front of the MLP" (the unigram dim), it reads `mlp_norm_role`: ln_2 in pre-LN
blocks, ln_1 in post-LN ones (BERT, RoBERTa, DistilBERT, and OPT with do_layer_norm_before false).

Blocks with one norm whose output feeds attention and the MLP in parallel (Phi-1/2, GPT-J, Cohere, most Falcons,
StableLM with a parallel residual; report.architectures_parallel) list that norm once, as ln_1, with `shared_norm`
set and `mlp_norm_role` ln_1: it plays both roles, and the sections read it as both rather than inventing an LN2.
"""

from __future__ import annotations

from report.load.architectures.classic import CLASSIC
from report.load.architectures.parallel import PARALLEL
from report.load.architectures.recent import RECENT
from report.load.architectures.spec import (
    MATRIX_ROLES,
    Architecture,
    LayerNormSpec,
    MatrixSpec,
    UnsupportedModel,
)
from report.load.architectures.today import REFUSED, TODAY

__all__ = ["ADAPTERS", "MATRIX_ROLES", "Architecture", "LayerNormSpec", "MatrixSpec", "UnsupportedModel",
           "architecture_for", "keys_to_read"]

ADAPTERS = {**CLASSIC, **TODAY, **PARALLEL, **RECENT}


def architecture_for(config: dict) -> Architecture:
    """The adapter for a config's `model_type`.

    Raises UnsupportedModel (a KeyError) for a type without an adapter or a variant an adapter refuses,
    and ValueError when the config lacks a size the adapter needs.
    """
    model_type = str(config.get("model_type", ""))
    if model_type not in ADAPTERS:
        what = f"model_type {model_type!r}" if model_type else "a config.json without a model_type"
        why = f": it is {REFUSED[model_type]}" if model_type in REFUSED else ""
        raise UnsupportedModel(
            f"{what} is not supported{why}. Supported model types: {', '.join(sorted(ADAPTERS))} "
            "(GPT-2 and distilgpt2, GPT-Neo, OPT, GPT-NeoX/Pythia, Llama-style RMSNorm models, Gemma, BLOOM, "
            "StarCoder and StarCoder2, Phi-1/2/3, GPT-J, CodeGen, Falcon, Cohere, StableLM, OLMo, Granite, SmolLM3, "
            "MPT, the Mixtral, Qwen-MoE, DeepSeek-V3, gpt-oss and Llama 4 mixtures of experts, and the BERT, RoBERTa "
            "and DistilBERT encoders)")
    try:
        return ADAPTERS[model_type](config)
    except UnsupportedModel:
        raise
    except KeyError as exc:
        raise ValueError(f"no {exc.args[0]!r} for model_type {model_type!r}") from exc


def keys_to_read(config: dict, available) -> list[str]:
    """The checkpoint keys `load_weights` reads from a checkpoint whose keys are `available`: what a
    ranged fetch from the Hub must get (the same lookup as the loader's `read`, without reading)."""
    arch = architecture_for(config)
    available = set(available)
    names = [arch.token_embeddings, arch.position_embeddings, arch.unembedding]
    names += [spec.key + suffix for spec in arch.layer_norms if spec.key for suffix in (".weight", ".bias")]
    keys = []
    for name in filter(None, names):
        found = (p + c for c in arch.candidates(name) for p in arch.prefixes if p + c in available)
        keys += [key] if (key := next(found, None)) else []
    return sorted(set(keys))
