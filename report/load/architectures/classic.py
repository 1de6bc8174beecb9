"""The first families: GPT-2, GPT-Neo, OPT, GPT-NeoX / Pythia, Llama-style RMSNorm models and the BERT-family
encoders."""

from __future__ import annotations

from report.load.architectures.spec import (
    ROTARY,
    ROTARY_NOTE,
    Architecture,
    UnsupportedModel,
    llama_matrices,
    matrix_specs,
    norm_specs,
)


def gpt2(config: dict) -> Architecture:
    n_layers = int(config["n_layer"])
    return Architecture(
        name="gpt2", token_embeddings="wte.weight", position_embeddings="wpe.weight",
        unembedding="lm_head.weight", layer_norms=norm_specs(n_layers, "h.{i}.ln_1", "h.{i}.ln_2", "ln_f"),
        prefixes=("", "transformer."), d_model=int(config["n_embd"]), vocab_size=int(config["vocab_size"]),
        n_positions=int(config["n_positions"]), n_layers=n_layers, word_start_rule="leading-space",
        matrices=matrix_specs("h.{i}.mlp.c_fc.weight", "h.{i}.mlp.c_proj.weight", "h.{i}.attn.c_attn.weight",
                           "h.{i}.attn.c_proj.weight", layout="in_out",  # Conv1D stores [in, out]
                           value_ranges=((2 * int(config["n_embd"]), 3 * int(config["n_embd"])),)),
    )


def gpt_neo(config: dict) -> Architecture:
    n_layers = int(config["num_layers"])
    return Architecture(
        name="gpt_neo", token_embeddings="wte.weight", position_embeddings="wpe.weight",
        unembedding="lm_head.weight", layer_norms=norm_specs(n_layers, "h.{i}.ln_1", "h.{i}.ln_2", "ln_f"),
        prefixes=("transformer.", ""), d_model=int(config["hidden_size"]), vocab_size=int(config["vocab_size"]),
        n_positions=int(config["max_position_embeddings"]), n_layers=n_layers, word_start_rule="leading-space",
        matrices=matrix_specs("h.{i}.mlp.c_fc.weight", "h.{i}.mlp.c_proj.weight", "h.{i}.attn.attention.v_proj.weight",
                           "h.{i}.attn.attention.out_proj.weight"),
    )


def opt(config: dict) -> Architecture:
    d = int(config["hidden_size"])
    projected = int(config.get("word_embed_proj_dim", d))
    if projected != d:
        raise UnsupportedModel(
            f"this OPT model embeds tokens in {projected} dims and projects them to its hidden size {d} "
            "(project_in / project_out), so its embeddings do not live in the residual stream that the "
            "LayerNorms see; such OPT models (opt-350m) are not supported")
    n_layers = int(config["num_hidden_layers"])
    pre_ln = bool(config.get("do_layer_norm_before", True))
    final = "decoder.final_layer_norm" if pre_ln and not config.get("_remove_final_layer_norm", False) else None
    notes = ("The learned position table has 2 extra leading rows that no position uses; they are dropped.",)
    if not pre_ln:
        notes += ("This OPT model applies its LayerNorms after attention and after the MLP (post-LN).",)
    return Architecture(
        name="opt", token_embeddings="decoder.embed_tokens.weight",
        position_embeddings="decoder.embed_positions.weight", unembedding="lm_head.weight",
        layer_norms=norm_specs(n_layers, "decoder.layers.{i}.self_attn_layer_norm",
                           "decoder.layers.{i}.final_layer_norm", final),
        prefixes=("model.", ""), d_model=d, vocab_size=int(config["vocab_size"]),
        n_positions=int(config["max_position_embeddings"]), n_layers=n_layers, word_start_rule="leading-space",
        position_offset=2, notes=notes, mlp_norm_role="ln_2" if pre_ln else "ln_1",
        matrices=matrix_specs("decoder.layers.{i}.fc1.weight", "decoder.layers.{i}.fc2.weight",
                           "decoder.layers.{i}.self_attn.v_proj.weight",
                           "decoder.layers.{i}.self_attn.out_proj.weight"),
    )


def gpt_neox(config: dict) -> Architecture:
    n_layers = int(config["num_hidden_layers"])
    parallel = bool(config.get("use_parallel_residual", True))
    d, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    head = d // heads  # the fused query_key_value rows are [head][q, k, v][head_dim]
    values = tuple((h * 3 * head + 2 * head, h * 3 * head + 3 * head) for h in range(heads))
    return Architecture(
        name="gpt_neox", token_embeddings="embed_in.weight", position_embeddings=None,
        unembedding="lm_head.weight",
        layer_norms=norm_specs(n_layers, "layers.{i}.input_layernorm", "layers.{i}.post_attention_layernorm",
                           "final_layer_norm"),
        prefixes=("gpt_neox.", ""), d_model=int(config["hidden_size"]), vocab_size=int(config["vocab_size"]),
        n_positions=None, n_layers=n_layers, word_start_rule="leading-space",
        aliases=(("lm_head.weight", "embed_out.weight"),), positions=ROTARY,
        notes=(ROTARY_NOTE,) + (("Attention and MLP read the same residual stream in parallel; LN2 is the "
                                 "MLP's own norm, not one after attention.",) if parallel else ()),
        matrices=matrix_specs("layers.{i}.mlp.dense_h_to_4h.weight", "layers.{i}.mlp.dense_4h_to_h.weight",
                           "layers.{i}.attention.query_key_value.weight", "layers.{i}.attention.dense.weight",
                           value_ranges=values),
    )


def llama(config: dict) -> Architecture:
    n_layers = int(config["num_hidden_layers"])
    return Architecture(
        name=str(config["model_type"]), token_embeddings="embed_tokens.weight", position_embeddings=None,
        unembedding="lm_head.weight",
        layer_norms=norm_specs(n_layers, "layers.{i}.input_layernorm", "layers.{i}.post_attention_layernorm", "norm"),
        prefixes=("model.", ""), d_model=int(config["hidden_size"]), vocab_size=int(config["vocab_size"]),
        n_positions=None, n_layers=n_layers, word_start_rule="leading-space", norm="rmsnorm",
        notes=(ROTARY_NOTE, "The norms are RMSNorms: a gain per dim and no bias (biases are shown as zero)."),
        matrices=llama_matrices(), positions=ROTARY,
    )


POST_LN_NOTE = ("This encoder normalises after each sublayer (post-LN). LN1 here is the norm after attention "
                "(it feeds the MLP), LN2 the norm after the MLP (it feeds the next layer); the norm on the "
                "embedding sum is listed separately and there is no final norm.")


def _bert_like(config: dict, name: str, prefix: str, unembedding: str, offset: int, rule: str) -> Architecture:
    n_layers = int(config["num_hidden_layers"])
    block = "encoder.layer.{i}."
    return Architecture(
        name=name, token_embeddings="embeddings.word_embeddings.weight",
        position_embeddings="embeddings.position_embeddings.weight", unembedding=unembedding,
        layer_norms=norm_specs(n_layers, block + "attention.output.LayerNorm", block + "output.LayerNorm", None,
                           embed="embeddings.LayerNorm"),
        prefixes=("", prefix), d_model=int(config["hidden_size"]), vocab_size=int(config["vocab_size"]),
        n_positions=int(config["max_position_embeddings"]) - offset, n_layers=n_layers, word_start_rule=rule,
        position_offset=offset, mlp_norm_role="ln_1",
        matrices=matrix_specs(block + "intermediate.dense.weight", block + "output.dense.weight",
                           block + "attention.self.value.weight", block + "attention.output.dense.weight"),
        aliases=(("LayerNorm.weight", "LayerNorm.gamma"), ("LayerNorm.bias", "LayerNorm.beta")),
        notes=(POST_LN_NOTE,) + ((f"The learned position table has {offset} extra leading rows (padding) that no "
                                  "position uses; they are dropped.",) if offset else ()),
    )


def bert(config: dict) -> Architecture:
    return _bert_like(config, "bert", "bert.", "cls.predictions.decoder.weight", 0, "no-continuation")


def roberta(config: dict) -> Architecture:
    offset = int(config.get("pad_token_id", 1)) + 1
    return _bert_like(config, "roberta", "roberta.", "lm_head.decoder.weight", offset, "leading-space")


def distilbert(config: dict) -> Architecture:
    n_layers = int(config["n_layers"])
    block = "transformer.layer.{i}."
    notes = (POST_LN_NOTE,)
    if config.get("sinusoidal_pos_embds"):
        notes += ("Its position embeddings are fixed sinusoids, not learned.",)
    return Architecture(
        name="distilbert", token_embeddings="embeddings.word_embeddings.weight",
        position_embeddings="embeddings.position_embeddings.weight", unembedding="vocab_projector.weight",
        layer_norms=norm_specs(n_layers, block + "sa_layer_norm", block + "output_layer_norm", None,
                           embed="embeddings.LayerNorm"),
        prefixes=("", "distilbert."), d_model=int(config["dim"]), vocab_size=int(config["vocab_size"]),
        n_positions=int(config["max_position_embeddings"]), n_layers=n_layers, word_start_rule="no-continuation",
        notes=notes, mlp_norm_role="ln_1",
        matrices=matrix_specs(block + "ffn.lin1.weight", block + "ffn.lin2.weight", block + "attention.v_lin.weight",
                           block + "attention.out_lin.weight"),
    )


CLASSIC = {
    "bert": bert,
    "distilbert": distilbert,
    "gpt2": gpt2,
    "gpt_neo": gpt_neo,
    "gpt_neox": gpt_neox,
    "llama": llama,
    "mistral": llama,
    "opt": opt,
    "qwen2": llama,
    "roberta": roberta,
}
