"""A report never deletes or writes over what this tool did not write: the checkpoint above all."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from report.cli import main
from report.write import output_folder
from tests.planted import tiny_checkpoint
from tests.report.test_hostile_inputs import assert_refused, run_cli


def snapshot(folder) -> dict:
    """Every file under `folder` with the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def tiny(folder):
    """What is kept, replaced or refused does not depend on the weights: a tiny model, whose report is quicker."""
    return tiny_checkpoint(folder, vocab=200, d=8)


@pytest.fixture
def checkpoint(tmp_path):
    return tiny(tmp_path / "ckpt")


def test_out_is_the_checkpoints_parent(tmp_path, capsys, checkpoint):
    before = snapshot(checkpoint)
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(tmp_path))
    assert_refused(code, err, "model's own folder", "--out")
    assert snapshot(checkpoint) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_out_is_the_checkpoint_itself(tmp_path, capsys, checkpoint):
    before = snapshot(checkpoint)
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(checkpoint))
    assert_refused(code, err, "inside the model's own folder")
    assert snapshot(checkpoint) == before
    assert not [p for p in checkpoint.iterdir() if p.name.startswith(".")]


def test_out_inside_the_checkpoint(tmp_path, capsys, checkpoint):
    before = snapshot(checkpoint)
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(checkpoint / "reports"))
    assert_refused(code, err, "inside the model's own folder")
    assert snapshot(checkpoint) == before and not (checkpoint / "reports").exists()


def test_a_folder_of_the_users_is_not_replaced(tmp_path, capsys, checkpoint):
    out = tmp_path / "out"
    theirs = out / "ckpt"
    theirs.mkdir(parents=True)
    (theirs / "thesis.tex").write_text("three years of work")
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(out))
    assert_refused(code, err, "not written by this tool", str(theirs))
    assert (theirs / "thesis.tex").read_text() == "three years of work"
    assert sorted(p.name for p in out.iterdir()) == ["ckpt"]


def test_a_file_in_the_way_is_not_replaced(tmp_path, capsys, checkpoint):
    out = tmp_path / "out"
    out.mkdir()
    (out / "ckpt").write_text("notes")
    code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(out))
    assert_refused(code, err, "not a report folder")
    assert (out / "ckpt").read_text() == "notes"


def test_reports_of_ours_are_replaced_old_and_new(tmp_path, checkpoint, monkeypatch):
    # The reruns take the report from the cache: what they test is the swap into an existing folder.
    monkeypatch.delenv("WEIGHTS_REPORT_NO_CACHE", raising=False)
    monkeypatch.setenv("WEIGHTS_REPORT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert main(["--model", str(checkpoint), "--out", str(out), "--quiet"]) == 0
    marker = json.loads((out / "ckpt" / output_folder.MARKER).read_text())
    assert marker["tool"] == "weights-report"
    assert main(["--model", str(checkpoint), "--out", str(out), "--quiet"]) == 0  # has the marker
    (out / "ckpt" / output_folder.MARKER).unlink()  # a report written before markers existed
    assert main(["--model", str(checkpoint), "--out", str(out), "--quiet"]) == 0
    assert (out / "ckpt" / output_folder.MARKER).is_file()
    assert sorted(p.name for p in out.iterdir()) == ["ckpt"]


def test_replace_refuses_at_the_last_moment_too(tmp_path):
    """Someone puts their own folder in place while the report is being written."""
    destination = tmp_path / "name"
    staging = tmp_path / ".name.staging-1-x"
    staging.mkdir()
    destination.mkdir()
    (destination / "data.csv").write_text("1,2,3")
    with pytest.raises(output_folder.ReportError):
        output_folder.replace(staging, destination)
    assert (destination / "data.csv").read_text() == "1,2,3"


def test_a_failed_swap_puts_the_old_report_back(tmp_path, monkeypatch):
    """The new folder cannot be renamed into place (a disk error): the old report is where it was."""
    destination = tmp_path / "name"
    destination.mkdir()
    output_folder.write_marker(destination, "model")
    (destination / "report.html").write_text("old")
    staging = tmp_path / ".name.staging-1-x"
    staging.mkdir()
    rename = type(staging).rename

    def failing_rename(self, target):
        if self == staging:
            raise OSError(5, "Input/output error")
        return rename(self, target)

    monkeypatch.setattr(type(staging), "rename", failing_rename)
    with pytest.raises(OSError):
        output_folder.replace(staging, destination)
    assert (destination / "report.html").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".name.staging-1-x", "name"]


def test_checkpoints_sharing_a_folder_name_get_distinct_folders(tmp_path):
    a = tiny(tmp_path / "run-a" / "checkpoint-500")
    b = tmp_path / "run-b" / "checkpoint-500"
    b.parent.mkdir()
    shutil.copytree(a, b)
    names = output_folder.folder_names([str(a), str(b)])
    assert names == ["run-a-checkpoint-500", "run-b-checkpoint-500"]
    assert output_folder.folder_names([str(b), str(a)]) == names[::-1]  # the same names in any order
    assert output_folder.folder_names([str(a)]) == ["checkpoint-500"]
    assert output_folder.folder_names(["openai-community/gpt2-medium", str(a)]) == [
        "openai-community--gpt2-medium", "checkpoint-500"]
    out = tmp_path / "out"
    assert main(["--model", str(a), "--model", str(b), "--out", str(out), "--quiet"]) == 0
    assert {"run-a-checkpoint-500", "run-b-checkpoint-500", "comparison"} <= {p.name for p in out.iterdir()}


def test_stale_staging_of_a_dead_run_is_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f".ckpt.staging-{dead.pid}-abc"
    stale.mkdir()
    (stale / output_folder.STAGING_MARKER).write_text(f"{dead.pid}\n")
    (stale / "results.json").write_text("{}")
    live = out / f".ckpt.staging-{os.getpid()}-def"  # a run still going: left alone
    live.mkdir()
    (live / output_folder.STAGING_MARKER).write_text(f"{os.getpid()}\n")
    foreign = out / f".notes.staging-{dead.pid}-x"  # named like ours, but holds a file without our marker
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    empty = out / f".ckpt.staging-{dead.pid}-e"  # killed before it could write its marker
    empty.mkdir()
    output_folder.remove_stale(out)
    assert not stale.exists() and not empty.exists() and live.exists()
    assert (foreign / "notes.txt").read_text() == "mine"


def test_sigterm_leaves_no_staging_folder(tmp_path, checkpoint):
    out = tmp_path / "out"
    env = {**os.environ, "WEIGHTS_REPORT_NO_CACHE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "report", "--model", str(checkpoint), "--out", str(out),
                                "--quiet"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(p.name.startswith(".ckpt.staging-")
                                                  for p in (out.iterdir() if out.exists() else [])):
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be stopped"
    process.terminate()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and "Traceback" not in err, err  # 128 + SIGTERM
    assert list(out.iterdir()) == [], list(out.iterdir())


def test_a_report_moved_aside_by_a_killed_run_comes_back(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    aside = tmp_path / f".ckpt.old-{dead.pid}"
    aside.mkdir()
    output_folder.write_marker(aside, "ckpt")
    (aside / "results.json").write_text("{}")
    output_folder.remove_stale(tmp_path)
    assert (tmp_path / "ckpt" / "results.json").is_file() and not aside.exists()


def test_an_empty_folder_in_the_way_is_fine(tmp_path):
    (tmp_path / "ckpt").mkdir()
    output_folder.check_destination(tmp_path / "ckpt", [])
    staging = tmp_path / ".ckpt.staging-1-x"
    staging.mkdir()
    (staging / "results.json").write_text("{}")
    output_folder.replace(staging, tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "results.json").is_file()


# --- issue 26: a folder of one kind is never replaced by another; one run at a time writes a folder ---

def _a_sweep(folder, with_kind: bool) -> None:
    """A sweep's folder as the sweep command leaves it (or as it did before markers named their kind)."""
    (folder / "checkpoints" / "100").mkdir(parents=True)
    (folder / "checkpoints" / "100" / "results.json").write_text("{}")
    (folder / "sweep.json").write_text(json.dumps({"checkpoints": [], "trajectories": {}}))
    (folder / "sweep.pdf").write_bytes(b"%PDF-1.7")
    marker = {"tool": "weights-report", "model": "run", **({"kind": "sweep"} if with_kind else {})}
    (folder / output_folder.MARKER).write_text(json.dumps(marker))


@pytest.mark.parametrize("with_kind", [True, False], ids=["marker-with-kind", "older-marker"])
def test_a_report_does_not_replace_a_sweep_of_the_same_name(tmp_path, capsys, with_kind):
    model = tiny(tmp_path / "models" / "run")
    out = tmp_path / "out"
    _a_sweep(out / "run", with_kind)
    before = snapshot(tmp_path)
    code, err = run_cli(capsys, "--model", str(model), "--out", str(out))
    assert_refused(code, err, f"{out / 'run'} is a sweep", "this report would replace it", "--out")
    assert snapshot(tmp_path) == before and sorted(p.name for p in out.iterdir()) == ["run"]


def test_a_sweep_or_comparison_does_not_replace_a_report(tmp_path):
    report = tmp_path / "run"
    report.mkdir()
    output_folder.write_marker(report, "models/run")  # kind "report"
    (report / "results.json").write_text("{}")
    before = snapshot(tmp_path)

    def write(folder):
        (folder / "sweep.json").write_text("{}")

    with pytest.raises(output_folder.ReportError, match="is a report written by weights-report; this sweep"):
        output_folder.write_atomically(report, write, kind="sweep")  # checked at the swap, after the work
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    report.rename(tmp_path / output_folder.COMPARISON_FOLDER)  # a model folder named `comparison`, alone
    with pytest.raises(output_folder.ReportError, match="is a report written by weights-report; this comparison"):
        output_folder.check_run_destinations(tmp_path, ["a", "b"], [])


HOLD = ("import sys\nfrom pathlib import Path\nfrom report.write.output_folder import claim\n"
        "with claim(Path(sys.argv[1])):\n    print('held', flush=True)\n    sys.stdin.read()\n")


def test_two_runs_into_one_folder_cannot_both_succeed(tmp_path, capsys, checkpoint):
    out = tmp_path / "out"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(out / "ckpt")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "held\n"  # another run is writing OUT/ckpt/ now
        code, err = run_cli(capsys, "--model", str(checkpoint), "--out", str(out))
        assert_refused(code, err, f"{out / 'ckpt'} is being written by another run", f"process {other.pid}")
        assert sorted(p.name for p in out.iterdir()) == [".ckpt.lock"]  # the other run's lock, nothing of ours
    finally:
        other.stdin.close()
        other.wait(timeout=60)
    assert list(out.iterdir()) == []  # released and removed when the other run is done

    def write(folder):
        (folder / "results.json").write_text("{}")

    output_folder.write_atomically(out / "ckpt", write, kind="report")  # now the folder is free
    assert sorted(p.name for p in out.iterdir()) == ["ckpt"]


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".ckpt.lock").write_text(f"weights-report {dead.pid}\n")  # left by a run killed with SIGKILL
    (tmp_path / ".other.lock").write_text(f"weights-report {dead.pid}\n")  # another folder's, killed too
    (tmp_path / ".notes.lock").write_text("a user's file that happens to be named like a lock")

    def write(folder):
        (folder / "results.json").write_text("{}")

    output_folder.write_atomically(tmp_path / "ckpt", write, kind="report")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.lock", "ckpt"]
    assert output_folder.kind_of(tmp_path / "ckpt") == "report"


def test_a_sweep_does_not_replace_a_report_of_the_same_name(tmp_path, capsys):
    from tests.planted_series import Growth, plant_series

    series = plant_series(tmp_path / "runs" / "run", Growth(steps=(0, 800)))
    out = tmp_path / "out"
    report = out / "run"  # `report --model models/run` was here first
    report.mkdir(parents=True)
    output_folder.write_marker(report, "models/run")
    (report / "results.json").write_text("{}")
    before = snapshot(tmp_path)
    code, err = run_cli(capsys, "sweep", "--run", str(series.root), "--out", str(out), "--no-cache", "--workers", "1")
    assert_refused(code, err, f"{report} is a report", "this sweep would replace it")
    assert snapshot(tmp_path) == before and sorted(p.name for p in out.iterdir()) == ["run"]
