"""One exact pass over pairs of token vectors: every token's zero-layer prediction (the argmax of its row of
logits) and every pair of tokens closer than the crowding threshold, at a cost that does not depend on the data.

Exact answers from a cheap screen:
    Scores S = q·k are screened in bf16 where the hardware multiplies bf16 faster than float32 (else in
    float32), on a copy of the weights scaled by a power of two (exact) so that no value over- or underflows.
    The screen's error is proven, not estimated: rounding each input to bf16 moves it by at most u = 2⁻⁸ of
    its size, so by Cauchy–Schwarz the product moves by at most (2u + u²)|q||k|; float32 accumulation of d
    terms adds γ_d = d·2⁻²⁴/(1 − d·2⁻²⁴) of |q||k|, and rounding the result to bf16 another u. Every pair
    the screen cannot rule out is scored again in float64 from the float32 weights and judged by the exact
    rule, so the answers are those of a float64 brute force.

The symmetric pass (tied embeddings, and crowding): u·v ≤ |u||v| and u·u = |u|², so only a longer token can
beat u (or tie a winner within the tolerance). Tokens are sorted by norm and each block of query tokens is
multiplied with the tokens from its own position on (plus any of equal norm just before it): half the
products of a dense pass, whatever the data. The same products give the squared distances |u|² + |v|² − 2u·v
of every pair once, so the pairs within the crowding threshold come out exhaustively at no extra pass.

The direct pass (untied models): the embedding rows against every unembedding row, a dense blocked argmax
with the same screen.

Blocks of query tokens are independent, so several threads can share one pass (`work()`), and the result
does not depend on how the blocks were shared.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from analyses.pair_copies import exact_copies

TOLERANCE = 1e-6  # ties: scores closer than this × |u||v| are equal (see analyses.zero_layer)
ROW_BLOCK = 2048  # query tokens per block
COLUMN_CHUNK = 16384  # key tokens per product: the bound on |k| is taken per chunk of norm-sorted keys
EXACT_PAIRS = 16384  # pairs scored in float64 at once
REFINE_MIN = 1024  # more bf16 candidates than this in a block are screened again in float32 first
REFINE_ROWS = 256  # query rows per float32 re-screen
ARITHMETIC = 4e-7  # relative slack for float32 rounding of the screen's own thresholds
GROUP = 16  # query rows whose largest score per column is taken first: candidates are sought in those maxima


def error_bound(precision: str, d: int) -> float:
    """ε such that |screen score − q·k| ≤ ε|q||k| (plus an absolute term for subnormals, see `_absolute`)."""
    gamma = d * 2.0 ** -24 / (1 - d * 2.0 ** -24)
    u = 2.0 ** -8
    if precision == "bf16":
        bound = (2 * u + u * u) + gamma * (1 + u) ** 2 + u * (1 + u) ** 2 * (1 + gamma)
    elif torch.get_float32_matmul_precision() == "highest":
        bound = gamma
    else:  # float32 products may run on bf16 units internally: inputs rounded, float32 result
        bound = (2 * u + u * u) + gamma * (1 + u) ** 2
    return 1.01 * bound


def _absolute(d: int) -> float:
    """Error from values that are subnormal after scaling (flushed to zero at worst): ≤ 4d·2⁻¹²⁶ per score."""
    return 4 * d * 2.0 ** -126


def screen_precision(device: str | torch.device = "cpu") -> str:
    """"bf16" where the hardware has bf16 matrix units, else "fp32" (WEIGHTS_REPORT_SCREEN overrides).

    Decided from the hardware's feature flags, not from a timing, so that a machine always makes the same
    choice (the report's text names it); the answers are exact either way, only the speed differs."""
    forced = os.environ.get("WEIGHTS_REPORT_SCREEN", "")
    if forced in ("bf16", "fp32"):
        return forced
    device = torch.device(device)
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return "bf16" if major >= 8 else "fp32"  # Ampere and later: bf16 tensor cores
    if device.type != "cpu":
        return "fp32"
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return "fp32"
    flags = set().union(*(line.split(":", 1)[1].split() for line in text.splitlines()
                          if line.startswith(("flags", "Features")) and ":" in line))
    return "bf16" if flags & {"avx512_bf16", "amx_bf16"} else "fp32"


def gemm_speeds(device: str | torch.device = "cpu", d: int = 768) -> dict:
    """Measured matrix-product speed (GFLOP/s) in float32 and bf16 on this device, for the benchmark."""
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(1024, d, generator=generator), torch.randn(4096, d, generator=generator)
    speeds = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        x, y = a.to(device, dtype), b.to(device, dtype)
        times = []
        for _ in range(4):
            start = time.perf_counter()
            torch.mm(x, y.T)
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        speeds[name] = 2 * 1024 * 4096 * d / min(times[1:]) / 1e9
    return speeds


@dataclass(frozen=True, eq=False)
class PairScan:
    """What one pass found.

    Attributes:
        predicts: [queries] int64 id of the key token each query token predicts (its own id unless an exception).
        exception: [queries] bool, True where a token does not predict itself.
        near_pairs: [pairs, 2] int64 token ids (i < j) of every pair of distinct rows at distance ≤ threshold
            (symmetric pass only; empty otherwise), sorted. Each id is its group's lowest (see `copies`): the
            copies of a row are 0 apart, and as far from another row's copies as the rows are.
        near_distances: [pairs] float64 exact distance of each of those pairs (embedding units).
        copies: [queries] int64 lowest id of a row identical to each token's (its own id when none; symmetric
            pass only, else every token's own id); analyses.pair_copies counts the pairs with every copy.
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
        self.eps, self.eta = error_bound(self.precision, d), _absolute(d)
        self.threshold = float(threshold) if self.symmetric else -1.0
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        largest = max(float(k32.abs().max()), float(q32.abs().max()))  # NaN propagates
        if not math.isfinite(largest):
            raise ValueError("the weights hold NaN or infinite values")
        # A power of two (exact) that brings the largest value into [0.5, 1), within float32's range.
        self.scale = 2.0 ** -max(-100, min(100, math.frexp(largest)[1])) if largest > 0 else 1.0

        self.k32, self.q32 = k32, q32
        squares = _squares(k32)
        kn64 = squares.sqrt()
        self.key_order = torch.as_tensor(np.argsort(kn64.cpu().numpy(), kind="stable"), device=k32.device)
        self.kn64 = kn64[self.key_order]
        self.ks = (k32[self.key_order] * self.scale).to(dtype)
        self.kn = (self.kn64 * self.scale).float()
        if self.symmetric:  # queries are the keys, in the same norm order
            self.query_ids, self.qs, self.qn64 = self.key_order, self.ks, self.kn64
            # Only a longer token can matter (module docstring); the 1e-9 keeps float64 norm rounding harmless.
            self.first = torch.searchsorted(self.kn64, self.kn64 * (1 - 1e-9)).tolist()
            self.own64 = squares[self.key_order]
            self.self_position = torch.arange(len(self.kn64), device=k32.device)
        else:
            self.query_ids = torch.arange(q32.shape[0], device=k32.device)
            self.qs = (q32 * self.scale).to(dtype)
            self.qn64 = _squares(q32).sqrt()
            self.first = [0] * q32.shape[0]
            self.own64 = torch.cat([(q32[a:a + 8192].double() * k32[a:a + 8192].double()).sum(1)
                                    for a in range(0, q32.shape[0], 8192)])
            inverse = torch.empty_like(self.key_order)
            inverse[self.key_order] = torch.arange(len(self.key_order), device=k32.device)
            self.self_position = inverse[: q32.shape[0]]
        self.qn = (self.qn64 * self.scale).float()
        self.own = (self.own64 * self.scale ** 2).float()
        self.n_queries, self.n_keys = self.qs.shape[0], self.ks.shape[0]
        self.predicts = self.query_ids.clone()  # in query order: each token's own id
        self.exception = torch.zeros(self.n_queries, dtype=torch.bool, device=k32.device)
        self._near: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._blocks = iter(range(0, self.n_queries, ROW_BLOCK))
        self._unfinished = len(range(0, self.n_queries, ROW_BLOCK))
        self._lock = threading.Lock()
        self._counts = [0, 0]  # screened, scored
        self._cancelled = False

    def cancel(self) -> None:
        """Let every work() call return after its current block (the result is then incomplete)."""
        self._cancelled = True

    def _next_block(self) -> int | None:
        with self._lock:
            return None if self._cancelled else next(self._blocks, None)

    def work(self) -> None:
        """Scan blocks of query tokens until none is left."""
        buffer = None  # one per thread, reused
        while (a := self._next_block()) is not None:
            if buffer is None:
                buffer = torch.empty(min(ROW_BLOCK, self.n_queries) * min(COLUMN_CHUNK, self.n_keys),
                                     dtype=self.ks.dtype, device=self.ks.device)
            threads = torch.get_num_threads()
            try:
                screened, scored = self._block(a, min(self.n_queries, a + ROW_BLOCK), buffer)
            finally:
                torch.set_num_threads(threads)
            with self._lock:
                self._counts[0] += screened
                self._counts[1] += scored
                self._unfinished -= 1

    def _block(self, a: int, b: int, buffer: torch.Tensor) -> tuple[int, int]:
        qn, own = self.qn[a:b], self.own[a:b]
        slack = self.eta + ARITHMETIC * own.abs()
        state = _RowState(qn, own, slack, self.eps)
        near: list[tuple[torch.Tensor, torch.Tensor]] = []
        t2 = (self.threshold * self.scale) ** 2 if self.threshold > 0 else 0.0  # ≤ 0: no crowding pairs
        screened = 0
        threads = torch.get_num_threads()
        for c0 in range(self.first[a], self.n_keys, COLUMN_CHUNK):
            c1 = min(self.n_keys, c0 + COLUMN_CHUNK)
            torch.set_num_threads(threads)
            s = torch.mm(self.qs[a:b], self.ks[c0:c1].T, out=buffer[:(b - a) * (c1 - c0)].view(b - a, c1 - c0))
            # The bookkeeping below reads each score once or twice: one core keeps up with that, and on a busy
            # machine it spares every small step a wait for the other threads.
            torch.set_num_threads(1)
            self._mask(s, a, b, c0, c1)
            screened += s.numel()
            kmax = float(self.kn[c1 - 1])
            best = s.amax(1).float()
            tops = _group_max(s)
            hit = (best >= own - (self.eps + TOLERANCE) * qn * kmax - slack) & (qn > 0)
            if hit.any():
                state.add(s, tops, hit, c0, self.kn[c0:c1], best)
            if t2 > 0:
                near += self._near_candidates(s, tops, a, b, c0, c1, t2)
        scored = self._settle_predictions(a, state) + self._settle_near(a, near)
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

    def _near_candidates(self, s, tops, a, b, c0, c1, t2) -> list:
        """Pairs (row, column), column after row, whose screened distance could be ≤ the threshold.

        2u·v ≥ |u|² + |v|² − t² − (screen error) is needed, and |v| ≤ |u| + t (keys are sorted by norm, so
        this cuts the chunk's columns); a group of GROUP rows can hold such a pair in a column only if the
        group's largest score there passes with the group's smallest |u| and largest error."""
        qn, kn = self.qn[a:b], self.kn[c0:c1]
        reach = (float(qn.max()) + math.sqrt(t2)) * (1 + 1e-5)  # float32 norms: slack for their rounding
        width = int(torch.searchsorted(kn, torch.tensor([reach], device=kn.device), right=True))
        if width == 0:
            return []

        def margin(x, y):
            return 2 * self.eps * x * y + ARITHMETIC * (x * x + y * y + t2) + 2 * self.eta

        def passes(score, x_low, x_high, y):
            return 2 * score >= x_low * x_low + y * y - t2 - margin(x_high, y)

        y = kn[:width]
        lows, highs = _group_reduce(qn, "amin"), _group_reduce(qn, "amax")
        ok = passes(tops[:, :width].float(), lows[:, None], highs[:, None], y[None, :])
        ok &= (torch.arange(width, device=s.device)[None, :] + c0
               > torch.arange(len(lows), device=s.device)[:, None] * GROUP + a)
        i, j = _rows_of_groups(s, *torch.nonzero(ok, as_tuple=True))
        x = qn[i]
        keep = passes(s[i, j].float(), x, x, y[j]) & (j + c0 > i + a)
        i, j = i[keep], j[keep]
        return [(i + a, j + c0)] if len(i) else []

    def _settle_predictions(self, a: int, state: "_RowState") -> int:
        """Score the surviving candidates in float64 and apply the rule (analyses.zero_layer)."""
        rows, columns = state.survivors(self.qn[a:], self.kn)
        if self.precision == "bf16" and len(rows) > REFINE_MIN:
            rows, columns = self._refine(a, rows, columns)
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

    def _refine(self, a: int, rows: torch.Tensor, columns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Screen many candidates again in float32 (error bound ~1e-4 of bf16's): groups of REFINE_ROWS rows
        against the union of their candidate columns, one dense product each; same rules as `_RowState`."""
        eps = error_bound("fp32", self.ks.shape[1])
        keep = torch.zeros(len(rows), dtype=torch.bool, device=rows.device)
        for g in range(0, int(rows.max()) + 1, REFINE_ROWS):
            pick = torch.nonzero((rows >= g) & (rows < g + REFINE_ROWS)).flatten()
            if not len(pick):
                continue
            local = rows[pick]
            group = torch.arange(g, min(g + REFINE_ROWS, int(local.max()) + 1), device=rows.device)
            queries = self.q32[self.query_ids[group + a]] * self.scale
            if len(pick) > self.n_keys // 8 and 2.0 ** -20 <= self.scale <= 2.0 ** 20:
                # candidates spread over much of the vocabulary: the unsorted keys as they are, no gather
                # (the scale is exact here: a power of two far from float32's limits)
                value = (queries @ self.k32.T)[local - g, self.key_order[columns[pick]]] * self.scale
            else:
                union, where = torch.unique(columns[pick], return_inverse=True)
                value = (queries @ (self.k32[self.key_order[union]] * self.scale).T)[local - g, where]
            qn, kn = self.qn[local + a], self.kn[columns[pick]]
            own, slack = self.own[local + a], self.eta + ARITHMETIC * self.own[local + a].abs()
            error, tolerance = eps * qn * kn + slack, TOLERANCE * qn * kn
            lower, upper = value - error, value + error
            slot = local - g
            definite = torch.zeros(len(group), dtype=torch.long, device=rows.device).index_add_(
                0, slot, (lower - own > tolerance).long()) > 0
            best_lower = torch.full((len(group),), -float("inf"), device=rows.device).scatter_reduce(
                0, slot, lower, "amax")
            keep[pick] = (upper >= own - tolerance) & (~definite[slot] | (upper >= best_lower[slot] - tolerance))
        return rows[keep], columns[keep]

    def _settle_near(self, a: int, near: list) -> int:
        if not near:
            return 0
        i = torch.cat([r for r, _ in near])
        j = torch.cat([c for _, c in near])
        ids_i, ids_j = self.key_order[i], self.key_order[j]
        distance = torch.cat([torch.linalg.vector_norm(self.k32[ids_i[s:s + EXACT_PAIRS]].double()
                                                       - self.k32[ids_j[s:s + EXACT_PAIRS]].double(), dim=1)
                              for s in range(0, len(i), EXACT_PAIRS)])
        keep = distance <= self.threshold
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
        if self.distinct is not None:  # back to every token: a copy answers as its group's first row
            group = np.searchsorted(self.distinct, self.copies)
            exception = exception[group]
            predicts = np.where(exception, self.distinct[predicts[group]], np.arange(len(self.copies)))
            pairs = self.distinct[pairs]  # ascending ids: i < j still holds
        if len(pairs):
            order = np.lexsort((pairs[:, 1], pairs[:, 0]))
            pairs, distances = pairs[order], distances[order]
        return PairScan(predicts, exception, pairs, distances, self.copies, self.threshold, self.precision,
                        *self._counts)


class _RowState:
    """Per query row of one block: candidates that might beat or tie the winner, and running bounds.

    lower (screen − error) bounds a pair's exact score from below and upper from above. A row is *definite*
    once some pair's lower bound beats its own score by the tolerance: it is then an exception, and only
    pairs whose upper bound reaches the best lower bound (less the tolerance) can win or tie the winner.
    Until then, every pair that might reach its own score stays a candidate."""

    def __init__(self, qn, own, slack, eps):
        self.qn, self.own, self.slack, self.eps = qn, own, slack, eps
        self.reach = (eps + TOLERANCE) * qn
        self.best_lower = torch.full_like(qn, -float("inf"))
        self.definite = torch.zeros(len(qn), dtype=torch.bool, device=qn.device)
        self.rows: list[torch.Tensor] = []
        self.columns: list[torch.Tensor] = []
        self.upper: list[torch.Tensor] = []

    def add(self, s, tops, hit, c0, kn, best) -> None:
        """Take one chunk's screened scores `s` (row maxima `best`, maxima of groups of rows `tops`, keys' norms
        `kn`) for the rows in `hit`.

        The running bounds use the chunk's largest |k| (weaker, still valid, and free); a pair is kept when
        upper ≥ own − tolerance (and, once definite, ≥ best lower bound − tolerance), which reads
        s + (ε + TOLERANCE)|q||k| ≥ target; |k| ≤ the chunk's largest gives a one-pass filter per row."""
        kmax = kn[-1]
        qn, own, slack, reach = self.qn, self.own, self.slack, self.reach
        self.definite |= hit & (best - reach * kmax - slack > own)
        self.best_lower = torch.where(hit, torch.maximum(self.best_lower, best - self.eps * qn * kmax - slack),
                                      self.best_lower)
        target = torch.where(self.definite, torch.maximum(own, self.best_lower), own) - slack
        floor = target - reach * kmax
        if s.dtype != torch.float32:  # compare in s's own precision, rounding the floor down first
            floor = floor - floor.abs() * 2.0 ** -7
        floor = torch.where(hit, floor, torch.full_like(floor, float("inf"))).to(s.dtype)  # inf: no candidates
        # groups of rows whose largest score in a column reaches the group's lowest floor, then their rows
        groups, columns = torch.nonzero(tops >= _group_reduce(floor, "amin")[:, None], as_tuple=True)
        if len(groups) * GROUP * 8 <= s.numel():
            i, j = _rows_of_groups(s, groups, columns)
            keep = s[i, j] >= floor[i]
            i, j = i[keep], j[keep]
        else:  # candidates almost everywhere: one pass over the scores is cheaper than gathering
            i, j = torch.nonzero(s >= floor[:, None], as_tuple=True)
        if not len(i):
            return
        value, k = s[i, j].float(), kn[j]
        ok = value + reach[i] * k >= target[i]
        i, j, value, k = i[ok], j[ok], value[ok], k[ok]
        self.rows.append(i)
        self.columns.append(j + c0)
        self.upper.append(value + self.eps * qn[i] * k + slack[i])

    def survivors(self, qn, kn) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, columns) of candidates still in play with the final bounds."""
        if not self.rows:
            empty = torch.zeros(0, dtype=torch.long, device=self.definite.device)
            return empty, empty
        rows, columns, upper = torch.cat(self.rows), torch.cat(self.columns), torch.cat(self.upper)
        tolerance = TOLERANCE * qn[rows] * kn[columns]
        keep = ~self.definite[rows] | (upper >= self.best_lower[rows] - tolerance)
        return rows[keep], columns[keep]


def _group_max(s: torch.Tensor) -> torch.Tensor:
    """[ceil(rows / GROUP), columns] largest score of each group of GROUP consecutive rows in each column."""
    full = s.shape[0] // GROUP * GROUP
    parts = [s[:full].view(-1, GROUP, s.shape[1]).amax(1)] if full else []
    if full < s.shape[0]:
        parts.append(s[full:].amax(0, keepdim=True))
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def _group_reduce(x: torch.Tensor, how: str) -> torch.Tensor:
    """[ceil(len / GROUP)] the smallest ("amin") or largest ("amax") of each group of GROUP consecutive values."""
    pad = -len(x) % GROUP
    fill = float("inf") if how == "amin" else -float("inf")
    padded = torch.cat([x, x.new_full((pad,), fill)]) if pad else x
    return getattr(padded.view(-1, GROUP), how)(1)


def _rows_of_groups(s: torch.Tensor, groups: torch.Tensor, columns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, columns) of every row of the given groups in the paired columns (rows past the end dropped)."""
    rows = (groups[:, None] * GROUP + torch.arange(GROUP, device=groups.device)[None, :]).flatten()
    columns = columns[:, None].expand(-1, GROUP).flatten()
    inside = rows < s.shape[0]
    return rows[inside], columns[inside]


_TRIANGLES: dict = {}


def _lower_triangle(rows: int, width: int, device) -> torch.Tensor:
    """[rows, width] bool, True where column ≤ row (cached per shape)."""
    key = (rows, width, str(device))
    if key not in _TRIANGLES:
        _TRIANGLES[key] = torch.ones(rows, width, dtype=torch.bool, device=device).tril()
    return _TRIANGLES[key]


def _squares(w: torch.Tensor) -> torch.Tensor:
    """Float64 squared row norms (each row's u·u, as the exact scores sum it), a chunk at a time."""
    return torch.cat([(w[a:a + 8192].double() ** 2).sum(1) for a in range(0, w.shape[0], 8192)])


def _dots(q: torch.Tensor, q_ids: torch.Tensor, k: torch.Tensor, k_ids: torch.Tensor) -> torch.Tensor:
    """Float64 dot products of the row pairs (q[q_ids[t]], k[k_ids[t]])."""
    return torch.cat([(q[q_ids[s:s + EXACT_PAIRS]].double() * k[k_ids[s:s + EXACT_PAIRS]].double()).sum(1)
                      for s in range(0, len(q_ids), EXACT_PAIRS)])


def scan_pairs(keys: np.ndarray, queries: np.ndarray | None = None, threshold: float = -1.0,
               device: str = "cpu", precision: str | None = None) -> PairScan:
    """The whole pass on the calling thread (see `PairPass`)."""
    scan = PairPass(keys, queries, threshold, device, precision)
    scan.work()
    return scan.result()
