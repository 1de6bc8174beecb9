"""Reuse work across runs on the same weights.

Two levels, both keyed by the sha256 of the tensors read and by a hash of the code that produces them:
- analysis results (tokens, frequencies, every section's result), keyed by the analysis code;
- the finished output folder, keyed additionally by the rendering code and templates.
A second run on unchanged weights and code restores the report from the second level; after a change
to templates or plotting code it re-renders from the first. The cache lives in
$WEIGHTS_REPORT_CACHE (default ~/.cache/weights-report); WEIGHTS_REPORT_NO_CACHE=1 or --no-cache
turns it off. Entries are pickles this tool wrote itself into the user's own cache folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Every source file of the tool keys both levels: a hand-kept list of "analysis" modules had holes (the renderer's
# formatters write cached summary text, the pair pass lives outside the sections), so an edit could serve stale
# results. Rebuilding after any edit costs one run; a stale number costs a reader's trust.
SOURCE_CODE = ("analyses", "report", "templates")
ANALYSIS_CODE = (*SOURCE_CODE, "report/calibration.json")  # the checklist turns underpowered misses inconclusive
RENDER_CODE = (*SOURCE_CODE, "report/calibration.json")  # the checklist shows the calibration


@lru_cache(maxsize=None)
def code_hash(parts: tuple[str, ...]) -> str:
    """sha256 over the relative paths and bytes of every source file under `parts`."""
    digest = hashlib.sha256()
    for part in parts:
        path = ROOT / part
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()
                                                      and p.suffix in {".py", ".j2", ".css", ".js", ".html"})
        for file in files:
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf", ".onnx", ".npz"}


def folder_hash(folder: Path) -> str:
    """sha256 over the names and bytes of a model folder's own files other than weights: config.json and
    every tokenizer file (tokenizer.json, vocab.json, merges.txt, added tokens, chat templates, …). The
    weights are keyed by the tensors read; everything else a section may read is keyed here."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix not in WEIGHT_SUFFIXES):
        digest.update(path.name.encode("utf-8", errors="surrogateescape") + b"\0" + file_hash(path).encode() + b"\0")
    return digest.hexdigest()


class Cache:
    def __init__(self, folder: Path):
        self.folder = folder

    @classmethod
    def from_environment(cls, enabled: bool = True) -> "Cache | None":
        if not enabled or os.environ.get("WEIGHTS_REPORT_NO_CACHE", "") not in {"", "0"}:
            return None
        folder = Path(os.environ.get("WEIGHTS_REPORT_CACHE") or Path.home() / ".cache" / "weights-report")
        return cls(folder)

    def files_sha256(self, files: list[Path]) -> str:
        """sha256 over the names and bytes of `files` (a model's weight files), each file's digest remembered in
        the cache by path, size, modification time and inode: a rerun on unchanged files reads none of them."""
        memo_path = self.folder / "file-digests.json"
        try:
            memo = json.loads(memo_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            memo = {}
        digest, changed = hashlib.sha256(), False
        for path in files:
            stat = path.stat()
            stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
            known = memo.get(str(path.resolve()))
            if known is None or known[0] != stamp:
                known = [stamp, file_hash(path)]
                memo[str(path.resolve())] = known
                changed = True
            digest.update(f"{path.name}:{known[1]}\n".encode())
        if changed:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = memo_path.with_name(f".{memo_path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(memo, sort_keys=True), encoding="utf-8")
            temporary.replace(memo_path)
        return digest.hexdigest()

    @staticmethod
    def analysis_key(inputs: dict) -> str:
        payload = json.dumps({**inputs, "code": code_hash(ANALYSIS_CODE)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    @staticmethod
    def render_key(analysis_key: str) -> str:
        return hashlib.sha256((analysis_key + code_hash(RENDER_CODE)).encode()).hexdigest()[:32]

    def load(self, key: str, parts: tuple[type, ...]):
        """The entry stored under `key` if it is a tuple of instances of `parts`, else None. A missing entry is
        simply computed; a damaged one (garbage bytes, a pickle of something else) is discarded with one line
        on stderr, so the next run does not trip on it again."""
        path = self.folder / "analyses" / f"{key}.pickle"
        try:
            with open(path, "rb") as handle:
                value = pickle.load(handle)
        except FileNotFoundError:
            return None
        except Exception as exc:  # unpickling garbage can raise nearly anything (ValueError, KeyError, …)
            return self._discard(path, f"{type(exc).__name__}: {exc}")
        if not (isinstance(value, tuple) and len(value) == len(parts)
                and all(isinstance(v, t) for v, t in zip(value, parts))):
            return self._discard(path, f"it holds a {type(value).__name__}, not this tool's analyses")
        return value

    @staticmethod
    def _discard(path: Path, why: str) -> None:
        why = " ".join(why.split())[:200]
        print(f"warning: the cache entry {path} could not be used ({why}); it is discarded and the analyses "
              "are computed anew.", file=sys.stderr)
        try:
            path.unlink()
        except OSError:
            pass  # read-only cache: it is skipped again next time, with the same line
        return None

    def store(self, key: str, value) -> None:
        target = self.folder / "analyses" / f"{key}.pickle"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".tmp") as handle:
                pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(handle.name, target)
        except OSError:
            pass  # a cache that cannot be written only costs time

    def restore_outputs(self, key: str, staging: Path) -> bool:
        source = self.folder / "outputs" / key
        if not (source / "report.pdf").is_file():
            return False
        shutil.copytree(source, staging, dirs_exist_ok=True)
        return True

    def store_outputs(self, key: str, folder: Path) -> None:
        target = self.folder / "outputs" / key
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(dir=target.parent, prefix=".partial-"))
            shutil.copytree(folder, partial, dirs_exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            partial.rename(target)
        except OSError:
            pass
