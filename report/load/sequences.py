"""The text the experiments run on, cut into sequences on the unit their intervals resample.

Without --corpus: the English documentation that ships inside every CPython install (`pydoc_data.topics`:
the language reference's topics, as `help()` shows them), one document per topic; sequences are spread over
every topic, a few per topic at evenly separated places, and the unit is the topic. With --corpus FILE (read
through report/load/corpus.py): the file is one text; sequences are taken at evenly separated places of its first
SPREAD × budget tokens, and each sequence is its own unit.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from report.load import corpus as corpus_file
from report.run.cache import file_hash

MIN_SEQUENCES = 100  # sequences per pass at least, when the budget allows a sequence of MIN_LENGTH tokens
MIN_LENGTH, MAX_LENGTH = 8, 128  # tokens per sequence
SPREAD = 20  # a --corpus file: sequences are spread over its first SPREAD × budget tokens
DEFAULT_NAME = "Python {} documentation topics (pydoc_data.topics, {} topics)"


class NoText(Exception):
    """No corpus text can be had; the message says why."""


@dataclass(frozen=True, eq=False)
class CorpusSequences:
    """Token sequences for the forward passes, and what they came from.

    Attributes:
        name: the corpus ("--corpus <file name>" or the built-in's name); sha256: of its bytes (the file) or of
            its UTF-8 text (the built-in, topics joined in sorted order); encoding: as report/load/corpus.py read the
            file (None for the built-in).
        ids: [sequences, length] token ids; clusters: [sequences] the unit each belongs to.
        documents: documents the sequences came from (1 for a --corpus file); unit: "document" or "sequence".
    """

    name: str
    sha256: str
    encoding: str | None
    ids: np.ndarray
    clusters: np.ndarray
    documents: int
    unit: str


def sequence_length(max_tokens: int, n_positions: int | None) -> int:
    """Tokens per sequence: long enough to use the budget, short enough for MIN_SEQUENCES of them."""
    length = min(MAX_LENGTH, max(MIN_LENGTH, max_tokens // MIN_SEQUENCES))
    return max(2, min(length, n_positions or length))


def default_documents() -> tuple[str, list[str], str]:
    """(name, topic texts in sorted topic order, sha256 of their UTF-8 text) of the built-in corpus."""
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:  # some distributions strip it from the standard library
        raise NoText("this Python lacks pydoc_data (its documentation topics), the built-in corpus; give "
                     "--corpus FILE") from exc
    texts = [topics[key] for key in sorted(topics)]
    digest = hashlib.sha256("\f".join(texts).encode("utf-8")).hexdigest()
    version = ".".join(str(v) for v in sys.version_info[:2])
    return DEFAULT_NAME.format(version, len(texts)), texts, digest


def starts(n_tokens: int, length: int, k: int) -> list[int]:
    """k window starts spread evenly over n_tokens, windows not overlapping (k ≤ n_tokens // length)."""
    if k == 1:
        return [(n_tokens - length) // 2]
    step = (n_tokens - length) // (k - 1)
    return [i * step for i in range(k)]


def allocate(capacities: list[int], wanted: int) -> list[int]:
    """Sequences per document: one each in turn (longest document first) until `wanted` or none has room."""
    counts = [0] * len(capacities)
    order = sorted(range(len(capacities)), key=lambda i: (-capacities[i], i))
    while sum(counts) < wanted and any(counts[i] < capacities[i] for i in order):
        for i in order:
            if counts[i] < capacities[i] and sum(counts) < wanted:
                counts[i] += 1
    return counts


def from_documents(tokenizer, texts: list[str], length: int, wanted: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(ids, clusters, documents used): `wanted` sequences spread over the documents."""
    tokenised = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    counts = allocate([len(ids) // length for ids in tokenised], wanted)
    rows, clusters = [], []
    for doc, (ids, k) in enumerate(zip(tokenised, counts)):
        for start in starts(len(ids), length, k) if k else []:
            rows.append(ids[start: start + length])
            clusters.append(doc)
    ids = np.array(rows, dtype=np.int64).reshape(len(rows), length)
    return ids, np.array(clusters, dtype=np.int64), len(set(clusters))


def corpus_sequences(tokenizer, corpus: Path | None, max_tokens: int, n_positions: int | None) -> CorpusSequences:
    """The sequences of `corpus` (the built-in one when None) for a budget of `max_tokens` tokens per pass."""
    length = sequence_length(max_tokens, n_positions)
    wanted = max(1, max_tokens // length)
    if corpus is None:
        name, texts, digest = default_documents()
        ids, clusters, documents = from_documents(tokenizer, texts, length, wanted)
        return CorpusSequences(name, digest, None, ids, clusters, documents, "document")
    checked = corpus_file.check(corpus)  # decoded as the frequency counts decode it
    stream: list[int] = []
    with checked.open() as handle:
        while len(stream) < SPREAD * wanted * length and (chunk := handle.readlines(1 << 16)):
            stream += tokenizer("".join(chunk), add_special_tokens=False)["input_ids"]
    n = min(wanted, len(stream) // length)
    ids = np.array([stream[s: s + length] for s in (starts(len(stream), length, n) if n else [])],
                   dtype=np.int64).reshape(n, length)
    return CorpusSequences(f"--corpus {Path(corpus).name}", file_hash(corpus), checked.encoding, ids, np.arange(n), 1,
                           "sequence")
