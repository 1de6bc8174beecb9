"""`python -m report [report|sweep|calibrate] …`: the one command line.

`report` (the default: `python -m report --model gpt2` is `python -m report report --model gpt2`) writes one
report per model and their comparison; `sweep` (report/sweep/cli.py) runs the analyses over training
checkpoints; `calibrate` (report/calibrate.py) measures every claim's error rates on synthetic models. Report
and sweep share the common options and make one Options from them; every subcommand runs under the one error
and signal policy of report.errors.run_command.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

from report import calibrate
from report.compare import Gathered, build_comparison
from report.errors import ReportError, run_command
from report.load.corpus import check as check_corpus
from report.load.hub import split_revision
from report.load.loader import check_model
from report.run.cache import Cache
from report.run.context import Options, resolve_device
from report.run.heap import return_large_blocks
from report.run.pipeline import Request, build, label, protected_folders
from report.sweep import cli as sweep_cli
from report.write import output_folder

SUBCOMMANDS = ("report", "sweep", "calibrate")
REPORT_INTERRUPTED = "nothing was written for the model in progress."


def common_options() -> argparse.ArgumentParser:
    """The options report and sweep share: where to write, and the choices that make their Options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", default="out", type=Path, help="output folder (default: out)")
    common.add_argument("--corpus", type=Path,
                        help="text file for exact token frequencies and the experiments' passes: UTF-8, or "
                             "UTF-16/32 with a byte-order mark")
    common.add_argument("--frequency", choices=("proxy", "token-index"), default=Options.frequency,
                        help="frequency source without --corpus: wordfreq proxy (default) or token index only")
    common.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="torch device for the heavy matrix products (default: auto)")
    common.add_argument("--max-tokens", type=int, default=Options.max_tokens, metavar="N",
                        help="corpus tokens per forward pass of the experiments (--corpus, else Python's own "
                             f"documentation), cut into ≥ 100 sequences where it allows (default: "
                             f"{Options.max_tokens}: 100 × 32)")
    common.add_argument("--no-experiments", action="store_true",
                        help="leave out the forward-pass experiments (minutes on a CPU; a report runs them by "
                             "default, a sweep only with --corpus)")
    common.add_argument("--seed", type=int, default=Options.seed, help="seed for every random draw (default: 0)")
    common.add_argument("--allow-pickle", action="store_true",
                        help="load pickle checkpoints (pytorch_model.bin) with weights_only=True")
    common.add_argument("--no-cache", action="store_true",
                        help="recompute everything instead of reusing cached analyses and renders")
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    common.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    return common


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", action="append", metavar="ID_OR_DIR",
                        help="Hub id (gpt2, openai-community/gpt2-medium, …), optionally ID@REVISION, or a local "
                             "folder in Hub layout; repeat to compare models (default: gpt2)")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit) for every --model")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m report",
        description="Study language models through their weights. Without a subcommand, `report` is meant: "
                    "`python -m report --model gpt2` is `python -m report report --model gpt2`.")
    subcommands = parser.add_subparsers(dest="command", metavar="{report,sweep,calibrate}")
    common = common_options()
    report = subcommands.add_parser(
        "report", parents=[common], help="one report per model, and their comparison (the default)",
        description="Analyse a model's embedding and LayerNorm weights; write HTML, PDF and results.json.")
    add_report_arguments(report)
    report.set_defaults(command=partial(_with_options, run, REPORT_INTERRUPTED))
    sweep = subcommands.add_parser(
        "sweep", parents=[common], help="the analyses over the checkpoints of training runs",
        description="Run the analyses on every checkpoint of one or more training runs; write a trajectory "
                    "report (sweep.html, sweep.pdf, sweep.json, figures/).")
    sweep_cli.add_arguments(sweep)
    sweep.set_defaults(command=partial(_with_options, sweep_cli.run, sweep_cli.INTERRUPTED))
    calibration = subcommands.add_parser(
        "calibrate", help="every claim's false-positive rate and power on synthetic models",
        description=calibrate.__doc__.splitlines()[0])
    calibrate.add_arguments(calibration)
    calibration.set_defaults(command=calibrate.command)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse a command line; one that names no subcommand is the report's (the plain form of old)."""
    if not argv or argv[0] not in (*SUBCOMMANDS, "-h", "--help"):
        argv = ["report", *argv]
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return_large_blocks()
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    return args.command(args)


def _with_options(runner: Callable[[argparse.Namespace, Options], int], interrupted: str,
                  args: argparse.Namespace) -> int:
    """Run report or sweep: the common options checked and made into one Options, under the one policy."""

    def command() -> int:
        options = check_common(args)
        with quiet(args.quiet):
            return runner(args, options)

    return run_command(command, interrupted, args.debug)


def check_common(args: argparse.Namespace) -> Options:
    """Refuse bad common options before any model or checkpoint is read; the Options they make (device as
    asked: "auto" is resolved where the work runs)."""
    if args.seed < 0:
        raise ReportError(f"--seed {args.seed}: a seed is a whole number of 0 or more.")
    if args.corpus is not None and not args.corpus.is_file():
        raise ReportError(f"The corpus {args.corpus} is not a readable file.")
    if args.corpus is not None:
        check_corpus(args.corpus)  # text in a known encoding, or refused before any model is read
    if args.max_tokens < 1:
        raise ReportError(f"--max-tokens must be a positive number of tokens, not {args.max_tokens}.")
    return Options(seed=args.seed, device=args.device, max_tokens=args.max_tokens,
                   experiments=not args.no_experiments, frequency=args.frequency)


def run(args: argparse.Namespace, options: Options) -> int:
    """The report subcommand, once the common options are checked and made into `options`."""
    options = replace(options, device=resolve_device(options.device))
    requests = [Request(model=name, revision=revision or args.revision, corpus=args.corpus,
                        allow_pickle=args.allow_pickle, options=options)
                for name, revision in map(split_revision, args.model or ["gpt2"])]
    check_models(requests)
    # Refused before any work: two models in one folder, a model's own folder, anything not ours, no write access.
    names = output_folder.report_folders([label(r) for r in requests])
    output_folder.check_run_destinations(args.out, names, [p for r in requests for p in protected_folders(r)])
    output_folder.ensure_writable(args.out)
    cache = Cache.from_environment(enabled=not args.no_cache)
    written, failed = [], []
    gathered = Gathered() if len(requests) > 1 else None  # the comparison's inputs, taken while each model is loaded
    for request, name in zip(requests, names):
        try:
            written.append((request, build(request, args.out, show_progress=not args.quiet, cache=cache, name=name,
                                           on_written=gathered.add if gathered else None)))
        except ReportError as exc:
            if len(requests) == 1:
                raise
            failed.append(f"{label(request)!r}: {exc}")  # the others still get their reports
    for _, folder in written:
        print(f"wrote {folder}/report.html, report.pdf, results.json and figures/")
    if len(written) > 1:
        folder = build_comparison(gathered, args.out, show_progress=not args.quiet, cache=cache)
        print(f"wrote {folder}/report.html, report.pdf, comparison.json and figures/ comparing {len(written)} models")
    if failed:
        done = (f"The reports of the others were written: {', '.join(str(f) for _, f in written)}"
                + (" (and their comparison)." if len(written) > 1 else ".") if written else "No report was written.")
        raise ReportError(f"{len(failed)} of {len(requests)} models failed: {'; '.join(failed)} {done}")
    return 0


def check_models(requests: list[Request]) -> None:
    """Cheap checks of every model before any is built (a name, a folder with config.json and weights), so
    a bad third model is found before the first two take their minutes; all failures in one message."""
    problems = []
    for request in requests:
        try:
            check_model(request.model, request.allow_pickle)
        except ReportError as exc:
            problems.append(str(exc) if len(requests) == 1 else f"{request.model!r}: {exc}")
    if len(problems) == 1 and len(requests) == 1:
        raise ReportError(problems[0])
    if problems:
        raise ReportError(f"{len(problems)} of {len(requests)} models cannot be read, so nothing was built: "
                          + "; ".join(problems))


@contextmanager
def quiet(enabled: bool):
    """--quiet: no progress bars of ours or huggingface_hub's (fetches), and no matplotlib warnings (a glyph
    that no installed font has); forked figure workers inherit it. Errors are still printed."""
    if not enabled:
        yield
        return
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    bars_were_off = are_progress_bars_disabled()
    logger = logging.getLogger("matplotlib")
    level = logger.level
    disable_progress_bars()
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
            warnings.filterwarnings("ignore", module=r"matplotlib(\..*)?$")
            yield
    finally:
        logger.setLevel(level)
        if not bars_were_off:
            enable_progress_bars()
