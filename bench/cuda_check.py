"""`python -m bench.cuda_check`: the `--device cuda` path against the CPU path, in minutes, on a GPU machine.

Writes two checkpoints — the planted GPT-2-size one of `make bench` (tied, float32, with its corpus, so the
forward-pass experiments run too) and a Llama-3-shaped stand-in (untied head, bf16, 32,000 × 512) — runs the
whole report on each with `--device cpu` and with `--device cuda`, and compares the two results.json files
value by value: text, integers, booleans and every id list (zero-layer predictions, exceptions, clumps,
neighbours) must be equal; floats may differ by a relative 1e-6 (the GPU sums in another order). Prints
each run's time and every difference; exits 1 when any value differs beyond that, 2 when CUDA is missing.

    python -m bench.cuda_check [--data DIR] [--devices cpu,cuda] [--small]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELATIVE = 1e-6
ABSOLUTE = 1e-9
# Fields that describe the run, not the weights: where and how long it ran.
TINY = dict(vocab_size=2000, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128)
RUN_FIELDS = {"seconds", "elapsed_s", "device", "timings", "generated", "wall_s", "background_s", "machine"}
LLAMA_STAND_IN = dict(vocab_size=32000, hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                      num_key_value_heads=2, intermediate_size=1024, max_position_embeddings=2048)


def differences(a, b, path: str = "") -> list[str]:
    """Where two JSON values differ beyond the float tolerance (paths like analyses.svd.singular[3])."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only in one run" if path else f"{k}: only in one run"
               for k in sorted(set(a) ^ set(b)) if k not in RUN_FIELDS]
        for key in sorted(set(a) & set(b)):
            if key not in RUN_FIELDS:
                out += differences(a[key], b[key], f"{path}.{key}" if path else key)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} against {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            if (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=RELATIVE, abs_tol=ABSOLUTE):
                return []
    elif a == b:
        return []
    return [f"{path}: {a!r} against {b!r}"]


def run_report(folder: Path, out: Path, device: str, corpus: Path | None) -> float:
    args = [sys.executable, "-m", "report", "--model", str(folder), "--out", str(out), "--device", device,
            "--no-cache", "--quiet"] + (["--corpus", str(corpus)] if corpus else [])
    start = time.perf_counter()
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"the report failed on {device}:\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def checkpoints(data: Path, small: bool) -> dict[str, tuple[Path, Path | None]]:
    from bench import today
    from bench.run import checkpoint
    from tests.planted import plant

    if small:  # tiny sizes: checks the check itself in a minute
        planted = data / "tiny-planted"
        if not (planted / "config.json").is_file():
            plant(planted)
    else:
        planted = checkpoint("gpt2", data)
    llama = data / ("tiny-llama3" if small else "llama3-stand-in")
    if not (llama / "config.json").is_file():
        today.write_repo(llama, today.SHAPES["llama3-8b"] | LLAMA_STAND_IN | (TINY if small else {}))
    return {"gpt2 planted (tied, fp32, corpus)": (planted, planted / "corpus.txt"),
            "llama-3 stand-in (untied, bf16)": (llama, None)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data")
    parser.add_argument("--devices", default="cpu,cuda", help="the two devices compared (cpu,cpu checks the check)")
    parser.add_argument("--small", action="store_true", help="tiny checkpoints (checks the check)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    first, second = args.devices.split(",")
    if "cuda" in (first, second) and not torch.cuda.is_available():
        print("no CUDA device here: run this on a GPU machine", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__}; " + (f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
                                            else "no GPU") + f"; {os.cpu_count()} CPU cores", flush=True)
    failed = False
    with tempfile.TemporaryDirectory(prefix="cuda-check-") as scratch:
        for name, (folder, corpus) in checkpoints(args.data, args.small).items():
            runs = {}
            for device in (first, second):
                out = Path(scratch) / f"{folder.name}-{device}-{len(runs)}"
                seconds = run_report(folder, out, device, corpus)
                runs[device + ("" if device not in runs else " (again)")] = (seconds, out)
            (t1, out1), (t2, out2) = runs.values()
            found = differences(*(json.loads(next(o.rglob("results.json")).read_text()) for o in (out1, out2)))
            print(f"{name}: {first} {t1:.1f}s, {second} {t2:.1f}s — "
                  + ("results agree" if not found else f"{len(found)} values differ"), flush=True)
            for line in found[:40]:
                print("   ", line)
            failed |= bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
