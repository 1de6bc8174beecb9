"""Adapters for recent Llama-layout families and their mixture-of-experts and multimodal relatives (StarCoder2,
Granite, SmolLM3, MPT, Qwen2-MoE, Qwen3-MoE, DeepSeek-V3, gpt-oss, Llama 4, the Gemma 3 container), each stating
the study's questions in that architecture's terms."""

from __future__ import annotations

from dataclasses import replace

from report.load.architectures.classic import llama
from report.load.architectures.spec import (
    ROTARY,
    ROTARY_NOTE,
    Architecture,
    MatrixSpec,
    UnsupportedModel,
    matrix_specs,
    norm_specs,
)
from report.load.architectures.today import ALIBI, ALIBI_NOTE, QK_NORM_NOTE, gemma

LAYERNORM_NOTE = "The norms are LayerNorms with a gain and a bias, in Llama's places and under its names."


def nope_layers(config: dict) -> list[int]:
    """Layers whose attention applies no rotary (NoPE): no_rope_layers (1: rotary), or by default every
    no_rope_layer_interval-th layer, as transformers fills it in."""
    flags = config.get("no_rope_layers") or []
    if not flags and config.get("no_rope_layer_interval"):
        interval = int(config["no_rope_layer_interval"])
        flags = [int((i + 1) % interval != 0) for i in range(int(config["num_hidden_layers"]))]
    return [i for i, uses_rope in enumerate(flags) if not uses_rope]


def with_nope(arch: Architecture, nope: list[int]) -> Architecture:
    """`arch` whose positions say which layers see no position at all."""
    if not nope:
        return arch
    where = ", ".join(map(str, nope))
    return replace(arch, positions=f"rotary embeddings inside attention, except in layers {where} (NoPE); no table",
                   notes=(f"Positions are encoded by rotary embeddings inside attention in every layer except {where}, "
                          "whose attention sees no position at all (NoPE); there is no learned position table, so "
                          "the position analyses are skipped.",) + arch.notes[1:])


def starcoder2(config: dict) -> Architecture:
    """StarCoder2: Llama's norm names as LayerNorms with a bias, rotary, a GPT-2-style MLP (c_fc, c_proj)."""
    arch = llama(config)
    return replace(arch, norm="layernorm", notes=(arch.notes[0], LAYERNORM_NOTE), matrices=matrix_specs(
        "layers.{i}.mlp.c_fc.weight", "layers.{i}.mlp.c_proj.weight", "layers.{i}.self_attn.v_proj.weight",
        "layers.{i}.self_attn.o_proj.weight"))


def granite(config: dict) -> Architecture:
    """Granite: Llama's layout with four positive constants on the way (embeddings, residual branches, attention
    scores, logits)."""
    arch = llama(config)
    embedding = float(config.get("embedding_multiplier", 1.0))
    residual = float(config.get("residual_multiplier", 1.0))
    logits = float(config.get("logits_scaling", 1.0))
    return replace(arch, notes=arch.notes + (
        f"Token embeddings are multiplied by embedding_multiplier = {embedding:g} on the way in. The report reads the "
        "stored rows: one positive factor for every row changes no direction, cosine, rank, correlation or nearest "
        "neighbour, and there is no position table to weigh them against, so no verdict, cosine, rank or correlation "
        "depends on it; norms and distances are in stored units (× the multiplier in the residual stream).",
        f"Each attention and MLP output is multiplied by residual_multiplier = {residual:g} before it joins the "
        f"residual stream, and the logits are divided by logits_scaling = {logits:g}: positive constants, so which "
        "token scores highest and every rank are unchanged; no section reads a sublayer's output magnitude.",))


def smollm3(config: dict) -> Architecture:
    """SmolLM3: Llama's layout; some layers use no positional encoding at all (NoPE)."""
    return with_nope(llama(config), nope_layers(config))


def mpt(config: dict) -> Architecture:
    """MPT: pre-LN LayerNorms (without bias where no_bias is set), ALiBi or a learned table per config, fused Wqkv,
    a tied head."""
    n_layers, d = int(config["n_layers"]), int(config["d_model"])
    attn = config.get("attn_config") or {}
    alibi, rope = bool(attn.get("alibi", False)), bool(attn.get("rope", False))
    learned = not (alibi or rope) and bool(config.get("learned_pos_emb", True))
    no_bias = bool(config.get("no_bias", False))
    notes = (ALIBI_NOTE,) if alibi else (ROTARY_NOTE,) if rope else ()
    notes += ("The norms are LayerNorms without a bias (no_bias): they centre and scale, then multiply by a gain per "
              "dim (biases are shown as zero)." if no_bias else "The norms are LayerNorms with a gain and a bias.",
              "Query, key and value share one matrix (Wqkv, in that order): the attention value read-weights are its "
              "last third.",
              "The output head is tied to the input embedding.")
    return Architecture(
        name="mpt", token_embeddings="wte.weight", position_embeddings="wpe.weight" if learned else None,
        unembedding="lm_head.weight",
        layer_norms=norm_specs(n_layers, "blocks.{i}.norm_1", "blocks.{i}.norm_2", "norm_f"),
        prefixes=("transformer.", ""), d_model=d, vocab_size=int(config["vocab_size"]),
        n_positions=int(config["max_seq_len"]) if learned else None, n_layers=n_layers,
        word_start_rule="leading-space", norm="layernorm-no-bias" if no_bias else "layernorm",
        positions="a learned absolute position table" if learned else ALIBI if alibi else ROTARY if rope else
        "none: neither ALiBi, rotary nor a learned table (NoPE)", notes=notes,
        matrices=matrix_specs("blocks.{i}.ffn.up_proj.weight", "blocks.{i}.ffn.down_proj.weight",
                              "blocks.{i}.attn.Wqkv.weight", "blocks.{i}.attn.out_proj.weight",
                              value_ranges=((2 * d, 3 * d),)),
    )


def exaone(config: dict) -> Architecture:
    """EXAONE 3.x: Llama's blocks (RMSNorm, rotary, gated MLP) under GPT-2-style names, as its Hub checkpoints store
    them (transformers renames them to Llama's on load)."""
    n_layers = int(config.get("num_hidden_layers") or config["num_layers"])
    arch = llama(config | {"num_hidden_layers": n_layers})
    block = "h.{i}."
    return replace(arch, name="exaone", token_embeddings="wte.weight", prefixes=("transformer.", ""),
                   layer_norms=norm_specs(n_layers, block + "ln_1", block + "ln_2", "ln_f"),
                   matrices=matrix_specs((block + "mlp.c_fc_0.weight", block + "mlp.c_fc_1.weight"),
                                         block + "mlp.c_proj.weight", block + "attn.attention.v_proj.weight",
                                         block + "attn.attention.out_proj.weight"),
                   notes=arch.notes + ("Its blocks are Llama's under other names: ln_1 before attention, ln_2 before "
                                       "the MLP, whose gate and up projections are c_fc_0 and c_fc_1.",))


def _experts_note(experts: int, names: str, shared: str, dense: tuple[int, ...] = (), dense_names: str = "") -> str:
    """What the MLP read-weights of a mixture-of-experts model are, in the report's words."""
    blocks = f"Blocks {', '.join(map(str, dense))} have" if len(dense) > 1 else f"Block {dense[0]} has" if dense else ""
    where = (f"{blocks} a dense MLP, whose read-weights are its {dense_names}; every other block's MLP" if dense else
             "Each block's MLP")
    return (f"{where} is a mixture of {experts} experts chosen per token by a router{shared}. The MLP read-weights "
            f"of an expert block are every expert's input projections ({names}) side by side, so a channel dim's read "
            "norm is over all experts together (the root of the summed squares: √experts × the experts' root-mean-"
            "square read norm, every expert weighing alike): the router's own weights only choose experts, they do "
            "not read features for the MLP, and are not compared. The MLP write-weights (each expert's down_proj) "
            "are not compared, since no single matrix writes the block's MLP output.")


def _mlp_reads(n_layers: int, dense: set[int], dense_specs, expert_specs) -> tuple[MatrixSpec, ...]:
    """The mlp_in specs of a model whose blocks in `dense` have a dense MLP and the others experts: each spec
    limited to the blocks that have it (unlimited when every block has experts)."""
    if not dense:
        return tuple(expert_specs)
    moe = tuple(i for i in range(n_layers) if i not in dense)
    return (tuple(replace(spec, layers=tuple(sorted(dense))) for spec in dense_specs)
            + tuple(replace(spec, layers=moe) for spec in expert_specs))


def _fused_experts(key: str, experts: int) -> tuple[MatrixSpec, ...]:
    """One spec per expert of a fused [experts, d_model, 2·ffn] gate/up tensor: expert e's slice is [in, out]
    (the model multiplies x @ gate_up_proj[e]), and every output column, gate and up alike, is read."""
    return tuple(MatrixSpec(key, "in_out", expert=e) for e in range(experts))


def _with_mlp_reads(arch: Architecture, reads: tuple[MatrixSpec, ...], note: str,
                    keep=("attn_value", "attn_out")) -> Architecture:
    """`arch` whose MLP read-weights are `reads` (no MLP write-weights), with the attention roles in `keep`."""
    matrices = (("mlp_in", reads),) + tuple((role, specs) for role, specs in arch.matrices if role in keep)
    return replace(arch, matrices=matrices, notes=arch.notes + (note,))


def qwen_moe(config: dict) -> Architecture:
    """Qwen2-MoE / Qwen3-MoE: Llama's norms and attention; each block's MLP is experts (plus, in Qwen2-MoE, one
    shared expert that every token uses, behind a sigmoid gate), or dense in `mlp_only_layers` and between every
    decoder_sparse_step-th block."""
    arch = qwen3_notes(llama(config)) if config["model_type"] == "qwen3_moe" else llama(config)
    experts = int(config.get("num_experts") or config["num_local_experts"])  # transformers 5 writes the latter
    n_layers = int(config["num_hidden_layers"])
    step = int(config.get("decoder_sparse_step", 1) or 1)
    dense = set(config.get("mlp_only_layers") or ()) | {i for i in range(n_layers) if (i + 1) % step}
    shared = int(config.get("shared_expert_intermediate_size") or 0) > 0
    block, inputs = "layers.{i}.mlp.", ("gate_proj", "up_proj")
    routed = [MatrixSpec(block + f"experts.{e}.{w}.weight") for e in range(experts) for w in inputs]
    routed += [MatrixSpec(block + f"shared_expert.{w}.weight") for w in inputs] if shared else []
    reads = _mlp_reads(n_layers, dense, [MatrixSpec(block + f"{w}.weight") for w in inputs], routed)
    note = _experts_note(experts, "gate_proj and up_proj" + (", and the shared expert's" if shared else ""),
                         ", plus a shared expert that every token uses (its gate_proj and up_proj are read too)"
                         if shared else "", tuple(sorted(dense)), "gate_proj and up_proj")
    return replace(_with_mlp_reads(arch, reads, note), name=str(config["model_type"]))


def qwen3_notes(arch: Architecture) -> Architecture:
    return replace(arch, notes=arch.notes + (QK_NORM_NOTE,))


def deepseek_v3(config: dict) -> Architecture:
    """DeepSeek-V3: Llama's norm names (RMSNorm), multi-head latent attention, dense first blocks then routed experts
    (one ModuleList entry each in the checkpoint) beside shared experts."""
    arch = llama(config)
    n_layers, experts = arch.n_layers, int(config["n_routed_experts"])
    first_dense, every = int(config.get("first_k_dense_replace") or 0), int(config.get("moe_layer_freq") or 1)
    dense = {i for i in range(n_layers) if i < first_dense or i % every}
    shared = int(config.get("n_shared_experts") or 0) > 0
    block, inputs = "layers.{i}.mlp.", ("gate_proj", "up_proj")
    routed = [MatrixSpec(block + f"experts.{e}.{w}.weight") for e in range(experts) for w in inputs]
    routed += [MatrixSpec(block + f"shared_experts.{w}.weight") for w in inputs] if shared else []
    reads = _mlp_reads(n_layers, dense, [MatrixSpec(block + f"{w}.weight") for w in inputs], routed)
    note = _experts_note(experts, "gate_proj and up_proj" + (", and the shared experts'" if shared else ""),
                         ", plus shared experts that every token uses (their gate_proj and up_proj are read too)"
                         if shared else "", tuple(sorted(dense)), "gate_proj and up_proj")
    arch = _with_mlp_reads(arch, reads, note, keep=("attn_out",))
    extra = int(config.get("num_nextn_predict_layers") or 0)
    mtp = ((f"The checkpoint's {extra} multi-token-prediction block(s) after the last layer (layers.{arch.n_layers}…) "
            "are a training aid outside the forward stack; they are not read.",) if extra else ())
    return replace(arch, extra_blocks=extra, notes=arch.notes + mtp + (
        "Attention is multi-head latent attention: keys and values are read from the residual stream through one "
        "shared low-rank latent (kv_a_proj_with_mqa), renormalised there (kv_a_layernorm) and only then split into "
        "values (kv_b_proj), so no single stored matrix is the value read-weights; the attention value read-weights "
        "are not compared (its output weights, o_proj, are). The latent norms (q_a_layernorm, kv_a_layernorm) act on "
        "latent dims, not on the residual stream's channel dims, and are not read.",))


def gpt_oss(config: dict) -> Architecture:
    """gpt-oss: Llama's norm names (RMSNorm), attention sinks, experts stored fused (and mxfp4-quantized on the Hub)."""
    arch = llama(config)
    experts = int(config["num_local_experts"])
    reads = _fused_experts("layers.{i}.mlp.experts.gate_up_proj", experts)
    return _with_mlp_reads(arch, reads, _experts_note(experts, "gate and up", "") + (
        " The experts are stored as one 3-D tensor per block, gate_up_proj [experts, d_model, 2·ffn], gate and up "
        "interleaved along the last axis (even columns gate, odd up): each expert's [d_model, 2·ffn] slice is read "
        "on its own, a block of rows at a time, and every column counts, so the interleaving does not change a read "
        "norm. The published checkpoints store these tensors as mxfp4 blocks and scales (gate_up_proj_blocks, "
        "gate_up_proj_scales), which this tool does not dequantize: for them the MLP read-weights are missing and "
        "the read profile is skipped; a dequantized (bf16) checkpoint is read."))


def _llama4_moe_layers(config: dict) -> set[int]:
    """The expert blocks: moe_layers, or every interleave_moe_layer_step-th block, as transformers fills it in."""
    n_layers = int(config["num_hidden_layers"])
    if config.get("moe_layers") is not None:
        return {int(i) for i in config["moe_layers"]}
    step = int(config.get("interleave_moe_layer_step") or 1)
    return set(range(step - 1, n_layers, step))


def llama4_text(config: dict) -> Architecture:
    """Llama 4's text model: Llama's norm names, NoPE layers, experts stored as one fused 3-D tensor per block
    beside a shared expert; dense and expert blocks may alternate."""
    arch = with_nope(llama(config), nope_layers(config))
    experts = int(config["num_local_experts"])
    dense = set(range(arch.n_layers)) - _llama4_moe_layers(config)
    block, inputs = "layers.{i}.feed_forward.", ("gate_proj", "up_proj")
    routed = _fused_experts(block + "experts.gate_up_proj", experts)
    routed += tuple(MatrixSpec(block + f"shared_expert.{w}.weight") for w in inputs)
    reads = _mlp_reads(arch.n_layers, dense, [MatrixSpec(block + f"{w}.weight") for w in inputs], routed)
    return _with_mlp_reads(arch, reads, _experts_note(
        experts, "gate and up, and the shared expert's gate_proj and up_proj",
        ", plus a shared expert that every token uses", tuple(sorted(dense)), "gate_proj and up_proj") + (
        " The routed experts are stored as one 3-D tensor per block, feed_forward.experts.gate_up_proj "
        "[experts, d_model, 2·ffn], gate in the first half of the last axis and up in the second: each expert's "
        "[d_model, 2·ffn] slice is read on its own, a block of rows at a time."))


VISION_NOTE = ("This checkpoint is a multimodal container ({cls}): only its text model is read, under the "
               "{prefix} prefix; the vision tower and the projector that maps image features into the text "
               "model's embedding space are not read (the study's questions are about token embeddings).")


def _text_part(config: dict, adapter, text_type: str, prefixes: tuple[str, ...], cls: str) -> Architecture:
    text = config.get("text_config")
    if not isinstance(text, dict):
        raise UnsupportedModel(f"this {config.get('model_type')} config has no text_config, so the text model's "
                               "sizes are unknown")
    arch = adapter(text | {"model_type": text_type})
    return replace(arch, name=str(config["model_type"]), prefixes=prefixes,
                   notes=arch.notes + (VISION_NOTE.format(cls=cls, prefix=prefixes[0]),))


def gemma3(config: dict) -> Architecture:
    """Gemma 3's multimodal container: the gemma3_text adapter under the language model's prefix."""
    return _text_part(config, gemma, "gemma3_text", ("language_model.model.", "model.language_model.",
                                                     "language_model.", ""), "Gemma3ForConditionalGeneration")


def llama4(config: dict) -> Architecture:
    """Llama 4's multimodal container: the llama4_text adapter under the language model's prefix."""
    return _text_part(config, llama4_text, "llama4_text", ("language_model.model.", "model.language_model.",
                                                           "language_model.", ""), "Llama4ForConditionalGeneration")


RECENT = {
    "deepseek_v3": deepseek_v3,
    "exaone": exaone,
    "gemma3": gemma3,
    "gpt_oss": gpt_oss,
    "granite": granite,
    "llama4": llama4,
    "llama4_text": llama4_text,
    "mpt": mpt,
    "qwen2_moe": qwen_moe,
    "qwen3_moe": qwen_moe,
    "smollm3": smollm3,
    "starcoder2": starcoder2,
}
