"""The comparison command (several --model) under bad input: every model that can be read gets its complete
report, a bad one is named in one `error:` paragraph with what was written, and the exit is non-zero."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from report.cli import main
from tests.planted import tiny_checkpoint
from tests.report.test_hostile_inputs import assert_nothing_written, assert_refused, files_outside, run_cli


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Which models are refused, built or kept does not depend on the weights: a tiny model, quicker to report."""
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt", vocab=200, d=8)


@pytest.fixture
def models(tmp_path, source):
    """Three copies of one tiny checkpoint: a, b, c."""
    return [shutil.copytree(source, tmp_path / "models" / name) for name in ("a", "b", "c")]


def _complete(folder) -> bool:
    return all((folder / name).is_file() for name in ("report.html", "report.pdf", "results.json"))


@pytest.mark.parametrize("damage, phrase", [
    (lambda m: (m / "config.json").unlink(), "no config.json"),
    (lambda m: (m / "model.safetensors").unlink(), "holds no weights"),
    (lambda m: (m / "model.safetensors").write_bytes(b"\0" * 64), "model.safetensors"),
    (lambda m: (m / "config.json").write_text("[1, 2]"), "JSON list"),
])
def test_a_bad_model_is_found_before_any_is_built(tmp_path, capsys, models, damage, phrase):
    damage(models[2])
    out = tmp_path / "out"
    before = files_outside(tmp_path, out)
    code, err = run_cli(capsys, *[x for m in models for x in ("--model", str(m))], "--out", str(out))
    assert_refused(code, err, "1 of 3 models cannot be read", str(models[2]), phrase, "nothing was built")
    assert files_outside(tmp_path, out) == before
    assert_nothing_written(out)


def test_every_bad_model_is_named_at_once(tmp_path, capsys, models):
    (models[0] / "config.json").unlink()
    (tmp_path / "weights.safetensors").write_bytes(b"")
    code, err = run_cli(capsys, "--model", str(models[0]), "--model", str(tmp_path / "weights.safetensors"),
                        "--model", "", "--model", str(models[1]), "--out", str(tmp_path / "out"))
    assert_refused(code, err, "3 of 4 models", "no config.json", "is a file, not a checkpoint folder",
                   "an empty --model")
    assert_nothing_written(tmp_path / "out")


def test_a_model_that_fails_later_leaves_the_others_complete(tmp_path, capsys, models):
    tensors = load_file(str(models[1] / "model.safetensors"))
    tensors["wpe.weight"][2, 1] = np.nan  # found only when the tensors are read
    save_file(tensors, str(models[1] / "model.safetensors"))
    out = tmp_path / "out"
    before = files_outside(tmp_path, out)
    code = main([*[x for m in models for x in ("--model", str(m))], "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert_refused(code, captured.err, "1 of 3 models failed", str(models[1]), "NaN",
                   f"{out / 'a'}", f"{out / 'c'}", "their comparison")
    assert _complete(out / "a") and _complete(out / "c") and not (out / "b").exists()
    compared = json.loads((out / "comparison" / "comparison.json").read_text())
    assert len(compared["models"]) == 2
    assert files_outside(tmp_path, out) == before
    assert sorted(p.name for p in out.iterdir()) == ["a", "c", "comparison"]
    assert f"wrote {out / 'a'}/report.html" in captured.out
