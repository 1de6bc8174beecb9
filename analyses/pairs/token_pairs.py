"""One exact pass over pairs of token vectors: every token's zero-layer prediction (the argmax of its row of
logits) and every pair of tokens closer than the crowding threshold, at a cost that does not depend on the data.

Exact answers from a cheap screen: scores are screened in low precision with a proven error bound
(analyses.pairs.screen); the pairs the screen cannot rule out (analyses.pairs.candidates) are scored again in
float64 from the float32 weights and judged by the exact rule, so the answers are those of a float64 brute
force. Exact duplicate rows run through the pass once (analyses.pairs.copies); the pairs inside large groups of
near-duplicate rows are settled apart, in float64, at a cost linear in each group's size (analyses.pairs.groups).

The symmetric pass (tied embeddings, and crowding): u·v ≤ |u||v| and u·u = |u|², so only a longer token can
beat u (or tie a winner within the tolerance). Tokens are sorted by norm and each block of query tokens is
multiplied with the tokens from its own position on (plus any of equal norm just before it): half the
products of a dense pass, whatever the data. The same products give the squared distances |u|² + |v|² − 2u·v
of every pair once, so the pairs within the crowding threshold come out exhaustively at no extra pass.

The direct pass (untied models): the embedding rows against every unembedding row, a dense blocked argmax
with the same screen. The pairs with a group of near-duplicate output rows leave the screen; a token to which
the group may matter (its screened bound reaches the token's target) has them settled apart, in float64
(analyses.pairs.groups.DirectGroups).

Blocks of query tokens are independent, so several threads can share one pass (`work()`), and the result
does not depend on how the blocks were shared.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import torch

from analyses.pairs.blocks import in_blocks
from analyses.pairs.candidates import RowCandidates, group_max, near_candidates, refine
from analyses.pairs.copies import exact_copies
from analyses.pairs.groups import K_NEAREST, DirectGroups, GroupIndex, group_radius, nearest
from analyses.pairs.screen import (  # noqa: F401  (re-exported: the pass's public API)
    ARITHMETIC,
    TOLERANCE,
    absolute_error,
    error_bound,
    gemm_speeds,
    screen_precision,
)

ROW_BLOCK = 2048  # query tokens per block
COLUMN_CHUNK = 16384  # key tokens per product: the bound on |k| is taken per chunk of norm-sorted keys
EXACT_BYTES = 1 << 20  # float64 rows (or pairs) widened at once: about 1 MB, so they stay in cache
REFINE_MIN = 1024  # more bf16 candidates than this in a block are screened again in float32 first
SCALE_BYTES = 2 << 20  # float32 rows gathered, scaled and narrowed to the screen precision at once


@dataclass(frozen=True, eq=False)
class PairScan:
    """What one pass found.

    Attributes:
        predicts: [queries] int64 id of the key token each query token predicts (its own id unless an exception).
        exception: [queries] bool, True where a token does not predict itself.
        near_pairs: [pairs, 2] int64 token ids (i < j) of every pair of distinct rows at distance ≤ threshold
            (symmetric pass only; empty otherwise), sorted. Each id is its group's lowest (see `copies`): the
            copies of a row are 0 apart, and as far from another row's copies as the rows are. Inside a group of
            near-duplicates (see `groups`), where every pair is within the threshold, only each row's
            K_NEAREST nearest members (and any tying the last) and its link to the group's centre row.
        near_distances: [pairs] float64 exact distance of each of those pairs (embedding units).
        copies: [queries] int64 lowest id of a row identical to each token's (its own id when none; symmetric
            pass only, else every token's own id); analyses.pairs.copies counts the pairs with every copy.
        groups: [queries] int64 lowest id of each token's group of near-duplicate rows (analyses.pairs.groups;
            its own id when none; copies share their row's group). Direct pass: the groups of the output rows,
            for the tokens whose output row lies in one.
        threshold: the distance threshold used (embedding units; ≤ 0: none).
        precision: "bf16" or "fp32", the precision of the screen.
        pairs_screened: products the screen computed (q·k pairs).
        pairs_scored: pairs scored again in float64 (zero-layer candidates and near-pair candidates).
    """

    predicts: np.ndarray
    exception: np.ndarray
    near_pairs: np.ndarray
    near_distances: np.ndarray
    copies: np.ndarray
    groups: np.ndarray
    threshold: float
    precision: str
    pairs_screened: int
    pairs_scored: int


class PairPass:
    """The pass of the module docstring, cut into blocks of query tokens that threads can share.

        scan = PairPass(w, threshold=t)          # symmetric pass over the rows of w
        scan = PairPass(u, queries=e)            # direct pass: rows of e scored against rows of u
        scan.work()                              # in one or more threads at once
        found = scan.result()                    # after every work() call has returned
    """

    def __init__(self, keys: np.ndarray, queries: np.ndarray | None = None, threshold: float = -1.0,
                 device: str = "cpu", precision: str | None = None):
        keys = np.asarray(keys, dtype=np.float32)
        if keys.ndim != 2 or keys.shape[0] < 1:
            raise ValueError(f"expected a matrix of token rows, got shape {keys.shape}")
        self.symmetric = queries is None
        self.copies = np.arange(len(keys) if self.symmetric else len(queries), dtype=np.int64)
        self.distinct = None  # ids of the rows the symmetric pass runs on, when some rows are exact copies
        if self.symmetric:
            self.copies = exact_copies(keys)
            if (self.copies != np.arange(len(keys))).any():
                self.distinct = np.flatnonzero(self.copies == np.arange(len(keys)))
                keys = keys[self.distinct]
        k32 = torch.as_tensor(keys, device=device)
        q32 = k32 if self.symmetric else torch.as_tensor(np.asarray(queries, dtype=np.float32), device=device)
        if q32.shape[1] != k32.shape[1] or (not self.symmetric and q32.shape[0] > k32.shape[0]):
            raise ValueError(f"queries {tuple(q32.shape)} do not match keys {tuple(k32.shape)}")
        d = k32.shape[1]
        self.precision = precision or screen_precision(device)
        self.eps, self.eta = error_bound(self.precision, d), absolute_error(d)
        self.threshold = float(threshold) if self.symmetric else -1.0
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        extremes = [float(x) for m in ((k32,) if self.symmetric else (k32, q32)) for x in torch.aminmax(m)]
        if not all(math.isfinite(x) for x in extremes):  # NaN propagates to both
            raise ValueError("the weights hold NaN or infinite values")
        largest = max(abs(x) for x in extremes)
        # A power of two (exact) that brings the largest value into [0.5, 1), within float32's range.
        self.scale = 2.0 ** -max(-100, min(100, math.frexp(largest)[1])) if largest > 0 else 1.0

        self.k32, self.q32 = k32, q32
        squares = _squares(k32)
        kn64 = squares.sqrt()
        self.key_order = torch.as_tensor(np.argsort(kn64.cpu().numpy(), kind="stable"), device=k32.device)
        self.kn64 = kn64[self.key_order]
        self.ks = _scaled(k32, self.key_order, self.scale, dtype)
        self.kn = (self.kn64 * self.scale).float()
        if self.symmetric:  # queries are the keys, in the same norm order
            self.query_ids, self.qs, self.qn64 = self.key_order, self.ks, self.kn64
            # Only a longer token can matter (module docstring); the 1e-9 keeps float64 norm rounding harmless.
            self.first = torch.searchsorted(self.kn64, self.kn64 * (1 - 1e-9)).tolist()
            self.own64 = squares[self.key_order]
            self.self_position = torch.arange(len(self.kn64), device=k32.device)
            radius = group_radius(self.kn64.cpu().numpy(), self.threshold)
            self.groups = GroupIndex(k32, self.key_order, self.kn64, self.own64, self.first, radius)
        else:
            self.query_ids = torch.arange(q32.shape[0], device=k32.device)
            self.qs = None  # narrowed a block at a time (in `_block`): no second screen-precision copy held
            self.qn64 = _squares(q32).sqrt()
            self.first = [0] * q32.shape[0]
            self.own64 = _dots(q32, None, k32[: q32.shape[0]], None)  # more keys than queries: their first
            inverse = torch.empty_like(self.key_order)
            inverse[self.key_order] = torch.arange(len(self.key_order), device=k32.device)
            self.self_position = inverse[: q32.shape[0]]
            self.groups = DirectGroups(q32, k32, self.key_order, self.kn64, self.self_position, self.qn64, self.own64,
                                       group_radius(self.kn64.cpu().numpy(), -1.0))
        self.qn = (self.qn64 * self.scale).float()
        self.own = (self.own64 * self.scale ** 2).float()
        self.n_queries, self.n_keys = q32.shape[0], self.ks.shape[0]
        self.predicts = self.query_ids.clone()  # in query order: each token's own id
        self.exception = torch.zeros(self.n_queries, dtype=torch.bool, device=k32.device)
        self._near: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._blocks = iter(range(0, self.n_queries, ROW_BLOCK))
        self._unfinished = len(range(0, self.n_queries, ROW_BLOCK))
        self._lock = threading.Lock()
        self._finished = threading.Condition(self._lock)  # every block done, or the pass cancelled
        self._counts = [0, 0]  # screened, scored
        self._cancelled = False

    def cancel(self) -> None:
        """Let every work() call return after its current block (the result is then incomplete)."""
        with self._finished:
            self._cancelled = True
            self._finished.notify_all()

    def wait(self) -> None:
        """Until every block is done (by whichever threads took them), or the pass is cancelled."""
        with self._finished:
            self._finished.wait_for(lambda: self._unfinished == 0 or self._cancelled)

    def _next_block(self) -> int | None:
        with self._lock:
            return None if self._cancelled else next(self._blocks, None)

    def work(self) -> None:
        """Scan blocks of query tokens until none is left."""
        buffer = narrow = None  # one of each per thread, reused (fresh blocks would each cost new pages)
        while (a := self._next_block()) is not None:
            if buffer is None:
                rows = min(ROW_BLOCK, self.n_queries)
                buffer = torch.empty(rows * min(COLUMN_CHUNK, self.n_keys), dtype=self.ks.dtype, device=self.ks.device)
                if self.qs is None:
                    narrow = torch.empty(rows, self.ks.shape[1], dtype=self.ks.dtype, device=self.ks.device)
            threads = torch.get_num_threads()
            try:
                screened, scored = self._block(a, min(self.n_queries, a + ROW_BLOCK), buffer, narrow)
            finally:
                torch.set_num_threads(threads)
            with self._lock:
                self._counts[0] += screened
                self._counts[1] += scored
                self._unfinished -= 1
                if not self._unfinished:
                    self._finished.notify_all()

    def _block(self, a: int, b: int, buffer: torch.Tensor, narrow: torch.Tensor | None) -> tuple[int, int]:
        qn, own = self.qn[a:b], self.own[a:b]
        slack = self.eta + ARITHMETIC * own.abs()
        state = RowCandidates(qn, own, slack, self.eps)
        near: list[tuple[torch.Tensor, torch.Tensor]] = []
        t2 = (self.threshold * self.scale) ** 2 if self.threshold > 0 else 0.0  # ≤ 0: no crowding pairs
        screened, group_top = 0, None
        threads = torch.get_num_threads()
        if self.qs is not None:
            queries = self.qs[a:b]
        else:  # direct pass: narrowed here, into this thread's buffer
            queries = _scaled(self.q32[a:b], None, self.scale, narrow.dtype, narrow)
        for c0 in range(self.first[a], self.n_keys, COLUMN_CHUNK):
            c1 = min(self.n_keys, c0 + COLUMN_CHUNK)
            torch.set_num_threads(threads)
            s = torch.mm(queries, self.ks[c0:c1].T, out=buffer[:(b - a) * (c1 - c0)].view(b - a, c1 - c0))
            # The bookkeeping below reads each score once or twice: one core keeps up with that, and on a busy
            # machine it spares every small step a wait for the other threads.
            torch.set_num_threads(1)
            self._mask(s, a, b, c0, c1)
            top = self.groups.mask(s, a, c0) if self.groups is not None else None  # settled below, in float64
            if top is not None:  # direct pass: the largest screened score over each group's columns
                group_top = top if group_top is None else torch.maximum(group_top, top)
            screened += s.numel()
            kmax = float(self.kn[c1 - 1])
            best = _row_max(s)
            hit = (best >= own - (self.eps + TOLERANCE) * qn * kmax - slack) & (qn > 0)
            tops = None  # maxima of groups of rows, taken only when some row holds candidates
            if hit.any():
                tops = group_max(s)
                state.add(s, tops, hit, c0, self.kn[c0:c1], best)
            if t2 > 0:
                near += near_candidates(s, tops, best, qn, self.kn[c0:c1], a, c0, t2, self.eps, self.eta)
        need = None if group_top is None else state.may_reach(group_top, self.kn[self.groups.last])
        inside = self.groups.block_pairs(a, b, need) if self.groups is not None else None
        scored = self._settle_predictions(a, state, inside) + self._settle_near(a, near, inside)
        return screened, scored

    def _mask(self, s: torch.Tensor, a: int, b: int, c0: int, c1: int) -> None:
        """-inf where a key cannot matter: the token itself, and (symmetric) shorter tokens."""
        if self.symmetric:
            if c0 >= b:
                return
            if c0 == a and self.first[b - 1] == b - 1 and self.first[a:b] == list(range(a, b)):
                # no norm ties in this block: the masked part is the lower triangle of the diagonal square
                width = min(c1, b) - a
                s[:, :width].masked_fill_(_lower_triangle(b - a, width, s.device), -float("inf"))
                return
            columns = torch.arange(c0, min(c1, b), device=s.device)
            rows = torch.arange(a, b, device=s.device)
            first = torch.as_tensor(self.first[a:b], device=s.device)
            region = s[:, : len(columns)]
            region.masked_fill_((columns[None, :] < first[:, None]) | (columns[None, :] == rows[:, None]),
                                -float("inf"))
            return
        position = self.self_position[a:b]
        inside = torch.nonzero((position >= c0) & (position < c1)).flatten()
        s[inside, position[inside] - c0] = -float("inf")

    def _settle_predictions(self, a: int, state: RowCandidates, inside) -> int:
        """Score the surviving candidates (and those inside groups) in float64 and apply the rule
        (analyses.zero_layer)."""
        rows, columns = state.survivors(self.qn[a:], self.kn)
        if self.precision == "bf16" and len(rows) > REFINE_MIN:
            rows, columns = refine(self, a, rows, columns)
        if inside is not None:
            rows, columns = torch.cat([rows, inside[0] - a]), torch.cat([columns, inside[1]])
        if not len(rows):
            return 0
        positions = rows + a
        q_ids, k_ids = self.query_ids[positions], self.key_order[columns]
        scores = _dots(self.q32, q_ids, self.k32, k_ids)
        scale = TOLERANCE * self.qn64[positions] * self.kn64[columns]
        own = self.own64[positions]
        unique, local = torch.unique(positions, return_inverse=True)
        beats = torch.zeros(len(unique), dtype=torch.long, device=scores.device).index_add_(
            0, local, ((scores - own) > scale).long()) > 0
        top = torch.full((len(unique),), -float("inf"), dtype=torch.float64, device=scores.device)
        top = top.scatter_reduce(0, local, scores, "amax")
        big = torch.iinfo(torch.long).max
        lowest = torch.full((len(unique),), big, dtype=torch.long, device=scores.device).scatter_reduce(
            0, local, torch.where(scores >= top[local] - scale, k_ids, torch.full_like(k_ids, big)), "amin")
        self.exception[unique] = beats
        self.predicts[unique] = torch.where(beats, lowest, self.query_ids[unique])
        return len(rows)

    def _settle_near(self, a: int, near: list, inside) -> int:
        if self.threshold <= 0:
            return 0
        grouped = inside is not None and len(inside[2])
        if not near and not grouped:
            return 0
        i = torch.cat([r for r, _ in near] + ([inside[2]] if grouped else []))
        j = torch.cat([c for _, c in near] + ([inside[3]] if grouped else []))
        ids_i, ids_j = self.key_order[i], self.key_order[j]
        step = exact_rows(self.k32.shape[1])
        distance = in_blocks(len(i), step, lambda a, b: torch.linalg.vector_norm(
            self.k32[ids_i[a:b]].double() - self.k32[ids_j[a:b]].double(), dim=1), self.k32)
        keep = distance <= self.threshold
        if grouped:  # inside groups, each row's K_NEAREST nearest members (a pair may come from both its rows)
            listed = len(i) - len(inside[2])
            keep[listed:] &= nearest(i[listed:], ids_j[listed:], distance[listed:], K_NEAREST)
        pairs = torch.stack([torch.minimum(ids_i, ids_j), torch.maximum(ids_i, ids_j)], 1)[keep]
        with self._lock:
            self._near[a] = (pairs, distance[keep])
        return len(i)

    def result(self) -> PairScan:
        if self._cancelled or self._unfinished:
            raise RuntimeError("the pass was cancelled or has not run to the end")
        predicts = torch.empty_like(self.predicts)
        predicts[self.query_ids] = self.predicts
        exception = torch.empty_like(self.exception)
        exception[self.query_ids] = self.exception
        predicts, exception = predicts.cpu().numpy(), exception.cpu().numpy()
        pairs = np.zeros((0, 2), dtype=np.int64)
        distances = np.zeros(0)
        if self._near:
            pairs = torch.cat([self._near[a][0] for a in sorted(self._near)]).cpu().numpy()
            distances = torch.cat([self._near[a][1] for a in sorted(self._near)]).cpu().numpy()
        groups = np.arange(self.n_keys if self.symmetric else self.n_queries)  # by row of the pass
        grouped = np.zeros(len(groups), dtype=bool)
        if self.groups is not None and self.groups.groups:
            links, link_distances = self.groups.links()
            if self.threshold > 0:
                pairs, distances = np.concatenate([pairs, links]), np.concatenate([distances, link_distances])
                pairs, first = np.unique(pairs, axis=0, return_index=True)  # sorted; each pair once
                distances = distances[first]
            for members, _, _ in self.groups.groups:
                members = members[members < len(groups)]  # direct pass: the members that are queries
                groups[members], grouped[members] = members[0], True
        if self.distinct is not None:  # back to every token: a copy answers as its group's first row
            group = np.searchsorted(self.distinct, self.copies)
            exception = exception[group]
            predicts = np.where(exception, self.distinct[predicts[group]], np.arange(len(self.copies)))
            pairs = self.distinct[pairs]  # ascending ids: i < j still holds
            groups = np.where(grouped[group], self.distinct[groups[group]], np.arange(len(self.copies)))
        if len(pairs):
            order = np.lexsort((pairs[:, 1], pairs[:, 0]))
            pairs, distances = pairs[order], distances[order]
        return PairScan(predicts, exception, pairs, distances, self.copies, groups, self.threshold,
                        self.precision, *self._counts)


_TRIANGLES: dict = {}


def _lower_triangle(rows: int, width: int, device) -> torch.Tensor:
    """[rows, width] bool, True where column ≤ row (cached per shape)."""
    key = (rows, width, str(device))
    if key not in _TRIANGLES:
        _TRIANGLES[key] = torch.ones(rows, width, dtype=torch.bool, device=device).tril()
    return _TRIANGLES[key]


def _row_max(s: torch.Tensor) -> torch.Tensor:
    """Float32 maximum of each row of scores. bf16 on CPU: the maximum of the bit patterns read as int16, five
    times as fast as a bf16 reduction; it is the largest value wherever that value is ≥ +0 (non-negative bf16
    values order as their bits, negative ones all read below zero); rows whose maximum is negative are reduced
    again as values."""
    if s.dtype != torch.bfloat16 or s.device.type != "cpu":
        return s.amax(1).float()
    bits = s.view(torch.int16).amax(1)
    best = bits.view(torch.bfloat16).float()
    negative = bits < 0
    if bool(negative.any()):
        best[negative] = s[negative].amax(1).float()
    return best


def _squares(w: torch.Tensor) -> torch.Tensor:
    """Float64 squared row norms (each row's u·u, as the exact scores sum it), a chunk at a time."""
    step = exact_rows(w.shape[1])
    return in_blocks(w.shape[0], step, lambda a, b: (w[a:b].double() ** 2).sum(1), w)


def _dots(q: torch.Tensor, q_ids: torch.Tensor | None, k: torch.Tensor,
          k_ids: torch.Tensor | None) -> torch.Tensor:
    """Float64 dot products of the row pairs (q[q_ids[t]], k[k_ids[t]]); None for both: the rows (q[t], k[t])."""
    step = exact_rows(q.shape[1])
    if q_ids is None:  # slices, not gathers
        return in_blocks(len(q), step, lambda a, b: (q[a:b].double() * k[a:b].double()).sum(1), q)
    return in_blocks(len(q_ids), step, lambda a, b: (q[q_ids[a:b]].double() * k[k_ids[a:b]].double()).sum(1), q)


def exact_rows(d: int) -> int:
    """Rows (or pairs of rows) of width d widened to float64 at once: EXACT_BYTES of them. Larger blocks would
    leave the cache, and where the C library maps every large block afresh (report.run.heap) each one would
    also pay for new pages: at d = 4,096 a block of 1,024 rows took five times as long."""
    return max(16, EXACT_BYTES // (8 * max(1, d)))


def _scaled(rows: torch.Tensor, order: torch.Tensor | None, scale: float, dtype: torch.dtype,
            out: torch.Tensor | None = None) -> torch.Tensor:
    """`(rows[order] * scale).to(dtype)` (into `out` when given) a few rows at a time: the same values without a
    float32 copy of the matrix on the way (at 256k × 2,304 that copy alone is 2.4 GB)."""
    out = torch.empty(rows.shape, dtype=dtype, device=rows.device) if out is None else out[:len(rows)]
    step = max(16, SCALE_BYTES // (4 * max(1, rows.shape[1])))
    for a in range(0, len(rows), step):
        if order is not None:  # the gather is a new block: scaled in place
            out[a:a + step] = rows[order[a:a + step]].mul_(scale).to(dtype)
        else:
            out[a:a + step] = (rows[a:a + step] * scale).to(dtype)
    return out


def scan_pairs(keys: np.ndarray, queries: np.ndarray | None = None, threshold: float = -1.0,
               device: str = "cpu", precision: str | None = None) -> PairScan:
    """The whole pass (see `PairPass`), on the calling thread and, on a CPU with two or more cores, a second
    thread: each takes half the cores, so that while one does a block's single-core bookkeeping the other's
    product keeps the remaining cores busy. The result does not depend on how the blocks were shared."""
    scan = PairPass(keys, queries, threshold, device, precision)
    cores = torch.get_num_threads()
    if torch.device(device).type != "cpu" or cores < 2:
        scan.work()
        return scan.result()
    errors: list[BaseException] = []

    def helper() -> None:
        torch.set_num_threads(cores // 2)  # per thread: the calling thread keeps its own setting
        try:
            scan.work()
        except BaseException as exc:  # handed to the calling thread below
            errors.append(exc)
            scan.cancel()

    thread = threading.Thread(target=helper, daemon=True, name="pair pass helper")
    thread.start()
    try:
        torch.set_num_threads(cores - cores // 2)
        scan.work()
    except BaseException:
        scan.cancel()
        raise
    finally:
        torch.set_num_threads(cores)
        thread.join()
    if errors:
        raise errors[0]
    return scan.result()
