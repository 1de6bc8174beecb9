"""Bad input gets one clear message and a non-zero exit: no traceback, nothing half-written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from report.cli import main
from tests.planted import Spec, plant


def run_cli(capsys, *args) -> tuple[int, str]:
    code = main([*args, "--quiet"])
    captured = capsys.readouterr()
    return code, captured.err


def assert_refused(code: int, err: str, *phrases: str) -> None:
    assert code != 0
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for phrase in phrases:
        assert phrase.lower() in err.lower(), (phrase, err)


def assert_nothing_written(out) -> None:
    leftovers = [p for p in out.rglob("*")] if out.exists() else []
    assert not leftovers, leftovers


@pytest.fixture
def checkpoint(tmp_path):
    return plant(tmp_path / "ckpt", Spec(d_model=32, n_positions=32, n_layers=2,
                                         heavy_dims=(1, 5, 9, 14), unigram_dim=7)).folder


def test_hub_id_not_cached_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = tmp_path / "out"
    code, err = run_cli(capsys, "--model", "openai-community/gpt2-xl", "--out", str(out))
    assert_refused(code, err, "gpt2-xl", "not in the local Hugging Face cache")
    assert_nothing_written(out)


@pytest.mark.parametrize("model", ["gpt2!!", "../../x", "./no/such/dir", "a/b/c"])
def test_malformed_or_missing_model(tmp_path, capsys, model):
    out = tmp_path / "out"
    code, err = run_cli(capsys, "--model", model, "--out", str(out))
    assert_refused(code, err, repr(model))
    assert_nothing_written(out)


def test_unknown_revision_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    code, err = run_cli(capsys, "--model", "gpt2", "--revision", "no-such-branch", "--out", str(tmp_path / "o"))
    assert_refused(code, err, "no-such-branch")


def test_folder_without_config(tmp_path, capsys, checkpoint):
    (checkpoint / "config.json").unlink()
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(tmp_path / "out"))
    assert_refused(code, err, "config.json")


def test_folder_without_weights(tmp_path, capsys, checkpoint):
    (checkpoint / "model.safetensors").unlink()
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(tmp_path / "out"))
    assert_refused(code, err, "holds no weights")


def _to_pickle(folder) -> None:
    tensors = {k: torch.from_numpy(v) for k, v in load_file(str(folder / "model.safetensors")).items()}
    torch.save(tensors, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()


def test_pickle_refused_unless_allowed(tmp_path, capsys, checkpoint):
    _to_pickle(checkpoint)
    out = tmp_path / "out"
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(out))
    assert_refused(code, err, "pickle", "--allow-pickle")
    assert_nothing_written(out)
    code = main(["--model", str(checkpoint), "--out", str(out), "--allow-pickle", "--quiet"])
    assert code == 0 and (out / checkpoint.name / "results.json").is_file()


def test_truncated_safetensors(tmp_path, capsys, checkpoint):
    path = checkpoint / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(tmp_path / "out"))
    assert_refused(code, err, "model.safetensors", "truncated or corrupted")


def test_garbage_safetensors(tmp_path, capsys, checkpoint):
    (checkpoint / "model.safetensors").write_bytes(b"\x00" * 64)
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(tmp_path / "out"))
    assert_refused(code, err, "model.safetensors")


def test_nan_is_reported_with_its_place(tmp_path, capsys, checkpoint):
    tensors = load_file(str(checkpoint / "model.safetensors"))
    tensors["wpe.weight"][5, 3] = np.nan
    save_file(tensors, str(checkpoint / "model.safetensors"))
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(tmp_path / "out"))
    assert_refused(code, err, "wpe.weight", "(5, 3)", "NaN")


def test_inf_is_reported(tmp_path, capsys, checkpoint):
    tensors = load_file(str(checkpoint / "model.safetensors"))
    tensors["h.1.ln_2.weight"][2] = np.inf
    save_file(tensors, str(checkpoint / "model.safetensors"))
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(tmp_path / "out"))
    assert_refused(code, err, "h.1.ln_2.weight", "(2,)")


def test_config_vocab_larger_than_embedding(tmp_path, capsys, checkpoint):
    config = json.loads((checkpoint / "config.json").read_text())
    config["vocab_size"] += 100
    (checkpoint / "config.json").write_text(json.dumps(config))
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(tmp_path / "out"))
    assert_refused(code, err, "vocab_size")


def test_unwritable_output_folder(tmp_path, capsys, checkpoint):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(blocker / "out"))
    assert_refused(code, err, "output folder")


def test_missing_corpus(tmp_path, capsys, checkpoint):
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(tmp_path / "o"), "--corpus",
                        str(tmp_path / "nope.txt"))
    assert_refused(code, err, "corpus")


def test_interrupt_leaves_no_partial_report(tmp_path, capsys, checkpoint, monkeypatch):
    from report import pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.render, "write_pdf", interrupted)
    out = tmp_path / "out"
    code = main(["--model", str(checkpoint), "--out", str(out), "--quiet"])
    assert code == 130
    assert list(out.iterdir()) == [], "a partial report or temp folder was left behind"


def test_failed_rerun_keeps_the_previous_report(tmp_path, checkpoint, monkeypatch):
    from report import pipeline

    out = tmp_path / "out"
    assert main(["--model", str(checkpoint), "--out", str(out), "--quiet"]) == 0
    before = (out / checkpoint.name / "results.json").read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(pipeline.render, "write_pdf", broken)
    assert main(["--model", str(checkpoint), "--out", str(out), "--quiet"]) == 1
    assert (out / checkpoint.name / "results.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == [checkpoint.name]


def test_padding_rows_are_reported_apart(tmp_path):
    checkpoint = plant(tmp_path / "pad", Spec(d_model=32, n_positions=32, n_layers=2, heavy_dims=(1, 5, 9, 14),
                                              unigram_dim=7, extra_rows=5))
    out = tmp_path / "out"
    assert main(["--model", str(checkpoint.folder), "--out", str(out), "--quiet", "--no-cache"]) == 0
    results = json.loads((out / checkpoint.folder.name / "results.json").read_text())
    card = results["analyses"]["model_card"]
    assert card["tokens"] == checkpoint.vocab_size and card["padding_rows"] == 5
    assert card["padding"]["rows"] == 5 and card["padding"]["first_row"] == checkpoint.vocab_size
    assert "analysed apart" in (out / checkpoint.folder.name / "report.html").read_text(encoding="utf-8")
