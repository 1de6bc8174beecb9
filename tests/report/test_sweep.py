"""Sweeps over a planted training run (tests/planted_series.py): emergence steps and trajectories against the
known answer, on the local pool and on a real local Dask cluster with a worker killed mid-sweep."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from html import escape as html_escape

import pytest

from analyses.claims import VERDICTS
from report.cli import main
from tests.planted import Spec
from tests.planted_series import Growth, plant_series

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return plant_series(tmp_path_factory.mktemp("sweep") / "run", Growth())


def sweep(series, out, *extra) -> dict:
    code = main(["sweep", "--run", str(series.root), "--out", str(out), "--corpus", str(series.corpus),
                 "--no-cache", "--quiet", *extra])
    assert code == 0
    return json.loads((out / "run" / "sweep.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def local(series, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    return out / "run", sweep(series, out, "--workers", "2")


def test_emergence_steps_match_the_planted_onsets(series, local):
    _, document = local
    growth, found = series.growth, local[1]["emergence"]
    assert found["unigram_dim"]["dim"] == growth.spec.unigram_dim  # not the decoy that stood out first
    assert found["unigram_dim"]["step"] == series.first_step_from(growth.unigram_from)
    assert found["heavy_dims"]["step"] == series.first_step_from(growth.heavy_from)
    assert found["heavy_dims"]["dims"] == list(growth.spec.heavy_dims)
    assert found["clump"]["step"] == series.first_step_from(growth.clump_from)
    assert found["clump"]["size"] == len(series.final.clump)
    steps = growth.steps  # each interval: from the checkpoint before the planted onset to the first after it
    for key, onset in (("unigram_dim", growth.unigram_from), ("heavy_dims", growth.heavy_from),
                       ("clump", growth.clump_from)):
        first = series.first_step_from(onset)
        assert found[key]["interval"] == [steps[steps.index(first) - 1], first], key
        assert found[key]["gaps"] == found[key]["exceptions"] == [] and found[key]["rule"] == found["rules"][key]
    assert document["runs"]["run"]["emergence"] == found


def test_trajectories_follow_the_planted_growth(series, local):
    _, document = local
    steps, growth = list(series.growth.steps), series.growth
    t = document["trajectories"]
    assert document["runs"]["run"]["steps"] == steps
    assert t["heavy_dim_count"] == [len(growth.spec.heavy_dims) if s >= growth.heavy_from else 0 for s in steps]
    assert t["clump_size"] == [len(series.final.clump) if s >= growth.clump_from else 0 for s in steps]
    assert t["clump_overlap_final"] == [1.0 if s >= growth.clump_from else 0.0 for s in steps]
    decoy = [growth.decoy_dim if growth.decoy_from <= s < growth.unigram_from else growth.spec.unigram_dim
             for s in steps]
    assert [d for d, s in zip(t["unigram_dim"], steps) if s >= growth.decoy_from] == \
           [d for d, s in zip(decoy, steps) if s >= growth.decoy_from]
    assert t["unigram_standout"][0] is False and all(t["unigram_standout"][1:])
    # the structured remainder grows linearly, so these rise (or fall) from noise level to the planted value
    assert abs(t["norm_frequency_spearman"][0]) < 0.2 and t["norm_frequency_spearman"][-1] < -0.4
    assert t["leading_space_auroc"][0] < 0.65 and t["leading_space_auroc"][-1] > 0.95
    for metric in ("self_predict_fraction", "unigram_dim", "heavy_dim_count", "clump_size", "cos_svd0_mean",
                   "leading_space_auroc", "norm_frequency_spearman"):
        assert len(t[metric]) == len(steps), metric


def test_ln_gains_of_the_final_unigram_dim_are_the_planted_ones(series, local):
    gains = local[1]["runs"]["run"]["unigram_dim_ln_gains"]
    assert gains["dim"] == series.growth.spec.unigram_dim
    for found, planted in zip(gains["by_norm"]["ln_2"], series.unigram_ln2_gains, strict=True):
        assert found == pytest.approx(planted, rel=1e-5)


def test_checkpoint_rows_and_files(series, local):
    folder, document = local
    assert [c["step"] for c in document["checkpoints"]] == list(series.growth.steps)
    for row, source in zip(document["checkpoints"], series.folders):
        assert row["status"] == "ok" and row["error"] is None and row["revision"] is None
        assert row["source"] == str(source)
        results = json.loads((folder / row["results"]).read_text(encoding="utf-8"))
        assert results["model"]["id"] == str(source)
        assert "lacks" in results["experiments"]["skipped"]  # with --corpus tried (the planted folders have no blocks)
    claims = document["runs"]["run"]["claims"]
    assert claims and all(len(c["verdicts"]) == len(series.growth.steps) for c in claims)
    assert all(v in VERDICTS for c in claims for v in c["verdicts"])
    for name in ("sweep.html", "sweep.pdf"):
        assert (folder / name).stat().st_size > 0
    svgs = {p.stem for p in (folder / "figures").glob("*.svg")}
    assert {"sweep_trajectories", "sweep_unigram_identity", "sweep_ln_gains_0", "sweep_claims_0"} <= svgs
    assert svgs == {p.stem for p in (folder / "figures").glob("*.png")}
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_a_broken_checkpoint_is_recorded_and_shown(series, tmp_path):
    run = tmp_path / "broken-run"
    for folder in series.folders[-2:]:
        shutil.copytree(folder, run / folder.name)
    damaged = run / series.folders[-1].name / "model.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    code = main(["sweep", "--run", str(run), "--out", str(tmp_path / "out"), "--no-cache", "--quiet",
                 "--workers", "1", "--frequency", "token-index", "--full-reports"])
    assert code == 0
    folder = tmp_path / "out" / "broken-run"
    document = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    first, last = document["checkpoints"]
    assert first["status"] == "ok" and last["status"] == "failed"
    assert last["error"] and last["results"] is None and last["report"] is None
    for name in ("report.html", "report.pdf", "results.json"):  # the checkpoint's own report, on request
        assert (folder / first["report"]).with_name(name).stat().st_size > 0
    assert document["trajectories"]["clump_size"][-1] is None
    html = (folder / "sweep.html").read_text(encoding="utf-8")
    assert f"{series.growth.steps[-1]:,}" in html
    assert "failed: " + html_escape(last["error"]) in html


def test_errors_are_one_paragraph(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["sweep", "--run", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no checkpoint-N subfolders" in capsys.readouterr().err
    assert main(["sweep", "--run", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: No such run folder")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def _kill_a_busy_worker(address: str, killed: list) -> None:
    """Wait until a worker is running a checkpoint's task, then SIGKILL that worker's process."""
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            busy = [worker for worker, keys in client.processing().items() if keys]
            if busy:
                time.sleep(0.5)  # well inside the task: loading and the analyses take seconds
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)


def test_dask_cluster_with_a_killed_worker_gives_the_same_sweep_json(series, local, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        killed: list = []
        killer = threading.Thread(target=_kill_a_busy_worker, args=(cluster.scheduler_address, killed))
        killer.start()
        document = sweep(series, tmp_path, "--cluster", cluster.scheduler_address)
        killer.join()
    assert killed, "no worker was killed mid-sweep"
    assert all(row["status"] == "ok" for row in document["checkpoints"])  # the lost task was retried
    assert (tmp_path / "run" / "sweep.json").read_bytes() == (local[0] / "sweep.json").read_bytes()


def test_several_runs_are_compared_by_behaviour(tmp_path):
    steps = (0, 400, 1600)
    grows = plant_series(tmp_path / "seed-a", Growth(steps=steps))
    never = plant_series(tmp_path / "seed-b", Growth(steps=steps, decoy_from=None, unigram_from=10 ** 9,
                                                     spec=Spec(seed=1, unigram_dim=20)))
    code = main(["sweep", "--run", str(grows.root), "--run", str(never.root), "--out", str(tmp_path / "out"),
                 "--name", "seeds", "--no-cache", "--quiet", "--workers", "2", "--frequency", "token-index"])
    assert code == 0
    folder = tmp_path / "out" / "seeds"
    document = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    assert "checkpoints" not in document and set(document["runs"]) == {"seed-a", "seed-b"}
    rows = {row["run"]: row for row in document["across_runs"]}
    assert rows["seed-a"]["grows_unigram_dim"] and rows["seed-a"]["unigram_dim_step"] == 400
    assert not rows["seed-b"]["grows_unigram_dim"] and rows["seed-b"]["unigram_dim_step"] is None
    assert rows["seed-b"]["heavy_dims_step"] == 400  # what it does grow is still dated
    for name in ("seed-a", "seed-b"):
        for row in document["runs"][name]["checkpoints"]:
            assert row["results"].startswith(f"checkpoints/{name}/")
            assert (folder / row["results"]).is_file()
    assert document["runs"]["seed-b"]["emergence"]["unigram_dim"] is None
    spread = document["emergence_spread"]
    assert spread["unigram_dim"] == {"runs": 2, "emerged": 1, "never": ["seed-b"], "min": 400, "median": 400,
                                     "max": 400}
    assert (spread["heavy_dims"]["min"], spread["heavy_dims"]["max"]) == (400, 400)


def test_a_bad_destination_is_refused_before_any_checkpoint_runs(series, tmp_path, monkeypatch, capsys):
    from report.sweep import engine

    def never(*args, **kwargs):
        raise AssertionError("a checkpoint ran before the destination was checked")

    monkeypatch.setattr(engine, "run_local", never)
    run = tmp_path / "runs" / "seed1"
    for folder in series.folders[:2]:
        shutil.copytree(folder, run / folder.name)
    mine = tmp_path / "out" / "seed1"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    assert main(["sweep", "--run", str(run), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "was not written by this tool" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "mine"
    assert main(["sweep", "--run", str(run), "--out", str(tmp_path / "runs"), "--quiet"]) == 2  # OUT/seed1 = the run
    assert "model folder is never written into" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == sorted(f.name for f in series.folders[:2])
