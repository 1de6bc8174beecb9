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

Search (exact, never forms the V×V matrix):
    1. Norm order. u·v ≤ |u||v|, so only tokens longer than u can beat u·u. Tokens are sorted by norm and
       each block of query tokens is compared with the tokens from its shortest member upwards: half the
       pairs of a dense pass.
    2. A cheaper bound for those pairs. Rotate W into its singular basis and split every vector into its
       first k coordinates h and the rest r. Then u·v = h_u·h_v + r_u·r_v ≤ h_u·h_v + |r_u||r_v|, a bound
       that costs k + 3 multiply-adds per pair instead of d (one thin matrix product of augmented rows
       [h_u, |r_u|, δ|u|, −|u|²]·[h_v, |r_v|, |v|, 1]). A pair survives only if the bound, padded by
       δ·|u||v| to absorb float32 rounding, could reach s(u, u). k is chosen per model from a cost
       estimate measured on three fixed runs of query tokens.
    3. Surviving pairs are scored, a few hundred query rows at a time against the union of their
       surviving columns: in float32 first, then in float64 for the rows where some score comes within
       δ·|u||v| of u's own (float32 rounding is far smaller), and the rule above is applied.
    Every pair the bounds discard provably scores below s(u, u) − δ|u||v|, so it can neither be a winner
    nor tie one: the result equals that of the brute force (`dense_argmax` is the naive floor we time
    against; tests compare with a float64 brute force of the rule above).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from analyses.claims import Claim, claim

TOLERANCE = 1e-6  # ties: scores closer than this × |u||v| are equal
QUERY_BLOCK = 512  # query tokens per thin product (memory: QUERY_BLOCK × V × 4 bytes)
EXACT_ROWS = 256  # query rows scored exactly together
HEAD_OPTIONS = (16, 32, 64, 128, 192, 256, 384, 512, 768)  # candidate head sizes k (used up to 2d/3)
PROBE_RUNS = (0.1, 0.4, 0.7)  # where in the norm order the runs that choose k start
# Relative costs, in units of one float32 multiply-add inside a matrix product (measured on CPU):
BOUND_OVERHEAD = 16  # writing and scanning one entry of the bound
SCAN_COST = 4  # re-reading one bound entry of a row where some pair survives
EXACT_COST = 16  # one multiply-add of an exact score: gathered rows and small products, slow on a busy CPU
SELF_FRACTION_MIN = 0.98
COSINE_MIN = 0.8
LEADING_SPACE_MIN = 0.25
MACHINE_OR_BYTE_MIN = 0.5
HEADROOM_MIN = 0.5
MAX_P = 0.01

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
_MACHINE = re.compile(r"[<>{}\[\]=;/\\_|#@&`^~]|[a-z][A-Z]|\d{4}|(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6}"
                      r"|https?|www|://|\.(?:com|org|net|html|php|js|css)\b")


@dataclass(frozen=True)
class ZeroLayerException:
    """One token u that predicts another token v.

    Attributes:
        token_id: u.
        predicts_id: v, the token u predicts.
        cosine: cos(u, v).
        norm_ratio: |v| / |u| (> 1 for every exception: u·v ≤ |u||v|).
        dot_margin: (u·v − u·u) / u·u, how far v's logit beats u's own, relative to it.
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
class Predictions:
    """What every token predicts, and how much work the search did.

    Attributes:
        predicts: [tokens] int64 id each token predicts (itself unless it is an exception).
        exception: [tokens] bool, True where a token does not predict itself.
        head_dims: k, the number of singular directions used by the bound.
        pairs_bounded: pairs (u, v) the bound was evaluated on (norm order already removes half).
        pairs_scored: pairs scored exactly (float64) after the bound.
    """

    predicts: np.ndarray
    exception: np.ndarray
    head_dims: int
    pairs_bounded: int
    pairs_scored: int


@dataclass(frozen=True, eq=False)
class ZeroLayerResult:
    """The zero-layer model's predictions and its exceptions.

    Attributes:
        n_tokens: tokens analysed.
        self_predict_fraction: share of tokens that predict themselves.
        exceptions: every exception, by token id.
        category_counts: exceptions per category (all four categories present, possibly 0).
        norms: [tokens] L2 norm of each token embedding.
        head_dims, pairs_bounded, pairs_scored: search statistics (see `Predictions`).
        pairs_total: V², the dot products a dense pass computes.
        claims: verdicts on claims 20–23.
    """

    n_tokens: int
    self_predict_fraction: float
    exceptions: tuple[ZeroLayerException, ...]
    category_counts: dict
    norms: np.ndarray
    head_dims: int
    pairs_bounded: int
    pairs_scored: int
    pairs_total: int
    claims: tuple[Claim, ...]


def dense_argmax(token_embeddings: np.ndarray, device: str = "cpu", block: int = 1024) -> np.ndarray:
    """The naive floor: argmax of each row of W·Wᵀ in float32, one block of rows at a time.

    Plain torch argmax semantics (first maximum); used as the timing baseline, not for verdicts."""
    w = torch.as_tensor(np.asarray(token_embeddings, dtype=np.float32), device=device)
    out = torch.empty(w.shape[0], dtype=torch.long, device=device)
    for start in range(0, w.shape[0], block):
        out[start:start + block] = (w[start:start + block] @ w.T).argmax(dim=1)
    return out.cpu().numpy()


def _bound_slack(device: torch.device) -> float:
    """δ: float32 products are accurate to ~1e-5·|u||v|; reduced-precision matmul modes need more room."""
    if device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        return 2e-2
    return 1e-3 if torch.get_float32_matmul_precision() == "highest" else 2e-2


def _rotated_head(w: torch.Tensor, k_max: int, ks: Sequence[int]) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """The first k_max coordinates of every row in W's singular basis, and the norm of the rest beyond each k.

    Any orthonormal basis keeps the bound valid; the singular one makes it tight. Coordinates are computed
    in float64, so the residual norms (|u|² minus the head's share) do not lose precision."""
    n, d = w.shape
    gram = (w.T @ w).double().cpu()
    _, vectors = torch.linalg.eigh(gram)
    basis = vectors.flip(1)[:, :k_max].to(w.device)
    head = torch.empty(n, k_max, dtype=torch.float32, device=w.device)
    tails = {k: torch.zeros(n, dtype=torch.float64, device=w.device) for k in ks}
    for a in range(0, n, 8192):
        rows = w[a:a + 8192].double()
        coords = rows @ basis
        head[a:a + 8192] = coords.float()
        total = (rows * rows).sum(1)
        captured = (coords * coords).cumsum(1)
        for k in ks:
            if 0 < k < d:
                tails[k][a:a + 8192] = (total - captured[:, k - 1]).clamp_min(0)
            elif k == 0:
                tails[k][a:a + 8192] = total
    # Round the residual norms up a little: the bound must never be too small.
    return head, {k: (t.sqrt() * (1 + 1e-6)).float() for k, t in tails.items()}


def _augmented(head: torch.Tensor, tail: torch.Tensor, norms: torch.Tensor, delta: float):
    """Rows whose products give the bound minus the self score: queries [h, |r|, δ|u|, −|u|²], keys [h, |r|, |v|, 1]."""
    ones = torch.ones_like(norms)
    queries = torch.cat([head, tail[:, None], (delta * norms)[:, None], -(norms.double() ** 2).float()[:, None]], 1)
    keys = torch.cat([head, tail[:, None], norms[:, None], ones[:, None]], 1)
    return queries, keys


def _choose_head(head, tails, norms, starts, delta, d: int) -> int:
    """The k with the smallest estimated cost, measured on PROBE_RUNS runs of EXACT_ROWS consecutive query
    tokens (in norm order, as the search processes them): the bound over every candidate, plus, for rows where
    some pair survives, a scan of their bound row and exact scores against the run's union of survivors."""
    n = head.shape[0]
    rows = min(EXACT_ROWS, n)
    firsts = sorted({min(int(q * n), n - rows) for q in PROBE_RUNS})
    best, best_cost, worse = None, float("inf"), 0
    for k, tail in sorted(tails.items()):
        queries, keys = _augmented(head[:, :k], tail, norms, delta)
        cost = 0.0
        for a in firsts:
            start = int(starts[a])
            bound = queries[a:a + rows] @ keys[start:].T
            bound[:, a - start:a - start + rows].diagonal().fill_(-float("inf"))
            survive = bound > 0
            hit = survive.any(dim=1)
            union = int(survive[hit].any(dim=0).sum())
            columns = n - start
            cost += rows * columns * (k + 3 + BOUND_OVERHEAD) + int(hit.sum()) * (columns * SCAN_COST + union * d * EXACT_COST)
        if cost < best_cost:
            best, best_cost, worse = k, cost, 0
        else:
            worse += 1
            if worse == 2:  # costs rose twice in a row: larger heads only cost more
                break
    return best


class PredictionSearch:
    """The pruned search of the module docstring, cut into independent blocks of query tokens so that
    several threads can share it: each `work()` call takes blocks until none is left. Every block is
    computed the same way whoever takes it, so the result does not depend on how the work was shared.

        search = PredictionSearch(w, device)   # norm order, singular basis, choice of k
        search.work()                          # in one or more threads at once
        found = search.result()                # after every work() call has returned
    """

    def __init__(self, token_embeddings: np.ndarray, device: str = "cpu"):
        w = torch.as_tensor(np.asarray(token_embeddings, dtype=np.float32), device=device)
        n, d = w.shape
        dev = w.device
        norms64 = torch.cat([torch.linalg.vector_norm(w[a:a + 8192].double(), dim=1) for a in range(0, n, 8192)])
        self.order = torch.as_tensor(np.argsort(norms64.cpu().numpy(), kind="stable"), device=dev)
        self.ws = w[self.order]
        self.sorted_norms64 = norms64[self.order]
        sorted_norms = self.sorted_norms64.float()
        # A token can beat u only if it is longer than u; a hair of slack keeps equal norms in play.
        self.starts = torch.searchsorted(self.sorted_norms64, self.sorted_norms64 * (1 - 1e-4)).tolist()
        self.delta = _bound_slack(dev)
        ks = [k for k in HEAD_OPTIONS if k <= 2 * d // 3] or [d // 2]  # beyond 2d/3 the bound saves little
        head, tails = _rotated_head(self.ws, max(ks), ks)
        self.head_dims = _choose_head(head, tails, sorted_norms, self.starts, self.delta, d) if len(ks) > 1 else ks[0]
        self.queries, self.keys = _augmented(head[:, :self.head_dims].contiguous(), tails[self.head_dims],
                                             sorted_norms, self.delta)
        del head, tails
        self.n = n
        self.predicts = torch.arange(n, device=dev)[self.order]  # in sorted order: each token's own id
        self.exception = torch.zeros(n, dtype=torch.bool, device=dev)
        self._blocks = iter(range(0, n, QUERY_BLOCK))
        self._unfinished = len(range(0, n, QUERY_BLOCK))
        self._lock = threading.Lock()
        self._pairs = [0, 0]  # bounded, scored
        self._cancelled = False

    def cancel(self) -> None:
        """Let every work() call return after its current block (the result is then incomplete)."""
        self._cancelled = True

    def _next_block(self) -> int | None:
        with self._lock:
            return None if self._cancelled else next(self._blocks, None)

    def work(self) -> None:
        """Search blocks of query tokens until none is left."""
        n, ws, starts = self.n, self.ws, self.starts
        buffer = None  # one per thread, reused: no page faults per block
        while (a := self._next_block()) is not None:
            b = min(n, a + QUERY_BLOCK)
            start = starts[a]
            if buffer is None:
                buffer = torch.empty(min(n, QUERY_BLOCK) * n, dtype=torch.float32, device=ws.device)
            bound = torch.mm(self.queries[a:b], self.keys[start:].T,
                             out=buffer[:(b - a) * (n - start)].view(b - a, n - start))
            bound[:, a - start:b - start].diagonal().fill_(-float("inf"))  # u against itself
            bounded, scored = bound.numel(), 0
            rows = torch.nonzero(bound.amax(dim=1) > 0).flatten()
            for c in range(0, len(rows), EXACT_ROWS):
                chunk = rows[c:c + EXACT_ROWS]
                columns = torch.nonzero((bound[chunk] > 0).any(dim=0)).flatten() + start
                scored += len(chunk) * len(columns)
                self.predicts[chunk + a], self.exception[chunk + a] = _exact(
                    ws, self.sorted_norms64, self.order, chunk + a, columns, self.delta)
            with self._lock:
                self._pairs[0] += bounded
                self._pairs[1] += scored
                self._unfinished -= 1

    def result(self) -> Predictions:
        if self._cancelled or self._unfinished:
            raise RuntimeError("the search was cancelled or has not run to the end")
        predicts = torch.empty_like(self.predicts)
        predicts[self.order] = self.predicts
        exception = torch.empty_like(self.exception)
        exception[self.order] = self.exception
        return Predictions(predicts.cpu().numpy(), exception.cpu().numpy(), int(self.head_dims), *self._pairs)


def zero_layer_predictions(token_embeddings: np.ndarray, device: str = "cpu") -> Predictions:
    """Exact zero-layer predictions of every token by the pruned search described in the module docstring."""
    search = PredictionSearch(token_embeddings, device)
    search.work()
    return search.result()


def _exact(ws, norms64, order, rows, columns, delta: float):
    """Apply the rule to sorted query rows against sorted candidate columns.

    A float32 product finds the rows where some column comes within δ·|u||v| of u's own score (δ is far
    more than float32 rounding); only those rows are scored again in float64 and judged by the rule.
    Returns (winner ids, is-exception flags) for `rows`."""
    queries, keys = ws[rows], ws[columns]
    own = norms64[rows] ** 2
    outer = norms64[rows][:, None] * norms64[columns][None, :]
    rough = (queries @ keys.T).double()
    rough[rows[:, None] == columns[None, :]] = -float("inf")
    close = ((rough - own[:, None]) > -delta * outer).any(dim=1)
    winners = order[rows].clone()
    is_exception = torch.zeros(len(rows), dtype=torch.bool, device=ws.device)
    if not close.any():
        return winners, is_exception
    pick = torch.nonzero(close).flatten()
    exact_rows = ws[rows[pick]].double()
    scores = exact_rows @ keys.double().T
    scores[rows[pick][:, None] == columns[None, :]] = -float("inf")
    scale = TOLERANCE * outer[pick]
    beats = ((scores - (exact_rows * exact_rows).sum(1)[:, None]) > scale).any(dim=1)
    near = scores >= scores.amax(dim=1, keepdim=True) - scale
    ids = order[columns][None, :].expand_as(scores)
    lowest = torch.where(near, ids, torch.full_like(ids, torch.iinfo(torch.long).max)).amin(dim=1)
    winners[pick] = torch.where(beats, lowest, winners[pick])
    is_exception[pick] = beats
    return winners, is_exception


def analyse_zero_layer(token_embeddings: np.ndarray, token_bytes: Sequence[bytes], unprintable: np.ndarray,
                       device: str = "cpu", found: Predictions | None = None) -> ZeroLayerResult:
    """Every token's zero-layer prediction, its exceptions with categories, and claims 20–23.

    `token_bytes[i]` and `unprintable[i]` describe token i (as in report.tokens.TokenTable). `found` is the
    search's result when it already ran (the report runs it in the background); otherwise it runs here."""
    w = np.asarray(token_embeddings, dtype=np.float32)
    n = w.shape[0]
    if found is None:
        found = zero_layer_predictions(w, device)
    elif len(found.predicts) != n:
        raise ValueError(f"predictions for {len(found.predicts)} tokens, embeddings for {n}")
    norms = np.concatenate([np.linalg.norm(w[a:a + 8192].astype(np.float64), axis=1) for a in range(0, n, 8192)])
    exceptions = []
    for u in np.flatnonzero(found.exception):
        v = int(found.predicts[u])
        wu, wv = w[u].astype(np.float64), w[v].astype(np.float64)
        dot, own = float(wu @ wv), float(wu @ wu)
        exceptions.append(ZeroLayerException(
            int(u), v, dot / (norms[u] * norms[v]), float(norms[v] / norms[u]), (dot - own) / own,
            category_of(token_bytes[u], token_bytes[v], bool(unprintable[u]), bool(unprintable[v]))))
    counts = {c: sum(e.category == c for e in exceptions) for c in CATEGORIES}
    fraction = 1.0 - len(exceptions) / n if n else float("nan")
    return ZeroLayerResult(n, fraction, tuple(exceptions), counts, norms, found.head_dims, found.pairs_bounded,
                           found.pairs_scored, n * n, _claims(fraction, exceptions, counts, token_bytes, unprintable))


def category_of(u: bytes, v: bytes, u_unprintable: bool, v_unprintable: bool) -> str:
    """The category of an exception u → v, by the rules in CATEGORY_RULES, checked in that order."""
    if len(u) > 1 and u[:1] == b" " and u[1:].lower() == v.lower():
        return LEADING_SPACE
    if u_unprintable or v_unprintable or not _valid_utf8(u) or not _valid_utf8(v):
        return UNPRINTABLE
    if any(_MACHINE.search(t.decode("utf-8", errors="replace")) for t in (u, v)):
        return MACHINE
    return OTHER


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _claims(fraction: float, exceptions: list[ZeroLayerException], counts: dict, token_bytes: Sequence[bytes] = (),
            unprintable: np.ndarray | None = None) -> tuple[Claim, ...]:
    """Claims 20–23. Base rates for 22 and 23 come from the vocabulary: how often a pair of tokens drawn at random
    would drop a leading space, or involve an odd (unprintable, invalid or machine-readable) token."""
    from scipy import stats

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
    flags = np.zeros(vocab, dtype=bool) if unprintable is None else np.asarray(unprintable, dtype=bool)
    odd_tokens = np.array([bool(flags[i]) or not _valid_utf8(t) or bool(_MACHINE.search(t.decode("utf-8", errors="replace")))
                           for i, t in enumerate(token_bytes)], dtype=bool)
    p_odd = float(odd_tokens.mean()) if vocab else float("nan")
    odd_rate = 1 - (1 - p_odd) ** 2  # either token of a random pair is odd
    present = set(token_bytes)
    twins = sum(1 for t in token_bytes if len(t) > 1 and t[:1] == b" " and t[1:] in present)
    space_rate = twins / vocab ** 2 if vocab else float("nan")  # u has a space-less twin and v is that twin
    space_p = float(stats.binom.sf(counts[LEADING_SPACE] - 1, n, space_rate)) if n and vocab else float("nan")
    odd_p = float(stats.binom.sf(odd - 1, rest, odd_rate)) if rest and vocab else float("nan")
    return (
        claim(20, fraction, fraction >= SELF_FRACTION_MIN,
              f"holds if ≥ {SELF_FRACTION_MIN:.0%} of tokens predict themselves", f"{n:,} exceptions"),
        claim(21, median_cos, None if not n else bool(median_cos >= COSINE_MIN and median_headroom >= HEADROOM_MIN),
              f"u·v > |u|² forces |u| < |v| and cos(u, v) > |u|/|v|, so the effect is the cosine beyond that bound: "
              f"holds if the median cos(u, v) over exceptions is ≥ {COSINE_MIN} and the median exception uses ≥ "
              f"{HEADROOM_MIN:.0%} of the room between |u|/|v| and 1",
              f"median |v|/|u| = {np.median(ratios):.3g}; median share of the room used {median_headroom:.0%}"
              if n else "no exceptions"),
        claim(22, counts[LEADING_SPACE] / n if n else None,
              None if not n or not vocab else bool(counts[LEADING_SPACE] / n >= LEADING_SPACE_MIN and space_p < MAX_P),
              f"effect: ≥ {LEADING_SPACE_MIN:.0%} of exceptions drop a leading space; null: v drawn at random from the "
              f"vocabulary (binomial, base rate = space-less twins / vocabulary²); holds if p < {MAX_P:g}",
              f"{counts[LEADING_SPACE]:,} of {n:,} (p {space_p:.2g})" if n else "no exceptions"),
        claim(23, odd / rest if rest else None,
              None if not rest or not vocab else bool(odd / rest >= MACHINE_OR_BYTE_MIN and odd_p < MAX_P),
              f"effect: ≥ {MACHINE_OR_BYTE_MIN:.0%} of the other exceptions involve an unprintable byte or "
              f"machine-readable text; null: both tokens drawn at random from the vocabulary (binomial, base rate "
              f"{odd_rate:.0%} from the vocabulary's {p_odd:.0%} odd tokens); holds if p < {MAX_P:g}",
              f"{odd:,} of {rest:,} (p {odd_p:.2g})" if rest else "no exceptions besides leading-space removals"),
    )
