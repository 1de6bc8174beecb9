"""A local stand-in for the Hugging Face Hub, on 127.0.0.1, for tests and benchmarks.

It serves the endpoints huggingface_hub calls for model repos, from files on disk:

- `GET /api/models/{repo}[/revision/{rev}]` (model_info / repo_info; with sizes and LFS info),
- `GET /api/models/{repo}/refs` (list_repo_refs), `GET /api/models/{repo}/tree/{rev}` (list_repo_tree,
  which snapshot_download calls),
- `HEAD|GET /{repo}/resolve/{rev}/{path}` with `Range: bytes=a-b` (206 + Content-Range), ETag,
  X-Repo-Commit, and X-Linked-Size / X-Linked-Etag for LFS files (`*.safetensors`, `*.bin`),
- 404s carrying the `X-Error-Code` huggingface_hub maps to RepositoryNotFound / RevisionNotFound /
  EntryNotFound, and 401 + `X-Error-Code: GatedRepo` for gated repos asked without the right token.

Usage::

    with HubServer() as hub:
        sha = hub.add_folder("org/model", folder)                 # branch "main"
        hub.add_folder("org/model", other_folder, branch="step1000")
        env = {"HF_ENDPOINT": hub.url}                           # or patch huggingface_hub.constants.ENDPOINT
        ...
        hub.bytes_served, hub.bytes_served_for("model.safetensors"), hub.reset_counts()
        hub.inject(Fault("drop", path="model.safetensors", times=1))   # faults on ranged/whole GETs

Faults (each fires `times` times on matching GETs of file bodies, then is used up):
  "drop"  — send half the asked body, then close the connection (Content-Length promises all of it);
  "full"  — ignore Range and answer 200 with the whole file;
  "short" — answer 206 with only the first half of the asked range (Content-Range says so);
  "hangup" — close the connection without any answer (as if the server became unreachable);
  "unavailable" — answer 503.
`go_down_after(n)` makes every request after the next n file-body GETs get "hangup" (a server that
disappears half-way through a sharded fetch). Commit shas are deterministic (sha1 of repo, branch
and the file bytes' identity), 40 hex characters like the Hub's.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.h5")
CHUNK = 1 << 20


@dataclass
class Fault:
    kind: str  # "drop" | "full" | "short" | "hangup" | "unavailable"
    path: str = "*"  # fnmatch pattern on the file path in the repo
    times: int = 1
    ranged_only: bool = True  # only fire on requests that carry a Range header


@dataclass
class Commit:
    sha: str
    files: dict[str, Path]  # path in repo -> file on disk


@dataclass
class Repo:
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> sha
    tags: set[str] = field(default_factory=set)
    gated_token: str | None = None  # when set, requests need "Authorization: Bearer <token>"


class HubServer:
    """A Hub-layout HTTP server on an ephemeral 127.0.0.1 port; start()/stop() or use as a context manager."""

    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.faults: list[Fault] = []
        self.omit_sizes = False  # like a mirror whose file list gives no sizes (the files' own HEAD still does)
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._down_after: int | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- repos -------------------------------------------------------------------------------------
    def add_folder(self, repo_id: str, folder: Path, branch: str = "main", tag: bool = False,
                   exclude: tuple[str, ...] = ()) -> str:
        """Every file under `folder` (recursively) becomes a new commit that `branch` points at; returns its sha."""
        files = {p.relative_to(folder).as_posix(): p for p in sorted(Path(folder).rglob("*"))
                 if p.is_file() and not any(fnmatch(p.name, x) for x in exclude)}
        return self.add_files(repo_id, files, branch=branch, tag=tag)

    def add_files(self, repo_id: str, files: dict[str, Path], branch: str = "main", tag: bool = False) -> str:
        identity = hashlib.sha1(f"{repo_id}\0{branch}".encode())
        for name, path in sorted(files.items()):
            stat = Path(path).stat()
            identity.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0{path}\n".encode())
        sha = identity.hexdigest()
        repo = self.repos.setdefault(repo_id, Repo())
        repo.commits[sha] = Commit(sha, dict(files))
        repo.refs[branch] = sha
        if tag:
            repo.tags.add(branch)
        return sha

    def gate(self, repo_id: str, token: str) -> None:
        self.repos[repo_id].gated_token = token

    # --- counting and faults -----------------------------------------------------------------------
    @property
    def bytes_served(self) -> int:
        with self._lock:
            return sum(self._served.values())

    def bytes_served_for(self, pattern: str) -> int:
        with self._lock:
            return sum(n for path, n in self._served.items() if fnmatch(path, pattern))

    def reset_counts(self) -> None:
        with self._lock:
            self._served.clear()
            self.requests.clear()

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def go_down_after(self, file_gets: int | None) -> None:
        """After `file_gets` more GETs of file bodies, hang up on every request (None: stay up)."""
        with self._lock:
            self._down_after = file_gets

    # --- lifecycle ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "HubServer":
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should talk to this server (huggingface_hub reads it at import)."""
        return {"HF_ENDPOINT": self.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1"}

    def patch_constants(self, monkeypatch) -> None:
        """Point an already imported huggingface_hub at this server (pytest's monkeypatch undoes it)."""
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "ENDPOINT", self.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            self.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- internals used by the handler -------------------------------------------------------------
    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self._served[path] = self._served.get(path, 0) + n

    def _take_fault(self, path: str, ranged: bool) -> str | None:
        with self._lock:
            if self._down_after is not None:
                if self._down_after <= 0:
                    return "hangup"
                self._down_after -= 1
            for fault in self.faults:
                if fault.times > 0 and fnmatch(path, fault.path) and (ranged or not fault.ranged_only):
                    fault.times -= 1
                    return fault.kind
        return None

    def _is_down(self) -> bool:
        with self._lock:
            return self._down_after is not None and self._down_after <= 0

    def _lookup(self, repo_id: str, revision: str) -> tuple[Repo | None, Commit | None]:
        repo = self.repos.get(repo_id)
        if repo is None:
            return None, None
        sha = repo.refs.get(revision, revision)
        return repo, repo.commits.get(sha)


def _etag(path: Path, lfs: bool) -> str:
    """sha256 of the content for LFS files (like the Hub), a git-blob-like sha1 otherwise. Files over
    64 MiB (benchmark checkpoints, often sparse) get a sha256 of their path, size and mtime instead, so
    that serving them does not mean reading them whole."""
    stat = path.stat()
    if stat.st_size > 64 << 20:
        return hashlib.sha256(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()
    digest = hashlib.sha256() if lfs else hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"
    _etags: dict = {}

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def _dispatch(self, head: bool) -> None:
        raw_path = urlsplit(self.path).path
        with self.hub._lock:
            self.hub.requests.append((self.command, raw_path, self.headers.get("Range")))
        if self.hub._is_down():
            self.close_connection = True
            return
        if match := re.fullmatch(r"/api/models/(.+?)/refs", raw_path):
            return self._refs(unquote(match[1]))
        if match := re.fullmatch(r"/api/models/(.+?)/revision/([^/]+)", raw_path):
            return self._info(unquote(match[1]), unquote(match[2]))
        if match := re.fullmatch(r"/api/models/(.+?)/tree/([^/]+)(/.*)?", raw_path):
            return self._tree(unquote(match[1]), unquote(match[2]))
        if match := re.fullmatch(r"/api/models/(.+)", raw_path):
            return self._info(unquote(match[1]), "main")
        if match := re.fullmatch(r"/(.+?)/resolve/([^/]+)/(.+)", raw_path):
            return self._resolve(unquote(match[1]), unquote(match[2]), unquote(match[3]), head)
        self._error(404, "EntryNotFound", "no such endpoint")

    # --- API ---------------------------------------------------------------------------------------
    def _authorised(self, repo: Repo) -> bool:
        return repo.gated_token is None or self.headers.get("Authorization") == f"Bearer {repo.gated_token}"

    def _refs(self, repo_id: str) -> None:
        repo = self.hub.repos.get(repo_id)
        if repo is None or not self._authorised(repo):
            return self._missing_repo(repo)
        refs = {"branches": [], "tags": [], "converts": []}
        for name, sha in sorted(repo.refs.items()):
            kind = "tags" if name in repo.tags else "branches"
            refs[kind].append({"name": name, "ref": f"refs/{'tags' if kind == 'tags' else 'heads'}/{name}",
                               "targetCommit": sha})
        self._json(refs)

    def _info(self, repo_id: str, revision: str) -> None:
        repo, commit = self.hub._lookup(repo_id, revision)
        if repo is None or not self._authorised(repo):
            return self._missing_repo(repo)
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        siblings = []
        for name, path in sorted(commit.files.items()):
            size = path.stat().st_size
            sibling = {"rfilename": name, "size": size}
            if self.hub.omit_sizes:
                sibling = {"rfilename": name}
            elif any(fnmatch(name, p) for p in LFS_PATTERNS):
                sibling["lfs"] = {"sha256": self._etag(path, True), "size": size, "pointerSize": 134}
            siblings.append(sibling)
        self._json({"_id": repo_id, "id": repo_id, "modelId": repo_id, "sha": commit.sha, "private": False,
                    "gated": repo.gated_token is not None and "manual", "disabled": False, "downloads": 0,
                    "likes": 0, "tags": [], "siblings": siblings, "lastModified": "2026-01-01T00:00:00.000Z"})

    def _tree(self, repo_id: str, revision: str) -> None:
        """list_repo_tree (recursive; every file of the commit, one page)."""
        repo, commit = self.hub._lookup(repo_id, revision)
        if repo is None or not self._authorised(repo):
            return self._missing_repo(repo)
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        entries = []
        for name, path in sorted(commit.files.items()):
            size = path.stat().st_size
            lfs = any(fnmatch(name, p) for p in LFS_PATTERNS)
            entry = {"type": "file", "oid": self._etag(path, False), "size": size, "path": name}
            if lfs:
                entry["lfs"] = {"oid": self._etag(path, True), "size": size, "pointerSize": 134}
            entries.append(entry)
        self._json(entries)

    def _etag(self, path: Path, lfs: bool) -> str:
        key = (str(path), path.stat().st_mtime_ns, lfs)
        if key not in self._etags:
            self._etags[key] = _etag(path, lfs)
        return self._etags[key]

    # --- files -------------------------------------------------------------------------------------
    def _resolve(self, repo_id: str, revision: str, name: str, head: bool) -> None:
        repo, commit = self.hub._lookup(repo_id, revision)
        if repo is None or not self._authorised(repo):
            return self._missing_repo(repo)
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        path = commit.files.get(name)
        if path is None:
            return self._error(404, "EntryNotFound", f"{name} does not exist at {revision}", commit.sha)
        size = path.stat().st_size
        lfs = any(fnmatch(name, p) for p in LFS_PATTERNS)
        etag = self._etag(path, lfs)
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if lfs:
            headers.update({"X-Linked-Size": str(size), "X-Linked-Etag": f'"{etag}"'})
        wanted = self.headers.get("Range")
        start, end = 0, size - 1
        if wanted:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
            if match is None or int(match[1]) >= size:
                headers["Content-Range"] = f"bytes */{size}"
                return self._send(416, headers, b"")
            start, end = int(match[1]), min(size - 1, int(match[2]) if match[2] else size - 1)
        fault = None if head else self.hub._take_fault(name, bool(wanted))
        if fault == "hangup":
            self.close_connection = True
            return
        if fault == "unavailable":
            return self._error(503, "ServiceUnavailable", "try again later", commit.sha)
        status = 206 if wanted else 200
        if fault == "full":
            status, start, end = 200, 0, size - 1
        elif fault == "short" and wanted:
            end = start + max(0, (end - start + 1) // 2 - 1)
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1
        headers["Content-Length"] = str(length)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if head:
            return
        budget = length // 2 if fault == "drop" else length
        with open(path, "rb") as handle:
            handle.seek(start)
            while budget > 0:
                chunk = handle.read(min(CHUNK, budget))
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
                self.hub._count(name, len(chunk))
                budget -= len(chunk)
        if fault == "drop":
            self.wfile.flush()
            self.close_connection = True

    # --- answers -----------------------------------------------------------------------------------
    def _missing_repo(self, repo: Repo | None) -> None:
        if repo is not None and repo.gated_token is not None:
            return self._error(401, "GatedRepo", "Access to this model is restricted; log in.")
        self._error(404, "RepoNotFound", "Repository not found")

    def _error(self, status: int, code: str, message: str, commit: str | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json",
                   "Content-Length": str(len(body))}
        if commit:
            headers["X-Repo-Commit"] = commit
        self._send(status, headers, b"" if self.command == "HEAD" else body)

    def _json(self, payload: dict | list) -> None:
        body = json.dumps(payload).encode()
        self._send(200, {"Content-Type": "application/json", "Content-Length": str(len(body))},
                   b"" if self.command == "HEAD" else body)

    def _send(self, status: int, headers: dict, body: bytes) -> None:
        headers.setdefault("Content-Length", str(len(body)))  # keep-alive clients wait for it
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(body)
