"""`make bench`: the whole report against the naive dense pass, at GPT-2 and GPT-2-XL sizes, on the planted
checkpoint and on five matrix families it does not resemble (bench/families.py).

Builds planted checkpoints of the real shapes (V = 50,257; d = 768, 12 layers / d = 1600, 48 layers;
1,024 positions) and GPT-2-size copies with each family's token matrix, then measures in separate processes,
in one run: a plain dense argmax(W·Wᵀ) pass in torch (the naive floor), the zero-layer step with the
exhaustive clump search, the whole report (analyses + figures + HTML + PDF), its peak memory, the screen
precision, and (planted only) a second, cached run. Ratios are taken within the run, so a busy machine
slows numerator and denominator alike. Prints a table and writes bench/results/bench.json.
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

from bench.families import FAMILIES
from bench.families import checkpoint as family_checkpoint
from bench.measure import write_results

ROOT = Path(__file__).resolve().parent.parent
SIZES = {
    "gpt2": dict(d_model=768, n_layers=12),
    "gpt2-xl": dict(d_model=1600, n_layers=48),
}
GPT2_TARGETS = {"report_ratio": 1.0, "zero_layer_ratio": 0.5, "zero_layer_ratio_bf16": 0.25, "peak_gb": 2.5}
TARGETS = {"gpt2": GPT2_TARGETS, "gpt2-xl": {"peak_gb": 6.0}}


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

    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__, "font_subsetter": font_subsetter()}


def font_subsetter() -> str:
    """What WeasyPrint subsets the PDF's fonts with: "harfbuzz" (C) or "fonttools" (Python, ~1 s slower per
    GPT-2-size report), so that a bench table says which it measured."""
    from weasyprint.pdf import fonts

    return "harfbuzz" if fonts.harfbuzz_subset and fonts.harfbuzz.hb_version_atleast(4, 1, 0) else "fonttools"


def bench_folder(folder: Path, repeats: int, targets: dict, cached_run: bool) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        dense = [measure("dense", str(folder)) for _ in range(repeats)]
        zero = [measure("zero_layer", str(folder)) for _ in range(repeats)]
        full = [measure("report", str(folder), f"{scratch}/out{i}") for i in range(repeats)]
        cached = None
        if cached_run:
            cache = f"{scratch}/cache"
            measure("report", str(folder), f"{scratch}/warm", cache)
            cached = measure("report", str(folder), f"{scratch}/warm", cache)
    med = lambda rows: statistics.median(r["seconds"] for r in rows)  # noqa: E731
    row = {
        "dense_pass_s": med(dense), "zero_layer_s": med(zero), "report_s": med(full),
        "cached_rerun_s": cached["seconds"] if cached else None,
        "peak_rss_gb": max(r["peak_rss_mb"] for r in full) / 1024,
        "dense_peak_rss_gb": max(r["peak_rss_mb"] for r in dense) / 1024,
        "precision": zero[0]["precision"], "cpu_capability": zero[0]["cpu_capability"],
        "gemm_gflops": zero[0].get("gemm_gflops"),
    }
    row["report_ratio"] = row["report_s"] / row["dense_pass_s"]
    row["zero_layer_ratio"] = row["zero_layer_s"] / row["dense_pass_s"]
    row["targets"] = targets
    return row


def verdict(row: dict) -> str:
    """Which targets the row misses ("" when it meets them all)."""
    t, missed = row["targets"], []
    zero_target = t.get("zero_layer_ratio_bf16" if row["precision"] == "bf16" else "zero_layer_ratio")
    if zero_target is not None and row["zero_layer_ratio"] > zero_target:
        missed.append(f"zero-layer > {zero_target}×")
    if "report_ratio" in t and row["report_ratio"] > t["report_ratio"]:
        missed.append(f"report > {t['report_ratio']}×")
    if "peak_gb" in t and row["peak_rss_gb"] > t["peak_gb"]:
        missed.append(f"peak > {t['peak_gb']} GB")
    return "misses: " + ", ".join(missed) if missed else "meets targets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="gpt2,gpt2-xl")
    parser.add_argument("--families", default=",".join(FAMILIES), help="GPT-2-size matrix families ('' for none)")
    parser.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", "1")))
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bench.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    results = {"machine": machine(), "repeats": args.repeats, "sizes": {}}
    import torch

    results["machine"]["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    print(f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, torch "
          f"{results['machine']['torch']} ({results['machine']['cpu_capability']}), PDF fonts subset with "
          f"{results['machine']['font_subsetter']}; ratios are measured within "
          "this run, so load from other processes slows the dense pass and the report alike", flush=True)
    runs = [(size, lambda size=size: checkpoint(size, args.data), TARGETS.get(size, {}), True)
            for size in args.sizes.split(",") if size]
    runs += [(f"gpt2 {family}",
              lambda family=family: family_checkpoint(family, checkpoint("gpt2", args.data), args.data),
              GPT2_TARGETS, False) for family in args.families.split(",") if family]
    for name, folder, targets, cached_run in runs:
        results["sizes"][name] = row = bench_folder(folder(), args.repeats, targets, cached_run)
        cached = f" | cached rerun {row['cached_rerun_s']:5.1f}s" if row["cached_rerun_s"] is not None else ""
        print(f"{name:20s} dense {row['dense_pass_s']:7.1f}s | zero-layer + clumps {row['zero_layer_s']:6.1f}s "
              f"({row['zero_layer_ratio']:.2f}×, {row['precision']} screen) | report {row['report_s']:7.1f}s "
              f"({row['report_ratio']:.2f}×){cached} | peak {row['peak_rss_gb']:.2f} GB | {verdict(row)}", flush=True)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
