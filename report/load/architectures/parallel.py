"""Adapters for blocks whose attention and MLP read the residual stream side by side, most often through one
shared norm: Phi-1/2, GPT-J, Falcon, Cohere, and StableLM (a Llama layout with LayerNorms, parallel in some sizes).

Where one norm feeds both sublayers it is listed once, as ln_1, with `shared_norm` set and `mlp_norm_role` ln_1:
that norm is LN1 (in front of attention) and also the norm in front of the MLP. The unigram-dim search reads it
as the pre-MLP norm, the LN-gains section says that its two roles coincide, and the MLP read profile weights both
attention's and the MLP's reads by its gain. No second norm is invented.
"""

from __future__ import annotations

from dataclasses import replace

from report.load.architectures.spec import (
    Architecture,
    UnsupportedModel,
    llama_matrices,
    matrix_specs,
    norm_specs,
)
from report.load.architectures.today import ALIBI, ALIBI_NOTE, QK_NORM_NOTE


def shared_norm_note(key: str) -> str:
    return (f"Each block has one LayerNorm ({key}) whose output feeds attention and the MLP in parallel, so it "
            "plays both of the study's roles: it is LN1, the norm in front of attention, and also the norm in front "
            "of the MLP (listed as LN2 too). The unigram-dim search reads its gains as the pre-MLP gains; the "
            "LayerNorm-gains section shows one set of gains for both roles (its LN2 columns repeat LN1) rather "
            "than a second norm the model does not have.")


PARALLEL_TWO_NORMS_NOTE = ("Attention and the MLP read the same residual stream in parallel, each through its own "
                           "norm: LN1 is attention's ({first}), LN2 the MLP's ({second}), not a norm after attention.")


def _rotary(head_dim: int, rotated: int) -> tuple[str, str]:
    """(positions phrase, model-card note) for rotary embeddings on the first `rotated` of `head_dim` dims."""
    if rotated >= head_dim:
        share = "every dim of each attention head"
    else:
        share = f"the first {rotated} of each attention head's {head_dim} dims (partial rotary; the rest carry none)"
    return (f"rotary embeddings inside attention on {share}; no table",
            f"Positions are encoded by rotary embeddings inside attention, on {share}, so there is no learned "
            "position table: the position analyses are skipped.")


def _partial_factor(config: dict, default: float) -> float:
    """The share of each head's dims that rotary rotates: top-level (older configs) or in rope_parameters."""
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    factor = config.get("partial_rotary_factor", rope.get("partial_rotary_factor") if isinstance(rope, dict) else None)
    return float(default if factor is None else factor)


def _head_dim(config: dict, d: int) -> int:
    return int(config.get("head_dim") or d // int(config["num_attention_heads"]))


HEAD_BIAS_NOTE = ("The output head has a bias (lm_head.bias), a per-token offset that does not depend on the input; "
                  "the zero-layer and unembedding analyses read the head's weight matrix only.")


def phi(config: dict) -> Architecture:
    """Phi-1 / Phi-1.5 / Phi-2: LayerNorms with bias, one per block feeding attention and the MLP in parallel,
    partial rotary, an untied head with a bias."""
    n_layers, d = int(config["num_hidden_layers"]), int(config["hidden_size"])
    head = _head_dim(config, d)
    positions, rotary_note = _rotary(head, int(head * _partial_factor(config, 0.5)))
    notes = (rotary_note, shared_norm_note("input_layernorm"), HEAD_BIAS_NOTE)
    if config.get("qk_layernorm"):
        notes += (QK_NORM_NOTE,)
    return Architecture(
        name="phi", token_embeddings="embed_tokens.weight", position_embeddings=None, unembedding="lm_head.weight",
        layer_norms=norm_specs(n_layers, "layers.{i}.input_layernorm", None, "final_layernorm"),
        prefixes=("model.", ""), d_model=d, vocab_size=int(config["vocab_size"]), n_positions=None,
        n_layers=n_layers, word_start_rule="leading-space", positions=positions, notes=notes,
        mlp_norm_role="ln_1", shared_norm=True,
        matrices=matrix_specs("layers.{i}.mlp.fc1.weight", "layers.{i}.mlp.fc2.weight",
                           "layers.{i}.self_attn.v_proj.weight", "layers.{i}.self_attn.dense.weight"),
    )


def gptj(config: dict) -> Architecture:
    """GPT-J: GPT-2's names, one LayerNorm (ln_1) per block feeding attention and the MLP in parallel, rotary on
    rotary_dim dims of each head, an untied head with a bias."""
    n_layers, d, heads = int(config["n_layer"]), int(config["n_embd"]), int(config["n_head"])
    head = d // heads
    positions, rotary_note = _rotary(head, int(config.get("rotary_dim") or head))
    return Architecture(
        name="gptj", token_embeddings="wte.weight", position_embeddings=None, unembedding="lm_head.weight",
        layer_norms=norm_specs(n_layers, "h.{i}.ln_1", None, "ln_f"), prefixes=("transformer.", ""), d_model=d,
        vocab_size=int(config["vocab_size"]), n_positions=None, n_layers=n_layers, word_start_rule="leading-space",
        positions=positions, notes=(rotary_note, shared_norm_note("ln_1"), HEAD_BIAS_NOTE),
        mlp_norm_role="ln_1", shared_norm=True,
        matrices=matrix_specs("h.{i}.mlp.fc_in.weight", "h.{i}.mlp.fc_out.weight", "h.{i}.attn.v_proj.weight",
                           "h.{i}.attn.out_proj.weight"),
    )


def codegen(config: dict) -> Architecture:
    """CodeGen: GPT-J's block (one ln_1 feeding attention and the MLP in parallel, rotary on rotary_dim dims, a head
    with a bias) with query, value and key fused in qkv_proj, interleaved across the 4 model-parallel shards it was
    trained on."""
    arch = gptj(config)
    d, shards = arch.d_model, 4  # transformers' CodeGenAttention.mp_num
    local = d // shards  # each shard's rows: [query, value, key], local rows each
    values = tuple((s * 3 * local + local, s * 3 * local + 2 * local) for s in range(shards))
    return replace(arch, name="codegen", notes=arch.notes + (
        "Query, value and key share one matrix (qkv_proj) whose rows come in 4 model-parallel shards, each holding "
        "its share of queries, then values, then keys: the attention value read-weights are the value rows of every "
        "shard.",), matrices=matrix_specs("h.{i}.mlp.fc_in.weight", "h.{i}.mlp.fc_out.weight",
                                          "h.{i}.attn.qkv_proj.weight", "h.{i}.attn.out_proj.weight",
                                          value_ranges=values))


def _falcon_values(config: dict, d: int, heads: int, head: int, new: bool) -> tuple[tuple[tuple[int, int], ...], str]:
    """The value rows of Falcon's fused query_key_value, and how its attention shares them."""
    if new:  # rows are [kv group][its query heads, key, value][head_dim]
        groups = int(config.get("num_kv_heads") or heads)
        size = (heads // groups + 2) * head
        return (tuple((g * size + size - head, g * size + size) for g in range(groups)),
                f"Attention groups its {heads} query heads over {groups} key/value heads: the attention value "
                "read-weights are those value projections, taken from the fused query_key_value matrix.")
    if config.get("multi_query", True):  # rows are [all queries][one key][one value]
        return (((d + head, d + 2 * head),),
                "Attention is multi-query: every head shares one value projection, the attention value read-weights "
                "(the value rows of the fused query_key_value matrix).")
    return (tuple((h * 3 * head + 2 * head, h * 3 * head + 3 * head) for h in range(heads)),
            "The attention value read-weights are the value rows of the fused query_key_value matrix.")


def falcon(config: dict) -> Architecture:
    """Falcon: parallel attention and MLP through one shared norm (7B), or through ln_attn and ln_mlp (the new
    decoder architecture: 40B, 180B); sequential blocks where parallel_attn is false (falcon-rw); ALiBi or
    rotary per config."""
    n_layers = int(config.get("num_hidden_layers") or config["n_layer"])
    d, heads = int(config["hidden_size"]), int(config.get("num_attention_heads") or config["n_head"])
    head = d // heads
    new = bool(config.get("new_decoder_architecture", False))
    block = "h.{i}."
    norms_per_block = config.get("num_ln_in_parallel_attn") or (2 if new else 1)
    if not config.get("parallel_attn", True):
        if new:
            raise UnsupportedModel("this Falcon config sets new_decoder_architecture with parallel_attn false, a "
                                   "combination transformers itself cannot run; it is not supported")
        first, second, block_note = block + "input_layernorm", block + "post_attention_layernorm", None
    elif new and int(norms_per_block) == 2:
        first, second = block + "ln_attn", block + "ln_mlp"
        block_note = PARALLEL_TWO_NORMS_NOTE.format(first="ln_attn", second="ln_mlp")
    else:
        first, second, block_note = block + "input_layernorm", None, shared_norm_note("input_layernorm")
    values, value_note = _falcon_values(config, d, heads, head, new)
    if config.get("alibi"):
        positions, position_note = ALIBI, ALIBI_NOTE
    else:
        positions, position_note = _rotary(head, head)
    return Architecture(
        name="falcon", token_embeddings="word_embeddings.weight", position_embeddings=None,
        unembedding="lm_head.weight", layer_norms=norm_specs(n_layers, first, second, "ln_f"),
        prefixes=("transformer.", ""), d_model=d, vocab_size=int(config["vocab_size"]), n_positions=None,
        n_layers=n_layers, word_start_rule="leading-space", positions=positions,
        notes=tuple(filter(None, (position_note, block_note, value_note))),
        mlp_norm_role="ln_1" if second is None else "ln_2", shared_norm=second is None,
        matrices=matrix_specs(block + "mlp.dense_h_to_4h.weight", block + "mlp.dense_4h_to_h.weight",
                           block + "self_attention.query_key_value.weight", block + "self_attention.dense.weight",
                           value_ranges=values),
    )


def cohere(config: dict) -> Architecture:
    """Cohere (Command-R): Llama's names, LayerNorms without bias, one per block feeding attention and the MLP in
    parallel, logits multiplied by logit_scale, a tied head."""
    n_layers, d = int(config["num_hidden_layers"]), int(config["hidden_size"])
    head = _head_dim(config, d)
    positions, rotary_note = _rotary(head, head)
    scale = float(config.get("logit_scale", 0.0625))
    notes = (rotary_note, shared_norm_note("input_layernorm"),
             "The norms are LayerNorms without a bias: they centre and scale, then multiply by a gain per dim "
             "(biases are shown as zero).",
             f"Output logits are multiplied by logit_scale = {scale:g}, one positive constant for every token: which "
             "token scores highest (the zero-layer prediction) and every rank are unchanged; logit values in this "
             "report are in the head's own units, before that scale.",
             "The output head is tied to the input embedding unless the checkpoint holds a separate lm_head.")
    if config.get("use_qk_norm"):
        notes += (QK_NORM_NOTE,)
    return Architecture(
        name="cohere", token_embeddings="embed_tokens.weight", position_embeddings=None, unembedding="lm_head.weight",
        layer_norms=norm_specs(n_layers, "layers.{i}.input_layernorm", None, "norm"), prefixes=("model.", ""),
        d_model=d, vocab_size=int(config["vocab_size"]), n_positions=None, n_layers=n_layers,
        word_start_rule="leading-space", norm="layernorm-no-bias", positions=positions, notes=notes,
        mlp_norm_role="ln_1", shared_norm=True, matrices=llama_matrices(),
    )


def stablelm(config: dict) -> Architecture:
    """StableLM (and StableLM-2): Llama's names and matrices with LayerNorms that have a bias, partial rotary; the
    sizes with use_parallel_residual have one norm per block feeding attention and the MLP."""
    n_layers, d = int(config["num_hidden_layers"]), int(config["hidden_size"])
    head = _head_dim(config, d)
    positions, rotary_note = _rotary(head, int(head * _partial_factor(config, 0.25)))
    parallel = bool(config.get("use_parallel_residual", False))
    second = None if parallel else "layers.{i}.post_attention_layernorm"
    notes = (rotary_note, "The norms are LayerNorms with a gain and a bias, in Llama's places and under its names.")
    if parallel:
        notes += (shared_norm_note("input_layernorm"),)
    if config.get("qk_layernorm"):
        notes += ("The per-head query and key LayerNorms (q_layernorm, k_layernorm) act inside attention heads, not "
                  "on the channel dims of the residual stream, and are not read.",)
    return Architecture(
        name="stablelm", token_embeddings="embed_tokens.weight", position_embeddings=None,
        unembedding="lm_head.weight", layer_norms=norm_specs(n_layers, "layers.{i}.input_layernorm", second, "norm"),
        prefixes=("model.", ""), d_model=d, vocab_size=int(config["vocab_size"]), n_positions=None,
        n_layers=n_layers, word_start_rule="leading-space", positions=positions, notes=notes,
        mlp_norm_role="ln_1" if parallel else "ln_2", shared_norm=parallel, matrices=llama_matrices(),
    )


PARALLEL = {
    "codegen": codegen,
    "cohere": cohere,
    "falcon": falcon,
    "gptj": gptj,
    "phi": phi,
    "stablelm": stablelm,
}
