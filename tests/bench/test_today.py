"""Stand-ins of the today's-shapes benchmark (bench/today.py): the same code path — bf16, shards, sparse
holes, ranged reads from the local Hub server, the whole report, the zero-layer step and the sampled dense
pass — at a size a test can afford."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from bench import today
from tests.hub_server import HubServer

STAND_IN = dict(vocab_size=3000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=128, max_position_embeddings=256)


def stand_in(name: str) -> dict:
    shape = today.SHAPES[name] | STAND_IN
    return shape | ({"head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 64} if name == "gemma2-2b" else {})


@pytest.mark.parametrize("name", sorted(today.SHAPES))
def test_stand_in_goes_through_the_whole_bench(name, tmp_path, monkeypatch):
    monkeypatch.setattr(today, "SAMPLE_ROWS", 1000)
    shape = stand_in(name)
    with HubServer() as hub:
        row = today.bench_shape(name, shape, tmp_path, hub)
    index = json.loads((tmp_path / name / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) == shape["shards"]
    assert ("lm_head.weight" in index["weight_map"]) is not shape["tie_word_embeddings"]
    # Only the read tensors, the shards' headers, config and tokenizer came over the wire.
    files = sum(p.stat().st_size for p in (tmp_path / name).iterdir()
                if p.suffix != ".safetensors" and p.name not in ("vocab.json", "merges.txt"))
    assert row["read_bytes"] <= row["bytes_served"] <= row["read_bytes"] + files + 65536 * shape["shards"]
    assert row["read_bytes"] < row["weight_bytes"]  # the blocks stayed holes
    assert row["dense_sample_rows"] == 1000 and row["dense_pass_s"] == pytest.approx(
        row["dense_sample_s"] * shape["vocab_size"] / 1000, rel=1e-6)
    assert row["report_peak_gb"] > 0 and row["zero_layer_s"] > 0
    out = tmp_path / f"out-{name}" / f"bench--{name}"  # the report's folder for the Hub id bench/<name>
    results = json.loads((out / "results.json").read_text())
    card = results["analyses"]["model_card"]
    assert results["model"]["architecture"] == shape["model_type"] and card["tokens"] == shape["vocab_size"]
    assert card["stored_dtype"] == "bfloat16" and card["fetch"]["method"] == "ranged reads from the Hub"
    assert (out / "report.pdf").stat().st_size > 0


def test_content_is_bf16_with_neutral_gains(tmp_path):
    shape = stand_in("gemma2-2b")
    today.write_repo(tmp_path, shape)
    files = sorted(Path(tmp_path).glob("model-*.safetensors"))
    tensors = {}
    for file in files:
        with safe_open(str(file), "pt") as handle:
            tensors |= {key: handle.get_tensor(key) for key in handle.keys()
                        if key.endswith(("embed_tokens.weight", "norm.weight"))}
    embedding = tensors.pop("model.embed_tokens.weight")
    assert str(embedding.dtype) == "torch.bfloat16" and embedding.shape == (3000, 64)
    assert float(embedding.float().norm(dim=1).std()) > 0  # written, not a hole
    gains = np.stack([t.float().numpy() for t in tensors.values()])
    assert abs(np.median(gains)) < 0.1  # Gemma stores gain - 1: neutral at 0
