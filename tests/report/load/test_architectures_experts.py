"""The MLP read profile of mixtures of experts whose experts are stored fused (gpt-oss and Llama 4: one
[experts, d_model, 2·ffn] gate/up tensor per block) or whose first blocks are dense (DeepSeek-V3, Llama 4 with
interleaved expert blocks): tiny random models built by transformers, each expert's slice read on its own, and a
planted read direction found where it was planted (and not where a reader of the wrong orientation looks)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import report.load.tensors
from report.load.hub import resolve
from report.load.loader import load_weights
from report.load.tensors import ModelTensors
from report.run.context import Options
from report.run.pipeline import Request, analyse, results_document
from report.run.progress import Progress
from tests.tiny_hf import D, MissingType, write_tiny

READ_DIM = 6  # the residual dim every expert's (and dense MLP's) gate and up read strongly
DECOY_OUT = 11  # an output feature (hidden unit) made as loud: what a reader of the transposed matrix would find
ROUTER_DIM, WRITE_DIM = 17, 23  # loud in the router's and the down projections' residual side: neither is a read
LOUD = 3.0

# Square gate/up slices (2·ffn = d_model, and ffn = d_model for Linear experts), so that a reader of the wrong
# orientation gets d_model features too and is caught by what it finds, not by a shape check.
VARIANTS = {
    "gpt_oss": ("gpt_oss", {"intermediate_size": D // 2}),
    "llama4_text": ("llama4_text", {"intermediate_size": D // 2}),
    "llama4_text-interleaved": ("llama4_text", {"intermediate_size": D // 2, "intermediate_size_mlp": D,
                                                "interleave_moe_layer_step": 2}),
    "deepseek_v3": ("deepseek_v3", {"intermediate_size": D, "moe_intermediate_size": D}),
    "qwen2_moe-sparse-step": ("qwen2_moe", {"decoder_sparse_step": 2}),  # block 0 dense, block 1 experts
}
FUSED = ("gpt_oss", "llama4_text")  # variants whose experts are one 3-D tensor per block
DENSE_FIRST = ("llama4_text-interleaved", "deepseek_v3", "qwen2_moe-sparse-step")  # block 0 dense, block 1 experts


def _tiny(tmp_path, variant: str):
    model_type, overrides = VARIANTS[variant]
    try:
        return write_tiny(tmp_path / variant, model_type, overrides=overrides)
    except MissingType as exc:
        pytest.skip(str(exc))


def _plant(tensor: np.ndarray, key: str) -> None:
    """Every MLP input matrix reads READ_DIM loudly (and has a loud hidden unit DECOY_OUT); the router's READ side
    and the down projections' write side get loud decoys."""
    if key.endswith("gate_up_proj"):  # [experts, d_model, 2·ffn]
        tensor[:, READ_DIM, :] *= LOUD
        tensor[:, :, DECOY_OUT] *= LOUD
    elif key.endswith(("gate_proj.weight", "up_proj.weight")):  # Linear [ffn, d_model]
        tensor[:, READ_DIM] *= LOUD
        tensor[DECOY_OUT, :] *= LOUD
    elif key.endswith(("router.weight", "mlp.gate.weight")):  # [experts, d_model]
        tensor[:, ROUTER_DIM] = 50.0
    elif key.endswith("experts.down_proj"):  # [experts, ffn, d_model]
        tensor[:, :, WRITE_DIM] *= 50.0
    elif key.endswith("down_proj.weight"):  # Linear [d_model, ffn]
        tensor[WRITE_DIM, :] *= 50.0


def _planted(tmp_path, variant: str):
    folder = _tiny(tmp_path, variant)
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    for key, tensor in tensors.items():
        _plant(tensor, key)
    save_file(tensors, str(path), metadata={"format": "pt"})
    return folder


def _expected_reads(raw: dict, variant: str, layer: int) -> np.ndarray:
    """[d_model, hidden]: the layer's MLP input matrices side by side, written out per type from the modelling code
    (x @ gate_up_proj[e] for the fused experts, Linear weights transposed)."""
    block = f"model.layers.{layer}."
    linear = lambda *keys: [raw[block + k + ".weight"].T for k in keys]  # noqa: E731
    if variant == "gpt_oss":
        return np.concatenate(list(raw[block + "mlp.experts.gate_up_proj"]), axis=1)
    if variant.startswith("llama4_text"):
        if variant.endswith("interleaved") and layer % 2 == 0:  # interleave step 2: blocks 1, 3, … have experts
            return np.concatenate(linear("feed_forward.gate_proj", "feed_forward.up_proj"), axis=1)
        fused = list(raw[block + "feed_forward.experts.gate_up_proj"])
        return np.concatenate(fused + linear("feed_forward.shared_expert.gate_proj",
                                             "feed_forward.shared_expert.up_proj"), axis=1)
    if layer == 0:  # deepseek_v3: first_k_dense_replace = 1; qwen2_moe: decoder_sparse_step = 2
        return np.concatenate(linear("mlp.gate_proj", "mlp.up_proj"), axis=1)
    shared = "mlp.shared_experts." if variant == "deepseek_v3" else "mlp.shared_expert."
    parts = [f"mlp.experts.{e}.{w}" for e in range(2) for w in ("gate_proj", "up_proj")]
    return np.concatenate(linear(*parts, shared + "gate_proj", shared + "up_proj"), axis=1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_expert_is_read_from_its_slice(tmp_path, monkeypatch, variant):
    """The read weights are exactly each expert's slice (and the shared expert's, or the dense MLP's in dense
    blocks), read a few rows at a time; the write weights are not compared."""
    monkeypatch.setattr(report.load.tensors, "ROW_BLOCK", 5)  # several row blocks per expert slice
    folder = _tiny(tmp_path, variant)
    raw = load_file(str(folder / "model.safetensors"))
    tensors = load_weights(resolve(str(folder))).tensors
    assert not tensors.missing("mlp_in") and not tensors.has("mlp_out")
    for layer in range(2):
        expected = _expected_reads(raw, variant, layer)
        assert np.allclose(tensors.read("mlp_in", layer), expected)
        assert np.allclose(tensors.feature_norms("mlp_in", layer, "in"), np.linalg.norm(expected, axis=1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_read_direction_planted_in_every_expert_is_found(tmp_path, variant):
    """READ_DIM is the strongest read of every block's MLP, dense or experts; the router's loud ROUTER_DIM, the
    down projections' loud WRITE_DIM and the loud hidden unit DECOY_OUT are not reads. The model card says what
    was read."""
    folder = _planted(tmp_path, variant)
    ctx, _ = analyse(Request(model=str(folder), options=Options(frequency="token-index", experiments=False)),
                     Progress(variant, 0, enabled=False))
    analyses = results_document(ctx)["analyses"]
    rows = analyses["mlp_read"]["roles"]["mlp_in"]["per_layer"]
    assert [row["strongest_dim"] for row in rows] == [READ_DIM, READ_DIM]
    notes = " ".join(analyses["model_card"]["conventions"])
    assert "root of the summed squares" in notes and "router's own weights only choose experts" in notes
    if VARIANTS[variant][0] in FUSED:
        assert "each expert's [d_model, 2·ffn] slice is read on its own" in notes
    if variant in DENSE_FIRST:
        assert "Block 0 has a dense MLP, whose read-weights are its gate_proj and up_proj" in notes


@pytest.mark.parametrize("variant", FUSED)
def test_reading_fused_experts_as_out_in_finds_the_decoy(tmp_path, variant):
    """The same planted checkpoint read with the fused tensor taken as [experts, out, in]: the strongest "dim" is
    the loud hidden unit DECOY_OUT, not READ_DIM, so the known-answer test above tells the orientations apart."""
    folder = _planted(tmp_path, variant)
    tensors = load_weights(resolve(str(folder))).tensors
    arch = tensors.arch
    flipped = tuple((role, tuple(replace(s, layout="out_in") if s.expert is not None else s for s in specs))
                    for role, specs in arch.matrices)
    wrong = ModelTensors(tensors.reader, replace(arch, matrices=flipped), variant)
    for layer in range(2):
        assert np.argmax(tensors.feature_norms("mlp_in", layer, "in")) == READ_DIM
        assert np.argmax(wrong.feature_norms("mlp_in", layer, "in")) == DECOY_OUT


def test_gpt_oss_mxfp4_experts_are_skipped_with_the_reason(tmp_path):
    """Published gpt-oss checkpoints store the experts as mxfp4 blocks and scales: the read profile is skipped,
    naming the tensor it lacks, and the model card says why."""
    folder = _tiny(tmp_path, "gpt_oss")
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    for key in [k for k in tensors if k.endswith("experts.gate_up_proj")]:
        blocks = tensors.pop(key)
        tensors[key + "_blocks"] = np.zeros(blocks.shape[:2] + (2, 16), np.uint8)
        tensors[key + "_scales"] = np.zeros(blocks.shape[:2] + (2,), np.uint8)
    save_file(tensors, str(path), metadata={"format": "pt"})
    ctx, _ = analyse(Request(model=str(folder), options=Options(frequency="token-index", experiments=False)),
                     Progress("gpt_oss", 0, enabled=False))
    analyses = results_document(ctx)["analyses"]
    assert "layers.0.mlp.experts.gate_up_proj" in analyses["mlp_read"]["skipped"]
    assert any("mxfp4" in note for note in analyses["model_card"]["conventions"])
