"""`make bench-today`: the whole report on checkpoints of today's shapes, read by range from a local Hub.

Two repos of real shapes, in Hub layout, bf16:
- gemma2-2b: Gemma-2-2B's (V = 256,000, d = 2,304, 26 layers, tied head, 2 shards);
- llama3-8b: Llama-3-8B's (V = 128,256, d = 4,096, 32 layers, untied head, 4 shards).
Keys, shapes and config fields are those transformers gives the type (the model is built on the meta
device and its state dict listed; tied keys are left out as save_pretrained does). Every tensor the report
reads (report.load.architectures.keys_to_read) is written for real, in blocks: rows with a common mean, a few
heavy dims, norms that grow with rarity, and (untied) an unembedding that partly follows the embedding.
Every other tensor is a sparse hole, so a 16 GB repo costs its read tensors in disk. The tokenizer is a
byte-level vocabulary of the full size.

Measured in separate processes, in one run, per shape: the whole report (`python -m report`: ranged fetch
from the local server, every section, figures, HTML, PDF) with the peak memory of its whole process tree
(proportional set size, so pages shared with forked figure workers count once), the zero-layer step with
the exhaustive clump search as the report runs it (plus the direct pass against an untied head), and a
dense float32 argmax(W·Wᵀ) pass timed on a sample of rows and scaled to the whole matrix (a full pass
would take half an hour here). Ratios are taken within the run. Prints a table; writes
bench/results/today.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.measure import write_results

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {
    "gemma2-2b": dict(model_type="gemma2", shards=2, vocab_size=256000, hidden_size=2304, num_hidden_layers=26,
                      num_attention_heads=8, num_key_value_heads=4, head_dim=256, intermediate_size=9216,
                      max_position_embeddings=8192, query_pre_attn_scalar=256, sliding_window=4096,
                      final_logit_softcapping=30.0, attn_logit_softcapping=50.0, tie_word_embeddings=True),
    "llama3-8b": dict(model_type="llama", shards=4, vocab_size=128256, hidden_size=4096, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=8, intermediate_size=14336,
                      max_position_embeddings=8192, rope_theta=500000.0, rms_norm_eps=1e-5,
                      tie_word_embeddings=False),
}
TARGETS = {"peak_gb": 8.0, "report_ratio": 1.0, "zero_layer_ratio_bf16": 0.25}
SAMPLE_ROWS = 8192  # rows of the dense pass actually timed
BLOCK = 4096
ITEM = {"torch.bfloat16": 2, "torch.float16": 2, "torch.float32": 4}
SAFETENSORS_DTYPE = {"torch.bfloat16": "BF16", "torch.float16": "F16", "torch.float32": "F32"}


def layout(shape: dict) -> tuple[dict, list[dict[str, tuple[str, tuple]]]]:
    """The config transformers writes for the shape, and its tensors (key -> (torch dtype, shape)) split over
    the shape's shards in state-dict order, as save_pretrained splits a model."""
    import torch
    import transformers

    fields = {k: v for k, v in shape.items() if k not in ("model_type", "shards")}
    config = transformers.AutoConfig.for_model(shape["model_type"], bos_token_id=0, eos_token_id=1, pad_token_id=0,
                                               dtype="bfloat16", **fields)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    tied = set(getattr(model, "_tied_weights_keys", None) or ()) if config.tie_word_embeddings else set()
    tensors = {k: (str(v.dtype), tuple(v.shape)) for k, v in model.state_dict().items() if k not in tied}
    total = sum(ITEM[dtype] * math.prod(size) for dtype, size in tensors.values())
    shards: list[dict] = [{} for _ in range(shape["shards"])]
    running = 0
    for key, (dtype, size) in tensors.items():
        length = ITEM[dtype] * math.prod(size)
        shards[min(shape["shards"] - 1, (2 * running + length) * shape["shards"] // (2 * total))][key] = (dtype, size)
        running += length
    return config.to_dict(), shards


def write_repo(folder: Path, shape: dict, seed: int = 0) -> dict:
    """The repo in `folder`: config, tokenizer, shards (read tensors real, the rest holes) and an index.
    Returns {"weight_bytes", "read_bytes"}."""
    from report.load.architectures import keys_to_read

    folder.mkdir(parents=True, exist_ok=True)
    config, shards = layout(shape)
    (folder / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True), encoding="utf-8")
    write_tokenizer(folder, shape["vocab_size"], seed)
    every = {key: spec for shard in shards for key, spec in shard.items()}
    read = set(keys_to_read(config, every))
    rng = np.random.default_rng(seed)
    embedding_key = next(k for k in read if k.endswith("embed_tokens.weight"))
    weight_bytes = read_bytes = 0
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    for name, tensors in zip(names, shards):
        header, offset = {}, 0
        for key, (dtype, size) in tensors.items():
            length = ITEM[dtype] * math.prod(size)
            header[key] = {"dtype": SAFETENSORS_DTYPE[dtype], "shape": list(size),
                           "data_offsets": [offset, offset + length]}
            offset += length
        header["__metadata__"] = {"format": "pt"}
        blob = json.dumps(header).encode()
        blob += b" " * (-len(blob) % 8)
        start = 8 + len(blob)
        with open(folder / name, "wb") as handle:
            handle.write(len(blob).to_bytes(8, "little") + blob)
            handle.truncate(start + offset)
            for key in tensors:
                if key in read:
                    handle.seek(start + header[key]["data_offsets"][0])
                    kind = "embedding" if key == embedding_key else "head" if key.startswith("lm_head") else "gain"
                    write_content(handle, kind, tensors[key][1], config, rng, seed)
                    read_bytes += header[key]["data_offsets"][1] - header[key]["data_offsets"][0]
        weight_bytes += start + offset
    weight_map = {key: name for name, tensors in zip(names, shards) for key in tensors}
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": weight_bytes}, "weight_map": dict(sorted(weight_map.items()))}),
        encoding="utf-8")
    return {"weight_bytes": weight_bytes, "read_bytes": read_bytes}


def write_content(handle, kind: str, size: tuple, config: dict, rng: np.random.Generator, seed: int) -> None:
    """bf16 rows written block by block (never the whole matrix in float32). Embedding rows: a common mean,
    a few heavy dims and norms growing with the token id (a proxy for rarity); an untied head: the same rows
    (same seed) at half weight plus fresh noise; gains: near the type's neutral value (0 for Gemma's
    `1 + weight`, 1 otherwise), with the heavy dims muted in every norm."""
    import torch

    d = size[-1]
    heavy = np.arange(7, d, max(1, d // 8))[:8]
    if kind == "gain":
        neutral = 0.0 if config["model_type"].startswith("gemma") else 1.0
        gain = neutral + rng.normal(0, 0.05, d)
        gain[heavy] = neutral - 0.7 if neutral else 0.3
        handle.write(torch.from_numpy(gain.astype(np.float32)).to(torch.bfloat16).view(torch.int16).numpy().tobytes())
        return
    rows = size[0]
    mean = np.full(d, 0.01, dtype=np.float32)
    mean[heavy] = 0.2
    embedding_rng = np.random.default_rng([seed, 1])
    noise_rng = np.random.default_rng([seed, 2])
    for start in range(0, rows, 16384):
        stop = min(rows, start + 16384)
        scale = 0.02 * (1 + np.log1p(np.arange(start, stop, dtype=np.float32)) / 12)[:, None]
        block = embedding_rng.standard_normal((stop - start, d), dtype=np.float32) * scale + mean
        if kind == "head":
            block = 0.5 * block + noise_rng.standard_normal((stop - start, d), dtype=np.float32) * 0.02
        handle.write(torch.from_numpy(block).to(torch.bfloat16).view(torch.int16).numpy().tobytes())


def write_tokenizer(folder: Path, vocab_size: int, seed: int) -> None:
    """A byte-level vocabulary of `vocab_size` tokens as tokenizer.json (plus the slow files it came from)."""
    import transformers

    from tests.planted import Spec, _synthetic_vocab

    _synthetic_vocab(folder, Spec(synthetic_vocab=vocab_size, n_positions=8192), np.random.default_rng(seed))
    transformers.GPT2TokenizerFast.from_pretrained(str(folder)).save_pretrained(str(folder))


class TreePeak:
    """Peak proportional set size of a process and its descendants, sampled every `every` seconds."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every, self.peak_mb, self.current_mb = pid, every, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += children.get(pid, [])
        return tree

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in self._tree():
                try:
                    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
                except (OSError, ValueError):
                    pass
            self.current_mb = total / 1024
            self.peak_mb = max(self.peak_mb, self.current_mb)
            self._stop.wait(self.every)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def measure(args: list[str], env: dict | None = None) -> dict:
    """One bench.measure step in its own process, with its process tree's peak memory."""
    process = subprocess.Popen([sys.executable, "-m", "bench.measure", *args], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    peak = TreePeak(process.pid)
    out, err = process.communicate()
    tree_mb = peak.stop()
    if process.returncode != 0:
        raise SystemExit(f"bench.measure {' '.join(args)} failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]) | {"tree_peak_mb": tree_mb}


def bench_shape(name: str, shape: dict, data: Path, hub) -> dict:
    folder = data / name
    print(f"{name}: writing a {shape['vocab_size']:,} × {shape['hidden_size']:,} bf16 repo in {folder} …", flush=True)
    sizes = write_repo(folder, shape)
    repo_id = f"bench/{name}"
    hub.add_folder(repo_id, folder, exclude=("vocab.json", "merges.txt"))
    cache = data / f"cache-{name}"
    env = {**hub.env(), "WEIGHTS_REPORT_CACHE": str(cache)}
    hub.reset_counts()
    report = measure(["report", repo_id, str(data / f"out-{name}"), str(cache)], env)
    fetched = next(p.parent for p in (cache / "remote").glob("*/*/config.json"))  # <org>--<name>/<sha>/
    zero = measure(["zero_layer", str(fetched)])
    dense = measure(["dense_sample", str(fetched), str(SAMPLE_ROWS)])
    row = {"vocab": shape["vocab_size"], "d_model": shape["hidden_size"], "shards": shape["shards"],
           "tied": shape["tie_word_embeddings"], **sizes, "bytes_served": hub.bytes_served,
           "report_s": report["seconds"], "report_peak_gb": report["tree_peak_mb"] / 1024,
           "report_self_peak_gb": report["peak_rss_mb"] / 1024,
           "zero_layer_s": zero["seconds"], "precision": zero["precision"], "gemm_gflops": zero.get("gemm_gflops"),
           "dense_pass_s": dense["seconds"], "dense_sample_rows": dense["sample_rows"],
           "dense_sample_s": dense["sample_seconds"], "targets": TARGETS}
    row["report_ratio"] = row["report_s"] / row["dense_pass_s"]
    row["zero_layer_ratio"] = row["zero_layer_s"] / row["dense_pass_s"]
    return row


def verdict(row: dict) -> str:
    missed = []
    if row["report_peak_gb"] > TARGETS["peak_gb"]:
        missed.append(f"peak > {TARGETS['peak_gb']} GB")
    if row["report_ratio"] > TARGETS["report_ratio"]:
        missed.append(f"report > {TARGETS['report_ratio']}×")
    if row["precision"] == "bf16" and row["zero_layer_ratio"] > TARGETS["zero_layer_ratio_bf16"]:
        missed.append(f"zero-layer > {TARGETS['zero_layer_ratio_bf16']}×")
    return "misses: " + ", ".join(missed) if missed else "meets targets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--data", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "today.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    from bench.run import machine
    from tests.hub_server import HubServer

    results = {"machine": machine(), "shapes": {}}
    if args.data is not None:
        args.data.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-today-", dir=args.data) as scratch, HubServer() as hub:
        for name in args.shapes.split(","):
            started = time.perf_counter()
            row = results["shapes"][name] = bench_shape(name, SHAPES[name], Path(scratch), hub)
            print(f"{name:10s} {row['vocab']:,} × {row['d_model']:,} | fetched {row['bytes_served'] / 1e9:.2f} GB of "
                  f"{row['weight_bytes'] / 1e9:.1f} GB | report {row['report_s']:6.1f}s ({row['report_ratio']:.2f}×), "
                  f"peak {row['report_peak_gb']:.2f} GB | zero-layer + clumps {row['zero_layer_s']:6.1f}s "
                  f"({row['zero_layer_ratio']:.2f}×, {row['precision']}) | dense pass {row['dense_pass_s']:7.1f}s "
                  f"(scaled from {row['dense_sample_rows']:,} rows) | {verdict(row)} | bench step "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
