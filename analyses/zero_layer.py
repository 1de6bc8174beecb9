"""The zero-layer model: with tied embeddings, the logits for input token u are W·u, so u "predicts" the
token v with the largest dot product u·v. Which tokens do not predict themselves, and why?

Semantics (what the search computes, exactly):
    Scores are s(u, v) = u·v, evaluated in float64 from the stored float32 weights (products of float32
    numbers are exact in float64, so the scores agree across devices to ~1e-15).
    u is an *exception* iff some v ≠ u has s(u, v) > s(u, u) + TOLERANCE·|u|·|v|. The tolerance (one
    part in a million of |u||v|) keeps rounding from turning a tie into a verdict: duplicate rows, or a
    zero vector, predict themselves.
    predicts_id(u) = u when u is not an exception; otherwise the lowest token id among the v ≠ u whose
    score is within TOLERANCE·|u|·|v| of the best score.
    Untied models: the logits are the unembedding rows against the embedding, s(u, v) = e_u·w_v, and the
    same rule applies with |u| = |e_u| and |v| = |w_v|.

Search: one exact pass (analyses.pairs.token_pairs): tokens sorted by norm, each compared only with longer ones
(u·v ≤ |u||v|, so only those can win), screened in bf16 or float32 with a proven error bound, every
candidate confirmed in float64 — the brute force's answer at half the products of a dense pass, on any
input. Untied models take a dense blocked pass of the same kind (no symmetry to use).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

from analyses.claims import Claim, claim
from analyses.pairs.token_pairs import TOLERANCE, PairScan, scan_pairs  # noqa: F401  (TOLERANCE is re-exported)
from analyses.vectors import row_norms

SELF_FRACTION_MIN = 0.98
COSINE_MIN = 0.8
LEADING_SPACE_MIN = 0.25
MACHINE_OR_BYTE_MIN = 0.25  # "many of the confusing cases", as "many" in claim 22
HEADROOM_MIN = 0.5
ODD_ODDS_MIN = 2.0
MAX_P = 0.01
PAIR_BLOCK = 4096  # exceptions whose rows are gathered in float64 at once (3 × 4096 × d × 8 bytes)

LEADING_SPACE, UNPRINTABLE, MACHINE, OTHER = "leading-space removal", "unprintable byte", "machine-readable", "other"
CATEGORIES = (LEADING_SPACE, UNPRINTABLE, MACHINE, OTHER)
CATEGORY_RULES = {
    LEADING_SPACE: "u is a space followed by v's bytes, ignoring ASCII case (\" Word\" → \"word\")",
    UNPRINTABLE: "u or v holds bytes that are not valid UTF-8 on their own, or control characters",
    MACHINE: "u or v looks like markup, code or data: one of < > { } [ ] = ; / \\ _ | # @ & ` ^ ~, a lower-case "
             "letter followed by a capital (camelCase), 4+ digits in a row, 6+ hex digits mixing digits and "
             "letters, or a URL fragment (http, www, ://, .com, .org, .net, .html, .php, .js, .css)",
    OTHER: "none of the above",
}
_MACHINE = re.compile(r"[<>{}\[\]=;/\\_|#@&`^~]|[a-z][A-Z]|\d{4}"
                      r"|(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6}"
                      r"|https?|www|://|\.(?:com|org|net|html|php|js|css)\b")


@dataclass(frozen=True)
class ZeroLayerException:
    """One token u that predicts another token v.

    Attributes:
        token_id: u.
        predicts_id: v, the token u predicts.
        cosine: cos(u, v) (untied: cos(e_u, w_v), input embedding against output row).
        norm_ratio: |v| / |u| (> 1 for every tied exception: u·v ≤ |u||v|; untied: |w_v| / |w_u|).
        dot_margin: (u·v − u·u) / u·u, how far v's logit beats u's own, relative to it
            (untied: (e_u·w_v − e_u·w_u) / |e_u·w_u|).
        category: "leading-space removal", "unprintable byte", "machine-readable" or "other"
            (rules in CATEGORY_RULES, checked in that order).
    """

    token_id: int
    predicts_id: int
    cosine: float
    norm_ratio: float
    dot_margin: float
    category: str


@dataclass(frozen=True, eq=False)
class ZeroLayerResult:
    """The zero-layer model's predictions and its exceptions.

    Attributes:
        n_tokens: tokens analysed.
        self_predict_fraction: share of tokens that predict themselves.
        exceptions: every exception, by token id.
        category_counts: exceptions per category (all four categories present, possibly 0).
        norms: [tokens] L2 norm of each token embedding.
        direct: True when the logits came from the model's own unembedding (untied), False for W·Wᵀ.
        precision: "bf16" or "fp32", the screen's precision (answers are exact either way).
        pairs_screened: dot products the screen computed.
        pairs_scored: pairs scored again in float64.
        pairs_total: V², the dot products a dense pass computes.
        claims: verdicts on claims 20–23.
    """

    n_tokens: int
    self_predict_fraction: float
    exceptions: tuple[ZeroLayerException, ...]
    category_counts: dict
    norms: np.ndarray
    direct: bool
    precision: str
    pairs_screened: int
    pairs_scored: int
    pairs_total: int
    claims: tuple[Claim, ...]

    @property
    def targets(self) -> list[int]:
        """The tokens that exceptions predict, most often predicted first (ties by id)."""
        counts = Counter(e.predicts_id for e in self.exceptions)
        return sorted(counts, key=lambda v: (-counts[v], v))


def zero_layer_predictions(token_embeddings: np.ndarray, device: str = "cpu", unembedding: np.ndarray | None = None,
                           precision: str | None = None) -> PairScan:
    """Exact zero-layer predictions of every token (W·Wᵀ, or the unembedding against W when given)."""
    if unembedding is None:
        return scan_pairs(token_embeddings, device=device, precision=precision)
    return scan_pairs(unembedding, queries=token_embeddings, device=device, precision=precision)


def analyse_zero_layer(token_embeddings: np.ndarray, token_bytes: Sequence[bytes], unprintable: np.ndarray,
                       device: str = "cpu", found: PairScan | None = None,
                       unembedding: np.ndarray | None = None) -> ZeroLayerResult:
    """Every token's zero-layer prediction, its exceptions with categories, and claims 20–23.

    `token_bytes[i]` and `unprintable[i]` describe token i (as in report.load.tokens.TokenTable). `unembedding`
    is the untied output matrix (rows = tokens), None when tied. `found` is the pass's result when it already
    ran (the report runs it in the background); otherwise it runs here."""
    w = np.asarray(token_embeddings, dtype=np.float32)
    out = w if unembedding is None else np.asarray(unembedding, dtype=np.float32)
    n = w.shape[0]
    if found is None:
        found = zero_layer_predictions(w, device, None if unembedding is None else out)
    elif len(found.predicts) != n:
        raise ValueError(f"predictions for {len(found.predicts)} tokens, embeddings for {n}")
    norms = row_norms(w)
    unreadable, machine = _token_kinds(token_bytes, unprintable)
    exceptions = _exceptions(w, out, norms, found, token_bytes, unreadable, machine)
    counts = {c: sum(e.category == c for e in exceptions) for c in CATEGORIES}
    fraction = 1.0 - len(exceptions) / n if n else float("nan")
    return ZeroLayerResult(n, fraction, tuple(exceptions), counts, norms, unembedding is not None, found.precision,
                           found.pairs_screened, found.pairs_scored, n * out.shape[0],
                           _claims(fraction, exceptions, counts, token_bytes, unreadable | machine))


def _exceptions(w: np.ndarray, out: np.ndarray, norms: np.ndarray, found: PairScan, token_bytes: Sequence[bytes],
                unreadable: np.ndarray, machine: np.ndarray) -> list[ZeroLayerException]:
    """Every exception u → v with its measures, computed for all exceptions at once.

    Each dot product is float64 `np.dot` of one row pair (one BLAS dot per pair, through matmul's stacked
    vectors): the same summation as the scalar `eu @ wv` and `np.linalg.norm`, so the floats are
    bit-identical to scoring the exceptions one at a time."""
    us = np.flatnonzero(found.exception)
    vs = found.predicts[us].astype(np.int64)
    dot, own, norm_u, norm_v = (np.empty(len(us)) for _ in range(4))
    for a in range(0, len(us), PAIR_BLOCK):
        u, v = us[a:a + PAIR_BLOCK], vs[a:a + PAIR_BLOCK]
        eu, wv = w[u].astype(np.float64)[:, None, :], out[v].astype(np.float64)[:, None, :]
        wu = eu if out is w else out[u].astype(np.float64)[:, None, :]
        dot[a:a + PAIR_BLOCK] = _row_dots(eu, wv)
        own[a:a + PAIR_BLOCK] = _row_dots(eu, wu)
        norm_u[a:a + PAIR_BLOCK] = np.sqrt(_row_dots(wu, wu))
        norm_v[a:a + PAIR_BLOCK] = np.sqrt(_row_dots(wv, wv))
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = dot / (norms[us] * norm_v)
        ratio = norm_v / norm_u
        margin = np.where(own != 0, (dot - own) / np.abs(own), np.inf)
    categories = [_category(token_bytes[u], token_bytes[v], unreadable[u] or unreadable[v], machine[u] or machine[v])
                  for u, v in zip(us.tolist(), vs.tolist())]
    return [ZeroLayerException(u, v, c, r, m, k) for u, v, c, r, m, k
            in zip(us.tolist(), vs.tolist(), cosine.tolist(), ratio.tolist(), margin.tolist(), categories)]


def _row_dots(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[n] float64 dot of x[i] and y[i] ([n, 1, d] each), one BLAS dot per row (as `x[i] @ y[i]` sums it)."""
    return np.matmul(x, y.transpose(0, 2, 1))[:, 0, 0] if len(x) else np.zeros(0)


def _token_kinds(token_bytes: Sequence[bytes], unprintable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per token, once: unreadable (flagged unprintable, or bytes that are not valid UTF-8 on their own) and
    machine-readable (CATEGORY_RULES' markup/code/data patterns). Either makes a token "odd" (claim 23)."""
    flags = np.asarray(unprintable, dtype=bool)
    unreadable = np.array([bool(flags[i]) or not _valid_utf8(t) for i, t in enumerate(token_bytes)], dtype=bool)
    machine = np.array([bool(_MACHINE.search(t.decode("utf-8", errors="replace"))) for t in token_bytes], dtype=bool)
    return unreadable, machine


def category_of(u: bytes, v: bytes, u_unprintable: bool, v_unprintable: bool) -> str:
    """The category of an exception u → v, by the rules in CATEGORY_RULES, checked in that order."""
    unreadable = u_unprintable or v_unprintable or not _valid_utf8(u) or not _valid_utf8(v)
    return _category(u, v, unreadable, any(_MACHINE.search(t.decode("utf-8", errors="replace")) for t in (u, v)))


def _category(u: bytes, v: bytes, unreadable: bool, machine: bool) -> str:
    """The rules in order, with the per-token tests already done (`unreadable`, `machine`: either token)."""
    if len(u) > 1 and u[:1] == b" " and u[1:].lower() == v.lower():
        return LEADING_SPACE
    if unreadable:
        return UNPRINTABLE
    if machine:
        return MACHINE
    return OTHER


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _claims(fraction: float, exceptions: list[ZeroLayerException], counts: dict, token_bytes: Sequence[bytes],
            odd_tokens: np.ndarray) -> tuple[Claim, ...]:
    """Claims 20–23. Base rates for 22 and 23 come from the vocabulary: how often a random v would be u's
    space-less twin, and how many of the distinct tokens in the exceptions would be odd (unprintable, invalid or
    machine-readable) if the vocabulary's odd/plain labels were shuffled over the tokens."""
    n = len(exceptions)
    cosines = np.array([e.cosine for e in exceptions])
    ratios = np.array([e.norm_ratio for e in exceptions])
    # u·v > |u|² forces cos(u, v) > |u|/|v|: only the cosine beyond that bound says "nearly parallel".
    headroom = (cosines - 1 / ratios) / np.maximum(1 - 1 / ratios, 1e-12) if n else np.zeros(0)
    median_cos = float(np.median(cosines)) if n else None
    median_headroom = float(np.median(headroom)) if n else float("nan")
    rest = n - counts[LEADING_SPACE]
    odd = counts[UNPRINTABLE] + counts[MACHINE]
    vocab = len(token_bytes)
    p_odd = float(odd_tokens.mean()) if vocab else float("nan")
    # Null: the odd/plain labels shuffled over the vocabulary. Many exceptions can share a token (a clump predicts
    # its longest member), so the test counts distinct tokens: odd ones among them are hypergeometric.
    involved = np.unique([t for e in exceptions if e.category != LEADING_SPACE for t in (e.token_id, e.predicts_id)])
    odd_involved = int(odd_tokens[involved].sum()) if len(involved) else 0
    n_odd = int(odd_tokens.sum())
    odd_p = float(stats.hypergeom.sf(odd_involved - 1, vocab, n_odd, len(involved))) if rest and vocab else float("nan")
    odd_share = odd / rest if rest else float("nan")
    odds_ratio = _odds(odd_involved / len(involved)) / _odds(p_odd) if len(involved) and 0 < p_odd < 1 else float("nan")
    present = set(token_bytes)
    twins = sum(1 for t in token_bytes if len(t) > 1 and t[:1] == b" " and t[1:] in present)
    space_rate = twins / vocab ** 2 if vocab else float("nan")  # u has a space-less twin and v is that twin
    space_p = float(stats.binom.sf(counts[LEADING_SPACE] - 1, n, space_rate)) if n and vocab else float("nan")
    return (
        claim("tokens_predict_themselves", fraction, fraction >= SELF_FRACTION_MIN,
              f"holds if ≥ {SELF_FRACTION_MIN:.0%} of tokens predict themselves", f"{n:,} exceptions"),
        claim("exceptions_parallel_and_longer", median_cos,
              None if not n else bool(median_cos >= COSINE_MIN and median_headroom >= HEADROOM_MIN),
              f"u·v > |u|² forces |u| < |v| and cos(u, v) > |u|/|v|, so the effect is the cosine beyond that bound: "
              f"holds if the median cos(u, v) over exceptions is ≥ {COSINE_MIN} and the median exception uses ≥ "
              f"{HEADROOM_MIN:.0%} of the room between |u|/|v| and 1",
              f"median |v|/|u| = {np.median(ratios):.3g}; median share of the room used {median_headroom:.0%}"
              if n else "no exceptions"),
        claim("exceptions_drop_leading_space", counts[LEADING_SPACE] / n if n else None,
              None if not n or not vocab else bool(counts[LEADING_SPACE] / n >= LEADING_SPACE_MIN and space_p < MAX_P),
              f"effect: ≥ {LEADING_SPACE_MIN:.0%} of exceptions drop a leading space; null: v drawn at random from the "
              f"vocabulary (binomial, base rate = space-less twins / vocabulary²); holds if p < {MAX_P:g}",
              f"{counts[LEADING_SPACE]:,} of {n:,} (p {space_p:.2g})" if n else "no exceptions"),
        claim("exceptions_odd_bytes_or_code", odd_share if rest else None,
              None if not rest or not vocab else bool(odd_share >= MACHINE_OR_BYTE_MIN and odds_ratio >= ODD_ODDS_MIN
                                                     and odd_p < MAX_P),
              f"effect: ≥ {MACHINE_OR_BYTE_MIN:.0%} of the other exceptions involve an unprintable byte or "
              f"machine-readable text, and the distinct tokens in them are odd at ≥ {ODD_ODDS_MIN:g}× the odds of "
              f"the vocabulary's {p_odd:.0%}; null: the odd/plain labels shuffled over the vocabulary, so the odd "
              f"tokens among those distinct tokens are hypergeometric (a token in several exceptions counts once); "
              f"holds if p < {MAX_P:g}",
              f"{odd:,} of {rest:,}; {odd_involved:,} of their {len(involved):,} tokens odd, odds ratio "
              f"{odds_ratio:.3g} (p {odd_p:.2g})" if rest
              else "no exceptions besides leading-space removals"),
    )


def _odds(share: float) -> float:
    return share / (1 - share) if share < 1 else float("inf")
