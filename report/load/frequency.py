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
from report.load import corpus as corpus_file

PROXY_WORDS = 40_000
# Shares of a word's occurrences that follow a space, follow a space capitalised, or start a line.
PROXY_FORMS = ((" {w}", 0.8), (" {W}", 0.1), ("{w}", 0.1))
CORPUS_CHUNK_CHARS = 1 << 18  # characters per batch: tokenizing holds ~170 bytes per character


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
    backend = getattr(tokenizer, "backend_tokenizer", None)  # the Rust tokenizer: same ids, twice as fast
    if backend is not None:
        return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def _credit(ids_per_text: list[list[int]], weights, rows: int) -> np.ndarray:
    """Sum `weights[i]` into every token of text i (repeats count each time)."""
    lengths = np.fromiter((len(ids) for ids in ids_per_text), dtype=np.int64, count=len(ids_per_text))
    flat = np.fromiter((i for ids in ids_per_text for i in ids), dtype=np.int64, count=int(lengths.sum()))
    per_token = np.repeat(np.asarray(weights, dtype=np.float64), lengths)
    keep = flat < rows
    return np.bincount(flat[keep], weights=per_token[keep], minlength=rows)


def from_corpus(tokenizer, path: Path, rows: int) -> TokenFrequency:
    """Exact token counts in a text file (UTF-8, or as its byte-order mark says), tokenized with the model's
    tokenizer; a file that is not text is refused (report/load/corpus.py)."""
    counts = np.zeros(rows, dtype=np.float64)
    text = corpus_file.check(path)
    try:
        with text.open() as handle:
            carry = ""
            while True:
                chunk = handle.read(CORPUS_CHUNK_CHARS)
                lines = (carry + chunk).splitlines(keepends=True)
                # A chunk may end mid-line: keep that piece for the next round so counts stay exact.
                carry = lines.pop() if chunk and lines and not lines[-1].endswith(("\n", "\r")) else ""
                while len(carry) > CORPUS_CHUNK_CHARS:  # a line without end: cut before a space, where words start
                    cut = carry.rfind(" ", 0, CORPUS_CHUNK_CHARS)
                    cut = cut if cut > 0 else CORPUS_CHUNK_CHARS
                    lines.append(carry[:cut])
                    carry = carry[cut:]
                counts += _credit(_encode(tokenizer, lines), np.ones(len(lines)), rows)
                if not chunk:
                    break
    except OSError as exc:
        raise ReportError(f"Could not read the corpus {path}: {exc.strerror or exc}.") from exc
    total = int(counts.sum())
    if total == 0:
        raise ReportError(f"The corpus {path} holds no text, so no token frequencies can be counted.")
    detail = f"exact counts of {total:,} tokens in {Path(path).name} ({text.encoding})"
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
        counts += _credit(_encode(tokenizer, texts), freqs * share, rows)
    counts[counts == 0] = np.nan
    detail = (f"the {PROXY_WORDS:,} most common {language!r} words in wordfreq "
              f"{wordfreq.__version__ if hasattr(wordfreq, '__version__') else ''}".rstrip()
              + ", tokenized with and without a leading space; "
              f"{int(np.isfinite(counts).sum()):,} of {rows:,} tokens reached")
    return TokenFrequency("proxy", detail, counts, _log_relative(counts))


def from_token_index(rows: int) -> TokenFrequency:
    """No frequency data: the token index (BPE merge order) remains the only proxy."""
    nan = np.full(rows, np.nan)
    return TokenFrequency("token-index", "no frequency data; token index (BPE merge order) only", nan, nan.copy())
