"""`make bench`: the whole report against the naive dense pass, at GPT-2 and GPT-2-XL sizes.

Builds planted checkpoints of the real shapes (V = 50,257; d = 768, 12 layers / d = 1600, 48 layers;
1,024 positions), then measures in separate processes, in one run: a plain dense argmax(W·Wᵀ) pass in
torch (the naive floor), the zero-layer step alone, the whole report (analyses + figures + HTML + PDF),
and a second, cached run. Prints a table and writes bench/results/bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {
    "gpt2": dict(d_model=768, n_layers=12),
    "gpt2-xl": dict(d_model=1600, n_layers=48),
}
TARGETS = {"gpt2": {"report_ratio": 1.0, "zero_layer_ratio": 0.6, "peak_gb": 2.5},
           "gpt2-xl": {"peak_gb": 6.0}}


def checkpoint(size: str, data: Path) -> Path:
    from tests.planted import Spec, plant

    folder = data / size
    if not (folder / "config.json").is_file():
        d = SIZES[size]["d_model"]
        spec = Spec(n_positions=1024, synthetic_vocab=50257, heavy_dims=tuple(range(5, d, 24)),
                    unigram_dim=138, n_pairs=40, clump_size=60, **SIZES[size])
        print(f"building a {size}-size checkpoint in {folder} …", flush=True)
        plant(folder, spec)
    return folder


def measure(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "bench.measure", *args], cwd=ROOT, check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__}


def bench_size(size: str, data: Path, repeats: int) -> dict:
    folder = checkpoint(size, data)
    with tempfile.TemporaryDirectory() as scratch:
        dense = [measure("dense", str(folder)) for _ in range(repeats)]
        zero = [measure("zero_layer", str(folder)) for _ in range(repeats)]
        full = [measure("report", str(folder), f"{scratch}/out{i}") for i in range(repeats)]
        cache = f"{scratch}/cache"
        measure("report", str(folder), f"{scratch}/warm", cache)
        cached = measure("report", str(folder), f"{scratch}/warm", cache)
    med = lambda rows: statistics.median(r["seconds"] for r in rows)  # noqa: E731
    row = {
        "dense_pass_s": med(dense), "zero_layer_s": med(zero), "report_s": med(full),
        "cached_rerun_s": cached["seconds"],
        "peak_rss_gb": max(r["peak_rss_mb"] for r in full) / 1024,
        "dense_peak_rss_gb": max(r["peak_rss_mb"] for r in dense) / 1024,
    }
    row["report_ratio"] = row["report_s"] / row["dense_pass_s"]
    row["zero_layer_ratio"] = row["zero_layer_s"] / row["dense_pass_s"]
    row["targets"] = TARGETS.get(size, {})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="gpt2,gpt2-xl")
    parser.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", "1")))
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bench.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    results = {"machine": machine(), "repeats": args.repeats, "sizes": {}}
    for size in args.sizes.split(","):
        results["sizes"][size] = bench_size(size, args.data, args.repeats)
        row = results["sizes"][size]
        print(f"{size:8s} dense {row['dense_pass_s']:7.1f}s | zero-layer {row['zero_layer_s']:7.1f}s "
              f"({row['zero_layer_ratio']:.2f}×) | report {row['report_s']:7.1f}s ({row['report_ratio']:.2f}×) | "
              f"cached rerun {row['cached_rerun_s']:5.1f}s | peak {row['peak_rss_gb']:.2f} GB", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
