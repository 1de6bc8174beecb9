"""Hostile input to `python -m report sweep`: every input gets a complete sweep, or exit ≠ 0 with one
`error:` paragraph and no traceback; nothing outside OUT's own folders is created, replaced or deleted, and no
process is left behind."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from report.cli import main
from report.sweep import engine
from report.write.output_folder import write_marker
from tests.planted import Spec
from tests.planted_series import Growth, plant_series
from tests.report.test_hostile_inputs import assert_refused

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")

SMALL = Spec(d_model=32, n_positions=32, n_layers=2, heavy_dims=(1, 5, 9, 14), unigram_dim=7)
HUGE_STEP = 10 ** 26  # past int64
LINGER_SECONDS = 60  # a generous bound for a process to be gone; never a performance claim


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return plant_series(tmp_path_factory.mktemp("hostile-sweep") / "run",
                        Growth(steps=(0, HUGE_STEP), heavy_from=HUGE_STEP, decoy_from=None, unigram_from=HUGE_STEP,
                               clump_from=HUGE_STEP, spec=SMALL))


def copy_run(series, folder: Path) -> Path:
    for checkpoint in series.folders:
        shutil.copytree(checkpoint, folder / checkpoint.name)
    return folder


def tree(root: Path, leave_out: Path | None = None) -> dict:
    """Every path under `root` (but `leave_out`) with its kind, size and modification time."""
    found = {}
    for path in root.rglob("*"):
        if leave_out is not None and (path == leave_out or leave_out in path.parents):
            continue
        info = path.lstat()
        found[str(path.relative_to(root))] = (path.is_dir(), info.st_size, info.st_mtime_ns)
    return found


def children() -> set[int]:
    """This process's child processes, but multiprocessing's resource tracker (it serves the whole session)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"resource_tracker" not in cmdline and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def assert_no_process_left(before: set[int]) -> None:
    multiprocessing.active_children()  # reap finished ones
    deadline = time.monotonic() + LINGER_SECONDS
    while children() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not children() - before


def sweep(capsys, tmp_path: Path, *args: str) -> tuple[int, str]:
    """Run the sweep command; check that it left nothing outside OUT (tmp_path/out) and no process behind."""
    out = tmp_path / "out"
    before, processes = tree(tmp_path, leave_out=out), children() if sys.platform.startswith("linux") else set()
    code = main(["sweep", *args, "--quiet"] + ([] if "--out" in args else ["--out", str(out)]))
    err = capsys.readouterr().err
    if "--out" not in args:
        assert tree(tmp_path, leave_out=out) == before, "something outside OUT was created, changed or deleted"
    if sys.platform.startswith("linux"):
        assert_no_process_left(processes)
    return code, err


@pytest.fixture
def no_work(monkeypatch):
    """Refusals must come before any checkpoint is analysed."""
    def never(*args, **kwargs):
        raise AssertionError("a checkpoint was analysed before the input was refused")

    monkeypatch.setattr(engine, "run_local", never)


@pytest.mark.parametrize(("options", "phrases"), [
    (["--seed", "-1"], ["--seed -1"]),
    (["--revisions", "step*"], ["--revisions", "local folder"]),
    (["--workers", "0"], ["--workers"]),
    (["--max-tokens", "0"], ["--max-tokens"]),
    (["--corpus", "no-such-corpus.txt"], ["corpus"]),
])
def test_bad_options_are_refused_before_any_checkpoint_runs(series, tmp_path, capsys, no_work, options, phrases):
    run = copy_run(series, tmp_path / "run")
    code, err = sweep(capsys, tmp_path, "--run", str(run), *options)
    assert_refused(code, err, *phrases)
    assert not (tmp_path / "out").exists()


def test_a_corpus_that_is_not_text_is_refused_before_any_checkpoint_runs(series, tmp_path, capsys, no_work):
    run = copy_run(series, tmp_path / "run")
    corpus = tmp_path / "corpus.bin"
    corpus.write_bytes(bytes(range(256)) * 64)
    code, err = sweep(capsys, tmp_path, "--run", str(run), "--corpus", str(corpus))
    assert_refused(code, err, "corpus.bin")
    assert not (tmp_path / "out").exists()


def test_a_report_of_the_same_name_is_refused_before_any_checkpoint_runs(series, tmp_path, capsys, no_work):
    run = copy_run(series, tmp_path / "run")
    report = tmp_path / "out" / "run"
    report.mkdir(parents=True)
    (report / "results.json").write_text("{}", encoding="utf-8")
    write_marker(report, "models/run", kind="report")
    before = sorted(p.name for p in report.iterdir())
    code, err = sweep(capsys, tmp_path, "--run", str(run))
    assert_refused(code, err, "report")
    assert sorted(p.name for p in report.iterdir()) == before


HOLD = ("import sys\nfrom pathlib import Path\nfrom report.write.output_folder import claim\n"
        "with claim(Path(sys.argv[1])):\n    print('held', flush=True)\n    sys.stdin.read()\n")


def test_a_sweep_into_a_folder_another_run_is_writing_is_refused_before_any_checkpoint_runs(
        series, tmp_path, capsys, no_work):
    run = copy_run(series, tmp_path / "run")
    out = tmp_path / "out"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(out / "run")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "held\n"  # another sweep of this run is under way
        code, err = sweep(capsys, tmp_path, "--run", str(run))
        assert_refused(code, err, "being written by another run")
    finally:
        other.stdin.close()
        other.wait(timeout=60)


@pytest.mark.parametrize("inside", ["reports", "checkpoint-0/reports", "checkpoint-0"])
def test_out_inside_the_run_is_refused_without_creating_a_folder_there(series, tmp_path, capsys, no_work, inside):
    run = copy_run(series, tmp_path / "run")
    before = tree(tmp_path)
    code, err = sweep(capsys, tmp_path, "--run", str(run), "--out", str(run / inside))
    assert_refused(code, err, "never written into")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("what", ["a file", "no checkpoints", "nothing"])
def test_a_run_that_is_not_a_run_is_refused(tmp_path, capsys, no_work, what):
    run = tmp_path / "run"
    if what == "a file":
        run.write_text("not a run")
    elif what == "no checkpoints":
        (run / "checkpoint-x").mkdir(parents=True)
    code, err = sweep(capsys, tmp_path, "--run", str(run))
    assert_refused(code, err, "checkpoint-N" if what == "no checkpoints" else "No such run folder")


def test_the_same_run_twice_is_refused(series, tmp_path, capsys, no_work):
    run = copy_run(series, tmp_path / "run")
    (tmp_path / "link").symlink_to(run)
    code, err = sweep(capsys, tmp_path, "--run", str(run), "--run", str(tmp_path / "link"))
    assert_refused(code, err, "give each run once")


def test_a_run_that_changes_width_is_refused_before_any_analysis(series, tmp_path, capsys, no_work):
    run = copy_run(series, tmp_path / "run")
    config = run / f"checkpoint-{HUGE_STEP}" / "config.json"
    settings = json.loads(config.read_text())
    settings["n_embd"] = 64
    config.write_text(json.dumps(settings))
    code, err = sweep(capsys, tmp_path, "--run", str(run))
    assert_refused(code, err, f"step {HUGE_STEP}", "d_model 64 instead of 32", "step 0")


def test_a_run_that_changes_tokenizer_is_refused_after_analysis(series, tmp_path, capsys):
    run = copy_run(series, tmp_path / "run")
    vocab_file = run / f"checkpoint-{HUGE_STEP}" / "vocab.json"
    vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
    first, second = sorted(vocab, key=vocab.get)[300:302]  # same size, two token ids swapped
    vocab[first], vocab[second] = vocab[second], vocab[first]
    vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
    code, err = sweep(capsys, tmp_path, "--run", str(run), "--no-cache", "--workers", "1",
                      "--frequency", "token-index")
    assert_refused(code, err, f"step {HUGE_STEP}", "another tokenizer")
    assert not any((tmp_path / "out").iterdir())


def test_runs_whose_folders_share_a_name_are_named_by_their_paths(series, tmp_path, capsys):
    """`exp/seed0/output` and `exp/seed1/output`; also steps 0 and 1e26 (past int64) end to end."""
    for seed in ("seed0", "seed1"):
        copy_run(series, tmp_path / "exp" / seed / "output")
    code, err = sweep(capsys, tmp_path, "--run", str(tmp_path / "exp/seed0/output"),
                      "--run", str(tmp_path / "exp/seed1/output"), "--no-cache", "--workers", "1",
                      "--frequency", "token-index")
    assert code == 0, err
    document = json.loads((tmp_path / "out" / "sweep" / "sweep.json").read_text(encoding="utf-8"))
    assert sorted(document["runs"]) == ["seed0-output", "seed1-output"]
    assert document["runs"]["seed0-output"]["steps"] == [0, HUGE_STEP]
    assert (tmp_path / "out" / "sweep" / "figures" / "sweep_trajectories.svg").is_file()
    for row in document["runs"]["seed0-output"]["checkpoints"]:  # no --corpus: no forward passes on a checkpoint
        results = json.loads((tmp_path / "out" / "sweep" / row["results"]).read_text(encoding="utf-8"))
        assert "a sweep runs them only with --corpus" in results["experiments"]["skipped"]


def test_links_to_two_run_folders_are_named_by_the_folders_they_point_to(series, tmp_path, capsys, monkeypatch):
    named = []

    def record(checkpoints, *args, **kwargs):
        named.extend(sorted({c.run for c in checkpoints}))
        raise KeyboardInterrupt  # enough seen: stop before any analysis

    monkeypatch.setattr(engine, "run_local", record)
    for place in ("a", "b"):
        copy_run(series, tmp_path / place / "run")
        (tmp_path / f"link-{place}").symlink_to(tmp_path / place / "run")
    code, _ = sweep(capsys, tmp_path, "--run", str(tmp_path / "link-a"), "--run", str(tmp_path / "link-b"))
    assert code == 130 and named == ["a-run", "b-run"]


def _workers_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            spawned = b"spawn_main" in (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and spawned:
            found.append(int(stat.parent.name))
    return found


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_driver_takes_its_worker_with_it(series, tmp_path):
    run = copy_run(series, tmp_path / "run")
    driver = subprocess.Popen([sys.executable, "-m", "report", "sweep", "--run", str(run), "--out",
                               str(tmp_path / "out"), "--workers", "1", "--no-cache", "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not _workers_of(driver.pid) and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        workers = _workers_of(driver.pid)
        assert workers, "the driver never started a worker"
        driver.send_signal(signal.SIGKILL)  # as the out-of-memory killer does: no chance to clean up
        driver.wait()
        deadline = time.monotonic() + LINGER_SECONDS
        while not all(map(_gone, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid in workers if not _gone(pid)]
        for pid in left:  # do not leave it to the next test
            os.kill(pid, signal.SIGKILL)
        assert not left, "the worker outlived its driver"
    finally:
        if driver.poll() is None:
            driver.kill()
