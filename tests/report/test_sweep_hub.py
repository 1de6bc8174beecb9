"""A sweep over Hub revisions, offline: the planted run's checkpoints sit in a local Hugging Face cache as
revisions step0 … of one repo (the layout huggingface_hub itself writes: refs/<revision> -> commit,
snapshots/<commit>/files). Only the branch listing (`list_repo_refs`, a network call) is replaced; resolving
each revision and loading it go through huggingface_hub's own offline cache lookup."""

from __future__ import annotations

import hashlib
import json
import shutil
from types import SimpleNamespace

import pytest

from report.cli import main
from tests.planted_series import Growth, plant_series

REPO = "planted-org/tiny-run"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    series = plant_series(tmp_path / "run", Growth(steps=(0, 200, 400, 800, 1600)))
    cache = tmp_path / "hf-cache"
    repo = cache / ("models--" + REPO.replace("/", "--"))
    branches = []
    for step, folder in zip(series.growth.steps, series.folders):
        commit = hashlib.sha1(f"step{step}".encode()).hexdigest()
        shutil.copytree(folder, repo / "snapshots" / commit)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / f"step{step}").write_text(commit)
        branches.append(SimpleNamespace(name=f"step{step}"))
    branches.append(SimpleNamespace(name="main"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))  # spawned workers import huggingface_hub afresh
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub, "list_repo_refs",
                        lambda repo_id, **kwargs: SimpleNamespace(branches=branches, tags=[]))
    return series


def test_sweep_over_hub_revisions(hub_cache, tmp_path):
    series = hub_cache
    out = tmp_path / "out"
    code = main(["sweep", "--run", REPO, "--revisions", "step*", "--out", str(out), "--corpus", str(series.corpus),
                 "--no-cache", "--quiet", "--workers", "2"])
    assert code == 0
    folder = out / "planted-org--tiny-run"
    document = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    rows = document["checkpoints"]
    assert [(r["step"], r["revision"], r["source"], r["status"]) for r in rows] == \
           [(s, f"step{s}", REPO, "ok") for s in series.growth.steps]
    results = json.loads((folder / rows[-1]["results"]).read_text(encoding="utf-8"))
    assert results["model"]["id"] == f"{REPO}@step1600"
    growth, found = series.growth, document["emergence"]
    assert found["unigram_dim"] == {"dim": growth.spec.unigram_dim, "step": 400, "previous_step": 200}
    assert found["heavy_dims"]["step"] == 200 and found["clump"]["step"] == 800
    assert (folder / "sweep.pdf").stat().st_size > 0
