"""One measurement in a fresh process, so each peak-memory figure is its own.

    python -m bench.measure dense|zero_layer|report FOLDER [OUT [CACHE]]
    python -m bench.measure dense_sample FOLDER ROWS

Prints one JSON line: {"seconds": wall time of the measured step, "peak_rss_mb": peak resident memory},
and for zero_layer also "precision" (the pair pass's screen: "bf16" or "fp32"), "cpu_capability" and
"gemm_gflops" (measured float32 and bf16 matrix-product speeds).
"zero_layer" is the zero-layer step together with the exhaustive clump search, as the report runs them:
the crowding scale, one pair pass (and the direct pass against an untied head), and both analyses.
"dense_sample" times the dense pass on the first ROWS rows and reports that time scaled to every row.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

BLOCK = 4096


def write_results(path: Path, results: dict) -> None:
    """Write a benchmark's results as indented JSON (creating the folder) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def peak_rss_mb() -> float:
    """This process's own high-water mark. VmHWM starts afresh at exec, unlike ru_maxrss, which Linux
    carries over from the parent (here the benchmark driver that built a multi-GB checkpoint)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_weights_of(folder: Path):
    from report.load.hub import resolve
    from report.load.loader import load_weights

    return load_weights(resolve(str(folder)))


def load_matrix(folder: Path):
    import torch

    return torch.from_numpy(load_weights_of(folder).token_embeddings)


def dense_pass(w) -> None:
    """The naive floor: argmax over every row of W·Wᵀ, block by block, nothing skipped."""
    import torch

    with torch.inference_mode():
        for start in range(0, w.shape[0], BLOCK):
            (w[start:start + BLOCK] @ w.T).argmax(dim=1)


def main() -> None:
    mode, folder = sys.argv[1], Path(sys.argv[2])
    extra: dict = {}
    if mode == "dense":
        w = load_matrix(folder)
        start = time.perf_counter()
        dense_pass(w)
    elif mode == "dense_sample":  # the first ROWS rows of the dense pass, timed and scaled to every row
        import torch

        w = load_matrix(folder)
        rows = min(int(sys.argv[3]), w.shape[0])
        start = time.perf_counter()
        with torch.inference_mode():
            for first in range(0, rows, BLOCK):
                (w[first:min(rows, first + BLOCK)] @ w.T).argmax(dim=1)
        sampled = time.perf_counter() - start
        extra = {"sample_rows": rows, "sample_seconds": sampled}
        extra["seconds"] = sampled * w.shape[0] / rows  # the sample's time scaled to every row
    elif mode == "zero_layer":
        import torch

        from analyses.outliers import analyse_outliers, crowding_scale
        from analyses.pairs.token_pairs import gemm_speeds, scan_pairs, screen_precision
        from analyses.zero_layer import analyse_zero_layer
        from report.load.tokens import load_tokenizer, load_tokens
        from report.run.heap import return_large_blocks

        return_large_blocks()  # as the report's process does (report.cli): large blocks each map fresh pages

        weights = load_weights_of(folder)
        w, unembedding = weights.token_embeddings, weights.unembedding
        tokens = load_tokens(load_tokenizer(folder), w.shape[0], "leading-space")
        extra["precision"] = screen_precision("cpu")
        extra["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        extra["gemm_gflops"] = gemm_speeds("cpu")  # outside the timed step
        start = time.perf_counter()
        scale = crowding_scale(w)
        found = scan_pairs(w, threshold=scale.threshold)
        direct = scan_pairs(unembedding, queries=w) if unembedding is not None else None  # untied: W_U·W_E
        analyse_zero_layer(w, tokens.data, tokens.unprintable, found=direct or found, unembedding=unembedding)
        analyse_outliers(w, None, found=(scale, found))
    elif mode == "report":
        os.environ["WEIGHTS_REPORT_CACHE"] = sys.argv[4] if len(sys.argv) > 4 else ""
        from report.cli import main as cli

        args = ["--model", str(folder), "--out", sys.argv[3], "--quiet"]
        if len(sys.argv) <= 4:
            args.append("--no-cache")
        start = time.perf_counter()
        if cli(args) != 0:
            raise SystemExit("report failed")
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()} | extra))


if __name__ == "__main__":
    main()
