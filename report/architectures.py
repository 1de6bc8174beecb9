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

llama, mistral and qwen2 use RMSNorm for all three.

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

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerNormSpec:
    """One LayerNorm: its canonical name, its layer (-1 outside the blocks), its role, its key."""

    name: str
    layer: int
    role: str  # "ln_1" (first in a block), "ln_2" (second in a block), "ln_f" (final), "ln_emb" (on the embeddings),
    # "ln_post" (on a sublayer's output before it joins the residual stream: Gemma-2/3, OLMo-2)
    key: str | None  # key of the weight in the checkpoint, without ".weight"; None: a norm without parameters


@dataclass(frozen=True)
class Architecture:
    """How to find one architecture's tensors and read its config.

    Attributes:
        position_offset: leading rows of the position table that no position uses (OPT, RoBERTa: 2);
            the loader drops them, so row 0 of the loaded table is position 0.
        norm: "layernorm" (gain and bias), "rmsnorm" or "layernorm-no-bias" (gain only: the loader fills a zero
            bias), or "no-parameters" (OLMo-1: neither; the loader fills a gain of 1 and a zero bias).
        aliases: (suffix, replacement) pairs for older key spellings, tried when a key is missing
            (BERT's `LayerNorm.gamma`, Pythia's `embed_out`).
        notes: conventions of this family that the report states in its model card.
        mlp_norm_role: role of the norm in front of each MLP ("ln_2" in pre-LN blocks; "ln_1" in post-LN
            blocks, where the norm after attention is the MLP's input).
        matrices: where each block keeps its MLP and attention matrices, by role (MATRIX_ROLES).
        gain_offset: what the model adds to each stored norm weight to get the gain it multiplies by (Gemma
            stores `weight` and scales by `1 + weight`); the loader hands the analyses the effective gain.
        positions: what "position embeddings" means in this architecture, in one phrase.
        not_applicable: (section key, reason) for the sections that have nothing to measure in this
            architecture; the model card states them and the sections' own text says the same.
        shared_norm: each block has one norm (role ln_1) whose output feeds attention and the MLP alike, so it
            plays both roles (mlp_norm_role is ln_1); the model card lists it as LN2 as well.
    """

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
    position_offset: int = 0
    norm: str = "layernorm"
    aliases: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    mlp_norm_role: str = "ln_2"  # the norm whose output feeds the MLP: ln_2 pre-LN, ln_1 post-LN
    matrices: tuple[tuple[str, tuple[MatrixSpec, ...]], ...] = ()  # (role, specs) for MATRIX_ROLES
    gain_offset: float = 0.0
    positions: str = "a learned absolute position table"
    not_applicable: tuple[tuple[str, str], ...] = ()
    shared_norm: bool = False

    def norm_roles(self) -> dict[str, str]:
        """{role: the checkpoint key of its first norm (layer 0, or the single one)} in model order."""
        roles: dict[str, str] = {}
        for spec in self.layer_norms:
            roles.setdefault(spec.role, spec.key or f"{spec.name} (no parameters)")
            if self.shared_norm and spec.role == "ln_1":
                roles.setdefault("ln_2", roles["ln_1"])  # the same norm feeds the MLP
        return roles

    def matrix_specs(self, role: str) -> tuple[MatrixSpec, ...]:
        """The matrices of one role (see MATRIX_ROLES); empty when the adapter does not name it."""
        return dict(self.matrices).get(role, ())

    def candidates(self, name: str) -> tuple[str, ...]:
        """`name`, then its older spellings."""
        return (name,) + tuple(name[: -len(old)] + new for old, new in self.aliases if name.endswith(old))


@dataclass(frozen=True)
class MatrixSpec:
    """A weight matrix in block {i}: its key template and how its axes map to features.

    Attributes:
        key: checkpoint key with `{i}` for the layer, without prefix.
        layout: "out_in" (torch Linear, [out, in]) or "in_out" (GPT-2's Conv1D, [in, out]).
        out_ranges: (start, stop) ranges of the output features that belong to the role (one part of a
            fused query/key/value matrix); empty means all of them.
    """

    key: str
    layout: str = "out_in"
    out_ranges: tuple[tuple[int, int], ...] = ()


# Roles of block matrices: what the MLP reads from the residual stream (its input weights; Llama-style
# models have two, gate and up), what it writes back, and attention's value and output weights.
MATRIX_ROLES = ("mlp_in", "mlp_out", "attn_value", "attn_out")


def _matrices(mlp_in, mlp_out, attn_value, attn_out, layout: str = "out_in", value_ranges=()) -> tuple:
    """(role, MatrixSpecs) pairs in MATRIX_ROLES order from key templates (a tuple of keys for two inputs)."""
    as_specs = lambda keys, ranges=(): tuple(MatrixSpec(k, layout, ranges)  # noqa: E731
                                             for k in ((keys,) if isinstance(keys, str) else keys))
    return (("mlp_in", as_specs(mlp_in)), ("mlp_out", as_specs(mlp_out)),
            ("attn_value", as_specs(attn_value, value_ranges)), ("attn_out", as_specs(attn_out)))


class UnsupportedModel(KeyError):
    """A config this tool cannot read; the message names what is supported."""

    def __str__(self) -> str:
        return str(self.args[0])


def _norms(n_layers: int, first: str, second: str | None, final: str | None, embed: str | None = None,
           post: tuple[str, ...] = ()):
    """LayerNormSpecs in model order from key templates with `{i}` for the layer; `second` None: blocks with one
    norm (parallel attention and MLP); `post`: sublayer output norms (role ln_post), after the first two."""
    norms = [LayerNormSpec("embeddings_ln", -1, "ln_emb", embed)] if embed else []
    for i in range(n_layers):
        norms.append(LayerNormSpec(f"layers.{i}.ln_1", i, "ln_1", first.format(i=i)))
        if second is not None:
            norms.append(LayerNormSpec(f"layers.{i}.ln_2", i, "ln_2", second.format(i=i)))
        norms += [LayerNormSpec(f"layers.{i}.ln_post_{j}", i, "ln_post", t.format(i=i)) for j, t in enumerate(post)]
    if final:
        norms.append(LayerNormSpec("final_ln", -1, "ln_f", final))
    return tuple(norms)


ROTARY = "rotary embeddings inside attention (no table)"
ROTARY_NOTE = ("Positions are encoded by rotary embeddings inside attention, so there is no learned position "
               "table: the position analyses are skipped.")


def gpt2(config: dict) -> Architecture:
    n_layers = int(config["n_layer"])
    return Architecture(
        name="gpt2", token_embeddings="wte.weight", position_embeddings="wpe.weight",
        unembedding="lm_head.weight", layer_norms=_norms(n_layers, "h.{i}.ln_1", "h.{i}.ln_2", "ln_f"),
        prefixes=("", "transformer."), d_model=int(config["n_embd"]), vocab_size=int(config["vocab_size"]),
        n_positions=int(config["n_positions"]), n_layers=n_layers, word_start_rule="leading-space",
        matrices=_matrices("h.{i}.mlp.c_fc.weight", "h.{i}.mlp.c_proj.weight", "h.{i}.attn.c_attn.weight",
                           "h.{i}.attn.c_proj.weight", layout="in_out",  # Conv1D stores [in, out]
                           value_ranges=((2 * int(config["n_embd"]), 3 * int(config["n_embd"])),)),
    )


def gpt_neo(config: dict) -> Architecture:
    n_layers = int(config["num_layers"])
    return Architecture(
        name="gpt_neo", token_embeddings="wte.weight", position_embeddings="wpe.weight",
        unembedding="lm_head.weight", layer_norms=_norms(n_layers, "h.{i}.ln_1", "h.{i}.ln_2", "ln_f"),
        prefixes=("transformer.", ""), d_model=int(config["hidden_size"]), vocab_size=int(config["vocab_size"]),
        n_positions=int(config["max_position_embeddings"]), n_layers=n_layers, word_start_rule="leading-space",
        matrices=_matrices("h.{i}.mlp.c_fc.weight", "h.{i}.mlp.c_proj.weight", "h.{i}.attn.attention.v_proj.weight",
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
        layer_norms=_norms(n_layers, "decoder.layers.{i}.self_attn_layer_norm",
                           "decoder.layers.{i}.final_layer_norm", final),
        prefixes=("model.", ""), d_model=d, vocab_size=int(config["vocab_size"]),
        n_positions=int(config["max_position_embeddings"]), n_layers=n_layers, word_start_rule="leading-space",
        position_offset=2, notes=notes, mlp_norm_role="ln_2" if pre_ln else "ln_1",
        matrices=_matrices("decoder.layers.{i}.fc1.weight", "decoder.layers.{i}.fc2.weight",
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
        layer_norms=_norms(n_layers, "layers.{i}.input_layernorm", "layers.{i}.post_attention_layernorm",
                           "final_layer_norm"),
        prefixes=("gpt_neox.", ""), d_model=int(config["hidden_size"]), vocab_size=int(config["vocab_size"]),
        n_positions=None, n_layers=n_layers, word_start_rule="leading-space",
        aliases=(("lm_head.weight", "embed_out.weight"),), positions=ROTARY,
        notes=(ROTARY_NOTE,) + (("Attention and MLP read the same residual stream in parallel; LN2 is the "
                                 "MLP's own norm, not one after attention.",) if parallel else ()),
        matrices=_matrices("layers.{i}.mlp.dense_h_to_4h.weight", "layers.{i}.mlp.dense_4h_to_h.weight",
                           "layers.{i}.attention.query_key_value.weight", "layers.{i}.attention.dense.weight",
                           value_ranges=values),
    )


def llama(config: dict) -> Architecture:
    n_layers = int(config["num_hidden_layers"])
    return Architecture(
        name=str(config["model_type"]), token_embeddings="embed_tokens.weight", position_embeddings=None,
        unembedding="lm_head.weight",
        layer_norms=_norms(n_layers, "layers.{i}.input_layernorm", "layers.{i}.post_attention_layernorm", "norm"),
        prefixes=("model.", ""), d_model=int(config["hidden_size"]), vocab_size=int(config["vocab_size"]),
        n_positions=None, n_layers=n_layers, word_start_rule="leading-space", norm="rmsnorm",
        notes=(ROTARY_NOTE, "The norms are RMSNorms: a gain per dim and no bias (biases are shown as zero)."),
        matrices=_llama_matrices(), positions=ROTARY,
    )


def _llama_matrices() -> tuple:
    return _matrices(("layers.{i}.mlp.gate_proj.weight", "layers.{i}.mlp.up_proj.weight"),
                     "layers.{i}.mlp.down_proj.weight", "layers.{i}.self_attn.v_proj.weight",
                     "layers.{i}.self_attn.o_proj.weight")


POST_LN_NOTE = ("This encoder normalises after each sublayer (post-LN). LN1 here is the norm after attention "
                "(it feeds the MLP), LN2 the norm after the MLP (it feeds the next layer); the norm on the "
                "embedding sum is listed separately and there is no final norm.")


def _bert_like(config: dict, name: str, prefix: str, unembedding: str, offset: int, rule: str) -> Architecture:
    n_layers = int(config["num_hidden_layers"])
    block = "encoder.layer.{i}."
    return Architecture(
        name=name, token_embeddings="embeddings.word_embeddings.weight",
        position_embeddings="embeddings.position_embeddings.weight", unembedding=unembedding,
        layer_norms=_norms(n_layers, block + "attention.output.LayerNorm", block + "output.LayerNorm", None,
                           embed="embeddings.LayerNorm"),
        prefixes=("", prefix), d_model=int(config["hidden_size"]), vocab_size=int(config["vocab_size"]),
        n_positions=int(config["max_position_embeddings"]) - offset, n_layers=n_layers, word_start_rule=rule,
        position_offset=offset, mlp_norm_role="ln_1",
        matrices=_matrices(block + "intermediate.dense.weight", block + "output.dense.weight",
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
        layer_norms=_norms(n_layers, block + "sa_layer_norm", block + "output_layer_norm", None,
                           embed="embeddings.LayerNorm"),
        prefixes=("", "distilbert."), d_model=int(config["dim"]), vocab_size=int(config["vocab_size"]),
        n_positions=int(config["max_position_embeddings"]), n_layers=n_layers, word_start_rule="no-continuation",
        notes=notes, mlp_norm_role="ln_1",
        matrices=_matrices(block + "ffn.lin1.weight", block + "ffn.lin2.weight", block + "attention.v_lin.weight",
                           block + "attention.out_lin.weight"),
    )


ADAPTERS = {
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


# Today's families live in their own module, which builds on the helpers above.
from report.architectures_parallel import PARALLEL  # noqa: E402
from report.architectures_today import REFUSED, TODAY  # noqa: E402

ADAPTERS.update(TODAY)
ADAPTERS.update(PARALLEL)


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
            "StarCoder, Phi-1/2/3, GPT-J, Falcon, Cohere, StableLM, OLMo, Mixtral, and the BERT, RoBERTa and "
            "DistilBERT encoders)")
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
