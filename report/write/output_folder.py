"""Which folder a report goes to, and the rules that keep a user's data safe while it is written.

The output layout is known here only: OUT/<model folder>/ per model (`folder_names`), OUT/comparison/ when
several models are compared, and each written whole through `write_atomically`.

- A report folder carries a marker file (`.weights-report`) that names its kind (report, comparison, sweep);
  only a folder with that marker, or an older one recognised by its results.json / comparison.json /
  sweep.json, is ever replaced, and only by a folder of the same kind. Anything else is refused.
- One run at a time writes a folder: a lock file `.NAME.lock` beside it (`claim`) makes a second run refuse.
- Nothing is written into, over, or around a model's own folder.
- Reports are written into a hidden staging folder that names the writing process; staging folders of
  runs that died (SIGKILL, power loss) are removed by the next run in the same output folder.
- Local checkpoints that share a folder name (`run-a/checkpoint-500`, `run-b/checkpoint-500`) are named
  by the shortest distinct suffix of their paths (`run-a-checkpoint-500`), the same on every run.
- Folder names keep letters of every script (`模型一`, `модель`) and fit the file system's 255 bytes per name,
  staging siblings included (`slug`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import unicodedata
from contextlib import contextmanager
from pathlib import Path

from report.errors import ReportError, stop_if_terminated

MARKER = ".weights-report"
STAGING_MARKER = ".weights-report-staging"
STAGING = re.compile(r"^\.(?P<name>.+)\.(?:staging|old)-(?P<pid>\d+)(?:-[A-Za-z0-9_]+)?$")
LOCK = re.compile(r"^weights-report (?P<pid>\d+)\n$")  # a lock file's whole content: only ours are removed
COMPARISON_FOLDER = "comparison"  # OUT/comparison/: the side-by-side report of several models
OUR_DOCUMENTS = {"results.json": ("schema_version", "model", "analyses"),
                 "comparison.json": ("schema_version",), "sweep.json": ("checkpoints", "trajectories")}
KINDS = {"sweep.json": "sweep", "comparison.json": "comparison", "results.json": "report"}  # in this order


NAME_BYTES = 200  # a folder name's UTF-8 bytes: room left for `.NAME.staging-PID-XXXXXXXX` within 255 per name
_HASH = 8  # hex digits of sha256 that keep a cut or emptied name distinct


def _kept(char: str) -> bool:
    """Letters, digits and combining marks of any script, and `._-`; never a separator, space, control,
    format (bidi) or surrogate (undecodable byte) character."""
    return unicodedata.category(char)[0] in "LNM" or char in "._-"


def slug(text: str) -> str:
    """A single folder name for any text that keeps what it can of it: `模型一` and `модель` stay themselves
    (NFC), every run of other characters becomes `--`, leading and trailing dots and dashes go. A name that
    keeps nothing, or is longer than NAME_BYTES, gets a short hash of the whole text, so distinct texts stay
    distinct; slug(slug(x)) == slug(x)."""
    text = unicodedata.normalize("NFC", text)
    name = re.sub(r"\0+", "--", "".join(c if _kept(c) else "\0" for c in text)).strip(".-")
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:_HASH]
    if not name:
        return f"model-{digest}"
    if len(name.encode("utf-8")) > NAME_BYTES:
        cut = name.encode("utf-8")[:NAME_BYTES - _HASH - 1].decode("utf-8", errors="ignore").rstrip(".-")
        return f"{cut}-{digest}"
    return name


def _local_parts(model: str) -> tuple[str, ...] | None:
    """The resolved path parts of a local model folder, or None for a Hub id."""
    path = Path(model).expanduser()
    if not path.is_dir():
        return None
    return tuple(p for p in path.resolve().parts if p not in ("/", "\\")) or ("model",)


def folder_names(labels: list[str]) -> list[str]:
    """One output folder name per model label (a local folder, or a Hub id with an optional @revision).

    Hub ids keep their whole id (`openai-community--gpt2-medium`); a local folder is named by the
    shortest suffix of its resolved path that no other local folder in `labels` shares. Each name
    depends only on the set of folders given, not on their order."""
    parts = [_local_parts(label) for label in labels]
    names = []
    for i, (label, own) in enumerate(zip(labels, parts)):
        if own is None:
            names.append(slug(label))
            continue
        others = [p for j, p in enumerate(parts) if p is not None and j != i and p != own]
        k = 1
        while k < len(own) and any(o[-k:] == own[-k:] for o in others):
            k += 1
        names.append(slug("-".join(own[-k:])))
    return names


def folder_name(label: str) -> str:
    """The folder of one model on its own (a sweep's checkpoint, a model given without others)."""
    return folder_names([label])[0]


def report_folders(labels: list[str]) -> list[str]:
    """The folder of each model in one run; refuse, before any work, models that would write to the same
    folder, or (when several are compared) to the comparison's."""
    names = folder_names(labels)
    seen: dict[str, str] = {}
    for name, text in zip(names, labels):
        if name in seen:
            raise ReportError(f"{seen[name]!r} and {text!r} would both be written to {name}/; give each model "
                              "once, or copy one of the folders under another name.")
        if name == COMPARISON_FOLDER and len(labels) > 1:
            raise ReportError(f"{text!r} would be written to {name}/, where the comparison goes; rename the folder.")
        seen[name] = text
    return names


def check_run_destinations(out_root: Path, names: list[str], protected: list[Path]) -> None:
    """`check_destination` for every folder a run writes: each model's, and the comparison's when several."""
    for name in names:
        check_destination(out_root / name, protected, kind="report")
    if len(names) > 1:
        check_destination(out_root / COMPARISON_FOLDER, protected, kind="comparison")


def ensure_writable(out_root: Path) -> None:
    """Fail before any long step if the output folder cannot be created or written."""
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out_root, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as exc:
        raise ReportError(f"Cannot write to the output folder {out_root}: {exc.strerror or exc}.") from exc


def destination_folder(out_root: Path, name: str) -> Path:
    """The absolute folder `out_root/<folder_name(name)>`, once `out_root` is known to be writable."""
    ensure_writable(out_root)
    folder = (out_root / folder_name(name)).resolve()
    if folder.parent != out_root.resolve():
        raise ReportError(f"The model id {name!r} would write outside {out_root}.")
    return folder


def write_atomically(destination: Path, write, model: str = "", *, kind: str) -> None:
    """Call `write(folder)` on a hidden sibling folder, mark it as ours (a folder of `kind`: report, comparison
    or sweep), then swap it into place, holding `claim(destination)` throughout. A failure or
    interrupt before the swap removes the sibling and leaves `destination` untouched. The swap (`replace`)
    first renames an old report aside to `.NAME.old-PID`, then the new one into place, then deletes the old;
    if the second rename fails the old report is put back, and a run killed between the two renames leaves
    no `destination`, which the next run (`remove_stale`) moves back."""
    with claim(destination):
        remove_stale(destination.parent)
        staging = make_staging(destination)
        try:  # (a signal between those two lines leaves an empty staging folder, which the next run removes)
            write(staging)
            stop_if_terminated()
            finish_staging(staging, model or destination.name, kind)
            replace(staging, destination, kind)
        except OSError as exc:  # a full disk, a quota, a folder made read-only meanwhile
            shutil.rmtree(staging, ignore_errors=True)
            raise ReportError(f"Could not write the report into {destination.parent}: "
                              f"{exc.strerror or exc}. Nothing there was changed.") from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


_HELD: dict[Path, list] = {}  # lock file -> [its descriptor, how many claims of this process hold it]


@contextmanager
def claim(destination: Path):
    """Hold `destination` for this process: while held, a run in another process that claims it is refused
    with one message. The lock is a file beside it (`.NAME.lock`) under an exclusive flock, so a run that
    died (kill -9, power loss) holds nothing: its lock file is taken over. Reentrant within a process (a
    report claims its folder for the whole run, and writes it through `write_atomically`)."""
    lock = destination.with_name(f".{destination.name}.lock")
    if lock in _HELD:
        _HELD[lock][1] += 1
        try:
            yield
        finally:
            _HELD[lock][1] -= 1
        return
    _HELD[lock] = [_take(lock, destination), 1]
    try:
        yield
    finally:
        fd = _HELD.pop(lock)[0]
        try:
            lock.unlink()  # before the lock is released: whoever opened this file now finds it gone, and retries
        except OSError:
            pass
        os.close(fd)


def _take(lock: Path, destination: Path) -> int:
    """A descriptor of `lock`, exclusively locked by this process; ReportError if another live run holds it."""
    for _ in range(5):  # the holder may remove the file between our open and our flock: then open it anew
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = LOCK.match(os.read(fd, 64).decode("ascii", errors="replace"))
            os.close(fd)
            _busy(destination, holder["pid"] if holder else "?")
        except OSError:
            pass  # a file system without flock (some network mounts): the run goes on unlocked, as before
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"weights-report {os.getpid()}\n".encode())
            return fd
        os.close(fd)
    _busy(destination, "?")


def _busy(destination: Path, holder: str) -> None:
    raise ReportError(f"{destination} is being written by another run of weights-report (process {holder}) "
                      "right now; only one run at a time writes a folder. Wait for it to finish, or choose "
                      "another --out.")


def is_ours(folder: Path) -> bool:
    """Whether `folder` is a report this tool wrote (its marker, or an older report's own JSON)."""
    documents = {MARKER: ("tool",), **OUR_DOCUMENTS}
    for name, keys in documents.items():
        try:
            document = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(document, dict) and all(k in document for k in keys):
            return True
    return False


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def kind_of(folder: Path) -> str | None:
    """What kind of folder of ours `folder` is (report, comparison, sweep): its marker says; an older marker
    without a kind, or an older folder without a marker, is known by its own JSON."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        marker = None
    if isinstance(marker, dict) and marker.get("kind") in KINDS.values():
        return marker["kind"]
    return next((kind for name, kind in KINDS.items() if (folder / name).is_file()), None)


def check_destination(destination: Path, protected: list[Path], kind: str | None = None) -> None:
    """Refuse a destination that would overwrite something this tool did not write, a folder of ours of
    another kind than `kind` (a sweep by a report, …), or touch a model folder."""
    destination = destination.absolute()
    target = destination.resolve()
    for model in protected:
        model = model.resolve()
        if target == model:
            why = "is the model's own folder"
        elif _inside(target, model):
            why = "is inside the model's own folder"
        elif _inside(model, target):
            why = "contains the model's folder"
        else:
            continue
        raise ReportError(f"The report for {model} would be written to {destination}, which {why}; a model "
                          "folder is never written into or replaced. Choose another --out, for example "
                          f"--out {model.parent / (model.name + '-reports')}.")
    if destination.is_symlink() or (destination.exists() and not destination.is_dir()):
        raise ReportError(f"{destination} exists and is not a report folder; it is left untouched. "
                          "Move it away or choose another --out.")
    try:
        empty = destination.is_dir() and not any(destination.iterdir())
    except OSError:
        empty = False
    if destination.is_dir() and not empty and not is_ours(destination):
        raise ReportError(f"{destination} exists and was not written by this tool (it has no {MARKER} marker "
                          "or results.json of ours), so it is not replaced. Move it away or choose another --out.")
    existing = kind_of(destination) if kind is not None and destination.is_dir() and not empty else None
    if existing is not None and existing != kind:
        raise ReportError(f"{destination} is a {existing} written by weights-report; this {kind} would replace "
                          f"it, and a {existing} is only ever replaced by a {existing}. Choose another --out, "
                          f"or move the {existing} away.")


def write_marker(folder: Path, model: str, kind: str = "report") -> None:
    document = {"tool": "weights-report", "kind": kind, "model": model}
    (folder / MARKER).write_text(json.dumps(document) + "\n", encoding="utf-8")


def make_staging(destination: Path) -> Path:
    """A hidden, empty sibling folder of `destination` that names this process, for writing into."""
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.staging-{os.getpid()}-", dir=destination.parent))
    try:
        staging.chmod(0o755)
        (staging / STAGING_MARKER).write_text(f"{os.getpid()}\n", encoding="utf-8")
    except BaseException:  # interrupted (SIGTERM) or failed before the caller could take charge of it
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def finish_staging(staging: Path, model: str, kind: str) -> None:
    (staging / STAGING_MARKER).unlink(missing_ok=True)
    write_marker(staging, model, kind)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(out_root: Path) -> None:
    """Clean up after runs in `out_root` that died: their staging folders go; a previous report that was
    moved aside (`.NAME.old-PID`) goes back into place if nothing replaced it, else it goes too; their lock
    files (`.NAME.lock`, held by no one) go."""
    try:
        entries = list(out_root.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".lock"):
            _remove_stale_lock(entry)
        match = STAGING.match(entry.name)
        if not match or entry.is_symlink() or not entry.is_dir() or _alive(int(match["pid"])):
            continue
        try:
            if ".staging-" in entry.name and ((entry / STAGING_MARKER).is_file() or not any(entry.iterdir())):
                shutil.rmtree(entry, ignore_errors=True)
            elif ".old-" in entry.name and is_ours(entry):
                original = entry.with_name(match["name"])
                if not original.exists():
                    entry.rename(original)
                else:
                    shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue  # another run got there first, or the folder is read-only: not ours to fight over


def _remove_stale_lock(lock: Path) -> None:
    """Remove a lock file of ours that no live run holds (its run was killed); one in use, ours in this
    process, or anyone else's file of that name is left alone."""
    if lock in _HELD or lock.is_symlink() or not lock.is_file():
        return
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # removed while held: a run that opened it retries
        if LOCK.match(os.read(fd, 64).decode("ascii", errors="replace")):
            lock.unlink()
    except OSError:
        pass  # held by a live run, or not ours to remove
    finally:
        os.close(fd)


def replace(staging: Path, destination: Path, kind: str | None = None) -> None:
    """Swap the finished folder into place; an old report is removed only after the new one is complete,
    and only if this tool wrote it (and, given `kind`, it is of that kind)."""
    old = None
    if destination.exists() or destination.is_symlink():
        check_destination(destination, [], kind)
        if destination.is_dir() and not any(destination.iterdir()):
            destination.rmdir()
        else:
            old = destination.with_name(f".{destination.name}.old-{os.getpid()}")
            destination.rename(old)
    try:
        staging.rename(destination)
    except BaseException:
        if old is not None and not destination.exists():
            old.rename(destination)  # the swap failed: put the old report back, so nothing has changed
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
