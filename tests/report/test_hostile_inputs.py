"""Bad input gets one clear message and a non-zero exit: no traceback, nothing half-written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from report.cli import main
from tests.planted import Spec, plant, tiny_checkpoint


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


SMALL = Spec(d_model=32, n_positions=32, n_layers=2, heavy_dims=(1, 5, 9, 14), unigram_dim=7)


@pytest.fixture(scope="module")
def small_planted(tmp_path_factory):
    """Planted once for the module (training its tokenizer is the slow part); each test edits its own copy."""
    return plant(tmp_path_factory.mktemp("small") / "ckpt", SMALL).folder


@pytest.fixture
def checkpoint(tmp_path, small_planted):
    return Path(shutil.copytree(small_planted, tmp_path / "ckpt"))


@pytest.fixture
def model(tmp_path):
    """A tiny model for the tests whose answer does not depend on the weights (what is written, kept or
    refused; what the report says of the files' dtypes, sizes and tokens): its whole report costs about a
    quarter less than the checkpoint's."""
    return tiny_checkpoint(tmp_path / "ckpt", vocab=200, d=8)


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


def test_pickle_refused_unless_allowed(tmp_path, capsys, model):
    _to_pickle(model)
    out = tmp_path / "out"
    code, err = run_cli(capsys, "--model", str(model), "--out", str(out))
    assert_refused(code, err, "pickle", "--allow-pickle")
    assert_nothing_written(out)
    code = main(["--model", str(model), "--out", str(out), "--allow-pickle", "--quiet"])
    assert code == 0 and (out / model.name / "results.json").is_file()


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


def test_interrupt_leaves_no_partial_report(tmp_path, capsys, model, monkeypatch):
    from report.run import pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.render, "write_pdf", interrupted)
    out = tmp_path / "out"
    code = main(["--model", str(model), "--out", str(out), "--quiet"])
    assert code == 130
    assert list(out.iterdir()) == [], "a partial report or temp folder was left behind"


def test_failed_rerun_keeps_the_previous_report(tmp_path, model, monkeypatch):
    from report.run import pipeline

    out = tmp_path / "out"
    assert main(["--model", str(model), "--out", str(out), "--quiet"]) == 0
    before = (out / model.name / "results.json").read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(pipeline.render, "write_pdf", broken)
    assert main(["--model", str(model), "--out", str(out), "--quiet"]) == 1
    assert (out / model.name / "results.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == [model.name]


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


# --- issue 11: inputs that once gave a traceback, an internal error, or read outside the model folder ---

def files_outside(root, out) -> dict:
    """Every file under `root` but outside `out`, with its size and modification time."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file() and out not in p.parents}


def refused_and_contained(tmp_path, capsys, model, *phrases, extra=()):
    out = tmp_path / "out"
    before = files_outside(tmp_path, out)
    code, err = run_cli(capsys, "--model", str(model), "--out", str(out), *extra)
    assert_refused(code, err, *phrases)
    assert files_outside(tmp_path, out) == before
    assert_nothing_written(out)
    return err


def _write_index(folder, weight_map) -> None:
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


@pytest.mark.parametrize("where", ["../outside.safetensors", "../../outside.safetensors", "ABSOLUTE", "/etc/passwd"])
def test_shard_index_cannot_leave_the_model_folder(tmp_path, capsys, checkpoint, where):
    outside = tmp_path / "outside.safetensors"
    (checkpoint / "model.safetensors").rename(outside)
    target = str(outside) if where == "ABSOLUTE" else where
    if where == "../../outside.safetensors":
        nested = checkpoint / "sub"
        nested.mkdir()
        for p in list(checkpoint.iterdir()):
            if p != nested:
                p.rename(nested / p.name)
        checkpoint = nested
    keys = list(load_file(str(outside)))
    _write_index(checkpoint, {k: target for k in keys})
    refused_and_contained(tmp_path, capsys, checkpoint, "outside the model folder")


@pytest.mark.parametrize("weight_map", [["wte.weight"], {"wte.weight": 3}, {"wte.weight": None}, "model.safetensors"])
def test_shard_index_of_the_wrong_shape(tmp_path, capsys, checkpoint, weight_map):
    _write_index(checkpoint, weight_map)
    refused_and_contained(tmp_path, capsys, checkpoint, "safetensors index")


@pytest.mark.parametrize("content", ["[1, 2, 3]", '"gpt2"', "null", "42"])
def test_config_that_is_not_an_object(tmp_path, capsys, checkpoint, content):
    (checkpoint / "config.json").write_text(content)
    refused_and_contained(tmp_path, capsys, checkpoint, "config.json", "not an object")


@pytest.mark.parametrize("n_layer, phrase", [(-3, "at least 1"), (0, "at least 1"), (3e6, "at most 10,000"),
                                             (2.5, "whole number"), ("two", "whole number"), (1, "also holds"),
                                             (3, "numbered blocks")])
def test_layer_count_is_checked_against_the_tensors(tmp_path, capsys, checkpoint, n_layer, phrase):
    config = json.loads((checkpoint / "config.json").read_text())
    config["n_layer"] = n_layer
    (checkpoint / "config.json").write_text(json.dumps(config))
    refused_and_contained(tmp_path, capsys, checkpoint, "n_layer" if phrase != "also holds" else "layers", phrase)


def test_duplicate_keys_across_unindexed_files(tmp_path, capsys, checkpoint):
    tensors = load_file(str(checkpoint / "model.safetensors"))
    save_file({"wte.weight": tensors["wte.weight"] * 2}, str(checkpoint / "model-old.safetensors"))
    refused_and_contained(tmp_path, capsys, checkpoint, "wte.weight", "both hold")


def test_negative_seed(tmp_path, capsys, checkpoint):
    refused_and_contained(tmp_path, capsys, checkpoint, "--seed", extra=("--seed", "-1"))


def test_folder_without_tokenizer_files(tmp_path, capsys, checkpoint):
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "tokenizer.json"):
        (checkpoint / name).unlink(missing_ok=True)
    refused_and_contained(tmp_path, capsys, checkpoint, "tokenizer")


def test_tokenizer_larger_than_the_embedding_is_stated(tmp_path, model):
    tensors = load_file(str(model / "model.safetensors"))
    rows = tensors["wte.weight"].shape[0]
    tensors["wte.weight"] = tensors["wte.weight"][: rows - 7]
    save_file(tensors, str(model / "model.safetensors"))
    config = json.loads((model / "config.json").read_text())
    config["vocab_size"] = rows - 7
    (model / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    assert main(["--model", str(model), "--out", str(out), "--quiet", "--no-cache"]) == 0
    card = json.loads((out / "ckpt" / "results.json").read_text())["analyses"]["model_card"]
    assert card["tokens_beyond_embedding"] == 7
    assert "7 more tokens than the embedding has rows" in (out / "ckpt" / "report.html").read_text(encoding="utf-8")


def test_full_disk_is_one_message(tmp_path, model):
    """A file-size limit stands in for a full disk: writes fail with an OSError part-way through."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "report", "--model", str(model), "--out", str(out),
                             "--quiet", "--no-cache"], preexec_fn=limit, capture_output=True, text=True,
                            env={**os.environ, "WEIGHTS_REPORT_NO_CACHE": "1"}, timeout=600)
    assert_refused(result.returncode, result.stderr, "could not write the report")
    assert len(result.stderr) < 1500
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("vocab, d, phrase", [(2, 8, "4 tokens"), (3, 8, "4 tokens"), (64, 1, "d_model = 3"),
                                              (64, 2, "d_model = 3")])
def test_degenerate_sizes_are_refused_with_the_smallest_that_works(tmp_path, capsys, vocab, d, phrase):
    folder = tiny_checkpoint(tmp_path / "tiny", vocab, d)
    refused_and_contained(tmp_path, capsys, folder, "too", phrase)


def test_the_smallest_sizes_run(tmp_path):
    from report.load.loader import MIN_D_MODEL, MIN_TOKENS

    folder = tiny_checkpoint(tmp_path / "tiny", MIN_TOKENS, MIN_D_MODEL)
    out = tmp_path / "out"
    assert main(["--model", str(folder), "--out", str(out), "--quiet", "--no-cache"]) == 0
    assert (out / "tiny" / "report.pdf").is_file() and (out / "tiny" / "results.json").is_file()


def test_all_zero_layernorm_gains(tmp_path, capsys, checkpoint):
    tensors = load_file(str(checkpoint / "model.safetensors"))
    for key in tensors:
        if ".ln_" in key and key.endswith("weight") or key == "ln_f.weight":
            tensors[key] = np.zeros_like(tensors[key])
    save_file(tensors, str(checkpoint / "model.safetensors"))
    refused_and_contained(tmp_path, capsys, checkpoint, "LayerNorm gain is zero")


def test_huge_but_finite_weights(tmp_path, capsys, checkpoint):
    tensors = load_file(str(checkpoint / "model.safetensors"))
    tensors["wte.weight"] = tensors["wte.weight"] * np.float32(1e30)
    save_file(tensors, str(checkpoint / "model.safetensors"))
    refused_and_contained(tmp_path, capsys, checkpoint, "wte.weight", "overflow")


def test_two_tokens_of_3000_characters(tmp_path, model):
    """Long tokens are cut for display, so the PDF's layout does not wait on them; results.json and the
    search keep the whole string."""
    from report.load.tokens import byte_decoder

    to_char = {b: c for c, b in byte_decoder().items()}
    vocab = json.loads((model / "vocab.json").read_text(encoding="utf-8"))
    longs = [("x" * 2999 + "!"), ("ab" * 1500)]
    for text in longs:
        vocab["".join(to_char[b] for b in text.encode())] = len(vocab)
    (model / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tensors = load_file(str(model / "model.safetensors"))
    rows = tensors["wte.weight"]
    tensors["wte.weight"] = np.concatenate([rows, rows[-2:] * 3])  # long norms: listed among the longest
    save_file(tensors, str(model / "model.safetensors"))
    config = json.loads((model / "config.json").read_text())
    config["vocab_size"] = len(vocab)
    (model / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    assert main(["--model", str(model), "--out", str(out), "--quiet", "--no-cache"]) == 0
    html = (out / "ckpt" / "report.html").read_text(encoding="utf-8")
    import re

    outside_scripts = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert "x" * 200 not in outside_scripts and "ab" * 100 not in outside_scripts
    assert longs[0] in html  # in the search index
    results = (out / "ckpt" / "results.json").read_text(encoding="utf-8")
    assert "x" * 2999 in results or "78" * 2999 in results


# --- issue 26: inputs that ran to rc 0 with wrong numbers, or failed with the wrong message ---

@pytest.mark.parametrize("data, phrase", [
    (bytes(range(256)) * 200, "looks binary"),
    ("the river runs\n".encode("utf-16-le") * 500, "UTF-16 or UTF-32 without a byte-order mark"),
])
def test_corpus_that_is_not_text(tmp_path, capsys, checkpoint, data, phrase):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(data)
    refused_and_contained(tmp_path, capsys, checkpoint, "corpus", phrase, extra=("--corpus", str(corpus)))


@pytest.mark.parametrize("dtype, extra, phrase", [
    (torch.int8, {}, "no scales"),
    (torch.bool, {}, "mask"),
    (torch.float8_e4m3fn, {}, "8-bit"),
    (torch.int8, {"wte.SCB": torch.ones(1)}, "wte.SCB"),
])
def test_embeddings_that_are_not_weights(tmp_path, capsys, checkpoint, dtype, extra, phrase):
    from safetensors.torch import load_file as load_torch
    from safetensors.torch import save_file as save_torch

    tensors = load_torch(str(checkpoint / "model.safetensors"))
    tensors["wte.weight"] = (tensors["wte.weight"] * 50).clamp(-100, 100).to(dtype)
    save_torch({**tensors, **extra}, str(checkpoint / "model.safetensors"))
    err = refused_and_contained(tmp_path, capsys, checkpoint, "wte.weight", str(dtype).removeprefix("torch."))
    assert phrase in err


def test_model_card_states_each_tensors_dtype(tmp_path, model):
    from safetensors.torch import load_file as load_torch
    from safetensors.torch import save_file as save_torch

    tensors = load_torch(str(model / "model.safetensors"))
    tensors["wte.weight"] = tensors["wte.weight"].to(torch.bfloat16)
    tensors["wpe.weight"] = tensors["wpe.weight"].to(torch.float16)
    save_torch(tensors, str(model / "model.safetensors"))
    config = json.loads((model / "config.json").read_text())
    config["vocab_size"] -= 3  # smaller than the embedding: said, not silently passed
    (model / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    assert main(["--model", str(model), "--out", str(out), "--quiet", "--no-cache"]) == 0
    card = json.loads((out / model.name / "results.json").read_text())["analyses"]["model_card"]
    assert card["tensor_dtypes"]["wte.weight"] == "bfloat16" and card["tensor_dtypes"]["wpe.weight"] == "float16"
    assert card["tensor_dtypes"]["h.0.ln_1.weight"] == "float32"
    assert card["stored_dtype"] == f"bfloat16 (1), float16 (1), float32 ({len(card['tensor_dtypes']) - 2})"
    assert card["config_vocab_size"] == config["vocab_size"]
    html = (out / model.name / "report.html").read_text(encoding="utf-8")
    assert "Stored as" in html and "<td>bfloat16</td>" in html
    assert f"vocab_size = {config['vocab_size']:,}" in html


def test_a_file_is_not_taken_for_a_hub_id(tmp_path, capsys, checkpoint):
    refused_and_contained(tmp_path, capsys, checkpoint / "model.safetensors", "is a file, not a checkpoint folder")


@pytest.mark.parametrize("model", ["", " "])
def test_an_empty_model_is_not_the_current_folder(tmp_path, capsys, checkpoint, monkeypatch, model):
    monkeypatch.chdir(checkpoint)  # a model folder: an empty --model once analysed it
    refused_and_contained(tmp_path, capsys, model, "an empty --model names no model")


# --- issue 26: folder names the file system or the old ASCII-only slug could not take ---

def test_a_240_character_folder_name(tmp_path, model):
    renamed = model.rename(tmp_path / ("m" * 240))
    out = tmp_path / "out"
    before = files_outside(tmp_path, out)
    assert main(["--model", str(renamed), "--out", str(out), "--quiet"]) == 0
    [folder] = out.iterdir()
    assert len(folder.name.encode("utf-8")) <= 200 and folder.name.startswith("m" * 100)
    assert {p.name for p in folder.iterdir()} >= {"report.html", "report.pdf", "results.json", "figures"}
    assert files_outside(tmp_path, out) == before


def test_non_latin_folder_names_get_their_own_reports(tmp_path, model):
    out = tmp_path / "out"
    for name in ["模型一", "модель"]:
        copy = tmp_path / name
        shutil.copytree(model, copy)
        assert main(["--model", str(copy), "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(["模型一", "модель"])
    for name in ["模型一", "модель"]:
        assert json.loads((out / name / "results.json").read_text(encoding="utf-8"))["model"]["id"].endswith(name)
