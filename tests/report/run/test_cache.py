"""A second run on the same weights reuses the cached analyses (and, with unchanged code, the render)."""

from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from report.cli import main
from report.run import cache, pipeline
from report.run.cache import Cache
from tests.planted import tiny_checkpoint


def tiny(folder, seed: int = 0):
    """What is reused does not depend on the weights: a tiny model (its whole report is about a quarter quicker)."""
    return tiny_checkpoint(folder, vocab=200, d=8, seed=seed)


@dataclass(frozen=True)
class FirstRun:
    """A checkpoint, and the cache and report folder its first cached run wrote (shared: tests copy them)."""

    checkpoint: Path
    cache: Path
    out: Path


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> FirstRun:
    """One real first run with the cache on; each test starts from a copy of what it left (a report takes seconds).
    The checkpoint stays where it is: its path is part of the cache key."""
    root = tmp_path_factory.mktemp("first-run")
    checkpoint = tiny(root / "m")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("WEIGHTS_REPORT_NO_CACHE", raising=False)
        patch.setenv("WEIGHTS_REPORT_CACHE", str(root / "cache"))
        assert main(["--model", str(checkpoint), "--out", str(root / "out"), "--quiet"]) == 0
    return FirstRun(checkpoint, root / "cache", root / "out")


@pytest.fixture
def cached_env(tmp_path, monkeypatch):
    monkeypatch.delenv("WEIGHTS_REPORT_NO_CACHE", raising=False)
    monkeypatch.setenv("WEIGHTS_REPORT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def after_first_run(first_run, cached_env, tmp_path) -> tuple[Path, Path]:
    """This test's cache and OUT as the first run left them; returns (checkpoint, OUT)."""
    shutil.copytree(first_run.cache, cached_env)
    shutil.copytree(first_run.out, tmp_path / "out")
    return first_run.checkpoint, tmp_path / "out"


def _forbid_analysis(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an analysis ran although its result was cached")

    monkeypatch.setattr(pipeline, "load_tokenizer", refuse)


def test_second_run_reuses_everything(after_first_run, monkeypatch):
    folder, out = after_first_run
    first = {p.name: p.read_bytes() for p in (out / folder.name).iterdir() if p.is_file()}
    _forbid_analysis(monkeypatch)
    assert main(["--model", str(folder), "--out", str(out), "--quiet"]) == 0
    second = {p.name: p.read_bytes() for p in (out / folder.name).iterdir() if p.is_file()}
    assert first == second

    # Changed rendering code: the analyses still come from the cache, the report is drawn anew.
    monkeypatch.setattr(Cache, "render_key", staticmethod(lambda key: "changed-" + key))
    assert main(["--model", str(folder), "--out", str(out), "--quiet"]) == 0
    assert (out / folder.name / "results.json").read_bytes() == first["results.json"]


def test_no_cache_flag_recomputes(after_first_run, tmp_path, monkeypatch):
    folder, _ = after_first_run
    _forbid_analysis(monkeypatch)
    assert main(["--model", str(folder), "--out", str(tmp_path / "o"), "--quiet", "--no-cache"]) == 1


def test_second_comparison_comes_from_the_cache(after_first_run, tmp_path, cached_env, monkeypatch):
    from report import compare

    a, out = after_first_run  # its report comes from the cache; b's and the comparison are computed
    b = tiny(tmp_path / "b", seed=3)
    args = ["--model", str(a), "--model", str(b), "--out", str(out), "--quiet"]
    assert main(args) == 0
    first = {p.name: p.read_bytes() for p in (out / "comparison").iterdir() if p.is_file()}

    def refuse(*args, **kwargs):
        raise AssertionError("the comparison was recomputed although it was cached")

    monkeypatch.setattr(compare.Gathered, "digests", refuse)
    _forbid_analysis(monkeypatch)
    assert main(args) == 0
    assert {p.name: p.read_bytes() for p in (out / "comparison").iterdir() if p.is_file()} == first

    # Another model in the comparison: computed anew (and refused here, so the run fails cleanly).
    c = tiny(tmp_path / "c", seed=5)
    monkeypatch.undo()
    monkeypatch.setenv("WEIGHTS_REPORT_CACHE", str(cached_env))
    monkeypatch.delenv("WEIGHTS_REPORT_NO_CACHE", raising=False)
    monkeypatch.setattr(compare.Gathered, "digests", refuse)
    assert main(["--model", str(a), "--model", str(c), "--out", str(out), "--quiet"]) == 1


DAMAGE = {"another-object": pickle.dumps({"not": "ours"}), "garbage": b"\x80\x05garbage bytes, not a pickle",
          "wrong-tuple": pickle.dumps((1, 2, 3)), "empty": b""}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_entry_is_discarded_with_one_line(tmp_path, capsys, damage):
    cache = Cache(tmp_path)
    entry = tmp_path / "analyses" / "k.pickle"
    entry.parent.mkdir()
    entry.write_bytes(damage)
    assert cache.load("k", (str, int)) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: ") and "discarded" in err and str(entry) in err, err
    assert not entry.exists()
    cache.store("k", ("a", 1))
    assert cache.load("k", (str, int)) == ("a", 1) and capsys.readouterr().err == ""


@pytest.mark.parametrize("damage", ["another-object", "garbage"])
def test_a_run_on_a_damaged_entry_recomputes_it(after_first_run, cached_env, capsys, damage):
    folder, out = after_first_run
    expected = (out / folder.name / "results.json").read_bytes()
    [entry] = (cached_env / "analyses").glob("*.pickle")
    entry.write_bytes(DAMAGE[damage])
    shutil.rmtree(cached_env / "outputs")  # the finished report is not reused: the analyses entry is read
    capsys.readouterr()
    assert main(["--model", str(folder), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: ") and "discarded" in err, err
    assert (out / folder.name / "results.json").read_bytes() == expected
    assert pickle.loads(entry.read_bytes())[2].keys()  # stored anew, for the next run


@pytest.mark.parametrize("module", ["report/write/render.py", "report/run/background.py", "analyses/pairs/groups.py",
                                    "report/sweep/write.py", "templates/sections/claims.html.j2"])
def test_an_edit_to_any_source_file_changes_the_analysis_key(tmp_path, monkeypatch, module):
    root = cache.ROOT
    copy = tmp_path / "tool"
    for part in cache.SOURCE_CODE:
        shutil.copytree(root / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "ROOT", copy)
    cache.code_hash.cache_clear()
    before = Cache.analysis_key({"weights": "same"})
    with open(copy / module, "a", encoding="utf-8") as handle:
        handle.write("\n")
    cache.code_hash.cache_clear()
    assert Cache.analysis_key({"weights": "same"}) != before
    cache.code_hash.cache_clear()


def test_weight_file_digests_are_remembered_until_a_file_changes(tmp_path, monkeypatch):
    from report.run import cache as cache_module

    files = [tmp_path / "a.safetensors", tmp_path / "b.safetensors"]
    for i, path in enumerate(files):
        path.write_bytes(bytes([i]) * 1000)
    reads = []
    real = cache_module.file_hash
    monkeypatch.setattr(cache_module, "file_hash", lambda path: reads.append(path.name) or real(path))
    store = cache_module.Cache(tmp_path / "cache")
    first = store.files_sha256(files)
    assert store.files_sha256(files) == first and reads == ["a.safetensors", "b.safetensors"]  # no second read
    files[1].write_bytes(b"\x07" * 1000)
    os.utime(files[1], ns=(1, 1))
    assert store.files_sha256(files) != first and reads[-1] == "b.safetensors" and len(reads) == 3
