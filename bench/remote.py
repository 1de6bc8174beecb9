"""`make bench-remote` (also run by `make bench`): bytes fetched and time of a ranged Hub read, against a
full download of the same repo from the same local server.

Two synthetic repos of real shapes are served by tests/hub_server.py on 127.0.0.1:
- gpt2-xl: one `model.safetensors`, F32, GPT-2 keys (wte 50,257 × 1,600, wpe 1,024 × 1,600, 48 blocks with
  attention, MLP and both LayerNorms, ln_f): 6.4 GB;
- llama-7b: two shards and an index, BF16, Llama-2-7B keys and shapes (32 layers, d = 4,096, MLP 11,008,
  untied lm_head): 13.5 GB.
Each file is written as a real safetensors header followed by a sparse hole up to its full size
(`truncate`), so it takes almost no disk and the tensors read back as zeros; the report's
tensors are fetched for real through report.load.remote (headers by range, tensors by range, written and
verified into a fresh cache). The full download streams every weight file whole through the same
huggingface_hub session and throws the bytes away (no disk writes, so it is a lower bound on a real
download's time). Prints a table and writes bench/results/remote.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import write_results

ROOT = Path(__file__).resolve().parent.parent
ITEM = {"F32": 4, "BF16": 2}


def gpt2_xl() -> tuple[dict, dict[str, dict[str, tuple]]]:
    d, layers, vocab = 1600, 48, 50257
    keys = {"wte.weight": (vocab, d), "wpe.weight": (1024, d), "ln_f.weight": (d,), "ln_f.bias": (d,)}
    for i in range(layers):
        for name, shape in [("ln_1.weight", (d,)), ("ln_1.bias", (d,)), ("attn.c_attn.weight", (d, 3 * d)),
                            ("attn.c_attn.bias", (3 * d,)), ("attn.c_proj.weight", (d, d)), ("attn.c_proj.bias", (d,)),
                            ("ln_2.weight", (d,)), ("ln_2.bias", (d,)), ("mlp.c_fc.weight", (d, 4 * d)),
                            ("mlp.c_fc.bias", (4 * d,)), ("mlp.c_proj.weight", (4 * d, d)), ("mlp.c_proj.bias", (d,))]:
            keys[f"h.{i}.{name}"] = shape
    config = {"model_type": "gpt2", "vocab_size": vocab, "n_embd": d, "n_layer": layers, "n_head": 25,
              "n_positions": 1024, "n_ctx": 1024}
    return config, {"model.safetensors": {k: ("F32", s) for k, s in keys.items()}}


def llama_7b() -> tuple[dict, dict[str, dict[str, tuple]]]:
    d, layers, vocab, mlp = 4096, 32, 32000, 11008
    shards: dict[str, dict[str, tuple]] = {"model-00001-of-00002.safetensors": {},
                                           "model-00002-of-00002.safetensors": {}}
    first, second = shards.values()
    first["model.embed_tokens.weight"] = ("BF16", (vocab, d))
    for i in range(layers):
        shard = first if i < 23 else second  # Llama-2-7b-hf's split: about 9.9 GB and 3.5 GB
        for name, shape in [("input_layernorm.weight", (d,)), ("post_attention_layernorm.weight", (d,)),
                            ("self_attn.q_proj.weight", (d, d)), ("self_attn.k_proj.weight", (d, d)),
                            ("self_attn.v_proj.weight", (d, d)), ("self_attn.o_proj.weight", (d, d)),
                            ("mlp.gate_proj.weight", (mlp, d)), ("mlp.up_proj.weight", (mlp, d)),
                            ("mlp.down_proj.weight", (d, mlp))]:
            shard[f"model.layers.{i}.{name}"] = ("BF16", shape)
    second["model.norm.weight"] = ("BF16", (d,))
    second["lm_head.weight"] = ("BF16", (vocab, d))
    config = {"model_type": "llama", "vocab_size": vocab, "hidden_size": d, "num_hidden_layers": layers,
              "intermediate_size": mlp, "num_attention_heads": 32, "max_position_embeddings": 4096,
              "rms_norm_eps": 1e-5, "tie_word_embeddings": False}
    return config, shards


REPOS = {"gpt2-xl": gpt2_xl, "llama-7b": llama_7b}


def write_sparse_repo(folder: Path, config: dict, files: dict[str, dict[str, tuple]]) -> int:
    """config.json, an index when sharded, and each shard as header + sparse hole; returns the weight bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    total = 0
    for name, tensors in files.items():
        header, offset = {}, 0
        for key, (dtype, shape) in sorted(tensors.items()):
            size = ITEM[dtype] * math.prod(shape)
            header[key] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
            offset += size
        header["__metadata__"] = {"format": "pt"}
        blob = json.dumps(header).encode()
        blob += b" " * (-len(blob) % 8)
        with open(folder / name, "wb") as handle:
            handle.write(len(blob).to_bytes(8, "little") + blob)
            handle.truncate(8 + len(blob) + offset)
        total += 8 + len(blob) + offset
    if len(files) > 1:
        weight_map = {key: name for name, tensors in files.items() for key in tensors}
        (folder / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}))
    return total


def full_download(repo_id: str, files: list[str], sha: str) -> int:
    """Every weight file whole, through huggingface_hub's session, bytes discarded."""
    from huggingface_hub import constants, hf_hub_url
    from huggingface_hub.utils import get_session

    received = 0
    for name in files:
        url = hf_hub_url(repo_id, name, revision=sha, endpoint=constants.ENDPOINT)
        with get_session().stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes(8 << 20):
                received += len(chunk)
    return received


def bench_repo(name: str, data: Path, hub, repeats: int) -> dict:
    from report.load import remote

    config, files = REPOS[name]()
    weight_bytes = write_sparse_repo(data / name, config, files)
    repo_id = f"bench/{name}"
    sha = hub.add_folder(repo_id, data / name)
    ranged, served, needed = [], [], 0
    for i in range(repeats):
        os.environ["WEIGHTS_REPORT_CACHE"] = str(data / f"cache-{name}-{i}")
        hub.reset_counts()
        start = time.perf_counter()
        fetched = remote.fetch(repo_id, None)
        ranged.append(time.perf_counter() - start)
        served.append(hub.bytes_served)
        manifest = json.loads((fetched.path / "fetch.json").read_text())
        needed = sum(info["tensor_bytes"] for info in manifest["files"].values())
    hub.reset_counts()
    os.environ["WEIGHTS_REPORT_CACHE"] = str(data / f"cache-{name}-0")
    start = time.perf_counter()
    remote.fetch(repo_id, None)
    cached_s, cached_bytes = time.perf_counter() - start, hub.bytes_served
    full = []
    for _ in range(repeats):
        start = time.perf_counter()
        received = full_download(repo_id, sorted(files), sha)
        full.append(time.perf_counter() - start)
    assert received == weight_bytes
    return {"weight_bytes": weight_bytes, "tensor_bytes_read": needed, "bytes_served": statistics.median(served),
            "fetched_ratio": statistics.median(served) / weight_bytes, "ranged_s": statistics.median(ranged),
            "full_download_s": statistics.median(full),
            "time_ratio": statistics.median(ranged) / statistics.median(full),
            "second_run_s": cached_s, "second_run_bytes": cached_bytes, "shards": len(files),
            "peak_rss_mb_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", default="gpt2-xl,llama-7b")
    parser.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", "1")))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "remote.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    from tests.hub_server import HubServer

    results = {"cores": os.cpu_count(), "repeats": args.repeats, "repos": {}}
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as scratch, HubServer() as hub:
        from huggingface_hub import constants

        constants.ENDPOINT, constants.HF_HUB_OFFLINE = hub.url, False
        constants.HUGGINGFACE_CO_URL_TEMPLATE = hub.url + "/{repo_id}/resolve/{revision}/{filename}"
        os.environ["HF_HUB_OFFLINE"] = "0"
        for name in args.repos.split(","):
            row = results["repos"][name] = bench_repo(name, Path(scratch), hub, args.repeats)
            print(f"{name:9s} {row['weight_bytes'] / 1e9:5.1f} GB in {row['shards']} file(s) | fetched "
                  f"{row['bytes_served'] / 1e6:7.1f} MB ({row['fetched_ratio']:.1%}; tensors read "
                  f"{row['tensor_bytes_read'] / 1e6:.1f} MB) in {row['ranged_s']:5.1f}s | full download "
                  f"{row['full_download_s']:5.1f}s ({row['time_ratio']:.2f}×) | second run {row['second_run_s']:.2f}s, "
                  f"{row['second_run_bytes']} B | peak RSS so far {row['peak_rss_mb_so_far']:.0f} MB", flush=True)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
