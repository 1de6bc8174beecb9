"""`python -m report sweep --run RUN [--run RUN …] --out OUT`: analyses over training checkpoints."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from report.cache import Cache
from report.corpus import check as check_corpus
from report.errors import ReportError, one_paragraph
from report.output_folder import check_destination, claim, destination_folder, folder_name, folder_names
from report.sweep import compatible, engine
from report.sweep.sources import discover
from report.sweep.task import Settings
from report.sweep.write import write_sweep


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m report sweep",
        description="Run the analyses on every checkpoint of one or more training runs; write a trajectory "
                    "report (sweep.html, sweep.pdf, sweep.json, figures/).")
    parser.add_argument("--run", action="append", required=True, metavar="FOLDER_OR_HUB_ID",
                        help="a training output folder of checkpoint-N subfolders (Trainer layout), or a Hub id "
                             "with --revisions; repeat to compare runs (seeds)")
    parser.add_argument("--revisions", action="append", metavar="PATTERN_OR_LIST",
                        help="Hub revisions of every Hub run: a pattern matched against branches and tags "
                             "('step*', 'checkpoint-*') or names (step1000,step2000); repeatable")
    parser.add_argument("--out", default="out", type=Path, help="output folder (default: out)")
    parser.add_argument("--name", help="the sweep's folder name under --out (default: the run's name, or "
                                       "'sweep' for several runs)")
    parser.add_argument("--cluster", metavar="tcp://HOST:PORT",
                        help="run one task per checkpoint on this existing Dask scheduler instead of a local pool")
    parser.add_argument("--workers", type=int, help="local pool size (default: by cores and memory)")
    parser.add_argument("--full-reports", action="store_true",
                        help="also write each checkpoint's own report.html, report.pdf and figures")
    parser.add_argument("--corpus", type=Path,
                        help="text file for exact token frequencies: UTF-8, or UTF-16/32 with a byte-order mark")
    parser.add_argument("--frequency", choices=("proxy", "token-index"), default="proxy",
                        help="frequency source without --corpus (default: proxy)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="torch device in each task (default: auto)")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random draw (default: 0)")
    parser.add_argument("--allow-pickle", action="store_true", help="load pickle checkpoints (weights_only)")
    parser.add_argument("--no-cache", action="store_true", help="recompute every checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    check_options(args)
    runs: dict[str, list] = {}
    given: dict[str, str] = {}
    # runs are named as the report names models: a local folder by the shortest path suffix no other run shares,
    # so only the same run given twice (or a symlink to it) can share a name
    for spec, name in zip(args.run, folder_names(args.run)):
        if name in given:
            raise ReportError(f"{given[name]!r} and {spec!r} would both be named {name!r} (the same folder, or "
                              "a link to it, given twice?); give each run once.")
        given[name] = spec
        runs[name] = discover(spec, args.revisions if not _is_local(spec) else None, name)
    compatible.check_configs(runs)  # a run that mixes widths or vocabularies is refused before any analysis
    sweep_name = args.name or (next(iter(runs)) if len(runs) == 1 else "sweep")
    # Refuse a bad destination now, not after hours of checkpoints (a folder we did not write, or one in a run),
    # and before creating any folder: OUT itself may lie inside a run.
    local_runs = [Path(spec).expanduser() for spec in args.run if _is_local(spec)]
    check_destination(args.out.absolute() / folder_name(sweep_name), local_runs, kind="sweep")
    # held for the whole sweep, not only its write: two sweeps into one folder cannot both succeed
    with claim(destination_folder(args.out, sweep_name)):
        cache = Cache.from_environment(enabled=not args.no_cache)
        settings = Settings(frequency=args.frequency, corpus=str(args.corpus.resolve()) if args.corpus else None,
                            seed=args.seed, device=args.device, cache_folder=str(cache.folder) if cache else None,
                            full_reports=args.full_reports, allow_pickle=args.allow_pickle)
        everything = [c for checkpoints in runs.values() for c in checkpoints]
        if args.cluster:
            outcomes = engine.run_dask(everything, settings, args.cluster, show_progress=not args.quiet)
        else:
            outcomes = engine.run_local(everything, settings, workers=args.workers, show_progress=not args.quiet)
        if all(o["status"] == "failed" for o in outcomes):
            raise ReportError(f"Every checkpoint failed; the first: {everything[0].label}: {outcomes[0]['error']}")
        by_run, start = {}, 0
        for name, checkpoints in runs.items():
            by_run[name] = outcomes[start:start + len(checkpoints)]
            start += len(checkpoints)
        compatible.check_outcomes(runs, by_run)  # the tokenizer, and Hub checkpoints, are known only now
        recorded = {"frequency": "corpus" if args.corpus else args.frequency,
                    "corpus": str(args.corpus) if args.corpus else None, "seed": args.seed}
        folder, _ = write_sweep(args.out, sweep_name, runs, by_run, recorded)
        failed = [c.label for c, o in zip(everything, outcomes) if o["status"] == "failed"]
        print(f"wrote {folder}/sweep.html, sweep.pdf, sweep.json and figures/ for {len(everything)} checkpoints"
              + (f"; {len(failed)} failed ({', '.join(failed[:5])}{', …' if len(failed) > 5 else ''}), shown in the "
                 "report" if failed else ""))
    return 0


def check_options(args: argparse.Namespace) -> None:
    """Refuse bad options before any checkpoint is looked at."""
    if args.seed < 0:
        raise ReportError(f"--seed {args.seed}: a seed is a whole number of 0 or more.")
    if args.corpus is not None and not args.corpus.is_file():
        raise ReportError(f"The corpus {args.corpus} is not a readable file.")
    if args.corpus is not None:
        check_corpus(args.corpus)  # text in a known encoding, or refused before any checkpoint runs
    if args.workers is not None and args.workers < 1:
        raise ReportError("--workers must be at least 1.")
    if args.revisions and all(_is_local(spec) for spec in args.run):
        raise ReportError(f"--revisions applies to Hub ids, but every --run is a local folder "
                          f"({', '.join(map(repr, args.run))}); a local run's checkpoints are its checkpoint-N "
                          "subfolders.")


def _is_local(spec: str) -> bool:
    return Path(spec).expanduser().is_dir()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except ReportError as exc:
        print(f"error: {one_paragraph(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no sweep report was written; finished checkpoints are cached, so rerunning the same "
              "command resumes.", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug or os.environ.get("WEIGHTS_REPORT_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc}. This is a bug in the report generator; rerun with "
              "--debug for the traceback and please report it.", file=sys.stderr)
        return 1
