"""The adapter vocabulary: what a LayerNorm, a block matrix and an architecture are to the report, and the
helpers every family's adapter builds them with (report.load.architectures has the families and the registry)."""

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
        extra_blocks: blocks stored after the last of the forward stack that are not part of it (DeepSeek-V3's
            multi-token-prediction modules, `num_nextn_predict_layers`): not read, and not taken for a config
            that undercounts the layers.
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
    extra_blocks: int = 0

    def norm_roles(self) -> dict[str, str]:
        """{role: the checkpoint key of its first norm (layer 0, or the single one)} in model order."""
        roles: dict[str, str] = {}
        for spec in self.layer_norms:
            roles.setdefault(spec.role, spec.key or f"{spec.name} (no parameters)")
            if self.shared_norm and spec.role == "ln_1":
                roles.setdefault("ln_2", roles["ln_1"])  # the same norm feeds the MLP
        return roles

    def matrix_specs(self, role: str, layer: int | None = None) -> tuple[MatrixSpec, ...]:
        """The matrices of one role (see MATRIX_ROLES), all of them or those block `layer` has; empty when the
        adapter does not name it."""
        specs = dict(self.matrices).get(role, ())
        return specs if layer is None else tuple(s for s in specs if s.layers is None or layer in s.layers)

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
        expert: index along the leading axis of a 3-D tensor that stores every expert of a block fused
            ([experts, …, …], gpt-oss and Llama 4): the matrix is that expert's slice, its axes as `layout` says;
            None for a 2-D matrix.
        layers: the blocks that have this matrix (models whose first or alternate blocks have a dense MLP and the
            others experts); None: every block.
    """

    key: str
    layout: str = "out_in"
    out_ranges: tuple[tuple[int, int], ...] = ()
    expert: int | None = None
    layers: tuple[int, ...] | None = None


# Roles of block matrices: what the MLP reads from the residual stream (its input weights; Llama-style
# models have two, gate and up), what it writes back, and attention's value and output weights.
MATRIX_ROLES = ("mlp_in", "mlp_out", "attn_value", "attn_out")


def matrix_specs(mlp_in, mlp_out, attn_value, attn_out, layout: str = "out_in", value_ranges=()) -> tuple:
    """(role, MatrixSpecs) pairs in MATRIX_ROLES order from key templates (a tuple of keys for two inputs)."""
    as_specs = lambda keys, ranges=(): tuple(MatrixSpec(k, layout, ranges)  # noqa: E731
                                             for k in ((keys,) if isinstance(keys, str) else keys))
    return (("mlp_in", as_specs(mlp_in)), ("mlp_out", as_specs(mlp_out)),
            ("attn_value", as_specs(attn_value, value_ranges)), ("attn_out", as_specs(attn_out)))


class UnsupportedModel(KeyError):
    """A config this tool cannot read; the message names what is supported."""

    def __str__(self) -> str:
        return str(self.args[0])


def norm_specs(n_layers: int, first: str, second: str | None, final: str | None, embed: str | None = None,
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


def llama_matrices() -> tuple:
    return matrix_specs(("layers.{i}.mlp.gate_proj.weight", "layers.{i}.mlp.up_proj.weight"),
                     "layers.{i}.mlp.down_proj.weight", "layers.{i}.self_attn.v_proj.weight",
                     "layers.{i}.self_attn.o_proj.weight")
