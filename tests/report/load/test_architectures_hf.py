"""Coverage of today's architectures: for every supported model_type, a tiny random model built by transformers
itself goes through the report's analyses; the model card names which norm plays which role, the effective gain
and what "positions" means, and every section either ran or is listed with the reason it does not apply.
Known-answer tests plant what only the architecture's own conventions reveal (Gemma's `1 + weight` gain)."""

from __future__ import annotations

import json
from html import unescape

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from report.load.hub import resolve
from report.load.loader import load_weights
from report.run.context import Options
from report.run.pipeline import Request, analyse, build, results_document
from report.run.progress import Progress
from report.sections import all_sections
from tests.tiny_hf import MissingType, write_tiny

TOKEN_INDEX = Options(frequency="token-index")  # the token-index frequency source, not the wordfreq proxy

# model_type -> {role: checkpoint key of its first norm}: which norm plays which role.
ROLES = {
    "gemma": {"ln_1": "layers.0.input_layernorm", "ln_2": "layers.0.post_attention_layernorm", "ln_f": "norm"},
    "gemma2": {"ln_1": "layers.0.input_layernorm", "ln_2": "layers.0.pre_feedforward_layernorm",
               "ln_post": "layers.0.post_attention_layernorm", "ln_f": "norm"},
    "gemma3_text": {"ln_1": "layers.0.input_layernorm", "ln_2": "layers.0.pre_feedforward_layernorm",
                    "ln_post": "layers.0.post_attention_layernorm", "ln_f": "norm"},
    "bloom": {"ln_emb": "word_embeddings_layernorm", "ln_1": "h.0.input_layernorm",
              "ln_2": "h.0.post_attention_layernorm", "ln_f": "ln_f"},
    "gpt_bigcode": {"ln_1": "h.0.ln_1", "ln_2": "h.0.ln_2", "ln_f": "ln_f"},
    "qwen3": {"ln_1": "layers.0.input_layernorm", "ln_2": "layers.0.post_attention_layernorm", "ln_f": "norm"},
    "phi3": {"ln_1": "layers.0.input_layernorm", "ln_2": "layers.0.post_attention_layernorm", "ln_f": "norm"},
    "mixtral": {"ln_1": "layers.0.input_layernorm", "ln_2": "layers.0.post_attention_layernorm", "ln_f": "norm"},
    "olmo": {"ln_1": "layers.0.ln_1 (no parameters)", "ln_2": "layers.0.ln_2 (no parameters)",
             "ln_f": "final_ln (no parameters)"},
    "olmo2": {"ln_post": "layers.0.post_attention_layernorm", "ln_f": "norm"},
    # one norm feeds attention and the MLP in parallel: it plays both roles (listed as LN2 too)
    "phi": {"ln_1": "layers.0.input_layernorm", "ln_2": "layers.0.input_layernorm", "ln_f": "final_layernorm"},
    "gptj": {"ln_1": "h.0.ln_1", "ln_2": "h.0.ln_1", "ln_f": "ln_f"},
    "falcon": {"ln_1": "h.0.input_layernorm", "ln_2": "h.0.input_layernorm", "ln_f": "ln_f"},
    "cohere": {"ln_1": "layers.0.input_layernorm", "ln_2": "layers.0.input_layernorm", "ln_f": "norm"},
    "stablelm": {"ln_1": "layers.0.input_layernorm", "ln_2": "layers.0.post_attention_layernorm", "ln_f": "norm"},
    "codegen": {"ln_1": "h.0.ln_1", "ln_2": "h.0.ln_1", "ln_f": "ln_f"},
    "mpt": {"ln_1": "blocks.0.norm_1", "ln_2": "blocks.0.norm_2", "ln_f": "norm_f"},
    "exaone": {"ln_1": "h.0.ln_1", "ln_2": "h.0.ln_2", "ln_f": "ln_f"},
    "gemma3": {"ln_1": "layers.0.input_layernorm", "ln_2": "layers.0.pre_feedforward_layernorm",
               "ln_post": "layers.0.post_attention_layernorm", "ln_f": "norm"},
    **{model_type: {"ln_1": "layers.0.input_layernorm", "ln_2": "layers.0.post_attention_layernorm", "ln_f": "norm"}
       for model_type in ("starcoder2", "granite", "smollm3", "qwen2_moe", "qwen3_moe", "deepseek_v3", "gpt_oss",
                          "llama4_text", "llama4")},
}
SHARED_NORM = ("phi", "gptj", "falcon", "cohere", "codegen")
EFFECTIVE_GAIN = {"olmo": "1 in every dim (the norms have no parameters)", "gemma": "1 + weight",
                  "gemma2": "1 + weight", "gemma3_text": "1 + weight", "gemma3": "1 + weight"}
TYPES = tuple(ROLES)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict:
    """One tiny random model per type, written once (a MissingType is kept and turned into a skip)."""
    root = tmp_path_factory.mktemp("tiny-hf")
    models = {}
    for model_type in TYPES:
        try:
            models[model_type] = write_tiny(root / model_type, model_type)
        except MissingType as exc:
            models[model_type] = exc
    return models


def _folder(tiny_models, model_type):
    built = tiny_models[model_type]
    if isinstance(built, MissingType):
        pytest.skip(str(built))
    return built


@pytest.fixture(scope="session")
def analysed(tiny_models) -> dict:
    """results.json's document for every type, from the report's own analysis path (no figures, no PDF)."""
    documents = {}
    for model_type, folder in tiny_models.items():
        if not isinstance(folder, MissingType):
            ctx, _ = analyse(Request(model=str(folder), options=TOKEN_INDEX),
                             Progress(model_type, 0, enabled=False))
            documents[model_type] = results_document(ctx)
    return documents


@pytest.mark.parametrize("model_type", TYPES)
def test_model_card_names_roles_gain_and_positions(tiny_models, analysed, model_type):
    _folder(tiny_models, model_type)
    document = analysed[model_type]
    card = document["analyses"]["model_card"]
    assert document["model"]["architecture"] == model_type
    assert card["norm_roles"] == ROLES[model_type]
    assert card["effective_gain"] == EFFECTIVE_GAIN.get(model_type, "weight")
    assert card["positions"]


@pytest.mark.parametrize("model_type", SHARED_NORM)
def test_one_norm_per_block_plays_both_roles(tiny_models, analysed, model_type):
    """The block's one norm is the pre-MLP norm of the unigram search, and LN-gains says the roles coincide."""
    _folder(tiny_models, model_type)
    analyses = analysed[model_type]["analyses"]
    assert any("plays both of the study's roles" in note for note in analyses["model_card"]["conventions"])
    assert analyses["unigram"]["norm"]["role"] == "ln_1" and analyses["unigram"]["norm"]["shared_with_attention"]
    gains = analyses["ln_gains"]
    assert gains["roles_coincide"] and gains["shared_norm"]
    same = [json.dumps(row["ln_1"]) == json.dumps(row["ln_2"]) for row in gains["per_layer"]]  # NaN-safe
    assert same == [True, True]
    assert not analyses["mlp_read"]["missing_roles"]


@pytest.mark.parametrize("model_type", TYPES)
def test_every_section_ran_or_says_why_not(tiny_models, analysed, model_type):
    _folder(tiny_models, model_type)
    document = analysed[model_type]
    skipped = document["analyses"]["model_card"]["not_applicable"]
    assert all(reason for reason in skipped.values())
    for section in all_sections():
        key = section.json_key or section.key
        assert key in document["analyses"] or section.key in skipped, section.key
    if document["model"]["n_positions"] == 0:  # no table: every position claim is not applicable
        verdicts = {c["id"]: c["verdict"] for c in document["claims"]}
        assert all(verdicts[i] == "not-applicable" for i in (4, 5, 6, 7))


# -- Gemma: the gain is 1 + weight ----------------------------------------------------------------------------

UNIGRAM, DECOY = 5, 11


def _plant_gemma_gains(folder) -> None:
    """Effective pre-MLP gains: about 1 everywhere, 1.3 in UNIGRAM (the dim the MLPs turn up) and 0.02 in DECOY
    (a dim they mute). Stored as weight = gain - 1, so a reader of raw weights sees |-0.98| at DECOY, the
    loudest dim, and would take the muted dim for the unigram dim."""
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    rng = np.random.default_rng(1)
    for key in [k for k in tensors if k.endswith("pre_feedforward_layernorm.weight")]:
        gain = 1 + rng.normal(0, 0.01, tensors[key].shape)
        gain[UNIGRAM], gain[DECOY] = 1.3, 0.02
        tensors[key] = (gain - 1).astype(np.float32)
    save_file(tensors, str(path), metadata={"format": "pt"})


def test_gemma_unigram_dim_is_found_through_the_effective_gain(tmp_path):
    try:
        folder = write_tiny(tmp_path / "gemma2", "gemma2")
    except MissingType as exc:
        pytest.skip(str(exc))
    _plant_gemma_gains(folder)
    stored = load_file(str(folder / "model.safetensors"))["model.layers.0.pre_feedforward_layernorm.weight"]
    weights = load_weights(resolve(str(folder)))
    ln2 = weights.norms_with_role("ln_2")[0]
    assert np.allclose(ln2.weight, stored + 1)
    ctx, _ = analyse(Request(model=str(folder), options=TOKEN_INDEX), Progress("gemma2", 0, enabled=False))
    unigram = results_document(ctx)["analyses"]["unigram"]
    assert unigram["dim"] == UNIGRAM and unigram["standout"]
    assert unigram["norm"]["role"] == "ln_2"


def test_gemma_zero_weights_are_unit_gains_not_a_dead_model(tiny_models):
    """Freshly initialised Gemma stores every norm weight as 0: a gain of 1, not an all-zero model to refuse."""
    folder = _folder(tiny_models, "gemma")
    raw = load_file(str(folder / "model.safetensors"))
    assert not any(raw[k].any() for k in raw if k.endswith("layernorm.weight"))
    weights = load_weights(resolve(str(folder)))
    assert all(np.all(ln.weight == 1) for ln in weights.layer_norms)


# -- BLOOM: a LayerNorm on the embeddings -----------------------------------------------------------------------

EMBEDDING_DIM = 7


def test_bloom_embedding_layernorm_gains_are_analysed(tmp_path):
    """A dim planted loud in word_embeddings_layernorm's gains is the LayerNorm-basis outlier of that norm."""
    try:
        folder = write_tiny(tmp_path / "bloom", "bloom")
    except MissingType as exc:
        pytest.skip(str(exc))
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    gain = 1 + np.random.default_rng(2).normal(0, 0.02, tensors["transformer.word_embeddings_layernorm.weight"].shape)
    gain[EMBEDDING_DIM] = 4.0
    tensors["transformer.word_embeddings_layernorm.weight"] = gain.astype(np.float32)
    save_file(tensors, str(path), metadata={"format": "pt"})
    ctx, _ = analyse(Request(model=str(folder), options=TOKEN_INDEX), Progress("bloom", 0, enabled=False))
    rows = results_document(ctx)["analyses"]["layernorm_basis"]["per_layer_norm"]
    embedding = [row for row in rows if row["role"] == "ln_emb"]
    assert len(embedding) == 1 and embedding[0]["layer"] == -1
    assert embedding[0]["outlier_dims"] == [EMBEDDING_DIM]
    assert embedding[0]["top_dims"][0]["dim"] == EMBEDDING_DIM


def test_gpt_bigcode_learned_positions_and_shared_value(tiny_models, analysed):
    folder = _folder(tiny_models, "gpt_bigcode")
    document = analysed["gpt_bigcode"]
    assert document["model"]["n_positions"] == 32 and document["analyses"]["position"]["has_position_embeddings"]
    weights = load_weights(resolve(str(folder)))
    value = weights.tensors.read("attn_value", 0)  # [in, out]: the one shared value projection
    c_attn = load_file(str(folder / "model.safetensors"))["transformer.h.0.attn.c_attn.weight"]
    assert value.shape == (32, 8) and np.allclose(value, c_attn[40:48].T)


def test_phi3_fused_matrices_are_split_where_read(tiny_models):
    folder = _folder(tiny_models, "phi3")
    raw = load_file(str(folder / "model.safetensors"))
    tensors = load_weights(resolve(str(folder))).tensors
    assert np.allclose(tensors.read("mlp_in", 0), raw["model.layers.0.mlp.gate_up_proj.weight"].T)  # gate, up
    assert np.allclose(tensors.read("attn_value", 0), raw["model.layers.0.self_attn.qkv_proj.weight"][64:96].T)


def test_mixtral_reads_every_expert(tiny_models):
    folder = _folder(tiny_models, "mixtral")
    raw = load_file(str(folder / "model.safetensors"))
    tensors = load_weights(resolve(str(folder))).tensors
    expected = np.concatenate([raw[f"model.layers.1.block_sparse_moe.experts.{e}.{w}.weight"].T
                               for e in range(2) for w in ("w1", "w3")], axis=1)
    assert np.allclose(tensors.read("mlp_in", 1), expected)
    assert not tensors.has("mlp_out")


@pytest.mark.parametrize("model_type,why", [
    ("t5", "encoder-decoder"), ("vit", "no token embedding"), ("mamba", "state-space model.*no attention or MLP"),
    ("mamba2", "state-space"), ("rwkv", "recurrent model"),
    *((name, r"trust_remote_code\), which this tool never runs")
      for name in ("chatglm", "internlm2", "baichuan", "qwen", "minicpm"))])
def test_refused_types_say_why(model_type, why):
    from report.load.architectures import UnsupportedModel, architecture_for

    with pytest.raises(UnsupportedModel, match=f"'{model_type}' is not supported: it is .*{why}"):
        architecture_for({"model_type": model_type})


@pytest.mark.parametrize("model_type,why", [("mamba", "state-space model"), ("chatglm", "trust_remote_code")])
def test_refusal_is_one_error_paragraph(tmp_path, capsys, model_type, why):
    from report.cli import main
    from tests.report.test_hostile_inputs import assert_refused

    folder = tmp_path / model_type
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, "hidden_size": 8}), encoding="utf-8")
    code = main(["--model", str(folder), "--out", str(tmp_path / "out"), "--quiet", "--no-cache"])
    assert_refused(code, capsys.readouterr().err, f"model_type {model_type!r} is not supported", why)
    assert code == 2


# -- whole reports for a few types: the conventions and the reasons reach the HTML -------------------------------

@pytest.mark.parametrize("model_type", ["gemma2", "olmo", "gptj"])
def test_whole_report_states_the_architecture(tiny_models, tmp_path, monkeypatch, model_type):
    folder = _folder(tiny_models, model_type)
    monkeypatch.setenv("WEIGHTS_REPORT_NO_CACHE", "1")  # restored after: later tests must not find a cache on
    written = build(Request(model=str(folder), options=TOKEN_INDEX), tmp_path, show_progress=False)
    html = unescape((written / "report.html").read_text(encoding="utf-8"))
    card = results_document_card(written)
    for note in card["conventions"]:
        assert note in html
    for reason in card["not_applicable"].values():
        assert reason in html
    assert card["effective_gain"] in html
    if model_type == "gptj":  # one norm per block: both sections say it plays both roles
        flat = " ".join(html.split())
        assert "the two roles coincide" in flat and "it plays the role LN2 plays in GPT-2" in flat


def results_document_card(written) -> dict:
    import json

    return json.loads((written / "results.json").read_text(encoding="utf-8"))["analyses"]["model_card"]


# -- one norm per block: planted dims are found through the shared norm ------------------------------------------

SHARED_DIM = 9


def _analysed_with_planted_gain(tmp_path, model_type, norm_key, dim, value, seed, also=None) -> dict:
    """The analyses of a tiny `model_type` whose two norms `norm_key` have gains about 1 and `value` in `dim`
    (`also` edits the other tensors first)."""
    try:
        folder = write_tiny(tmp_path / model_type, model_type)
    except MissingType as exc:
        pytest.skip(str(exc))
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    rng = np.random.default_rng(seed)
    for i in range(2):
        gain = 1 + rng.normal(0, 0.01, tensors[norm_key.format(i=i)].shape)
        gain[dim] = value
        tensors[norm_key.format(i=i)] = gain.astype(np.float32)
    if also is not None:
        also(tensors)
    save_file(tensors, str(path), metadata={"format": "pt"})
    ctx, _ = analyse(Request(model=str(folder), options=TOKEN_INDEX), Progress(model_type, 0, enabled=False))
    return results_document(ctx)["analyses"]


@pytest.mark.parametrize("model_type,norm_key", [("gptj", "transformer.h.{i}.ln_1.weight"),
                                                 ("phi", "model.layers.{i}.input_layernorm.weight")])
def test_unigram_dim_planted_in_the_shared_norm_is_found(tmp_path, model_type, norm_key):
    """Gains about 1, doubled in SHARED_DIM, in each block's only norm: the unigram search finds the dim there (the
    norm is the pre-MLP norm), and the attention value reads are weighted by that same norm, so the dim leads them
    too (read from the weights alone it would be an ordinary dim)."""
    analyses = _analysed_with_planted_gain(tmp_path, model_type, norm_key, SHARED_DIM, 2.0, seed=3)
    assert analyses["unigram"]["dim"] == SHARED_DIM and analyses["unigram"]["standout"]
    assert analyses["unigram"]["layers_standing_out"] == [0, 1]
    assert [row["ln_2"]["outlier_dims"] for row in analyses["ln_gains"]["per_layer"]] == [[SHARED_DIM]] * 2
    for role in ("mlp_in", "attn_value"):
        rows = analyses["mlp_read"]["roles"][role]["per_layer"]
        assert all(row["strongest_dim"] == SHARED_DIM for row in rows), role


# -- Falcon's variants and StableLM's parallel residual ---------------------------------------------------------

def test_falcon_new_decoder_architecture_has_two_parallel_norms(tmp_path):
    """Falcon-40B's layout: ln_attn and ln_mlp side by side (LN1, LN2; nothing shared), grouped key/value heads
    whose value rows are read from the fused matrix, and ALiBi where the config asks for it."""
    try:
        folder = write_tiny(tmp_path / "falcon", "falcon", overrides={
            "new_decoder_architecture": True, "num_kv_heads": 2, "alibi": True})
    except MissingType as exc:
        pytest.skip(str(exc))
    weights = load_weights(resolve(str(folder)))
    assert not weights.shared_norm and weights.mlp_norm_role == "ln_2"
    assert [ln.name for ln in weights.layer_norms[:2]] == ["layers.0.ln_1", "layers.0.ln_2"]
    raw = load_file(str(folder / "model.safetensors"))
    assert np.array_equal(weights.norms_with_role("ln_2")[1].weight, raw["transformer.h.1.ln_mlp.weight"])
    # 4 query heads over 2 groups of 8-dim heads: rows per group [q, q, k, v]; the values are rows 24:32 and 56:64
    qkv = raw["transformer.h.0.self_attention.query_key_value.weight"]
    assert np.allclose(weights.tensors.read("attn_value", 0), np.concatenate([qkv[24:32], qkv[56:64]]).T)
    ctx, _ = analyse(Request(model=str(folder), options=TOKEN_INDEX), Progress("falcon", 0, enabled=False))
    card = results_document(ctx)["analyses"]["model_card"]
    assert card["norm_roles"] == {"ln_1": "h.0.ln_attn", "ln_2": "h.0.ln_mlp", "ln_f": "ln_f"}
    assert card["positions"].startswith("ALiBi")
    assert any("each through its own norm" in note for note in card["conventions"])


@pytest.mark.parametrize("config,roles,shared", [
    ({"parallel_attn": False, "multi_query": False, "alibi": True},  # falcon-rw: sequential, two norms
     {"ln_1": "h.0.input_layernorm", "ln_2": "h.0.post_attention_layernorm", "ln_f": "ln_f"}, False),
    ({"new_decoder_architecture": True, "num_ln_in_parallel_attn": 1},  # Falcon-11B: one shared norm
     {"ln_1": "h.0.input_layernorm", "ln_2": "h.0.input_layernorm", "ln_f": "ln_f"}, True),
])
def test_falcon_norm_layout_follows_the_config(config, roles, shared):
    from report.load.architectures import architecture_for

    arch = architecture_for({"model_type": "falcon", "hidden_size": 32, "num_attention_heads": 4,
                             "num_hidden_layers": 2, "vocab_size": 300, "num_kv_heads": 2} | config)
    assert arch.norm_roles() == roles and arch.shared_norm == shared
    assert arch.mlp_norm_role == ("ln_1" if shared else "ln_2")


def test_falcon_layout_transformers_cannot_run_is_refused():
    from report.load.architectures import UnsupportedModel, architecture_for

    with pytest.raises(UnsupportedModel, match="new_decoder_architecture with parallel_attn false"):
        architecture_for({"model_type": "falcon", "hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2,
                          "vocab_size": 300, "new_decoder_architecture": True, "parallel_attn": False})


def test_stablelm_parallel_residual_shares_its_norm(tmp_path):
    try:
        folder = write_tiny(tmp_path / "stablelm", "stablelm", overrides={"use_parallel_residual": True})
    except MissingType as exc:
        pytest.skip(str(exc))
    weights = load_weights(resolve(str(folder)))
    assert weights.shared_norm and weights.mlp_norm_role == "ln_1" and not weights.norms_with_role("ln_2")
    assert all(ln.has_bias for ln in weights.layer_norms)  # LayerNorms with a bias, in Llama's places
    ctx, _ = analyse(Request(model=str(folder), options=TOKEN_INDEX), Progress("stablelm", 0, enabled=False))
    analyses = results_document(ctx)["analyses"]
    assert analyses["model_card"]["norm_roles"]["ln_2"] == "layers.0.input_layernorm"
    assert analyses["ln_gains"]["roles_coincide"] and analyses["unigram"]["norm"]["role"] == "ln_1"
    assert "first 2 of each attention head's 8 dims" in analyses["model_card"]["positions"]


def test_cohere_states_its_logit_scale_and_bias_free_norms(tiny_models, analysed):
    folder = _folder(tiny_models, "cohere")
    card = analysed["cohere"]["analyses"]["model_card"]
    assert any("logit_scale = 0.25" in note for note in card["conventions"])
    assert card["norm_kind"] == "LayerNorm without bias (gain only)" and analysed["cohere"]["model"]["tied_embeddings"]
    assert not any(ln.has_bias for ln in load_weights(resolve(str(folder))).layer_norms)


def test_partial_rotary_is_stated(analysed, tiny_models):
    _folder(tiny_models, "phi")
    assert "first 4 of each attention head's 8 dims" in analysed["phi"]["analyses"]["model_card"]["positions"]
    _folder(tiny_models, "gptj")  # rotary_dim 4 of 8
    assert "first 4 of each attention head's 8 dims" in analysed["gptj"]["analyses"]["model_card"]["positions"]


# -- CodeGen: the value rows of a shard-interleaved qkv_proj -----------------------------------------------------

VALUE_DIM, QUERY_KEY_DIM = 6, 13


def test_codegen_value_rows_are_those_of_every_shard(tmp_path):
    """qkv_proj rows come as 4 shards of [query, value, key] (8 rows each at d = 32). Input dim VALUE_DIM is planted
    strong in the value rows only and QUERY_KEY_DIM in the query and key rows only: the attention value reads must
    lead with VALUE_DIM (a reader taking the last third, as in GPT-2, would see mostly keys and find QUERY_KEY_DIM)."""
    try:
        folder = write_tiny(tmp_path / "codegen", "codegen")
    except MissingType as exc:
        pytest.skip(str(exc))
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    value_rows = np.concatenate([np.arange(s * 24 + 8, s * 24 + 16) for s in range(4)])
    other_rows = np.setdiff1d(np.arange(96), value_rows)
    for i in range(2):
        qkv = tensors[f"transformer.h.{i}.attn.qkv_proj.weight"]
        qkv[value_rows, VALUE_DIM] *= 10
        qkv[other_rows, QUERY_KEY_DIM] *= 10
    save_file(tensors, str(path), metadata={"format": "pt"})
    weights = load_weights(resolve(str(folder)))
    qkv = tensors["transformer.h.1.attn.qkv_proj.weight"]
    assert np.allclose(weights.tensors.read("attn_value", 1), qkv[value_rows].T)
    ctx, _ = analyse(Request(model=str(folder), options=TOKEN_INDEX), Progress("codegen", 0, enabled=False))
    rows = results_document(ctx)["analyses"]["mlp_read"]["roles"]["attn_value"]["per_layer"]
    assert [row["strongest_dim"] for row in rows] == [VALUE_DIM, VALUE_DIM]


# -- mixtures of experts: every expert and the shared expert are read; the router is not -------------------------

def test_qwen2_moe_reads_every_expert_and_the_shared_one(tiny_models):
    folder = _folder(tiny_models, "qwen2_moe")
    raw = load_file(str(folder / "model.safetensors"))
    tensors = load_weights(resolve(str(folder))).tensors
    block = "model.layers.1.mlp."
    parts = [f"experts.{e}.{w}" for e in range(2) for w in ("gate_proj", "up_proj")]
    parts += ["shared_expert.gate_proj", "shared_expert.up_proj"]
    assert np.allclose(tensors.read("mlp_in", 1), np.concatenate([raw[block + p + ".weight"].T for p in parts], axis=1))
    assert not tensors.has("mlp_out")


MOE_UNIGRAM, ROUTER_DIM = 4, 17


@pytest.mark.parametrize("model_type", ["qwen2_moe", "qwen3_moe"])
def test_moe_unigram_dim_is_found_in_the_pre_mlp_norm(tmp_path, model_type):
    """Pre-MLP gains about 1 and 2.5 in MOE_UNIGRAM, in every layer: the unigram search finds it in that norm. The
    router's input column ROUTER_DIM is made loud: the router only chooses experts, so the MLP reads still lead
    with MOE_UNIGRAM (gain-weighted), not with the router's dim."""
    def loud_router(tensors):
        for i in range(2):
            tensors[f"model.layers.{i}.mlp.gate.weight"][:, ROUTER_DIM] = 50.0

    analyses = _analysed_with_planted_gain(tmp_path, model_type, "model.layers.{i}.post_attention_layernorm.weight",
                                           MOE_UNIGRAM, 2.5, seed=4, also=loud_router)
    assert analyses["unigram"]["dim"] == MOE_UNIGRAM and analyses["unigram"]["standout"]
    assert analyses["unigram"]["norm"]["role"] == "ln_2"
    rows = analyses["mlp_read"]["roles"]["mlp_in"]["per_layer"]
    assert [row["strongest_dim"] for row in rows] == [MOE_UNIGRAM, MOE_UNIGRAM]
    assert any("router's own weights only choose experts" in n for n in analyses["model_card"]["conventions"])


# -- multimodal containers: the text model under its prefix, the vision tower not read ---------------------------

def test_gemma3_container_reads_the_text_model_only(tmp_path):
    """The gemma3_text conventions under the language_model prefix: a unigram dim planted through 1 + weight is
    found, and no tensor of the vision tower or the projector is read."""
    try:
        folder = write_tiny(tmp_path / "gemma3", "gemma3")
    except MissingType as exc:
        pytest.skip(str(exc))
    _plant_gemma_gains(folder)
    weights = load_weights(resolve(str(folder)))
    assert weights.tensor_sha256 and all(k.startswith("language_model.model.") for k in weights.tensor_sha256)
    ctx, _ = analyse(Request(model=str(folder), options=TOKEN_INDEX), Progress("gemma3", 0, enabled=False))
    analyses = results_document(ctx)["analyses"]
    assert analyses["unigram"]["dim"] == UNIGRAM and analyses["unigram"]["standout"]
    assert any("vision tower" in note for note in analyses["model_card"]["conventions"])


# -- constants and positions stated --------------------------------------------------------------------------------

def test_granite_multipliers_are_stated(analysed, tiny_models):
    _folder(tiny_models, "granite")
    notes = " ".join(analysed["granite"]["analyses"]["model_card"]["conventions"])
    for phrase in ("embedding_multiplier = 12", "residual_multiplier = 0.22", "logits_scaling = 8"):
        assert phrase in notes


def _numbers(node, path=""):
    """{json path: number} of every number in a results document, for comparing two runs."""
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in _numbers(value, f"{path}.{key}").items()}
    if isinstance(node, list):
        return {k: v for i, value in enumerate(node) for k, v in _numbers(value, f"{path}[{i}]").items()}
    return {path: node} if isinstance(node, (int, float)) and not isinstance(node, bool) else {}


def test_granite_embedding_multiplier_changes_only_norm_units(tiny_models, analysed, tmp_path):
    """The embeddings the residual stream sees are the stored rows × embedding_multiplier. Storing them so scaled
    changes no verdict and no scale-free number (cosines, ranks, percentiles, correlations): only numbers in norm
    units move (norms, neighbour distances, SVD projections, the unigram dim's token mean and spread, the head's norm
    ratio) and the zero-layer search's count of pairs re-scored in float64, which is why the report reads the stored
    rows and says so."""
    import shutil

    folder = tmp_path / "granite-scaled"
    shutil.copytree(_folder(tiny_models, "granite"), folder)
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    tensors["model.embed_tokens.weight"] = tensors["model.embed_tokens.weight"] * np.float32(12.0)
    save_file(tensors, str(path), metadata={"format": "pt"})
    ctx, _ = analyse(Request(model=str(folder), options=TOKEN_INDEX), Progress("granite", 0, enabled=False))
    scaled, stored = results_document(ctx), analysed["granite"]
    assert [c["verdict"] for c in scaled["claims"]] == [c["verdict"] for c in stored["claims"]]
    before, after = _numbers(stored["analyses"]), _numbers(scaled["analyses"])
    changed = {k for k in before.keys() & after.keys()
               if not np.isclose(before[k], after[k], rtol=1e-4, atol=1e-6, equal_nan=True)}
    assert changed  # the norms do move: the check can see a change
    assert not {k for k in changed if any(w in k for w in ("cos", "rank", "percentile", "spearman"))}, changed


def test_nope_layers_are_stated(analysed, tiny_models):
    for model_type in ("smollm3", "llama4_text"):
        _folder(tiny_models, model_type)
        assert "except in layers 1 (NoPE)" in analysed[model_type]["analyses"]["model_card"]["positions"]


def test_mpt_alibi_and_bias_free_norms(tiny_models, analysed):
    folder = _folder(tiny_models, "mpt")
    card = analysed["mpt"]["analyses"]["model_card"]
    assert card["positions"].startswith("ALiBi") and card["norm_kind"] == "LayerNorm without bias (gain only)"
    assert not any(ln.has_bias for ln in load_weights(resolve(str(folder))).layer_norms)


def test_mpt_learned_positions_follow_the_config():
    from report.load.architectures import architecture_for

    base = {"model_type": "mpt", "d_model": 32, "n_layers": 2, "n_heads": 4, "max_seq_len": 16, "vocab_size": 300}
    learned = architecture_for(base | {"attn_config": {"alibi": False}, "learned_pos_emb": True, "no_bias": False})
    assert learned.position_embeddings == "wpe.weight" and learned.n_positions == 16 and learned.norm == "layernorm"
    assert architecture_for(base | {"attn_config": {"alibi": True}}).position_embeddings is None


def test_latent_attention_and_fused_experts_say_what_is_not_read(analysed, tiny_models):
    """The experts' read-weights are read (tests/report/load/test_architectures_experts.py); their write-weights, and
    DeepSeek's latent value projection, are not."""
    for model_type, missing in (("deepseek_v3", {"mlp_out", "attn_value"}), ("gpt_oss", {"mlp_out"}),
                                ("llama4", {"mlp_out"})):
        _folder(tiny_models, model_type)
        analyses = analysed[model_type]["analyses"]
        assert set(analyses["mlp_read"]["missing_roles"]) == missing, model_type
        assert any("not compared" in note for note in analyses["model_card"]["conventions"])


def test_deepseek_multi_token_prediction_block_is_not_a_layer_count_mismatch(tiny_models, tmp_path):
    """DeepSeek-V3 checkpoints store `num_nextn_predict_layers` blocks after the last layer: the config that says
    so is read (the block is not), and without it the same extra block is refused as a config mismatch."""
    import shutil

    from report.errors import ReportError

    folder = tmp_path / "deepseek"
    shutil.copytree(_folder(tiny_models, "deepseek_v3"), folder)
    config = json.loads((folder / "config.json").read_text())
    n = config["num_hidden_layers"]
    tensors = load_file(str(folder / "model.safetensors"))
    planted = {k.replace(f"layers.{n - 1}.", f"layers.{n}."): v * 0 + 7.0 for k, v in tensors.items()
               if k.startswith(f"model.layers.{n - 1}.") and k.endswith("layernorm.weight")}
    save_file(tensors | planted, str(folder / "model.safetensors"), metadata={"format": "pt"})
    for extra in (1, 0):
        (folder / "config.json").write_text(json.dumps(config | {"num_nextn_predict_layers": extra}))
        if extra:
            weights = load_weights(resolve(str(folder)))
            assert not any(np.allclose(norm.weight, 7.0) for norm in weights.layer_norms)  # the block is not read
            assert max(norm.layer for norm in weights.layer_norms) == n - 1
        else:
            with pytest.raises(ReportError, match=f"also holds layers.{n}."):
                load_weights(resolve(str(folder)))
