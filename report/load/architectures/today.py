"""Adapters for today's families (Gemma, BLOOM, StarCoder, Qwen3, Phi, OLMo, Mixtral, ...), each stating the study's
questions in that architecture's terms: which norm plays which role, the effective gain, what "positions" means,
and which sections have nothing to measure and why. The shared vocabulary is in report.load.architectures.spec."""

from __future__ import annotations

from dataclasses import replace

from report.load.architectures.classic import llama
from report.load.architectures.spec import (
    ROTARY,
    ROTARY_NOTE,
    Architecture,
    MatrixSpec,
    llama_matrices,
    matrix_specs,
    norm_specs,
)

ALIBI = "ALiBi: a fixed penalty on attention scores that grows with distance (no table)"
ALIBI_NOTE = ("Positions enter as ALiBi, a fixed penalty on attention scores that grows with the distance between "
              "tokens, so there is no learned position table: the position analyses are skipped.")

def gemma(config: dict) -> Architecture:
    """Gemma 1/2/3: RMSNorms that scale by `1 + weight`, embeddings scaled by √d, a tied head; Gemma-2 and 3 put
    a second norm on each sublayer's output (sandwich norms) and Gemma-2 soft-caps its logits."""
    n_layers, d = int(config["num_hidden_layers"]), int(config["hidden_size"])
    sandwich = config["model_type"] != "gemma"
    block = "layers.{i}."
    second = block + ("pre_feedforward_layernorm" if sandwich else "post_attention_layernorm")
    post = (block + "post_attention_layernorm", block + "post_feedforward_layernorm") if sandwich else ()
    cap = config.get("final_logit_softcapping")
    notes = (ROTARY_NOTE,
             "The norms are RMSNorms that multiply by 1 + weight, not by weight: every gain in this report is that "
             "effective gain (a stored 0 is a gain of 1). No norm has a bias (biases are shown as zero).",
             f"Token embeddings are multiplied by √d = {d ** 0.5:.4g} on the way in. The report reads the stored rows: "
             "a common factor changes no direction, cosine, rank, correlation or nearest neighbour, so no section's "
             "answer depends on it; norms are in stored units (× √d in the residual stream).",
             "The output head is tied to the input embedding unless the checkpoint says otherwise."
             + (f" Output logits are soft-capped (c·tanh(z/c), c = {float(cap):g}): a monotone map, so which token "
                "scores highest, the zero-layer prediction, is unchanged." if cap else
                " Output logits are not soft-capped in this model."))
    if sandwich:
        notes += ("Each block has four norms: LN1 before attention, LN2 before the MLP (pre_feedforward_layernorm), "
                  "and one on each sublayer's output before it joins the residual stream (post_attention_layernorm, "
                  "post_feedforward_layernorm; role ln_post): the LayerNorm-basis section reads all four.",)
    if config["model_type"] == "gemma3_text":
        notes += ("The per-head query and key norms (q_norm, k_norm) act on head dims, not on the channel dims of "
                  "the residual stream, and are not read.",)
    return Architecture(
        name=str(config["model_type"]), token_embeddings="embed_tokens.weight", position_embeddings=None,
        unembedding="lm_head.weight",
        layer_norms=norm_specs(n_layers, block + "input_layernorm", second, "norm", post=post),
        prefixes=("model.", ""), d_model=d, vocab_size=int(config["vocab_size"]), n_positions=None,
        n_layers=n_layers, word_start_rule="leading-space", norm="rmsnorm", gain_offset=1.0, notes=notes,
        matrices=llama_matrices(), positions=ROTARY,
    )


def bloom(config: dict) -> Architecture:
    """BLOOM: ALiBi instead of positions, and a LayerNorm on the token embeddings before the first block."""
    n_layers, d = int(config["n_layer"]), int(config.get("hidden_size") or config["n_embed"])
    heads = int(config["n_head"])
    head = d // heads  # the fused query_key_value rows are [head][q, k, v][head_dim]
    values = tuple((h * 3 * head + 2 * head, h * 3 * head + 3 * head) for h in range(heads))
    return Architecture(
        name="bloom", token_embeddings="word_embeddings.weight", position_embeddings=None,
        unembedding="lm_head.weight",
        layer_norms=norm_specs(n_layers, "h.{i}.input_layernorm", "h.{i}.post_attention_layernorm", "ln_f",
                           embed="word_embeddings_layernorm"),
        prefixes=("transformer.", ""), d_model=d, vocab_size=int(config["vocab_size"]), n_positions=None,
        n_layers=n_layers, word_start_rule="leading-space", positions=ALIBI,
        notes=(ALIBI_NOTE,
               "A LayerNorm sits on the token embeddings themselves (word_embeddings_layernorm), before the first "
               "block: every token's row is normalised and scaled by its gains before anything reads it, so the "
               "study's argument that LayerNorm gains single out the channel dims applies to it directly. It is "
               "listed as the norm on the embeddings, and its gains are analysed with the others."),
        matrices=matrix_specs("h.{i}.mlp.dense_h_to_4h.weight", "h.{i}.mlp.dense_4h_to_h.weight",
                           "h.{i}.self_attention.query_key_value.weight", "h.{i}.self_attention.dense.weight",
                           value_ranges=values),
    )


def gpt_bigcode(config: dict) -> Architecture:
    """GPT-BigCode / StarCoder: GPT-2's layout with Linear weights, learned positions, multi-query attention."""
    n_layers, d, heads = int(config["n_layer"]), int(config["n_embd"]), int(config["n_head"])
    head = d // heads
    multi_query = bool(config.get("multi_query", True))
    # c_attn rows: multi-query [q (d), k (head), v (head)]; otherwise [head][q, k, v][head_dim]
    values = ((d + head, d + 2 * head),) if multi_query else \
        tuple((h * 3 * head + 2 * head, h * 3 * head + 3 * head) for h in range(heads))
    notes = ("Attention is multi-query: every head shares one key and one value projection, so the attention "
             "value read-weights are that one shared projection.",) if multi_query else ()
    return Architecture(
        name="gpt_bigcode", token_embeddings="wte.weight", position_embeddings="wpe.weight",
        unembedding="lm_head.weight", layer_norms=norm_specs(n_layers, "h.{i}.ln_1", "h.{i}.ln_2", "ln_f"),
        prefixes=("transformer.", ""), d_model=d, vocab_size=int(config["vocab_size"]),
        n_positions=int(config["n_positions"]), n_layers=n_layers, word_start_rule="leading-space", notes=notes,
        matrices=matrix_specs("h.{i}.mlp.c_fc.weight", "h.{i}.mlp.c_proj.weight", "h.{i}.attn.c_attn.weight",
                           "h.{i}.attn.c_proj.weight", value_ranges=values),
    )


QK_NORM_NOTE = ("The per-head query and key norms (q_norm, k_norm) act inside attention heads, not on the channel "
                "dims of the residual stream, and are not read.")


def qwen3(config: dict) -> Architecture:
    arch = llama(config)
    return replace(arch, notes=arch.notes + (QK_NORM_NOTE,))


def phi3(config: dict) -> Architecture:
    """Phi-3: Llama's norms, with query/key/value fused in qkv_proj and gate/up fused in gate_up_proj."""
    d, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    head = int(config.get("head_dim") or d // heads)
    q, kv = heads * head, int(config.get("num_key_value_heads") or heads) * head
    inner = int(config["intermediate_size"])
    fused_mlp = "layers.{i}.mlp.gate_up_proj.weight"
    matrices = (("mlp_in", (MatrixSpec(fused_mlp, out_ranges=((0, inner),)),  # gate, then up, as Llama's pair
                            MatrixSpec(fused_mlp, out_ranges=((inner, 2 * inner),)))),
                ("mlp_out", (MatrixSpec("layers.{i}.mlp.down_proj.weight"),)),
                ("attn_value", (MatrixSpec("layers.{i}.self_attn.qkv_proj.weight",
                                           out_ranges=((q + kv, q + 2 * kv),)),)),
                ("attn_out", (MatrixSpec("layers.{i}.self_attn.o_proj.weight"),)))
    arch = llama(config)
    return replace(arch, matrices=matrices, notes=arch.notes + (
        "Query, key and value share one matrix (qkv_proj) and the MLP's gate and up projections another "
        "(gate_up_proj, gate first): the MLP read-weights are both halves of gate_up_proj, as Llama's gate and up, "
        "and the value read-weights are the value rows of qkv_proj.",))


def mixtral(config: dict) -> Architecture:
    """Mixtral: Llama's norms and attention; each block's MLP is a mixture of experts behind a router."""
    experts = int(config["num_local_experts"])
    moe = "layers.{i}.block_sparse_moe."
    arch = llama(config)
    reads = tuple(MatrixSpec(moe + f"experts.{e}.{w}.weight") for e in range(experts) for w in ("w1", "w3"))
    matrices = tuple((role, reads if role == "mlp_in" else specs) for role, specs in arch.matrices
                     if role != "mlp_out")
    return replace(arch, matrices=matrices, notes=arch.notes + (
        f"Each block's MLP is a mixture of {experts} experts chosen per token by a router. The MLP read-weights are "
        "every expert's input projections (w1 and w3) side by side, so a channel dim's read norm is over all experts: "
        "the router's own weights only choose experts, they do not read features for the MLP. The MLP write-weights "
        "(each expert's w2) are not compared, since no single matrix writes the block's MLP output.",))


def olmo(config: dict) -> Architecture:
    """OLMo-1: LayerNorms with neither gain nor bias."""
    n_layers = int(config["num_hidden_layers"])
    arch = llama(config)
    norms = tuple(replace(spec, key=None) for spec in norm_specs(n_layers, "{i}", "{i}", "final"))
    reason = ("OLMo-1's LayerNorms have no parameters: every gain is 1 and every bias 0, so there are no gains to "
              "single out channel dims")
    return replace(arch, norm="no-parameters", layer_norms=norms, notes=(ROTARY_NOTE, reason + "."), not_applicable=(
        ("layernorm_basis", reason + "; the section's claims are marked not applicable."),
        ("ln_gains", reason + " or to compare with position activity."),
        ("unigram", reason + ": no norm turns any dim up in front of the MLP, so no unigram dim can be found from "
                    "gains.")))


def olmo2(config: dict) -> Architecture:
    """OLMo-2: RMSNorms only on the sublayers' outputs (and at the end); nothing normalises a sublayer's input."""
    n_layers = int(config["num_hidden_layers"])
    block = "layers.{i}."
    norms = norm_specs(n_layers, block + "post_attention_layernorm", None, "norm",
                   post=(block + "post_feedforward_layernorm",))
    norms = tuple(replace(s, role="ln_post", name=s.name.replace("ln_1", "ln_post_a")) if s.role == "ln_1" else s
                  for s in norms)
    reason = ("OLMo-2 normalises each sublayer's output, not its input: attention and the MLP read the residual "
              "stream un-normalised, so no norm sits in front of them")
    arch = llama(config)
    return replace(arch, layer_norms=norms, notes=arch.notes + (
        reason + ". Its norms (on the attention and MLP outputs, role ln_post, and the final one) are analysed in "
        "the LayerNorm-basis section.", QK_NORM_NOTE), not_applicable=(
        ("ln_gains", reason + ": there are no LN1/LN2 gains to compare with position activity."),
        ("unigram", reason + ": no norm turns a dim up in front of the MLP.")))


TODAY = {
    "bloom": bloom,
    "gemma": gemma,
    "gemma2": gemma,
    "gemma3_text": gemma,
    "gpt_bigcode": gpt_bigcode,
    "mixtral": mixtral,
    "olmo": olmo,
    "olmo2": olmo2,
    "phi3": phi3,
    "qwen3": qwen3,
}

NO_TOKEN_EMBEDDING = ("its inputs are not tokens (image patches, audio frames or other features), so it has no "
                      "token embedding matrix for the study to read")
# Types refused with the reason, before the list of supported ones.
REFUSED = {
    "t5": "an encoder-decoder whose one shared embedding feeds two stacks of norms, with relative position buckets "
          "inside attention; the report's sections assume one stack, so which norms play LN1 and LN2 would be "
          "ambiguous (the study's questions would need asking per stack)",
    "mt5": "an encoder-decoder like T5 (see t5)",
    "umt5": "an encoder-decoder like T5 (see t5)",
    "vit": NO_TOKEN_EMBEDDING,
    "clip_vision_model": NO_TOKEN_EMBEDDING,
    "dinov2": NO_TOKEN_EMBEDDING,
    "wav2vec2": NO_TOKEN_EMBEDDING,
    "hubert": NO_TOKEN_EMBEDDING,
    "time_series_transformer": NO_TOKEN_EMBEDDING,
    "mamba": "a state-space model: its blocks have one RMSNorm in front of a selective-scan mixer and no attention "
             "or MLP, so there is no LN1/pre-MLP norm pair, no attention value read-weights and no MLP for the "
             "study's LayerNorm-gain, unigram-dim and read-weight sections to ask about",
    "mamba2": "a state-space model like Mamba (see mamba): one norm per block in front of a scan mixer (and a gated "
              "norm inside it), no attention and no MLP",
    "rwkv": "a recurrent model: each block's time-mixing and channel-mixing replace attention and the MLP, so the "
            "norm pair the study compares (LN1 before attention, LN2 before the MLP) and the attention value "
            "read-weights have no counterpart, and there are no positions",
}
REMOTE_CODE = ("a model whose modelling code lives in its Hub repo (trust_remote_code), which this tool never runs; "
               "supporting it needs an adapter written from that code for its key names, norm kind and fused "
               "matrices")
REFUSED.update({name: REMOTE_CODE for name in ("chatglm", "internlm2", "baichuan", "qwen", "minicpm")})
