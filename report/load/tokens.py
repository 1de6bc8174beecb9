"""Every row of the embedding matrix as a readable string, its raw bytes, and its word-start flag.

Byte-level BPE tokens (GPT-2) are stored as printable stand-ins for bytes; we map them back to the
bytes they encode, then show them with a visible marker for spaces and escapes for anything that
would be invisible, reorder text, or is not valid UTF-8.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from report.errors import ReportError

SPACE_MARK = "␣"
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"}


@dataclass(frozen=True, eq=False)
class TokenTable:
    """Strings for every embedding row.

    Attributes:
        raw: the tokenizer's own string per row ("" for rows with no token).
        data: the bytes each token stands for (UTF-8 of the text for non-byte-level vocabularies).
        display: readable, escaped form: spaces as ␣, invalid bytes as \\xNN, invisibles as \\u{…}.
        word_start: True where the token begins a word (leading space, or not a ## continuation).
        special: True for special tokens such as <|endoftext|>.
        has_token: False for embedding rows beyond the tokenizer's vocabulary (padding rows).
        unprintable: True where the bytes are not valid UTF-8 or hold control characters.
        byte_level: whether the vocabulary is byte-level BPE.
        scheme: how token strings encode text: "byte-level", "sentencepiece", "wordpiece" or "plain".
        added: True for tokens added to the vocabulary as plain text (`add_tokens`), shown as that text.
        beyond_embedding: tokens the tokenizer has past the embedding's last row (they have no row).
    """

    raw: tuple[str, ...]
    data: tuple[bytes, ...]
    display: tuple[str, ...]
    word_start: np.ndarray
    special: np.ndarray
    has_token: np.ndarray
    unprintable: np.ndarray
    byte_level: bool
    scheme: str = ""
    added: np.ndarray | None = None
    beyond_embedding: int = 0

    def __len__(self) -> int:
        return len(self.raw)

    @property
    def n_tokens(self) -> int:
        """Rows that have a token (they come first; rows past the tokenizer's vocabulary are padding)."""
        return int(self.has_token.sum())


def tokenizer_sha256(tokens: TokenTable) -> str:
    """Identity of a vocabulary: the sha256 of its token strings in id order (equal hash, equal tokens)."""
    digest = hashlib.sha256()
    for raw, present in zip(tokens.raw, tokens.has_token):
        digest.update((raw if present else "").encode("utf-8", errors="surrogatepass") + b"\x00")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """GPT-2's map from the printable stand-in characters back to byte values."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def readable(data: bytes) -> tuple[str, bool]:
    """A display string for some bytes, and whether any of them was unprintable."""
    text = data.decode("utf-8", errors="surrogateescape")
    out, unprintable = [], False
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that is not valid UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
            unprintable = True
        elif ch == " ":
            out.append(SPACE_MARK)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
            unprintable = True
        elif unicodedata.category(ch) in INVISIBLE_CATEGORIES:
            out.append(f"\\u{{{code:04x}}}")
            unprintable = unprintable or unicodedata.category(ch) == "Cc"
        else:
            out.append(ch)
    return "".join(out), unprintable


SENTENCEPIECE_SPACE = "▁"
BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def _scheme(plain: list[str], rule: str) -> str:
    """How token strings encode text: byte-level BPE, SentencePiece (▁ for a space) or WordPiece (##)."""
    if rule == "no-continuation":
        return "wordpiece"
    decoder = byte_decoder()
    if all(all(c in decoder for c in t) for t in plain):
        return "byte-level"
    if any(t.startswith(SENTENCEPIECE_SPACE) for t in plain):
        return "sentencepiece"
    return "plain"


def _decode(token: str, scheme: str) -> tuple[bytes, bool]:
    """The bytes a token stands for, and whether it starts a word."""
    if scheme == "byte-level" and all(c in byte_decoder() for c in token):
        data = bytes(byte_decoder()[c] for c in token)
        return data, data.startswith(b" ")
    if scheme == "sentencepiece":
        fallback = BYTE_FALLBACK.match(token)
        if fallback:
            return bytes([int(fallback.group(1), 16)]), False
        data = token.replace(SENTENCEPIECE_SPACE, " ").encode("utf-8", errors="surrogatepass")
        return data, data.startswith(b" ")
    if scheme == "wordpiece":
        continuation = token.startswith("##")
        return (token[2:] if continuation else token).encode("utf-8", errors="surrogatepass"), not continuation
    data = token.encode("utf-8", errors="surrogatepass")
    return data, data.startswith(b" ")


def build_table(raw_tokens: list[str], special_tokens: set[str], rows: int, rule: str,
                scheme: str | None = None, added_ids: frozenset[int] = frozenset(),
                beyond_embedding: int = 0) -> TokenTable:
    """A TokenTable for `rows` embedding rows from the tokenizer's token strings.

    `scheme`, when the tokenizer declares it, decides how strings are decoded; otherwise it is inferred
    from the strings. Tokens in `added_ids` were added as text and are shown as that text."""
    base = [t for i, t in enumerate(raw_tokens) if t and t not in special_tokens and i not in added_ids]
    scheme = scheme or _scheme(base, rule)
    raw, data, display = [], [], []
    word_start = np.zeros(rows, dtype=bool)
    special = np.zeros(rows, dtype=bool)
    has_token = np.zeros(rows, dtype=bool)
    unprintable = np.zeros(rows, dtype=bool)
    added = np.zeros(rows, dtype=bool)
    for i in range(rows):
        token = raw_tokens[i] if i < len(raw_tokens) else None
        if token is None:
            raw.append("")
            data.append(b"")
            display.append(f"<row {i}: no token>")
            continue
        has_token[i] = True
        raw.append(token)
        if token in special_tokens:
            special[i] = True
            data.append(token.encode("utf-8"))
            display.append(token)
            continue
        if i in added_ids:
            added[i] = True
            token_bytes = token.encode("utf-8", errors="surrogatepass")
            word_start[i] = token_bytes.startswith(b" ")
        else:
            token_bytes, word_start[i] = _decode(token, scheme)
        shown, unprintable[i] = readable(token_bytes)
        data.append(token_bytes)
        display.append(("##" + shown) if scheme == "wordpiece" and not word_start[i] and not added[i] else shown)
    return TokenTable(tuple(raw), tuple(data), tuple(display), word_start, special, has_token,
                      unprintable, scheme == "byte-level", scheme, added, beyond_embedding)


def _components(spec) -> list[dict]:
    """A tokenizers component (pre-tokenizer, decoder) and, for a Sequence, its members, as dicts."""
    if not isinstance(spec, dict):
        return []
    members = spec.get("pretokenizers") or spec.get("decoders") or []
    return [spec] + [c for m in members for c in _components(m)]


def declared_scheme(tokenizer) -> str | None:
    """How the tokenizer itself says its strings encode text, from its model, pre-tokenizer and decoder
    (or a slow tokenizer's byte table or vocabulary kind); None when it does not say."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        parts = []
        for component in (backend.pre_tokenizer, backend.decoder):
            try:
                parts += _components(json.loads(component.__getstate__())) if component is not None else []
            except (TypeError, ValueError, AttributeError):
                continue
        kinds = {p.get("type") for p in parts}
        model = type(backend.model).__name__
        if "ByteLevel" in kinds:
            return "byte-level"
        if model == "WordPiece" or "WordPiece" in kinds:
            return "wordpiece"
        if "Metaspace" in kinds or any(p.get("type") == "Replace" and SENTENCEPIECE_SPACE in json.dumps(p)
                                       for p in parts):
            return "sentencepiece"
        return None
    if hasattr(tokenizer, "byte_encoder"):  # slow GPT-2, RoBERTa, BART tokenizers
        return "byte-level"
    if hasattr(tokenizer, "wordpiece_tokenizer"):
        return "wordpiece"
    if hasattr(tokenizer, "sp_model"):
        return "sentencepiece"
    return None


TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "tokenizer.model", "spiece.model",
                   "sentencepiece.bpe.model", "vocab.model")


def load_tokenizer(folder: Path):
    """The model's tokenizer through transformers; never runs code from the model folder."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # config advice meant for training code would muddle our messages
    if not any((folder / name).is_file() for name in TOKENIZER_FILES) and not any(folder.glob("*.tiktoken")):
        raise ReportError(f"{folder} has no tokenizer files (looked for {', '.join(TOKENIZER_FILES[:4])}, …), so "
                          "its embedding rows cannot be named. Copy the tokenizer the model was trained with into "
                          "the folder (tokenizer.save_pretrained(folder)).")
    try:
        return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    except Exception as exc:
        raise ReportError(f"Could not load a tokenizer from {folder} ({type(exc).__name__}: {exc}). "
                          "The folder needs tokenizer files (tokenizer.json, or vocab.json + merges.txt).") from exc


def load_tokens(tokenizer, rows: int, rule: str) -> TokenTable:
    """Every embedding row's token, from a loaded tokenizer."""
    size = len(tokenizer)
    raw = tokenizer.convert_ids_to_tokens(list(range(min(size, rows))))
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    added = frozenset(int(i) for i, t in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items()
                      if not getattr(t, "special", False) and int(i) < rows)
    scheme = "wordpiece" if rule == "no-continuation" else declared_scheme(tokenizer)
    return build_table([t if t is not None else "" for t in raw], specials, rows, rule, scheme, added,
                       beyond_embedding=max(0, size - rows))
