"""Block matrices by role: every family's keys as transformers saves them, orientation (GPT-2's Conv1D is
[in, out]), fused value slices (GPT-2 c_attn, GPT-NeoX query_key_value), and reading in row blocks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import report.load.tensors
from report.errors import ReportError
from report.load.architectures import MATRIX_ROLES, architecture_for
from report.load.loader import TensorReader
from report.load.tensors import ModelTensors

D, LAYERS, HEADS = 16, 2, 4
CONFIGS = {
    "gpt2": dict(model_type="gpt2", n_embd=D, n_layer=LAYERS, n_head=HEADS, n_positions=16, vocab_size=40),
    "gpt_neo": dict(model_type="gpt_neo", hidden_size=D, num_layers=LAYERS, num_heads=HEADS, vocab_size=40,
                    attention_types=[[["global", "local"], 1]], max_position_embeddings=16),
    "opt": dict(model_type="opt", hidden_size=D, num_hidden_layers=LAYERS, ffn_dim=2 * D, num_attention_heads=HEADS,
                max_position_embeddings=16, word_embed_proj_dim=D, vocab_size=40),
    "gpt_neox": dict(model_type="gpt_neox", hidden_size=D, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                     intermediate_size=2 * D, max_position_embeddings=16, vocab_size=40, rotary_pct=0.25),
    "llama": dict(model_type="llama", hidden_size=D, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                  num_key_value_heads=2, intermediate_size=3 * D, max_position_embeddings=16, vocab_size=40),
    "bert": dict(model_type="bert", hidden_size=D, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                 intermediate_size=2 * D, max_position_embeddings=16, vocab_size=40),
    "distilbert": dict(model_type="distilbert", dim=D, n_layers=LAYERS, n_heads=HEADS, hidden_dim=2 * D,
                       max_position_embeddings=16, vocab_size=40),
}


def _saved(family: str, folder):
    import transformers

    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(**CONFIGS[family])
    auto = transformers.AutoModelForMaskedLM if family in ("bert", "distilbert") else transformers.AutoModelForCausalLM
    model = auto.from_config(config)
    model.save_pretrained(str(folder), safe_serialization=True)
    arch = architecture_for(config.to_dict() | {"model_type": family})
    return model, ModelTensors(TensorReader(folder, allow_pickle=False), arch, family)


def _expected(model, family: str, role: str, layer: int) -> np.ndarray:
    """[in, out] straight from the torch modules, written out per family."""
    lin = lambda m: m.weight.detach().double().numpy().T  # noqa: E731  (Linear stores [out, in])
    if family == "gpt2":
        block = model.transformer.h[layer]
        conv = {"mlp_in": block.mlp.c_fc, "mlp_out": block.mlp.c_proj, "attn_value": block.attn.c_attn,
                "attn_out": block.attn.c_proj}[role].weight.detach().double().numpy()
        return conv[:, 2 * D:] if role == "attn_value" else conv
    if family == "gpt_neo":
        block = model.transformer.h[layer]
        return lin({"mlp_in": block.mlp.c_fc, "mlp_out": block.mlp.c_proj, "attn_value": block.attn.attention.v_proj,
                    "attn_out": block.attn.attention.out_proj}[role])
    if family == "opt":
        block = model.model.decoder.layers[layer]
        return lin({"mlp_in": block.fc1, "mlp_out": block.fc2, "attn_value": block.self_attn.v_proj,
                    "attn_out": block.self_attn.out_proj}[role])
    if family == "gpt_neox":
        block = model.gpt_neox.layers[layer]
        if role == "attn_value":
            fused = block.attention.query_key_value.weight.detach().double().numpy()
            return fused.reshape(HEADS, 3, D // HEADS, D)[:, 2].reshape(-1, D).T
        return lin({"mlp_in": block.mlp.dense_h_to_4h, "mlp_out": block.mlp.dense_4h_to_h,
                    "attn_out": block.attention.dense}[role])
    if family == "llama":
        block = model.model.layers[layer]
        if role == "mlp_in":
            return np.concatenate([lin(block.mlp.gate_proj), lin(block.mlp.up_proj)], axis=1)
        return lin({"mlp_out": block.mlp.down_proj, "attn_value": block.self_attn.v_proj,
                    "attn_out": block.self_attn.o_proj}[role])
    if family == "bert":
        block = model.bert.encoder.layer[layer]
        return lin({"mlp_in": block.intermediate.dense, "mlp_out": block.output.dense,
                    "attn_value": block.attention.self.value, "attn_out": block.attention.output.dense}[role])
    block = model.distilbert.transformer.layer[layer]
    return lin({"mlp_in": block.ffn.lin1, "mlp_out": block.ffn.lin2, "attn_value": block.attention.v_lin,
                "attn_out": block.attention.out_lin}[role])


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_every_role_matches_the_torch_module(family, tmp_path, monkeypatch):
    monkeypatch.setattr(report.load.tensors, "ROW_BLOCK", 5)  # several row blocks per matrix
    model, tensors = _saved(family, tmp_path)
    for role in MATRIX_ROLES:
        assert tensors.has(role), (family, role, tensors.missing(role))
        for layer in range(LAYERS):
            expected = _expected(model, family, role, layer)
            read = tensors.read(role, layer)
            assert read.shape == expected.shape and np.allclose(read, expected), (family, role)
            assert np.allclose(tensors.feature_norms(role, layer, "in"), np.linalg.norm(expected, axis=1))
            assert np.allclose(tensors.feature_norms(role, layer, "out"), np.linalg.norm(expected, axis=0))


def test_only_the_slices_asked_for_are_read(tmp_path, monkeypatch):
    """GPT-2's value weights are a third of c_attn: only those columns are requested from the file."""
    _, tensors = _saved("gpt2", tmp_path)
    asked = []
    original = ModelTensors._slice
    monkeypatch.setattr(ModelTensors, "_slice", lambda self, key, rows, cols: asked.append((key, rows, cols))
                        or original(self, key, rows, cols))
    tensors.feature_norms("attn_value", 1, "in")
    assert asked and all(k.endswith("h.1.attn.c_attn.weight") and c == slice(2 * D, 3 * D) for k, _, c in asked)


def test_missing_matrices_are_named(tmp_path):
    from safetensors.numpy import load_file, save_file

    _, tensors = _saved("gpt2", tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    save_file({k: v for k, v in state.items() if "mlp.c_proj" not in k}, str(tmp_path / "model.safetensors"),
              metadata={"format": "pt"})
    tensors = ModelTensors(TensorReader(tmp_path, allow_pickle=False), tensors.arch, "gpt2")
    assert tensors.has("mlp_in") and tensors.missing("mlp_out") == ["h.0.mlp.c_proj.weight", "h.1.mlp.c_proj.weight"]
    with pytest.raises(ReportError, match="no tensor 'h.0.mlp.c_proj.weight'"):
        tensors.read("mlp_out", 0)


def test_quantized_matrices_are_not_read_as_weights(tmp_path):
    from safetensors.numpy import load_file, save_file

    _, tensors = _saved("gpt2", tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    key = next(k for k in state if k.endswith("h.1.mlp.c_fc.weight"))
    state[key] = state[key].astype(np.int8)
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    tensors = ModelTensors(TensorReader(tmp_path, allow_pickle=False), tensors.arch, "gpt2")
    assert tensors.not_weights("mlp_in") == (f"{key} is stored as int8, the codes of a quantized model, which this "
                                             "tool does not dequantize")
    assert tensors.not_weights("mlp_out") is None


def test_the_model_files_identity_follows_any_tensor(tmp_path):
    """The experiments read every tensor, so their cache key must change when any of them does."""
    from safetensors.numpy import load_file, save_file

    _, tensors = _saved("gpt2", tmp_path)
    before = tensors.files_sha256()
    assert before == tensors.files_sha256() and len(before) == 64
    state = load_file(str(tmp_path / "model.safetensors"))
    state["transformer.h.1.mlp.c_proj.weight"][0, 0] += 1
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    assert tensors.files_sha256() != before
