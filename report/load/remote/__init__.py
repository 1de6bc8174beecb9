"""Read a Hub model by fetching only the bytes the report reads.

For a Hub id and revision: ask the Hub (through huggingface_hub, so tokens, endpoint and offline mode
are its own) for the commit sha and the file sizes; fetch config and tokenizer files whole; read the
safetensors headers with two small range requests per shard; fetch only the tensors wanted (below), in
parallel across shards; keep them in the report's cache as one local safetensors file per repo + commit sha
(see store.py). A second run, or HF_HUB_OFFLINE=1, reads from there.

Which tensors: what the loader reads (`architectures.keys_to_read`: embeddings, positions, LayerNorms, an
untied head), and whatever a caller's `extra_keys(config, available_keys) -> names` adds (MLP weights, say);
an entry cached before that fetches only the missing tensors and is rewritten with all of them. A name is a
checkpoint key, or `key[a:b]` for rows a..b-1 of it (one contiguous byte range), stored in the local file
under that name.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable, Iterable

from report.errors import ReportError
from report.load.architectures import keys_to_read
from report.load.remote.ranges import FetchError, Header, RemoteFile, Tensor, copy_local, read_headers, read_tensors
from report.load.remote.store import SHA, Entry, Store, stored_tensors

SMALL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "merges.txt",
               "special_tokens_map.json")
INDEX = "model.safetensors.index.json"

KeySource = Callable[[dict, set], Iterable[str]]



@dataclass(frozen=True)
class Fetched:
    """A model folder in the report's cache, its commit sha, and what building it fetched."""

    path: Path
    sha: str
    summary: dict


def summary(entry: Entry) -> dict:
    """What the report says about the fetch: bytes fetched, and from which files."""
    m = entry.manifest
    return {"method": "ranged reads from the Hub", "bytes_fetched": m["bytes_fetched"],
            "bytes_in_weight_files": m["bytes_in_weight_files"],
            "files": {name: info["bytes_fetched"] for name, info in sorted(m["files"].items())},
            "small_files": sorted(m["small_files"]), "tensors": len(entry.keys)}


def cached(repo_id: str, revision: str | None) -> Fetched | None:
    """The cached entry for `revision` without any network (for HF_HUB_OFFLINE or an unreachable Hub)."""
    store = Store(repo_id)
    sha = store.ref(revision)
    entry = store.entry(sha) if sha else None
    return None if entry is None else Fetched(entry.path, sha, summary(entry))


def fetch(repo_id: str, revision: str | None, extra_keys: KeySource | None = None) -> Fetched | None:
    """Fetch what the report reads of `repo_id` at `revision`, and the names `extra_keys` adds; None when the
    repo has no safetensors weights."""
    from huggingface_hub import HfApi, constants

    endpoint = constants.ENDPOINT
    info = HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, files_metadata=True)
    sha = info.sha
    if not isinstance(sha, str) or not SHA.match(sha):
        raise ReportError(f"The Hub did not name the commit of {repo_id} at {revision or 'main'} (got {sha!r}).")
    store = Store(repo_id)
    store.set_ref(revision, sha)
    names = {s.rfilename for s in info.siblings or []}
    sizes = {s.rfilename: s.size for s in info.siblings or [] if s.size is not None}
    weight_files = sorted(n for n in names if n.endswith(".safetensors") and "/" not in n)
    if not weight_files:
        if not any(fnmatch(n, "pytorch_model*.bin") or n.endswith(".pt") for n in names):
            raise ReportError(f"Model {repo_id} at {revision or 'main'} ({sha[:12]}) has no weights at all: none of "
                              f"its {len(names)} files is *.safetensors or pytorch_model*.bin.")
        return None
    for name in weight_files + [n for n in SMALL_FILES + (INDEX,) if n in names and n not in sizes]:
        if name not in sizes:  # a mirror's file list may omit sizes: the file's own answer gives it
            sizes[name] = _size_of(repo_id, name, sha, endpoint)
    entry = store.entry(sha)
    small = _small_files(repo_id, sha, sizes, entry, store)
    if "config.json" not in small:
        raise ReportError(f"Model {repo_id} at {sha} has no config.json, so it is not a model repo in Hub layout.")
    config = _json(small["config.json"])
    remotes = {name: RemoteFile(repo_id, name, sha, sizes[name], endpoint) for name in weight_files}
    headers: dict[str, Header] = {}
    if entry is not None and entry.manifest.get("key_files"):  # what an earlier fetch learnt from the headers
        key_file = dict(entry.manifest["key_files"])
    elif INDEX in small:
        weight_map = _json(small[INDEX]).get("weight_map")
        if not isinstance(weight_map, dict):
            raise ReportError(f"{INDEX} of {repo_id} at {sha} has no weight_map.")
        key_file = {k: f for k, f in weight_map.items() if isinstance(f, str)}
    else:
        headers = read_headers(list(remotes.values()))
        key_file = {}
        for name in weight_files:
            for key in headers[name].tensors:
                key_file.setdefault(key, name)
    wanted = _wanted(repo_id, config, set(key_file), extra_keys)
    have = entry.keys if entry is not None else set()
    missing = sorted(wanted - have)
    if entry is not None and not missing:
        return Fetched(entry.path, sha, summary(entry))
    for name in missing:
        key = base_key(name)
        if key not in key_file:
            raise ReportError(f"{repo_id} has no tensor {key!r} (asked for as {name!r}).")
        if key_file[key] not in remotes:
            raise FetchError(f"{INDEX} of {repo_id} puts {key} in {key_file[key]}, which the repo does not have.")
    needed = sorted({key_file[base_key(n)] for n in missing} - set(headers))
    headers.update(read_headers([remotes[n] for n in needed]))
    tensors = []
    for name in missing:
        header = headers[key_file[base_key(name)]]
        if base_key(name) not in header.tensors:
            raise FetchError(f"{INDEX} of {repo_id} puts {base_key(name)} in {header.file}, but that file's "
                             "header lacks it.")
        tensors.append(_part(header.tensors[base_key(name)], name))
    kept = stored_tensors(entry.path / "model.safetensors") if entry is not None else []
    repo_bytes = sum(sizes[n] for n in weight_files)

    def fill(fd: int, offsets: dict[str, int]) -> None:
        copy_local(kept, fd, offsets)
        _fetch_with_progress(repo_id, sha, remotes, tensors, repo_bytes, fd, offsets)

    manifest = _manifest(entry, repo_id, sha, sizes, weight_files, small, headers, tensors)
    manifest["key_files"] = dict(sorted(key_file.items()))
    entry = store.write(sha, {n: p for n, p in small.items() if n != INDEX}, kept + tensors, fill, manifest)
    return Fetched(entry.path, sha, summary(entry))


ROWS = re.compile(r"^(?P<key>.+)\[(?P<start>\d+):(?P<stop>\d+)\]$")


def base_key(name: str) -> str:
    """`h.0.mlp.c_fc.weight[0:128]` -> `h.0.mlp.c_fc.weight`; a whole key is its own base."""
    match = ROWS.match(name)
    return match["key"] if match else name


def _part(tensor: Tensor, name: str) -> Tensor:
    """The whole tensor, or for `key[a:b]` rows a..b-1 along the first axis (one contiguous byte range),
    stored under that name with shape (b - a, ...)."""
    match = ROWS.match(name)
    if match is None:
        return tensor
    start, stop = int(match["start"]), int(match["stop"])
    if not tensor.shape or not 0 <= start < stop <= tensor.shape[0]:
        raise ReportError(f"Rows {start}:{stop} of {tensor.key} were asked for, but it has shape {list(tensor.shape)}.")
    row = tensor.nbytes // tensor.shape[0]
    return Tensor(tensor.file, name, tensor.dtype, (stop - start,) + tensor.shape[1:],
                  tensor.start + start * row, tensor.start + stop * row)


def _wanted(repo_id: str, config: dict, available: set, extra_keys: KeySource | None) -> set[str]:
    sources = (keys_to_read,) if extra_keys is None else (keys_to_read, extra_keys)
    try:
        return {key for source in sources for key in source(config, available)}
    except KeyError as exc:  # an architecture this tool does not read: the loader says which are supported
        raise ReportError(f"{repo_id}: {exc.args[0]}.") from exc
    except (TypeError, ValueError) as exc:
        raise ReportError(f"{repo_id}: config.json lacks a size this architecture needs ({exc}).") from exc


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path.name} fetched from the Hub is not valid JSON ({exc}).") from exc
    if not isinstance(value, dict):
        raise ReportError(f"{path.name} fetched from the Hub is not a JSON object.")
    return value


def _size_of(repo_id: str, name: str, sha: str, endpoint: str) -> int:
    """The size of one file from a HEAD request (X-Linked-Size or Content-Length), for lists without sizes."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    size = get_hf_file_metadata(hf_hub_url(repo_id, name, revision=sha, endpoint=endpoint)).size
    if size is None:
        raise FetchError(f"Neither the file list of {repo_id} nor its answer for {name} gives that file's size, "
                         "which ranged reads need.")
    return int(size)


def _small_files(repo_id: str, sha: str, sizes: dict, entry: Entry | None, store: Store) -> dict[str, Path]:
    """Config, tokenizer files and the shard index, whole: from the cached entry, else through hf_hub_download."""
    from huggingface_hub import constants, hf_hub_download

    out = {}
    for name in SMALL_FILES + (INDEX,):
        if name not in sizes or (name == INDEX and entry is not None and entry.manifest.get("key_files")):
            continue  # an entry knows which file holds which key
        if entry is not None and (entry.path / name).is_file():
            out[name] = entry.path / name
        else:
            out[name] = Path(hf_hub_download(repo_id, name, revision=sha, cache_dir=store.hub_cache,
                                             endpoint=constants.ENDPOINT))
    return out


def _fetch_with_progress(repo_id, sha, remotes, tensors, repo_bytes: int, fd: int, offsets: dict) -> None:
    from huggingface_hub.utils import are_progress_bars_disabled
    from tqdm import tqdm

    needed = sum(t.nbytes for t in tensors)
    files = len({t.file for t in tensors})
    bar = tqdm(total=needed, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
               disable=are_progress_bars_disabled(), leave=True,
               desc=f"{repo_id}@{sha[:8]}: {len(tensors)} tensors from {files} file(s), "
                    f"{needed / 2**20:.1f} MiB of {repo_bytes / 2**20:.1f} MiB")
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            bar.update(n)

    try:
        read_tensors(remotes, tensors, fd, offsets, advance)
    finally:
        bar.close()


def _manifest(entry, repo_id, sha, sizes, weight_files, small, headers, tensors) -> dict:
    """fetch.json: cumulative over every fetch that built this entry."""
    old = entry.manifest if entry is not None else {"files": {}, "small_files": {}, "bytes_fetched": 0}
    files = {name: dict(info, tensors=list(info["tensors"])) for name, info in old["files"].items()}
    fetched = old["bytes_fetched"]
    for name, header in headers.items():
        info = files.setdefault(name, {"size": sizes[name], "header_bytes": 0, "tensor_bytes": 0,
                                       "bytes_fetched": 0, "tensors": []})
        info["header_bytes"] += header.length
        info["bytes_fetched"] += header.length
        fetched += header.length
    for tensor in tensors:
        info = files[tensor.file]
        info["tensor_bytes"] += tensor.nbytes
        info["bytes_fetched"] += tensor.nbytes
        info["tensors"] = sorted(set(info["tensors"]) | {tensor.key})
        fetched += tensor.nbytes
    small_files = dict(old["small_files"])
    for name in small:
        if name not in small_files:
            small_files[name] = sizes[name]
            fetched += sizes[name] if entry is None or not (entry.path / name).is_file() else 0
    return {"repo_id": repo_id, "revision": sha, "files": files, "small_files": small_files,
            "bytes_fetched": fetched, "bytes_in_weight_files": sum(sizes[n] for n in weight_files)}
