"""The one command line: `python -m report [report|sweep|calibrate]`. Every subcommand refuses bad input with one
`error:` paragraph and no traceback, and exits 130 on Ctrl-C and 143 on SIGTERM; the plain form is the report's;
report and sweep share their options and make one Options from them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from report import calibrate, cli
from report.errors import TERMINATION_REQUESTED, ReportError
from report.run.context import Options
from report.sweep import cli as sweep_cli
from report.sweep import engine
from tests.planted import Spec
from tests.planted_series import Growth, plant_series
from tests.report.test_hostile_inputs import assert_refused

SMALL = Spec(d_model=32, n_positions=32, n_layers=2, heavy_dims=(1, 5, 9, 14), unigram_dim=7)
SIGNAL_WAIT_SECONDS = 30  # a generous bound for a signal to arrive; never a performance claim


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return plant_series(tmp_path_factory.mktemp("cli") / "run", Growth(steps=(0, 100), spec=SMALL))


@pytest.fixture
def no_work(monkeypatch):
    """Refusals must come before any model or checkpoint is analysed."""
    def never(*args, **kwargs):
        raise AssertionError("work started before the input was refused")

    monkeypatch.setattr(engine, "run_local", never)
    monkeypatch.setattr(cli, "build", never)
    monkeypatch.setattr(calibrate, "run", never)


def run_main(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


def subcommand_args(subcommand: str, series, tmp_path) -> list[str]:
    """A command line of `subcommand` that passes every check before its work starts."""
    if subcommand == "report":
        return ["report", "--model", str(series.folders[0]), "--out", str(tmp_path / "out"), "--quiet"]
    if subcommand == "sweep":
        return ["sweep", "--run", str(series.root), "--out", str(tmp_path / "out"), "--quiet"]
    return ["calibrate", "--small", "--out", str(tmp_path / "calibration.json"), "--no-readme", "--jobs", "1"]


def work_of(subcommand: str) -> tuple[object, str]:
    """The module attribute each subcommand calls first once its input is checked."""
    return {"report": (cli, "check_models"), "sweep": (sweep_cli, "discover"), "calibrate": (calibrate, "run")}[
        subcommand]


# --- one parser: subcommands, the plain form, shared options ---

def test_the_plain_form_is_the_report_subcommand():
    plain = vars(cli.parse_args(["--model", "gpt2", "--seed", "3", "--max-tokens", "800"]))
    named = vars(cli.parse_args(["report", "--model", "gpt2", "--seed", "3", "--max-tokens", "800"]))
    plain.pop("command"), named.pop("command")
    assert plain == named and plain["seed"] == 3 and plain["max_tokens"] == 800


def test_report_and_sweep_share_every_common_option():
    common = {action.dest for action in cli.common_options()._actions}
    report = vars(cli.parse_args(["report"]))
    sweep = vars(cli.parse_args(["sweep", "--run", "r"]))
    assert common <= report.keys() and common <= sweep.keys()
    assert {"max_tokens", "seed", "device", "frequency", "corpus", "no_experiments"} <= common


def test_the_common_options_make_one_options(tmp_path):
    args = cli.parse_args(["sweep", "--run", "r", "--seed", "5", "--max-tokens", "640", "--frequency",
                           "token-index", "--device", "cpu", "--no-experiments"])
    assert cli.check_common(args) == Options(seed=5, device="cpu", max_tokens=640, experiments=False,
                                             frequency="token-index")


def test_a_bad_option_is_refused_by_every_subcommand(capsys):
    for argv in (["--no-such-option"], ["sweep", "--run", "r", "--no-such-option"], ["calibrate", "--nope"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 2 and "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("argv, expected", [
    (["-m", "report", "--help"], "{report,sweep,calibrate}"),
    (["-m", "report", "calibrate", "--help"], "--time-limit"),
    (["-m", "report.calibrate", "--help"], "--time-limit"),  # the alias
])
def test_every_entry_point_answers(argv, expected):
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and expected in done.stdout, done.stderr


# --- error paths: one paragraph, no traceback, non-zero exit ---

@pytest.mark.parametrize("subcommand", ["report", "sweep"])
@pytest.mark.parametrize("option, value, phrase", [("--seed", "-1", "seed"), ("--max-tokens", "0", "max-tokens")])
def test_bad_common_options_are_refused_before_any_work(subcommand, option, value, phrase, series, tmp_path,
                                                        capsys, no_work):
    code, err = run_main(capsys, *subcommand_args(subcommand, series, tmp_path), option, value)
    assert_refused(code, err, phrase)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("subcommand, argv", [("report", ["--model"]), ("sweep", ["--run"])])
def test_a_missing_model_is_one_paragraph(subcommand, argv, tmp_path, capsys, no_work):
    code, err = run_main(capsys, subcommand, *argv, str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"),
                         "--quiet")
    assert_refused(code, err, "nowhere")


@pytest.mark.parametrize("subcommand", ["report", "sweep"])
def test_a_missing_corpus_is_one_paragraph(subcommand, series, tmp_path, capsys, no_work):
    code, err = run_main(capsys, *subcommand_args(subcommand, series, tmp_path), "--corpus", str(tmp_path / "no.txt"))
    assert_refused(code, err, "corpus")


@pytest.mark.parametrize("entry", ["subcommand", "alias"])
def test_a_calibration_error_is_one_paragraph(entry, tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise ReportError("Cannot reach the Dask scheduler at tcp://nowhere:1:\n  a library's\n  multi-line message")

    monkeypatch.setattr(calibrate, "run", refuse)
    argv = subcommand_args("calibrate", None, tmp_path)
    code = cli.main(argv) if entry == "subcommand" else calibrate.main(argv[1:])
    assert_refused(code, capsys.readouterr().err, "dask scheduler", "multi-line message")
    assert not (tmp_path / "calibration.json").exists()


# --- the sweep's options reach every task ---

def test_sweep_max_tokens_and_seed_reach_the_settings(series, tmp_path, capsys, monkeypatch):
    seen = []

    def record(checkpoints, settings, **kwargs):
        seen.append(settings)
        raise KeyboardInterrupt  # enough seen: stop before any analysis

    monkeypatch.setattr(engine, "run_local", record)
    code, err = run_main(capsys, *subcommand_args("sweep", series, tmp_path), "--max-tokens", "800", "--seed", "7",
                         "--corpus", str(series.corpus), "--frequency", "token-index", "--device", "cpu")
    assert code == 130 and err.startswith("interrupted:"), err
    assert seen[0].options == Options(seed=7, device="cpu", max_tokens=800, experiments=True, frequency="token-index")
    assert seen[0].corpus == str(series.corpus.resolve())


def test_a_sweep_without_a_corpus_runs_no_forward_passes(series, tmp_path, capsys, monkeypatch):
    seen = []

    def record(checkpoints, settings, **kwargs):
        seen.append(settings)
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "run_local", record)
    assert run_main(capsys, *subcommand_args("sweep", series, tmp_path))[0] == 130
    assert seen[0].options.experiments is False and seen[0].options.device == "auto"  # resolved in each worker


# --- one signal policy: Ctrl-C 130, SIGTERM 143, for every subcommand ---

def _interrupt(kind: str):
    def work(*args, **kwargs):
        if kind == "sigint":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + SIGNAL_WAIT_SECONDS
        while time.monotonic() < deadline:  # the handler raises here
            time.sleep(0.01)
        raise AssertionError("SIGTERM did not stop the command")
    return work


@pytest.mark.parametrize("subcommand", ["report", "sweep", "calibrate"])
@pytest.mark.parametrize("kind, expected", [("sigint", 130), ("sigterm", 143)])
def test_interrupts_exit_as_the_shell_reports_them(subcommand, kind, expected, series, tmp_path, capsys,
                                                   monkeypatch):
    monkeypatch.setattr(*work_of(subcommand), _interrupt(kind))
    handler = signal.getsignal(signal.SIGTERM)
    code, err = run_main(capsys, *subcommand_args(subcommand, series, tmp_path))
    assert code == expected, err
    assert err.startswith("interrupted: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert signal.getsignal(signal.SIGTERM) is handler  # the command's handler is gone with it
    monkeypatch.undo()
    # the next command in this process starts afresh: refused for its own reason, not taken as terminated
    code, err = run_main(capsys, *subcommand_args("report", series, tmp_path), "--seed", "-1")
    assert code == 2 and not TERMINATION_REQUESTED.is_set(), err
