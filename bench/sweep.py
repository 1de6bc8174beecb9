"""`make bench` (sweep part): what a sweep costs per GPT-2-size checkpoint, and what it adds on top.

    python -m bench.sweep [--checkpoints 10] [--workers 2]

Measures, in one run, on the planted GPT-2-size checkpoint of bench/run.py (V = 50,257, d = 768):
- the dense argmax(W·Wᵀ) pass alone (bench.measure, fresh process): the naive floor;
- one sweep task alone (fresh process, no cache): load, analyses, results document, no rendering;
- a sweep over N checkpoints (a Trainer folder of N checkpoint-K folders linking to that checkpoint's files):
  the sweep's overhead is its wall time less the tasks' own time shared over the workers (engine start,
  gathering results) plus writing the trajectory report; and each worker's peak memory.
Writes bench/results/sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import write_results

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"task_ratio": 0.6, "overhead_s": 30.0, "worker_peak_gb": 2.5}


def one_task(folder: Path) -> None:
    """Run in a fresh process: one sweep task, timed; prints one JSON line."""
    from report.run.context import Options
    from report.sweep.sources import Checkpoint
    from report.sweep.task import Settings, analyse_checkpoint

    start = time.perf_counter()
    settings = Settings(options=Options(device="cpu", experiments=False))
    outcome = analyse_checkpoint(Checkpoint("bench", 0, str(folder)), settings)
    if outcome["status"] != "ok":
        raise SystemExit(f"task failed: {outcome['error']}")
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss_mb": outcome["peak_rss_mb"]}))


def trainer_folder(folder: Path, root: Path, n: int) -> Path:
    """N checkpoint folders of hard links to one checkpoint's files (distinct paths, so none is a cache hit;
    not symlinks, which the loader refuses when they point outside the model folder)."""
    for i in range(n):
        target = root / f"checkpoint-{(i + 1) * 1000}"
        target.mkdir(parents=True)
        for file in folder.iterdir():
            if file.is_file():
                try:
                    os.link(file, target / file.name)
                except OSError:  # another file system
                    shutil.copyfile(file, target / file.name)
    return root


def sweep_overhead(run: Path, out: Path, workers: int) -> dict:
    from report.run.context import Options
    from report.sweep import engine
    from report.sweep.sources import discover
    from report.sweep.task import Settings
    from report.sweep.write import write_sweep

    checkpoints = discover(str(run))
    start = time.perf_counter()
    settings = Settings(options=Options(device="cpu", experiments=False))
    outcomes = engine.run_local(checkpoints, settings, workers=workers, show_progress=False)
    engine_s = time.perf_counter() - start
    if any(o["status"] != "ok" for o in outcomes):
        raise SystemExit(f"sweep task failed: {[o['error'] for o in outcomes if o['error']][:1]}")
    start = time.perf_counter()
    write_sweep(out, "bench", {"bench": checkpoints}, {"bench": outcomes},
                {"frequency": "proxy", "corpus": None, "seed": 0})
    write_s = time.perf_counter() - start
    tasks_s = sum(o["seconds"] for o in outcomes)
    return {"checkpoints": len(checkpoints), "workers": workers, "engine_wall_s": engine_s,
            "tasks_s": tasks_s, "task_median_s": sorted(o["seconds"] for o in outcomes)[len(outcomes) // 2],
            "report_s": write_s, "overhead_s": max(0.0, engine_s - tasks_s / workers) + write_s,
            "worker_peak_gb": max(o["peak_rss_mb"] for o in outcomes) / 1024}


def main() -> None:
    if sys.argv[1:2] == ["task"]:
        return one_task(Path(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sweep.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.run import checkpoint, machine, measure

    folder = checkpoint("gpt2", args.data)
    dense = measure("dense", str(folder))

    task = json.loads(subprocess.run([sys.executable, "-m", "bench.sweep", "task", str(folder)], cwd=ROOT,
                                     check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    print(f"gpt2-size: dense pass {dense['seconds']:.1f}s | one sweep task {task['seconds']:.1f}s "
          f"({task['seconds'] / dense['seconds']:.2f}×, peak {task['peak_rss_mb'] / 1024:.2f} GB)", flush=True)
    with tempfile.TemporaryDirectory(dir=args.data) as scratch:  # same file system: hard links
        run = trainer_folder(folder, Path(scratch) / "run", args.checkpoints)
        sweep = sweep_overhead(run, Path(scratch) / "out", args.workers)
    results = {"machine": machine(), "dense_pass_s": dense["seconds"], "task_s": task["seconds"],
               "task_peak_gb": task["peak_rss_mb"] / 1024, "task_ratio": task["seconds"] / dense["seconds"],
               "sweep": sweep, "targets": TARGETS}
    print(f"sweep of {sweep['checkpoints']} "
          f"on {sweep['workers']} workers: {sweep['engine_wall_s']:.1f}s tasks + {sweep['report_s']:.1f}s report, "
          f"overhead {sweep['overhead_s']:.1f}s, worker peak {sweep['worker_peak_gb']:.2f} GB", flush=True)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
