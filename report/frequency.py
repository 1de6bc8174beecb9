"""How often each token occurs: exact counts from a corpus, or an offline proxy from wordfreq.

The proxy takes the most common English words with their frequencies (wordfreq), writes each the
ways it appears in running text (" word", " Word", "word"), tokenizes those with the model's own
tokenizer and credits every resulting token with the word's frequency. Tokens that no common word
reaches get no estimate (NaN) and are left out of frequency statistics, which report their n.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from report.errors import ReportError

PROXY_WORDS = 40_000
# Shares of a word's occurrences that follow a space, follow a space capitalised, or start a line.
PROXY_FORMS = ((" {w}", 0.8), (" {W}", 0.1), ("{w}", 0.1))
CORPUS_CHUNK_CHARS = 1 << 20


@dataclass(frozen=True, eq=False)
class TokenFrequency:
    """Token frequencies from one source.

    Attributes:
        kind: "corpus" (exact counts), "proxy" (wordfreq through the tokenizer) or "token-index".
        detail: human-readable description of the source.
        counts: [vocab_rows] counts (corpus) or summed word frequencies (proxy); NaN where unknown.
        log_frequency: [vocab_rows] log10 of the relative frequency; NaN where the count is 0 or unknown.
    """

    kind: str
    detail: str
    counts: np.ndarray
    log_frequency: np.ndarray

    @property
    def known(self) -> int:
        return int(np.isfinite(self.log_frequency).sum())


def _log_relative(counts: np.ndarray) -> np.ndarray:
    total = np.nansum(counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(counts / total) if total > 0 else np.full_like(counts, np.nan)
    logs[~(counts > 0)] = np.nan
    return logs


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def from_corpus(tokenizer, path: Path, rows: int) -> TokenFrequency:
    """Exact token counts in a UTF-8 text file, tokenized with the model's tokenizer."""
    counts = np.zeros(rows, dtype=np.float64)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            while chunk := handle.read(CORPUS_CHUNK_CHARS):
                lines = chunk.splitlines(keepends=True)
                for ids in _encode(tokenizer, lines):
                    ids = np.asarray(ids, dtype=np.int64)
                    counts += np.bincount(ids[ids < rows], minlength=rows)
    except OSError as exc:
        raise ReportError(f"Could not read the corpus {path}: {exc.strerror or exc}.") from exc
    total = int(counts.sum())
    if total == 0:
        raise ReportError(f"The corpus {path} holds no text, so no token frequencies can be counted.")
    detail = f"exact counts of {total:,} tokens in {Path(path).name}"
    return TokenFrequency("corpus", detail, counts, _log_relative(counts))


def from_wordfreq(tokenizer, rows: int, language: str = "en") -> TokenFrequency:
    """The offline proxy: common words' frequencies credited to the tokens that spell them."""
    try:
        import wordfreq
    except ImportError:
        return from_token_index(rows)
    words = wordfreq.top_n_list(language, PROXY_WORDS)
    freqs = np.array([wordfreq.word_frequency(w, language) for w in words])
    counts = np.zeros(rows, dtype=np.float64)
    for template, share in PROXY_FORMS:
        texts = [template.format(w=w, W=w[:1].upper() + w[1:]) for w in words]
        for ids, f in zip(_encode(tokenizer, texts), freqs):
            ids = np.asarray(ids, dtype=np.int64)
            np.add.at(counts, ids[ids < rows], f * share)
    counts[counts == 0] = np.nan
    detail = (f"proxy: the {PROXY_WORDS:,} most common {language!r} words in wordfreq "
              f"{wordfreq.__version__ if hasattr(wordfreq, '__version__') else ''}".rstrip()
              + ", tokenized with and without a leading space; "
              f"{int(np.isfinite(counts).sum()):,} of {rows:,} tokens reached")
    return TokenFrequency("proxy", detail, counts, _log_relative(counts))


def from_token_index(rows: int) -> TokenFrequency:
    """No frequency data: the token index (BPE merge order) remains the only proxy."""
    nan = np.full(rows, np.nan)
    return TokenFrequency("token-index", "no frequency data; token index (BPE merge order) only", nan, nan.copy())
