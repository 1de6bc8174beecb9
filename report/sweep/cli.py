"""`python -m report sweep --run RUN [--run RUN …] --out OUT`: analyses over training checkpoints."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from report.errors import ReportError
from report.run.cache import Cache
from report.run.context import Options
from report.sweep import compatible, engine
from report.sweep.sources import discover
from report.sweep.task import Settings
from report.sweep.write import write_sweep
from report.write.output_folder import check_destination, claim, destination_folder, folder_name, folder_names

INTERRUPTED = ("no sweep report was written; finished checkpoints are cached, so rerunning the same command "
               "resumes.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep's own options; those it shares with the report come from the CLI's common parser."""
    parser.add_argument("--run", action="append", required=True, metavar="FOLDER_OR_HUB_ID",
                        help="a training output folder of checkpoint-N subfolders (Trainer layout), or a Hub id "
                             "with --revisions; repeat to compare runs (seeds)")
    parser.add_argument("--revisions", action="append", metavar="PATTERN_OR_LIST",
                        help="Hub revisions of every Hub run: a pattern matched against branches and tags "
                             "('step*', 'checkpoint-*') or names (step1000,step2000); repeatable")
    parser.add_argument("--name", help="the sweep's folder name under --out (default: the run's name, or "
                                       "'sweep' for several runs)")
    parser.add_argument("--cluster", metavar="tcp://HOST:PORT",
                        help="run one task per checkpoint on this existing Dask scheduler instead of a local pool")
    parser.add_argument("--workers", type=int, help="local pool size (default: by cores and memory)")
    parser.add_argument("--full-reports", action="store_true",
                        help="also write each checkpoint's own report.html, report.pdf and figures")


def run(args: argparse.Namespace, options: Options) -> int:
    """The sweep, once the CLI has checked the common options and made `options` from them."""
    check_options(args)
    # the trajectories read the weights; forward passes on every checkpoint (minutes each) run only when the
    # user brings a corpus for them
    options = replace(options, experiments=options.experiments and args.corpus is not None)
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
        settings = Settings(options=options, corpus=str(args.corpus.resolve()) if args.corpus else None,
                            cache_folder=str(cache.folder) if cache else None, full_reports=args.full_reports,
                            allow_pickle=args.allow_pickle)
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
        recorded = {"frequency": "corpus" if args.corpus else options.frequency,
                    "corpus": str(args.corpus) if args.corpus else None, "seed": options.seed}
        folder, _ = write_sweep(args.out, sweep_name, runs, by_run, recorded)
        failed = [c.label for c, o in zip(everything, outcomes) if o["status"] == "failed"]
        print(f"wrote {folder}/sweep.html, sweep.pdf, sweep.json and figures/ for {len(everything)} checkpoints"
              + (f"; {len(failed)} failed ({', '.join(failed[:5])}{', …' if len(failed) > 5 else ''}), shown in the "
                 "report" if failed else ""))
    return 0


def check_options(args: argparse.Namespace) -> None:
    """Refuse bad sweep options before any checkpoint is looked at (the CLI has checked the common ones)."""
    if args.workers is not None and args.workers < 1:
        raise ReportError("--workers must be at least 1.")
    if args.revisions and all(_is_local(spec) for spec in args.run):
        raise ReportError(f"--revisions applies to Hub ids, but every --run is a local folder "
                          f"({', '.join(map(repr, args.run))}); a local run's checkpoints are its checkpoint-N "
                          "subfolders.")


def _is_local(spec: str) -> bool:
    return Path(spec).expanduser().is_dir()
