"""`python -m report --model gpt2 [--model gpt2-medium] --out out/`: one report per model."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path

from report import output_folder
from report.cache import Cache
from report.compare import Gathered, build_comparison
from report.context import Options, resolve_device
from report.corpus import check as check_corpus
from report.errors import TERMINATION_REQUESTED, ReportError, Terminated, one_paragraph, stop_if_terminated
from report.hub import split_revision
from report.loader import check_model
from report.pipeline import Request, build, label, protected_folders
from report.sweep.cli import main as sweep_main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m report",
        description="Analyse a model's embedding and LayerNorm weights; write HTML, PDF and results.json.")
    parser.add_argument("--model", action="append", metavar="ID_OR_DIR",
                        help="Hub id (gpt2, openai-community/gpt2-medium, …), optionally ID@REVISION, or a local "
                             "folder in Hub layout; repeat to compare models (default: gpt2)")
    parser.add_argument("--out", default="out", type=Path, help="output folder (default: out)")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit) for every --model")
    parser.add_argument("--corpus", type=Path,
                        help="text file for exact token frequencies: UTF-8, or UTF-16/32 with a byte-order mark")
    parser.add_argument("--frequency", choices=("proxy", "token-index"), default="proxy",
                        help="frequency source without --corpus: wordfreq proxy (default) or token index only")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="torch device for the heavy matrix products (default: auto)")
    parser.add_argument("--max-tokens", type=int, default=Options.max_tokens, metavar="N",
                        help="corpus tokens per forward pass of the experiments (--corpus, else Python's own "
                             f"documentation), cut into ≥ 100 sequences where it allows (default: {Options.max_tokens}"
                             ": 100 × 32)")
    parser.add_argument("--no-experiments", action="store_true",
                        help="leave out the forward-pass experiments (on by default; minutes on a CPU)")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random draw (default: 0)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="load pickle checkpoints (pytorch_model.bin) with weights_only=True")
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute everything instead of reusing cached analyses and renders")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    args = parser.parse_args(argv)
    args.model = args.model or ["gpt2"]
    return args


def run(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise ReportError(f"--seed {args.seed}: a seed is a whole number of 0 or more.")
    if args.corpus is not None and not args.corpus.is_file():
        raise ReportError(f"The corpus {args.corpus} is not a readable file.")
    if args.corpus is not None:
        check_corpus(args.corpus)  # text in a known encoding, or refused before any model is read
    if args.max_tokens < 1:
        raise ReportError(f"--max-tokens must be a positive number of tokens, not {args.max_tokens}.")
    options = Options(seed=args.seed, device=resolve_device(args.device), max_tokens=args.max_tokens,
                      experiments=not args.no_experiments)
    requests = [Request(model=name, revision=revision or args.revision, corpus=args.corpus,
                        frequency=args.frequency, allow_pickle=args.allow_pickle, options=options)
                for name, revision in map(split_revision, args.model)]
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


def _on_sigterm(signum, frame) -> None:
    if os.getpid() != _MAIN_PID[0]:  # a forked worker: die as the signal means, without a traceback
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    TERMINATION_REQUESTED.set()
    raise Terminated


_MAIN_PID = [os.getpid()]


def _quiet_when_terminated(unraisable) -> None:
    """A Terminated that Python had to swallow (raised inside a lock release or a finaliser) is not a bug to
    print: the run still stops, through TERMINATION_REQUESTED."""
    if not isinstance(unraisable.exc_value, Terminated):
        sys.__unraisablehook__(unraisable)


def main(argv: list[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    _MAIN_PID[0] = os.getpid()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    sys.unraisablehook = _quiet_when_terminated
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sweep"]:  # training checkpoints: its own options (report/sweep/cli.py)
        return sweep_main(argv[1:])
    args = parse_args(argv)
    try:
        with quiet(args.quiet):
            code = run(args)
        stop_if_terminated()  # a SIGTERM whose exception was swallowed still ends the run as one
        return code
    except ReportError as exc:
        print(f"error: {one_paragraph(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print("interrupted: nothing was written for the model in progress.", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except Exception as exc:  # a bug of ours: say so plainly, trace only on request
        if args.debug or os.environ.get("WEIGHTS_REPORT_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {one_paragraph(str(exc))}. "
              "This is a bug in the report generator; "
              "rerun with --debug for the traceback and please report it.", file=sys.stderr)
        return 1
