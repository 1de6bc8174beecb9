"""Candidates of the pair pass (analyses.pairs.token_pairs) from one chunk of screened scores: pairs that might beat or
tie a row's own score, and pairs that might lie within the crowding threshold.

Both are sought first in the largest score of each group of GROUP consecutive rows per column (one cheap pass
over the scores), then in the rows of the groups that pass: the same pairs as a full compare, at a fraction of
its cost where few pass (at low width a full compare costs more than the product itself). Many candidates
from a bf16 screen are screened again in float32 (`refine`) before the exact scoring.
"""

from __future__ import annotations

import math

import torch

from analyses.pairs.screen import ARITHMETIC, TOLERANCE, error_bound

GROUP = 16  # query rows whose largest score per column is taken first
SLICE = 256  # query rows per step where crowding candidates are sought in every score
BAND = 1024  # keys (columns) that share one bound on |k| when candidates are sought
REFINE_ROWS = 256  # query rows per float32 re-screen (refine)


class RowCandidates:
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
        `kn`, ascending) for the rows in `hit`.

        The running bounds use the chunk's largest |k| (weaker, still valid, and free); a pair is kept when
        upper ≥ own − tolerance (and, once definite, ≥ best lower bound − tolerance), which reads
        s + (ε + TOLERANCE)|q||k| ≥ target. Candidates are sought band by band of BAND keys, with the band's
        largest |k| (its last, the keys being sorted): a floor per row and band, tight even where the norms
        within a chunk spread widely (heavy tails), then the exact test with each key's own |k|."""
        kmax = kn[-1]
        qn, own, slack, reach = self.qn, self.own, self.slack, self.reach
        self.definite |= hit & (best - reach * kmax - slack > own)
        self.best_lower = torch.where(hit, torch.maximum(self.best_lower, best - self.eps * qn * kmax - slack),
                                      self.best_lower)
        target = torch.where(self.definite, torch.maximum(own, self.best_lower), own) - slack
        band_max = kn[torch.clamp((torch.arange(len(kn[::BAND]), device=s.device) + 1) * BAND, max=len(kn)) - 1]
        floor = target[:, None] - reach[:, None] * band_max[None, :]  # [rows, bands]
        if s.dtype != torch.float32:  # compare in s's own precision, rounding the floor down first
            floor = floor - floor.abs() * 2.0 ** -7
        floor = torch.where(hit[:, None], floor, torch.full_like(floor, float("inf"))).to(s.dtype)  # inf: none
        # groups of rows whose largest score in a column reaches the group's lowest floor, then their rows
        groups, columns = band_hits(tops, group_reduce(floor, "amin"))
        if len(groups) * GROUP * 8 <= s.numel():
            i, j = rows_of_groups(s, groups, columns)
            keep = s[i, j] >= floor[i, j // BAND]
            i, j = i[keep], j[keep]
        else:  # candidates almost everywhere: one pass over the scores is cheaper than gathering
            i, j = band_hits(s, floor)
        if not len(i):
            return
        value, k = s[i, j].float(), kn[j]
        ok = value + reach[i] * k >= target[i]
        i, j, value, k = i[ok], j[ok], value[ok], k[ok]
        self.rows.append(i)
        self.columns.append(j + c0)
        self.upper.append(value + self.eps * qn[i] * k + slack[i])

    def may_reach(self, upper, kn) -> torch.Tensor:
        """[rows, columns] whether a column of pairs whose screened scores are at most `upper` ([rows, columns]),
        with keys no longer than `kn` ([columns]), may hold a candidate by each row's final bounds (the rule of
        `add`, with room for the float32 rounding of this comparison)."""
        target = torch.where(self.definite, torch.maximum(self.own, self.best_lower), self.own) - self.slack
        reach = upper + self.reach[:, None] * kn[None, :]
        margin = (reach.abs() + target.abs()[:, None]) * 2.0 ** -16
        return (reach + margin >= target[:, None]) & (self.qn > 0)[:, None]

    def survivors(self, qn, kn) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, columns) of candidates still in play with the final bounds."""
        if not self.rows:
            empty = torch.zeros(0, dtype=torch.long, device=self.definite.device)
            return empty, empty
        rows, columns, upper = torch.cat(self.rows), torch.cat(self.columns), torch.cat(self.upper)
        tolerance = TOLERANCE * qn[rows] * kn[columns]
        keep = ~self.definite[rows] | (upper >= self.best_lower[rows] - tolerance)
        return rows[keep], columns[keep]


def near_candidates(s, tops, best, qn, kn, first_row, first_column, t2, eps, eta) -> list:
    """Pairs (row, column) of the scores `s` of rows from `first_row` on against keys from `first_column` on
    (norms qn, kn; row maxima `best`; group maxima `tops`, or None to take them here), column after row, whose
    screened distance could be ≤ the threshold.

    2u·v ≥ |u|² + |v|² − t² − (screen error) is needed, and |v| ≤ |u| + t (keys are sorted by norm, so
    this cuts the chunk's columns); a row can hold such a pair only if its largest score passes with the
    smallest |v| and the largest error, and a group of GROUP rows only if the group's largest score in the
    column passes with the group's smallest |u| and largest error."""
    reach = (float(qn.max()) + math.sqrt(t2)) * (1 + 1e-5)  # float32 norms: slack for their rounding
    width = int(torch.searchsorted(kn, torch.tensor([reach], device=kn.device), right=True))
    if width == 0:
        return []

    def margin(x, y):
        return 2 * eps * x * y + ARITHMETIC * (x * x + y * y + t2) + 2 * eta

    y = kn[:width]
    if not bool((2 * best >= qn * qn + y[0] ** 2 - t2 - margin(qn, y[-1])).any()):
        return []
    # The test 2·score ≥ x_low² + y² − t² − margin(x_high, y), halved and split into a per-row constant, a
    # per-key constant and a product: score ≥ row + key + slope·y, three passes over a [rows, keys] tensor
    # instead of a dozen. Each part is summed in float64 and rounded to float32 once, so the float32
    # rounding (≤ 3 units of ½(x² + y² + t²)) stays within the ARITHMETIC slack, as the unsplit form did.
    key = (0.5 * (1 - ARITHMETIC) * y.double() ** 2).float()

    def row_terms(x_low, x_high):
        low, high = x_low.double(), x_high.double()
        return (0.5 * (low * low - t2 - ARITHMETIC * (high * high + t2)) - eta).float(), (-eps * high).float()

    def passes(score, row, slope, key, y):
        return score >= (row + key).addcmul_(slope, y)

    def after(rows):  # key position after the query's own (each pair once)
        return torch.arange(width, device=s.device)[None, :] + first_column > rows + first_row

    diagonal = first_column <= first_row + s.shape[0] - 1  # some key lies at or before some query
    tops = group_max(s) if tops is None else tops
    row, slope = row_terms(group_reduce(qn, "amin"), group_reduce(qn, "amax"))
    ok = passes(tops[:, :width], row[:, None], slope[:, None], key[None, :], y[None, :])
    if diagonal:
        ok &= after(torch.arange(len(row), device=s.device)[:, None] * GROUP)
    groups, columns = torch.nonzero(ok, as_tuple=True)
    row, slope = row_terms(qn, qn)
    if len(groups) * GROUP * 8 <= s.shape[0] * width:
        i, j = rows_of_groups(s, groups, columns)
        keep = passes(s[i, j], row[i], slope[i], key[j], y[j])
        if diagonal:
            keep &= j + first_column > i + first_row
        i, j = i[keep], j[keep]
    else:  # pairs almost everywhere: one pass over the scores, a slice of rows at a time (bounded memory)
        found = []
        for r in range(0, s.shape[0], SLICE):
            keep = passes(s[r:r + SLICE, :width], row[r:r + SLICE, None], slope[r:r + SLICE, None], key[None, :],
                          y[None, :])
            if diagonal:
                keep &= after(torch.arange(r, r + len(keep), device=s.device)[:, None])
            i, j = torch.nonzero(keep, as_tuple=True)
            found.append((i + r, j))
        i, j = torch.cat([f[0] for f in found]), torch.cat([f[1] for f in found])
    return [(i + first_row, j + first_column)] if len(i) else []


def band_hits(x: torch.Tensor, floors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, columns) where x [rows, columns] ≥ the floor of the column's band (floors [rows, bands], bands of BAND
    columns, the last one possibly shorter), each band compared through a view (no [rows, columns] floor)."""
    full = x.shape[1] // BAND * BAND
    rows, columns = [], []
    if full:
        r, band, offset = torch.nonzero(x[:, :full].view(len(x), -1, BAND) >= floors[:, :full // BAND, None],
                                        as_tuple=True)
        rows.append(r)
        columns.append(band * BAND + offset)
    if full < x.shape[1]:
        r, offset = torch.nonzero(x[:, full:] >= floors[:, -1:], as_tuple=True)
        rows.append(r)
        columns.append(offset + full)
    return (torch.cat(rows), torch.cat(columns)) if len(rows) > 1 else (rows[0], columns[0])


def group_max(s: torch.Tensor) -> torch.Tensor:
    """[ceil(rows / GROUP), columns] largest score of each group of GROUP consecutive rows in each column."""
    full = s.shape[0] // GROUP * GROUP
    parts = [s[:full].view(-1, GROUP, s.shape[1]).amax(1)] if full else []
    if full < s.shape[0]:
        parts.append(s[full:].amax(0, keepdim=True))
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def group_reduce(x: torch.Tensor, how: str) -> torch.Tensor:
    """[ceil(len / GROUP), ...] the smallest ("amin") or largest ("amax") of each group of GROUP consecutive
    values (rows, when x has columns)."""
    pad = -len(x) % GROUP
    fill = float("inf") if how == "amin" else -float("inf")
    padded = torch.cat([x, x.new_full((pad, *x.shape[1:]), fill)]) if pad else x
    return getattr(padded.view(-1, GROUP, *x.shape[1:]), how)(1)


def rows_of_groups(s: torch.Tensor, groups: torch.Tensor, columns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, columns) of every row of the given groups in the paired columns (rows past the end dropped)."""
    rows = (groups[:, None] * GROUP + torch.arange(GROUP, device=groups.device)[None, :]).flatten()
    columns = columns[:, None].expand(-1, GROUP).flatten()
    if s.shape[0] % GROUP == 0:
        return rows, columns
    inside = rows < s.shape[0]  # the last group is short
    return rows[inside], columns[inside]


def refine(scan, a: int, rows: torch.Tensor, columns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The bf16 candidates (rows local to the block at `a`, key positions) of a pass `scan`
    (analyses.pairs.token_pairs.PairPass, read only) screened again in float32 (error bound ~1e-4 of bf16's): groups
    of REFINE_ROWS rows against the union of their candidate columns, one dense product each; the same rules
    as RowCandidates. Returns the (rows, columns) that survive."""
    eps = error_bound("fp32", scan.ks.shape[1])
    keep = torch.zeros(len(rows), dtype=torch.bool, device=rows.device)
    for g in range(0, int(rows.max()) + 1, REFINE_ROWS):
        pick = torch.nonzero((rows >= g) & (rows < g + REFINE_ROWS)).flatten()
        if not len(pick):
            continue
        local = rows[pick]
        group = torch.arange(g, min(g + REFINE_ROWS, int(local.max()) + 1), device=rows.device)
        queries = scan.q32[scan.query_ids[group + a]] * scan.scale
        if len(pick) > scan.n_keys // 8 and 2.0 ** -20 <= scan.scale <= 2.0 ** 20:
            # candidates spread over much of the vocabulary: the unsorted keys as they are, no gather
            # (the scale is exact here: a power of two far from float32's limits)
            value = (queries @ scan.k32.T)[local - g, scan.key_order[columns[pick]]] * scan.scale
        else:
            union, where = torch.unique(columns[pick], return_inverse=True)
            value = (queries @ (scan.k32[scan.key_order[union]] * scan.scale).T)[local - g, where]
        qn, kn = scan.qn[local + a], scan.kn[columns[pick]]
        own, slack = scan.own[local + a], scan.eta + ARITHMETIC * scan.own[local + a].abs()
        error, tolerance = eps * qn * kn + slack, TOLERANCE * qn * kn
        lower, upper = value - error, value + error
        slot = local - g
        definite = torch.zeros(len(group), dtype=torch.long, device=rows.device).index_add_(
            0, slot, (lower - own > tolerance).long()) > 0
        best_lower = torch.full((len(group),), -float("inf"), device=rows.device).scatter_reduce(
            0, slot, lower, "amax")
        keep[pick] = (upper >= own - tolerance) & (~definite[slot] | (upper >= best_lower[slot] - tolerance))
    return rows[keep], columns[keep]
