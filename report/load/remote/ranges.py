"""Ranged reads of Hub files over huggingface_hub's own HTTP session (token, endpoint, offline mode).

`read_header` gets a safetensors header in two small requests (its 8-byte length, then the JSON) and
checks every tensor's offsets against the file size; `read_ranges` fetches byte ranges into buffers in
parallel, resuming a range where a connection dropped or a server sent fewer bytes than asked. Any
failure that a retry does not cure becomes a `FetchError` naming the file and what went wrong.
(huggingface_hub's `parse_safetensors_file_metadata` reads a fixed 100 kB and drops the header's length,
which the absolute offsets need, so headers are read here, through the same session.)
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from report.errors import ReportError

DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header
PIECE = 16 << 20  # a long tensor is fetched as several ranges, so threads share it and retries stay small
RETRIES = 4
RETRY_STATUS = {408, 429, 500, 502, 503, 504}
WORKERS = 8


class FetchError(ReportError):
    """A ranged read that failed for good (after retries where a retry made sense)."""


class _Transient(Exception):
    """A failure worth retrying: a dropped connection, a short answer, a server that ignored Range."""


@dataclass(frozen=True)
class Tensor:
    """One tensor of a remote safetensors file: where its bytes are in the file (absolute offsets)."""

    file: str
    key: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int  # exclusive

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Header:
    file: str
    size: int  # of the whole file
    length: int  # 8 + the JSON header: where the data starts
    tensors: dict[str, Tensor]


class RemoteFile:
    """One file of one commit on the Hub, read by byte ranges through huggingface_hub's session."""

    def __init__(self, repo_id: str, filename: str, sha: str, size: int, endpoint: str, token=None):
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers

        self.name, self.size = filename, size
        self.url = hf_hub_url(repo_id, filename, revision=sha, endpoint=endpoint)
        self.headers = {**build_hf_headers(token=token), "Accept-Encoding": "identity"}

    def read(self, start: int, end: int, sink, on_bytes=None) -> None:
        """Pass bytes [start, end) of the file to `sink(position, chunk)` in order, retrying transient
        failures from where they stopped."""
        import httpx2
        from huggingface_hub import constants
        from huggingface_hub.errors import HfHubHTTPError
        from huggingface_hub.utils import get_session, hf_raise_for_status

        pos, failures = start, 0
        while pos < end:
            before = pos
            try:
                with get_session().stream("GET", self.url, headers={**self.headers, "Range": f"bytes={pos}-{end - 1}"},
                                          timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT) as response:
                    if response.status_code == 200:
                        raise _Transient("the server ignored the byte range and began sending the whole file")
                    if response.status_code in RETRY_STATUS:
                        raise _Transient(f"the server answered {response.status_code}")
                    if response.status_code >= 400:
                        response.read()  # the error's message is in the body
                    hf_raise_for_status(response)
                    _check_content_range(response.headers.get("Content-Range"), pos, end, self.size)
                    for chunk in response.iter_bytes(1 << 20):
                        if pos + len(chunk) > end:
                            raise _Transient("the server sent more bytes than the range asked for")
                        sink(pos, chunk)
                        pos += len(chunk)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
                if pos < end and pos == before:
                    raise _Transient("the server answered with no bytes")
            except (httpx2.TransportError, _Transient) as exc:
                failures = 0 if pos > before else failures + 1  # progress resets the count
                if failures > RETRIES:
                    raise FetchError(f"Fetching bytes {pos}–{end} of {self.name} failed {failures} times in a row "
                                     f"({_describe(exc)}). Nothing was added to the cache; run again to restart "
                                     "the fetch, or check the connection to the Hub.") from exc
                time.sleep(min(2.0, 0.1 * 2 ** failures))
            except HfHubHTTPError as exc:
                raise FetchError(f"The Hub refused a ranged read of {self.name}: {str(exc).splitlines()[0]}") from exc

    def fetch(self, start: int, end: int) -> bytes:
        buffer = bytearray(end - start)

        def keep(pos: int, chunk: bytes) -> None:
            buffer[pos - start:pos - start + len(chunk)] = chunk

        self.read(start, end, keep)
        return bytes(buffer)


def _check_content_range(value: str | None, start: int, end: int, size: int) -> None:
    """A 206 must cover a prefix of what was asked, of a file of the size the Hub listed."""
    try:
        unit, _, rest = (value or "").partition(" ")
        span, _, total = rest.partition("/")
        first, _, last = span.partition("-")
        first, last = int(first), int(last)
    except ValueError:
        raise _Transient(f"the answer had no usable Content-Range ({value!r})") from None
    if unit != "bytes" or first != start or last >= end or (total not in {"*", str(size)}):
        raise _Transient(f"the answer covered {value!r}, not bytes {start}-{end - 1}/{size}")


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def read_header(remote: RemoteFile) -> Header:
    """The safetensors header of `remote`, every tensor's offsets checked against the file's size."""
    if remote.size < 8:
        raise FetchError(f"{remote.name} is {remote.size} bytes long, too short to be a safetensors file.")
    length = int.from_bytes(remote.fetch(0, 8), "little")
    if length > min(MAX_HEADER, remote.size - 8):
        raise FetchError(f"{remote.name} says its header is {length} bytes long, but the file is {remote.size} "
                         "bytes; it is not a valid safetensors file.")
    try:
        raw = json.loads(remote.fetch(8, 8 + length))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FetchError(f"The safetensors header of {remote.name} is not valid JSON ({exc}).") from exc
    data_start, tensors = 8 + length, {}
    for key, info in raw.items():
        if key == "__metadata__":
            continue
        tensors[key] = _tensor(remote, key, info, data_start)
    return Header(remote.name, remote.size, data_start, tensors)


def _tensor(remote: RemoteFile, key: str, info, data_start: int) -> Tensor:
    try:
        dtype, shape, (begin, stop) = info["dtype"], tuple(int(n) for n in info["shape"]), info["data_offsets"]
        begin, stop = int(begin), int(stop)
    except (KeyError, TypeError, ValueError) as exc:
        raise FetchError(f"The safetensors header of {remote.name} has an unreadable entry for {key!r}.") from exc
    if dtype not in DTYPE_SIZES:
        raise FetchError(f"{remote.name}: tensor {key} has dtype {dtype!r}, which safetensors does not define.")
    expected = math.prod(shape) * DTYPE_SIZES[dtype]
    if not 0 <= begin <= stop or stop - begin != expected:
        raise FetchError(f"{remote.name}: the header gives tensor {key} ({dtype} {list(shape)}, {expected} bytes) "
                         f"the byte span {begin}–{stop}; the file is not a valid safetensors file.")
    if data_start + stop > remote.size:
        raise FetchError(f"{remote.name}: the header puts tensor {key} at bytes {data_start + begin}–"
                         f"{data_start + stop}, past the end of the {remote.size}-byte file; the file on the Hub "
                         "is truncated or its header is wrong.")
    return Tensor(remote.name, key, dtype, shape, data_start + begin, data_start + stop)


def read_headers(remotes: list[RemoteFile]) -> dict[str, Header]:
    with ThreadPoolExecutor(min(WORKERS, max(1, len(remotes)))) as pool:
        return {h.file: h for h in pool.map(read_header, remotes)}


def read_tensors(remotes: dict[str, RemoteFile], tensors: list[Tensor], fd: int, offsets: dict[str, int],
                 on_bytes=None) -> None:
    """Write each tensor's stored bytes into the open file `fd` at `offsets[key]`, straight from the network
    (memory stays at a few pieces, whatever the model's size). Adjacent tensors of a file are fetched as one
    range and long ranges as several, all in parallel across files."""
    spans = _spans(tensors)
    jobs = [(span, offset, min(offset + PIECE, span[2])) for span in spans for offset in range(span[1], span[2], PIECE)]

    def run(job) -> None:
        (file, _, _, members), start, end = job

        def sink(pos: int, chunk: bytes) -> None:
            view, stop = memoryview(chunk), pos + len(chunk)
            for tensor in members:
                lo, hi = max(pos, tensor.start), min(stop, tensor.end)
                if lo < hi:
                    os.pwrite(fd, view[lo - pos:hi - pos], offsets[tensor.key] + lo - tensor.start)

        remotes[file].read(start, end, sink, on_bytes)

    failed = threading.Event()

    def guarded(job) -> None:
        if failed.is_set():  # one range failed for good: the fetch is over, do not start the others
            return
        try:
            run(job)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(WORKERS) as pool:
        for _ in pool.map(guarded, jobs):  # re-raises the first failure
            pass


def copy_local(tensors: list[Tensor], fd: int, offsets: dict[str, int]) -> None:
    """Copy tensors of a local safetensors file (`tensor.file` is its path) into `fd` at `offsets[key]`."""
    for tensor in tensors:
        with open(tensor.file, "rb") as source:
            for pos in range(tensor.start, tensor.end, PIECE):
                data = os.pread(source.fileno(), min(PIECE, tensor.end - pos), pos)
                os.pwrite(fd, data, offsets[tensor.key] + pos - tensor.start)


def _spans(tensors: list[Tensor]) -> list[tuple[str, int, int, list[Tensor]]]:
    """Merge tensors that touch in the same file: (file, start, end, tensors)."""
    spans: list[tuple[str, int, int, list[Tensor]]] = []
    for tensor in sorted(tensors, key=lambda t: (t.file, t.start)):
        last = spans[-1] if spans else None
        if last is not None and last[0] == tensor.file and tensor.start <= last[2]:
            spans[-1] = (last[0], last[1], max(last[2], tensor.end), last[3] + [tensor])
        else:
            spans.append((tensor.file, tensor.start, tensor.end, [tensor]))
    return spans
