"""What published work found about odd tokens in GPT-2, matched against this model's vocabulary.

The list below holds only findings stated in the sources named; no numbers are taken from them.

Applicability rule: the findings concern GPT-2 models, so they apply when the model id names a GPT-2
("gpt2" in the id, any case) or the vocabulary is GPT-2's size and byte-level BPE (50,257 tokens).
Matching is done either way: a model with a different id may still share GPT-2's vocabulary.

Matching rule: a known entry matches a vocabulary token when the entry's text, without leading or
trailing spaces, occurs inside the token's text (so "InstoreAndOnline" also finds
"BuyableInstoreAndOnline"); the mojibake entry matches tokens made only of two or more "ÃÂ" pairs
(an optional leading space and a final lone "Ã" allowed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analyses.stats import percentile_ranks

GPT2_VOCAB = 50257
LAND_BARTOLO = "Land & Bartolo 2024 (“Fishing for Magikarp”)"
RUMBELOW_WATKINS = "Rumbelow & Watkins 2023 (“SolidGoldMagikarp”)"
SEED = "the 2021 study this report reproduces"
MOJIBAKE = re.compile(r"^ ?(?:ÃÂ){2,}Ã?$")


@dataclass(frozen=True)
class KnownToken:
    """One published observation about a token string.

    Attributes:
        text: the string as published (a leading space is part of GPT-2 tokens that start a word).
        source: who reported it.
        finding: what they reported, in our words.
        pattern: "substring" or "mojibake" (see the module docstring).
    """

    text: str
    source: str
    finding: str
    pattern: str = "substring"


KNOWN = (
    KnownToken("InstoreAndOnline", LAND_BARTOLO, "reported as an under-trained token of gpt2"),
    KnownToken("rawdownload", LAND_BARTOLO, "reported as an under-trained token of gpt2"),
    KnownToken("embedreportprint", LAND_BARTOLO, "reported as an under-trained token of gpt2"),
    KnownToken(" RandomRedditor", LAND_BARTOLO, "reported as an under-trained token of gpt2"),
    KnownToken(" externalToEVA", LAND_BARTOLO, "reported as an under-trained token of gpt2"),
    KnownToken("ÃÂÃÂ…", LAND_BARTOLO, "mojibake tokens reported as under-trained in gpt2", "mojibake"),
    KnownToken(" SolidGoldMagikarp", RUMBELOW_WATKINS,
               "the token string the study takes its name from; glitch tokens lie near the embedding centroid "
               "in gpt2 and far from it in gpt2-xl"),
    KnownToken("BuyableInstoreAndOnline", SEED,
               "among the 20 longest embedding vectors of gpt2 and the five lowest on its dim 138; the longer "
               "vector in many zero-layer exception pairs"),
    KnownToken("ÃÂÃÂ…", SEED, "an 'eigenstring' of repeated encoding errors that grows each time text is "
               "mis-decoded", "mojibake"),
)


@dataclass(frozen=True)
class FoundToken:
    """A vocabulary token that matches at least one known entry, and where it sits in this model.

    Attributes:
        token_id: the token.
        entries: indices into KNOWN of the entries it matches.
        norm_percentile: percentile of its embedding norm among all tokens, in [0, 1].
        centroid_percentile: percentile of its distance from the mean embedding, in [0, 1].
        in_clump: whether it belongs to one of our crowded clumps.
        in_longest, in_shortest: whether it is among our longest / shortest listed vectors.
        in_exceptions: whether it takes part in a zero-layer exception (as input or as prediction).
    """

    token_id: int
    entries: tuple[int, ...]
    norm_percentile: float
    centroid_percentile: float
    in_clump: bool
    in_longest: bool
    in_shortest: bool
    in_exceptions: bool


@dataclass(frozen=True, eq=False)
class LiteratureResult:
    """Published findings, whether they apply, and how our lists overlap with them.

    Attributes:
        applies: whether the findings concern this model (rule in the module docstring).
        reason: why they apply or not, in words.
        known: the published entries (KNOWN).
        matches: per entry of KNOWN, the ids of the vocabulary tokens it matches (sorted).
        found: every matching token, by id.
        overlap: {"clump" | "longest" | "shortest" | "exceptions": ids of found tokens on that list}.
        median_centroid_percentile: median over found tokens of their centroid-distance percentile (NaN if none).
    """

    applies: bool
    reason: str
    known: tuple[KnownToken, ...]
    matches: tuple[tuple[int, ...], ...]
    found: tuple[FoundToken, ...]
    overlap: dict
    median_centroid_percentile: float


def applicability(model_id: str, n_tokens: int, byte_level: bool) -> tuple[bool, str]:
    """Whether the published GPT-2 findings apply to this model, and why."""
    if "gpt2" in model_id.lower():
        return True, f"the model id “{model_id}” names a GPT-2 model"
    if byte_level and n_tokens == GPT2_VOCAB:
        return True, f"the vocabulary is byte-level BPE with GPT-2's {GPT2_VOCAB:,} tokens"
    kind = "byte-level BPE" if byte_level else "not byte-level BPE"
    return False, (f"the model id does not name a GPT-2 model and its vocabulary ({n_tokens:,} tokens, {kind}) "
                   f"is not GPT-2's ({GPT2_VOCAB:,} tokens, byte-level BPE); the published findings concern "
                   "GPT-2 models")


def match(entry: KnownToken, token: bytes) -> bool:
    """Whether a vocabulary token (its bytes) matches a known entry."""
    text = token.decode("utf-8", errors="replace")
    if entry.pattern == "mojibake":
        return bool(MOJIBAKE.match(text))
    needle = entry.text.strip()
    return bool(needle) and needle in text


def analyse_literature(model_id: str, token_bytes: Sequence[bytes], byte_level: bool, norms: np.ndarray,
                       centroid_distance: np.ndarray, lists: dict) -> LiteratureResult:
    """Match KNOWN against the vocabulary and place each match among this model's tokens.

    `token_bytes` holds one byte string per token analysed; `norms` and `centroid_distance` are per token;
    `lists` maps "clump", "longest", "shortest", "exceptions" to the token ids on our own lists."""
    n = len(token_bytes)
    applies, reason = applicability(model_id, n, byte_level)
    matches = tuple(tuple(i for i, data in enumerate(token_bytes) if match(entry, data)) for entry in KNOWN)
    pct_norm, pct_centroid = percentile_ranks(norms), percentile_ranks(centroid_distance)
    sets = {name: set(int(i) for i in ids) for name, ids in lists.items()}
    entries_of: dict[int, list[int]] = {}
    for k, ids in enumerate(matches):
        for i in ids:
            entries_of.setdefault(i, []).append(k)
    found = tuple(FoundToken(i, tuple(entries_of[i]), float(pct_norm[i]), float(pct_centroid[i]),
                             i in sets.get("clump", ()), i in sets.get("longest", ()), i in sets.get("shortest", ()),
                             i in sets.get("exceptions", ())) for i in sorted(entries_of))
    overlap = {name: tuple(f.token_id for f in found if f.token_id in sets.get(name, ()))
               for name in ("clump", "longest", "shortest", "exceptions")}
    median = float(np.median([f.centroid_percentile for f in found])) if found else float("nan")
    return LiteratureResult(applies, reason, KNOWN, matches, found, overlap, median)
