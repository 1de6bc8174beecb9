"""A sweep over Hub revisions, served by the local Hub test server (tests/hub_server.py) on 127.0.0.1: the
planted run's checkpoints are branches step0 … of one repo. Revisions are listed by huggingface_hub's own
`list_repo_refs`, and each worker fetches only the byte ranges its analyses read."""

from __future__ import annotations

import json

from report.cli import main
from tests.hub_server import HubServer
from tests.planted_series import Growth, plant_series

REPO = "planted-org/tiny-run"


def test_sweep_over_hub_revisions(tmp_path, monkeypatch):
    series = plant_series(tmp_path / "run", Growth(steps=(0, 200, 400, 800, 1600)))
    with HubServer() as hub:
        for step, folder in zip(series.growth.steps, series.folders):
            hub.add_folder(REPO, folder, branch=f"step{step}", exclude=("trainer_state.json",))
        hub.add_folder(REPO, series.folders[-1], exclude=("trainer_state.json",))  # main: not a step, not matched
        hub.patch_constants(monkeypatch)  # this process lists the refs; spawned workers read the environment
        for name, value in hub.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("WEIGHTS_REPORT_CACHE", str(tmp_path / "report-cache"))
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
        out = tmp_path / "out"
        code = main(["sweep", "--run", REPO, "--revisions", "step*", "--out", str(out), "--corpus",
                     str(series.corpus), "--no-cache", "--quiet", "--workers", "2"])
        assert code == 0
        served = hub.bytes_served_for("model.safetensors")
    folder = out / "planted-org--tiny-run"
    document = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    rows = document["checkpoints"]
    assert [(r["step"], r["revision"], r["source"], r["status"]) for r in rows] == \
           [(s, f"step{s}", REPO, "ok") for s in series.growth.steps]
    results = json.loads((folder / rows[-1]["results"]).read_text(encoding="utf-8"))
    assert results["model"]["id"].startswith(REPO)
    growth, found = series.growth, document["emergence"]
    assert found["unigram_dim"]["dim"] == growth.spec.unigram_dim
    assert found["unigram_dim"]["interval"] == [200, 400] and found["unigram_dim"]["gaps"] == []
    assert found["heavy_dims"]["step"] == 200 and found["clump"]["step"] == 800
    assert (folder / "sweep.pdf").stat().st_size > 0
    whole = sum((f / "model.safetensors").stat().st_size for f in series.folders)
    assert 0 < served < 0.6 * whole  # ranged reads: the attention and MLP matrices are never fetched
