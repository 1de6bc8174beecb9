"""Near-duplicate groups: many distinct rows within a small radius of one row (reserved or padding tokens after
training with weight decay). The pair pass (analyses.pairs.token_pairs) leaves their pairs out of its low-precision
screen and settles them here, so a group of n rows costs O(n) memory instead of its ~n²/2 pairs.

Inside such a group the screen's error bound is wider than the gaps between scores, so every pair would be a
candidate, scored again and (within the crowding threshold) listed. Here each block of members is multiplied
with its group in float64 (error ≤ γ_d|u||v|, ~1e-13 of the scores): only the pairs that may beat or tie a
row's best, and each row's K_NEAREST nearest members, go on to the pass's exact float64 scoring. Every pair of
a group lies within the threshold (its radius is at most half of it), so the crowding search needs only those
nearest members and a link from each member to the group's centre row, not the pairs themselves.

The direct pass (untied models: input rows against output rows) groups the output rows. Near-identical output
rows give any input row near-equal scores, within the screen's error of each other: an input row for which the
group scores high (its own output row in it, as for untrained tokens clumped in both matrices or only in the
output one, or any other) would hold every member as a candidate. Its pairs with the group are settled here in
the same way (DirectGroups): O(n) memory per group, and time for the input rows the group may matter to.

Finding groups is a matter of speed, not of correctness: rows are hashed by a few seeded projections into cells
whose width is a few radii, and each crowded cell seeds a group of every row within the radius of its lowest
row (exact float64 distances). A missed group only leaves its pairs to the screen.
"""

from __future__ import annotations

import numpy as np
import torch

from analyses.pairs.blocks import in_blocks
from analyses.pairs.screen import TOLERANCE

MIN_GROUP = 64  # smaller groups cost the screen little: left to it
K_NEAREST = 8  # nearest members kept per row: at least analyses.outliers.K
TIGHT = 0.05  # largest radius, relative to the median row norm
PROJECTIONS = 8
SEED_CELL = 16  # rows a cell needs to seed a group
ROWS = 256  # members multiplied with their group at once ([ROWS, n] float64)
CHUNK_BYTES = 1 << 20  # float64 rows projected, or measured against a seed row, at once (they stay in cache)


def group_radius(norms: np.ndarray, threshold: float) -> float:
    """The radius of a group: TIGHT × the median norm, and below half the crowding threshold when there is one
    (so that every pair in a group is within it, with room for float64 rounding)."""
    radius = TIGHT * float(np.median(norms)) if len(norms) else 0.0
    return min(radius, 0.5 * (1 - 1e-6) * threshold) if threshold > 0 else radius


def near_groups(w: torch.Tensor, radius: float) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Groups of ≥ MIN_GROUP rows of w within `radius` of one of them: (member ids sorted, their exact float64
    distances to the centre row, the centre row's id). Deterministic: a seeded projection, sorted iteration."""
    n, d = w.shape
    if radius <= 0 or n < MIN_GROUP:
        return []
    generator = torch.Generator().manual_seed(0)
    projection = (torch.randn(d, PROJECTIONS, generator=generator, dtype=torch.float64) / d ** 0.5).to(w.device)
    width = 4 * radius / d ** 0.5  # a member's projection lies within ~3 radius/√d of its centre's
    step = max(16, CHUNK_BYTES // (8 * d))
    cells = in_blocks(n, step, lambda a, b: torch.floor((w[a:b].double() @ projection) / width), w,
                      (PROJECTIONS,)).cpu().numpy()
    _, label, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    label = label.ravel()
    free = np.ones(n, dtype=bool)
    groups = []
    for cell in sorted(np.flatnonzero(counts >= SEED_CELL), key=lambda c: (-counts[c], c)):
        rows = np.flatnonzero((label == cell) & free)
        if len(rows) < SEED_CELL:
            continue
        centre = int(rows[0])
        seed = w[centre].double()
        distance = in_blocks(n, step, lambda a, b, seed=seed: torch.linalg.vector_norm(w[a:b].double() - seed, dim=1),
                             w).cpu().numpy()
        members = np.flatnonzero((distance <= radius) & free)
        if len(members) >= MIN_GROUP:
            free[members] = False
            groups.append((members, distance[members], centre))
    return groups


class GroupIndex:
    """The groups of the keys of a symmetric pass, by norm-order position (`key_order`, norms `kn64`, own scores
    `own64` in that order; `first` each position's first key that can matter).

        index.mask(s, a, c0)        # -inf on the pairs of a score block that lie inside a group
        index.block_pairs(a, b)     # the pairs of rows a..b-1 inside their groups that the exact scoring needs
        index.links()               # (centre, member) ids and exact distances: every member linked once
    """

    def __init__(self, keys: torch.Tensor, key_order: torch.Tensor, kn64: torch.Tensor, own64: torch.Tensor,
                 first: list, radius: float):
        self.keys, self.kn64, self.own64 = keys, kn64, own64
        self.first = torch.as_tensor(first, device=keys.device)
        self.groups = near_groups(keys, radius)
        d = keys.shape[1]
        self.gamma = 1.01 * d * 2.0 ** -53 / (1 - d * 2.0 ** -53)
        n = len(key_order)
        self.label = torch.full((n,), -1, dtype=torch.long, device=keys.device)  # group of each position
        self.members: list[torch.Tensor] = []  # positions of each group's members, ascending
        position = torch.empty_like(key_order)
        position[key_order] = torch.arange(n, device=keys.device)
        for g, (ids, _, _) in enumerate(self.groups):
            members = position[torch.as_tensor(ids, device=keys.device)].sort().values
            self.label[members] = g
            self.members.append(members)
        self.key_order = key_order

    def mask(self, s: torch.Tensor, a: int, c0: int) -> None:
        rows, columns = self.label[a:a + s.shape[0]], self.label[c0:c0 + s.shape[1]]
        if self.groups and bool((rows >= 0).any()) and bool((columns >= 0).any()):
            s.masked_fill_((rows[:, None] == columns[None, :]) & (rows[:, None] >= 0), -float("inf"))

    def block_pairs(self, a: int, b: int, need=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rows, columns) positions that may beat or tie a row's best, and (rows, columns) positions of each
        row's K_NEAREST nearest members (and any that may tie the K-th), for the member rows among a..b-1
        (`need` is the direct pass's, see DirectGroups)."""
        empty = torch.zeros(0, dtype=torch.long, device=self.label.device)
        found = [(empty, empty, empty, empty)]
        labels = self.label[a:b]
        for g in torch.unique(labels[labels >= 0]).tolist():
            members = self.members[g]
            rows = torch.nonzero((members >= a) & (members < b)).flatten()
            found.append(tuple(members[x] for x in self._pairs(members, rows)))
        return tuple(torch.cat([f[i] for f in found]) for i in range(4))

    def _pairs(self, members: torch.Tensor, rows: torch.Tensor):
        """Member pairs (indices into `members`) for the member `rows`, ROWS rows at once: zero-layer pairs
        whose bounds ± 2γ|u||v| (this product, and the exact sum) may beat the row's own score (while none
        surely does) or tie its best, at or after the row's `first` key, and the one with the best lower bound;
        nearest members by |u|² + |v|² − 2u·v, whose error is within 4(γ + 2⁻⁵²)(|u| + |v|)², with room for
        every pair that may tie the K-th."""
        group64 = self.keys[self.key_order[members]].double()
        own, norms = self.own64[members], self.kn64[members]
        k = min(K_NEAREST, len(members) - 1)
        out: list[list[torch.Tensor]] = [[], [], [], []]
        for r0 in range(0, len(rows), ROWS):
            r = rows[r0:r0 + ROWS]
            s = group64[r] @ group64.T
            product = norms[r, None] * norms[None, :]
            error = 2 * self.gamma * product
            itself = r[:, None] == torch.arange(len(members), device=r.device)[None, :]
            valid = (members[None, :] >= self.first[members[r]][:, None]) & ~itself
            i, j = torch.nonzero(may_win(s, error, valid, own[r], TOLERANCE * product), as_tuple=True)
            out[0].append(r[i])
            out[1].append(j)
            square = (own[r, None] + own[None, :] - 2 * s).masked_fill_(itself, float("inf"))
            margin = 4 * (self.gamma + 2.0 ** -52) * (norms[r, None] + norms[None, :]) ** 2
            kth = square.kthvalue(k, dim=1, keepdim=True).values
            i, j = torch.nonzero(square <= kth + 4 * margin.amax(1, keepdim=True), as_tuple=True)
            out[2].append(r[i])
            out[3].append(j)
        return [torch.cat(x) for x in out]

    def links(self) -> tuple[np.ndarray, np.ndarray]:
        """[pairs, 2] (centre, member) ids, lower first, for every member but the centre, and their distances."""
        pairs = [np.stack([np.full(len(ids), c), ids], 1) for ids, _, c in self.groups]
        distances = [dist for _, dist, _ in self.groups]
        keep = [ids != c for ids, _, c in self.groups]
        if not pairs:
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
        pairs, distances = np.concatenate(pairs)[np.concatenate(keep)], np.concatenate(distances)[np.concatenate(keep)]
        return np.sort(pairs, axis=1).astype(np.int64), distances


class DirectGroups(GroupIndex):
    """The groups of the keys (output rows) of a direct pass: queries (input rows) by id, keys by norm-order
    position (`key_order`, norms `kn64`); query i's own key is key i, at `self_position[i]`; `qn64` the queries'
    norms and `own64` their own scores, float64.

    Any query may find a group among its candidates (its own key's group, or a group that scores high for it),
    so the group's columns leave the screen for every query; the screen's largest score over each group's
    columns bounds the group's scores from above, and only the queries whose bound reaches their target have
    their pairs with that group settled (`block_pairs`, the rule of GroupIndex._pairs).

        tops = index.mask(s, a, c0)        # [rows, groups] largest screened score per group (-inf: none), masked
        index.block_pairs(a, b, need)      # pairs of the queries a..b-1 with the groups `need` ([rows, groups]) names
    """

    def __init__(self, queries: torch.Tensor, keys: torch.Tensor, key_order: torch.Tensor, kn64: torch.Tensor,
                 self_position: torch.Tensor, qn64: torch.Tensor, own64: torch.Tensor, radius: float):
        super().__init__(keys, key_order, kn64, own64, [0] * len(key_order), radius)
        self.queries, self.qn64, self.self_position = queries, qn64, self_position
        self.columns = torch.nonzero(self.label >= 0).flatten()  # every grouped key's position, ascending
        # each group's longest member's position (its members ascend in norm): the bound on its |k|
        self.last = torch.as_tensor([int(m[-1]) for m in self.members], dtype=torch.long, device=keys.device)

    def mask(self, s: torch.Tensor, a: int, c0: int) -> torch.Tensor | None:
        if not self.groups:
            return None
        inside = self.columns[(self.columns >= c0) & (self.columns < c0 + s.shape[1])]
        if not len(inside):
            return None
        labels = self.label[inside]
        tops = torch.full((s.shape[0], len(self.groups)), -float("inf"), device=s.device)
        for g in torch.unique(labels).tolist():
            tops[:, g] = s[:, inside[labels == g] - c0].amax(1).float()
        s.index_fill_(1, inside - c0, -float("inf"))
        return tops

    def block_pairs(self, a: int, b: int, need=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(queries, key positions) of the pairs of queries a..b-1 with the groups `need` names ([b − a, groups]
        bool) that may beat or tie a query's best (its own key left out), and two empty tensors."""
        empty = torch.zeros(0, dtype=torch.long, device=self.label.device)
        found = [(empty, empty)]
        for g in ([] if need is None else torch.nonzero(need.any(0)).flatten().tolist()):
            rows, members = torch.nonzero(need[:, g]).flatten() + a, self.members[g]
            group64 = self.keys[self.key_order[members]].double()
            for r0 in range(0, len(rows), ROWS):
                r = rows[r0:r0 + ROWS]
                s = self.queries[r].double() @ group64.T
                product = self.qn64[r, None] * self.kn64[members][None, :]
                valid = members[None, :] != self.self_position[r][:, None]
                i, j = torch.nonzero(may_win(s, 2 * self.gamma * product, valid, self.own64[r],
                                             TOLERANCE * product), as_tuple=True)
                found.append((r[i], members[j]))
        return torch.cat([f[0] for f in found]), torch.cat([f[1] for f in found]), empty, empty


def may_win(s: torch.Tensor, error: torch.Tensor, valid: torch.Tensor, own: torch.Tensor,
            tolerance: torch.Tensor) -> torch.Tensor:
    """[rows, members] the pairs to score exactly, from scores `s` within ±`error`: while none surely beats the
    row's `own` score by the tolerance, every pair that may; those that may tie the best lower bound; and the
    pair with the best lower bound (so that a row that surely has a winner keeps one)."""
    lower = torch.where(valid, s - error, -float("inf"))
    best_lower, best = lower.amax(1, keepdim=True), lower.argmax(1, keepdim=True)
    definite = (lower - own[:, None] > tolerance).any(1, keepdim=True)  # then only the best and its ties matter
    may_beat = ~definite & (s + error - own[:, None] > tolerance)
    keep = valid & (may_beat | (s + error >= best_lower - tolerance))
    return keep.scatter_(1, best, keep.gather(1, best) | definite)


def nearest(i: torch.Tensor, j: torch.Tensor, distance: torch.Tensor, k: int) -> torch.Tensor:
    """Mask of each row's k smallest distances among its pairs (i, j) (ties: lower j)."""
    order = np.lexsort((j.cpu().numpy(), distance.cpu().numpy(), i.cpu().numpy()))
    rows = i.cpu().numpy()[order]
    starts = np.searchsorted(rows, rows, side="left")
    rank = np.arange(len(rows)) - starts
    keep = np.zeros(len(rows), dtype=bool)
    keep[order] = rank < k
    return torch.as_tensor(keep, device=i.device)
