"""An interrupted sweep writes nothing; rerunning it computes only the checkpoints the cache lacks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from tests.planted_series import Growth, plant_series


def test_interrupted_sweep_resumes_with_only_the_missing_checkpoints(tmp_path):
    series = plant_series(tmp_path / "run", Growth(steps=(0, 200, 400, 800, 1600, 3200)))
    cache, out = tmp_path / "cache", tmp_path / "out"
    env = {**os.environ, "WEIGHTS_REPORT_CACHE": str(cache), "WEIGHTS_REPORT_NO_CACHE": "0"}
    command = [sys.executable, "-m", "report", "sweep", "--run", str(series.root), "--out", str(out),
               "--corpus", str(series.corpus), "--workers", "1", "--quiet"]
    # a shell's background job starts with SIGINT ignored, which children inherit; Ctrl-C must reach this one
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    entries = cache / "analyses"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(entries.glob("*.pickle"))) < 2 and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert "rerunning the same command resumes" in err
    assert not (out / "run").exists()  # nothing half-written
    before = {p.name: p.stat().st_mtime_ns for p in entries.glob("*.pickle")}
    assert 2 <= len(before) < len(series.growth.steps)

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    after = {p.name: p.stat().st_mtime_ns for p in entries.glob("*.pickle")}
    assert len(after) == len(series.growth.steps)
    assert {name: after[name] for name in before} == before  # cached checkpoints were not recomputed
    document = json.loads((out / "run" / "sweep.json").read_text(encoding="utf-8"))
    assert [c["status"] for c in document["checkpoints"]] == ["ok"] * len(series.growth.steps)

    extended = tmp_path / "run" / "checkpoint-6400"  # the run goes on: one more checkpoint
    shutil.copytree(series.folders[-1], extended)
    (extended / "trainer_state.json").write_text(json.dumps({"global_step": 6400}), encoding="utf-8")
    third = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stderr
    grown = {p.name: p.stat().st_mtime_ns for p in entries.glob("*.pickle")}
    assert len(grown) == len(after) + 1 and {name: grown[name] for name in after} == after
