"""The --corpus file as text: its encoding found once, here, for every reader (frequency counts, forward passes).

A byte-order mark names the encoding (UTF-8, UTF-16 or UTF-32, either byte order); without one the file
must be UTF-8. A file that is not (an undecodable byte, or NUL and control bytes that no text holds) is
refused with what was found, never decoded with replacement characters: garbage counted as "exact counts"
would feed every frequency statistic.
"""

from __future__ import annotations

import codecs
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from report.errors import ReportError

# Longest first: UTF-32-LE's mark begins with UTF-16-LE's.
BOMS = ((codecs.BOM_UTF32_LE, "utf-32", "UTF-32 LE"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 BE"),
        (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE"),
        (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE"))
SCAN_BYTES = 1 << 20
# Bytes that text does not hold: C0 controls other than tab, newline, vertical tab, form feed, return, escape.
CONTROL = bytes(b for b in range(32) if b not in b"\t\n\x0b\x0c\r\x1b") + b"\x7f"
MAX_CONTROL_SHARE = 0.001  # a stray control byte in a large text is tolerated; binary data has ~12% of them


@dataclass(frozen=True)
class Corpus:
    """A corpus file that decodes as text. `codec` opens it (the mark is consumed); `encoding` is for people."""

    path: Path
    codec: str
    encoding: str

    def open(self):
        """The text, decoded strictly (a bad byte raises; `check` has already read every byte once)."""
        return open(self.path, encoding=self.codec, errors="strict")


def check(path: Path) -> Corpus:
    """The corpus with its encoding, or a ReportError saying what in the file is not text. Every reader calls
    this; a file unchanged since it was last checked (same size and modification time) is not read again."""
    try:
        stat = os.stat(path)
        return _checked(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, Path(path))
    except OSError as exc:
        raise ReportError(f"Could not read the corpus {path}: {exc.strerror or exc}.") from exc


@functools.lru_cache(maxsize=8)
def _checked(resolved: str, size: int, mtime_ns: int, path: Path) -> Corpus:
    with open(path, "rb") as handle:
        head = handle.read(4)
        codec, encoding = next(((c, e + " (from its byte-order mark)") for bom, c, e in BOMS
                                if head.startswith(bom)), ("utf-8", "UTF-8"))
        handle.seek(0)
        _scan(path, handle, codec, encoding)
    return Corpus(path, codec, encoding)


def _scan(path: Path, handle, codec: str, encoding: str) -> None:
    """Decode every byte once; refuse at the first that does not decode, or when control bytes are common."""
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    seen = controls = nuls = 0
    while True:
        chunk = handle.read(SCAN_BYTES)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            held = len(exc.object) - len(chunk)  # bytes of the previous chunk the decoder still held
            where = seen - held + exc.start
            raise ReportError(f"The corpus {path} is not {encoding.split(' (')[0]} text: byte {where:,} "
                              f"(0x{exc.object[exc.start:exc.start + 1].hex()}) does not decode; "
                              f"{_looks_like(chunk or exc.object, codec)}. Nothing is decoded with replacement "
                              "characters: give a text file in UTF-8, or UTF-16/32 with a byte-order mark.") from exc
        seen += len(chunk)
        nuls += text.count("\0")
        controls += sum(text.count(chr(b)) for b in CONTROL)
        if not chunk:
            break
    if controls > MAX_CONTROL_SHARE * max(seen, 1):
        guess = ("like UTF-16 or UTF-32 without a byte-order mark" if codec == "utf-8" and 0.2 < nuls / seen < 0.8
                 else "binary")
        raise ReportError(f"The corpus {path} decodes as {encoding}, but {controls:,} of its {seen:,} bytes are "
                          f"control characters ({nuls:,} of them NUL), which text does not hold; the file looks "
                          f"{guess}. Give a plain text file in UTF-8, or UTF-16/32 with a byte-order mark.")


def _looks_like(sample: bytes, codec: str) -> str:
    """A guess at what the file is, from the bytes around the first one that did not decode."""
    nul = sample.count(0) / max(len(sample), 1)
    control = sum(sample.count(b) for b in CONTROL) / max(len(sample), 1)
    if codec == "utf-8" and 0.2 < nul < 0.8:
        return f"the file looks like UTF-16 or UTF-32 without a byte-order mark ({nul:.0%} NUL bytes)"
    if control > 0.01:
        return f"the file looks binary ({control:.0%} control bytes, {nul:.1%} NUL)"
    return "the file may be in another encoding (Latin-1, Windows-1252, …); convert it to UTF-8"
