"""The loader reads exactly the tensors the report needs, from both key styles, tied or not, sharded or not."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from safetensors.numpy import load_file

from report.errors import ReportError
from report.load.hub import resolve
from report.load.loader import MAX_ABS, _check_finite, load_weights
from tests.planted import Spec, plant


def load(folder):
    return load_weights(resolve(str(folder)))


def test_hub_key_style_reads_every_needed_tensor(planted):
    weights = load(planted.folder)
    raw = load_file(str(planted.folder / "model.safetensors"))
    assert np.array_equal(weights.token_embeddings, raw["wte.weight"])
    assert np.array_equal(weights.position_embeddings, raw["wpe.weight"])
    assert [ln.name for ln in weights.layer_norms] == [
        "layers.0.ln_1", "layers.0.ln_2", "layers.1.ln_1", "layers.1.ln_2", "layers.2.ln_1", "layers.2.ln_2",
        "final_ln"]
    assert np.array_equal(weights.layer_norms[2].weight, raw["h.1.ln_1.weight"])
    assert weights.tied and weights.unembedding is None
    assert not any("attn" in key or "mlp" in key for key in weights.tensor_sha256)


def test_save_pretrained_style_untied_and_sharded(tmp_path, planted):
    other = plant(tmp_path / "sp", Spec(key_style="save_pretrained", tied=False, sharded=True))
    weights = load(other.folder)
    hub = load(planted.folder)
    assert np.array_equal(weights.token_embeddings, hub.token_embeddings)  # same seed, same planted weights
    assert not weights.tied and weights.unembedding is not None
    assert set(weights.tensor_sha256) >= {"transformer.wte.weight", "lm_head.weight"}
    assert weights.tensors_sha256 != hub.tensors_sha256


def test_hash_identifies_the_tensors(tmp_path, planted):
    again = plant(tmp_path / "again", Spec())
    assert load(again.folder).tensors_sha256 == load(planted.folder).tensors_sha256


def test_missing_tensor_is_named(tmp_path):
    folder = plant(tmp_path / "m", Spec()).folder
    tensors = load_file(str(folder / "model.safetensors"))
    del tensors["h.1.ln_2.bias"]
    from safetensors.numpy import save_file
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(ReportError, match=r"h\.1\.ln_2\.bias"):
        load(folder)


def test_shape_disagreeing_with_config(tmp_path):
    folder = plant(tmp_path / "s", Spec()).folder
    config = json.loads((folder / "config.json").read_text())
    config["n_embd"] = 32
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ReportError, match="shape"):
        load(folder)


def test_offline_and_not_cached_is_one_clear_paragraph(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ReportError) as error:
        resolve("openai-community/gpt2-medium")
    message = str(error.value)
    assert "gpt2-medium" in message and "HF_HUB_OFFLINE" in message and "\n" not in message


def test_hub_id_resolves_through_the_local_cache(tmp_path, monkeypatch, planted):
    """A Hub id that is in the cache loads offline, with the snapshot's commit as the revision."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = cache / "models--someone--tiny-gpt2" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for path in planted.folder.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())
    (cache / "models--someone--tiny-gpt2" / "refs").mkdir()
    (cache / "models--someone--tiny-gpt2" / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants as constants
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    source = resolve("someone/tiny-gpt2")
    assert source.revision == commit and source.from_hub
    assert load_weights(source).model_id == "someone/tiny-gpt2"


@pytest.mark.parametrize("value, named", [(np.nan, "NaN/Inf"), (np.inf, "NaN/Inf"), (-np.inf, "NaN/Inf"),
                                          (2e12, "as large as 2e+12"), (-2e12, "as large as 2e+12")])
def test_a_bad_value_is_refused_with_its_place(value, named):
    array = np.ones((50, 8), dtype=np.float32)
    array[31, 5] = value
    with pytest.raises(ReportError, match=re.escape(named) + r".*\(31, 5\)"):
        _check_finite("m", "wte.weight", array)


def test_values_up_to_the_limit_pass():
    _check_finite("m", "wte.weight", np.array([[-MAX_ABS, MAX_ABS]], dtype=np.float64))
    _check_finite("m", "wte.weight", np.zeros((0, 8), dtype=np.float32))
