"""The report's own cache of what was fetched from the Hub: one folder per repo and commit sha.

    $WEIGHTS_REPORT_CACHE/remote/<org>--<name>/
        refs/<revision>            the commit sha a branch or tag pointed at when last asked (for offline runs)
        <sha>/config.json, …       config and tokenizer files, fetched whole
        <sha>/model.safetensors    only the tensors read, with the dtype, shape and bytes the Hub's header gave
        <sha>/fetch.json           what building the entry fetched: bytes per file, header bytes, small files
        .hub/                      huggingface_hub's download cache for the small files

An entry is written into a hidden sibling folder, verified (every tensor's dtype, shape and size against
the header it came from), and renamed into place, so an interrupted fetch leaves no entry, only a hidden
folder that the next write clears. An entry that must grow (a section asks for more tensors) is rewritten
whole the same way. This cache is a download cache like Hugging Face's: WEIGHTS_REPORT_NO_CACHE, which
turns off the analysis cache, does not turn it off.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from report.errors import ReportError
from report.load.remote.ranges import Tensor

SHA = re.compile(r"^[0-9a-f]{40}$")
WEIGHTS = "model.safetensors"
MANIFEST = "fetch.json"
STALE_PARTIAL_S = 24 * 3600


def cache_root() -> Path:
    return Path(os.environ.get("WEIGHTS_REPORT_CACHE") or Path.home() / ".cache" / "weights-report") / "remote"


@dataclass(frozen=True)
class Entry:
    """A complete cache entry: its folder and its manifest (fetch.json)."""

    path: Path
    manifest: dict

    @property
    def keys(self) -> set[str]:
        return {key for info in self.manifest["files"].values() for key in info["tensors"]}


class Store:
    def __init__(self, repo_id: str):
        self.repo_id = repo_id
        self.folder = cache_root() / repo_id.replace("/", "--")

    @property
    def hub_cache(self) -> Path:
        return self.folder / ".hub"

    def ref(self, revision: str | None) -> str | None:
        """The sha `revision` named when last resolved online (a sha names itself)."""
        revision = revision or "main"
        if SHA.match(revision):
            return revision
        try:
            sha = (self.folder / "refs" / quote(revision, safe="")).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return sha if SHA.match(sha) else None

    def set_ref(self, revision: str | None, sha: str) -> None:
        revision = revision or "main"
        if SHA.match(revision):
            return
        try:
            _write_atomically(self.folder / "refs" / quote(revision, safe=""), sha.encode())
        except OSError:
            pass  # only offline runs need it

    def entry(self, sha: str) -> Entry | None:
        path = self.folder / sha
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if manifest.get("revision") != sha or not (path / "config.json").is_file() or not _whole(path / WEIGHTS):
            return None  # damaged after it was written: fetched again
        return Entry(path, manifest)

    def write(self, sha: str, small_files: dict[str, Path], tensors: list, fill, manifest: dict) -> Entry:
        """Write a complete entry for `sha` (replacing an older, smaller one) and return it. `tensors` have
        key, dtype, shape and nbytes; `fill(fd, offsets)` writes each one's bytes at `offsets[key]`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._clear_stale_partials()
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=self.folder))
        try:
            for name, source in small_files.items():
                if source.resolve() != (staging / name).resolve():
                    shutil.copyfile(source, staging / name)
            offsets = start_safetensors(staging / WEIGHTS, tensors)
            with open(staging / WEIGHTS, "r+b") as handle:
                fill(handle.fileno(), offsets)
                handle.flush()
                os.fsync(handle.fileno())
            verify_safetensors(staging / WEIGHTS, tensors)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
            target = self.folder / sha
            current = self.entry(sha)
            if current is not None and current.keys >= {t.key for t in tensors}:
                shutil.rmtree(staging, ignore_errors=True)  # another run wrote as much meanwhile: keep its entry
                return current
            old = None
            if target.exists():
                old = self.folder / f".old-{sha}-{os.getpid()}"
                target.rename(old)
            staging.rename(target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return Entry(target, manifest)

    def _clear_stale_partials(self) -> None:
        """Hidden folders left by interrupted writes of this tool (another run may be writing a fresh one)."""
        for leftover in list(self.folder.glob(".partial-*")) + list(self.folder.glob(".old-*")):
            try:
                if time.time() - leftover.stat().st_mtime > STALE_PARTIAL_S:
                    shutil.rmtree(leftover, ignore_errors=True)
            except OSError:
                pass


def _whole(path: Path) -> bool:
    """The file is as long as its own safetensors header says (a cheap check before every use)."""
    try:
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(length))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        return path.stat().st_size == 8 + length + end
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return False


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, prefix=".tmp-") as handle:
        handle.write(data)
    os.replace(handle.name, path)


def start_safetensors(path: Path, tensors: list) -> dict[str, int]:
    """Write the safetensors header (u64 length, JSON; numpy cannot hold BF16, so it is written directly)
    and size the file for the data; returns where each tensor's bytes go."""
    header, offset = {}, 0
    for tensor in sorted(tensors, key=lambda t: t.key):
        header[tensor.key] = {"dtype": tensor.dtype, "shape": list(tensor.shape),
                              "data_offsets": [offset, offset + tensor.nbytes]}
        offset += tensor.nbytes
    header["__metadata__"] = {"format": "pt"}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as handle:
        handle.write(len(blob).to_bytes(8, "little"))
        handle.write(blob)
        handle.truncate(8 + len(blob) + offset)
    return {key: 8 + len(blob) + info["data_offsets"][0] for key, info in header.items() if key != "__metadata__"}


def verify_safetensors(path: Path, tensors: list) -> None:
    """Reopen the written file with safetensors itself: every tensor there, with the header's dtype and shape."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            stored = set(handle.keys())
            for tensor in tensors:
                piece = handle.get_slice(tensor.key)
                if piece.get_dtype() != tensor.dtype or tuple(piece.get_shape()) != tensor.shape:
                    raise ReportError(f"The cached copy of {tensor.key} does not match the Hub's header "
                                      f"({piece.get_dtype()} {piece.get_shape()} vs "
                                      f"{tensor.dtype} {list(tensor.shape)}).")
    except ReportError:
        raise
    except Exception as exc:
        raise ReportError(f"The fetched tensors could not be written as a valid safetensors file ({exc}).") from exc
    if stored != {t.key for t in tensors}:
        raise ReportError("The fetched tensors could not be written whole; nothing was cached.")


def stored_tensors(path: Path) -> list:
    """Every tensor of an entry's safetensors file, located in it (to copy into a grown entry)."""
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(length))
    return [Tensor(str(path), key, info["dtype"], tuple(info["shape"]), 8 + length + info["data_offsets"][0],
                   8 + length + info["data_offsets"][1])
            for key, info in sorted(header.items()) if key != "__metadata__"]
