"""Outlier tokens: the longest and shortest embedding vectors, crowded clumps of near-identical tokens
(the study's "wastebasket" of rarely trained tokens), and the nearest neighbours of notable tokens.

Crowding rule (a density rule: it assumes nothing about where a clump sits):
    A token's crowding distance is the Euclidean distance to its K-th nearest other token in the full
    embedding space. Its typical value is the median over SAMPLE tokens drawn with the seed. A token is
    *crowded* when its crowding distance t_u is both a robust low outlier (log t_u at least 3.5 robust
    standard deviations below the sample's median log) and under half the median. Crowded tokens closer
    than that threshold to each other are linked (single linkage); linked groups of at least MIN_CLUMP
    tokens are the candidate groups.

Angular rule (why: short vectors are close to each other in distance simply because they are short, so a
model whose norms spread widely has "crowded" groups of its shortest tokens that point every which way):
    A candidate group's angular spread is the mean cosine distance (1 − cosine) over pairs of its members,
    computed from their mean unit vector in O(members) memory. The angular scale applies the crowding rule to
    the cosine distance from each sample token to its K-th nearest token by cosine (a SAMPLE × V product, as
    for the distances above). A candidate is a *clump* when its angular spread is within that angular
    threshold: near-identical vectors, tight in angle as well as in distance.

Search (exhaustive and exact): the crowding scale comes from the exact K-th neighbour distances of the
SAMPLE tokens; then one pass over all pairs (analyses.pairs.token_pairs, shared with the zero-layer model) returns
every pair of tokens at most the threshold apart, with exact float64 distances (inside a large group of
near-duplicates, all of whose pairs are within it, each member's nearest members and a link to the group's
centre stand for the pairs, which are counted from the group's size). A token is crowded exactly when at
least K other tokens lie within the threshold, so nothing is left unchecked at any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from analyses.claims import Claim, claim
from analyses.pairs.copies import near_pair_count
from analyses.pairs.token_pairs import PairScan, scan_pairs
from analyses.stats import MAD_TO_SIGMA, percentile_ranks
from analyses.vectors import N_EXTREMES, row_norms

if TYPE_CHECKING:
    from analyses.under_trained import UnderTrainedResult

K = 5  # neighbours that define crowding (at most analyses.pairs.groups.K_NEAREST)
SAMPLE = 512
LOW_Z = 3.5
MAX_RATIO = 0.5
MIN_CLUMP = 8
N_NEIGHBOURS = 5
MAX_NOTABLE = 512
UNIT_BLOCK = 16384  # token rows made unit-norm at once for the cosine tables (64 MB at d = 1,024)
LOW_PERCENTILE = 0.25  # claim 24: "low" means the clump's median member is in the lowest quarter
TYPICAL_PERCENTILE = 0.5  # claim 24: a group whose median member is this frequent or more is not rare
RARE_P = 0.05  # claim 24: rarity against random same-size sets of tokens
RARITY_DRAWS = 1000
MIN_KNOWN_SHARE = 0.5  # frequency is tested when at least this share of the group's members has one

RULE = (f"A token is crowded when the distance to its {K}th nearest token is a robust low outlier (log distance "
        f"≥ {LOW_Z} robust SD below the median over {SAMPLE} seeded sample tokens) and under {MAX_RATIO} × that "
        f"median. Crowded tokens closer than the same threshold are linked (single linkage); linked groups of "
        f"≥ {MIN_CLUMP} tokens are candidates. A candidate is a clump when its angular spread (mean cosine "
        f"distance between its members) is within the same rule applied to the sample's cosine distances to "
        f"their {K}th nearest token by cosine: groups of short vectors close only because they are short are "
        f"left out.")


@dataclass(frozen=True, eq=False)
class AngularScale:
    """The angular rule's scale, from the same seeded sample as the crowding scale.

    Attributes:
        distances: [sample] cosine distance (1 − cosine, unitless, in [0, 2]) from each sample token to its K-th
            nearest other token by cosine (a zero vector has cosine 0 with every token).
        median: median of those distances (unitless).
        threshold: angular threshold (unitless): the crowding rule (LOW_Z robust SD below the median log, and
            under MAX_RATIO × the median) applied to these distances; -1 when there are too few tokens.
    """

    distances: np.ndarray
    median: float
    threshold: float


@dataclass(frozen=True)
class Rarity:
    """How rarely a group's tokens occur, against random sets of the same size.

    Attributes:
        size: members of the group; known: members with a known frequency (the ones tested).
        percentile: share of the tokens with a known frequency that are strictly rarer than the group's median
            member, in [0, 1] (0: no token is rarer).
        mean_percentile: the known members' mean percentile of log frequency (mid-rank for ties), in [0, 1].
        p_value: share of RARITY_DRAWS seeded random sets of `known` tokens with a known frequency whose mean
            percentile is at most `mean_percentile` (counting the group itself; one-sided).
    """

    size: int
    known: int
    percentile: float
    mean_percentile: float
    p_value: float


@dataclass(frozen=True)
class ClumpEvidence:
    """What claim 24 read about the one group it judged.

    Attributes:
        size: members of the group.
        angular_spread: mean cosine distance over pairs of members (unitless).
        angular_ratio: angular_spread / the sample's median K-th-neighbour cosine distance (unitless; below 1:
            tighter in angle than a typical token's K-th neighbour).
        tight: whether angular_spread is within the angular threshold (the group is a clump).
        percentiles: median member percentile of (norm, unigram value or NaN, centroid distance), in [0, 1].
        rarity: its frequency against random same-size sets, or None (no frequency source, or fewer than
            MIN_KNOWN_SHARE of its members have a known frequency).
    """

    size: int
    angular_spread: float
    angular_ratio: float
    tight: bool
    percentiles: tuple[float, float, float]
    rarity: Rarity | None


@dataclass(frozen=True, eq=False)
class OutliersResult:
    """Extremes of length, crowded clumps, and neighbours of notable tokens.

    Attributes:
        norms: [tokens] L2 norm of each token embedding (embedding units).
        centroid_distance: [tokens] distance of each token from the mean embedding.
        unigram_dim: the unigram dim used for claim 24 and the figure, or None.
        unigram_values: [tokens] each token's value on that dim, or None.
        longest, shortest: ids of the N_EXTREMES longest (longest first) and shortest (shortest first).
        sample_size: tokens whose crowding distance set the scale.
        median_crowding: median distance to the K-th nearest token over the sample.
        threshold: crowding threshold (embedding units) from the rule.
        near_pairs: pairs of tokens at most the threshold apart (all of them: the search is exhaustive).
        exhaustive: whether every token was checked (always True: one pass covers every pair).
        precision: the pass's screen precision ("bf16" or "fp32"; distances are exact float64 either way).
        crowding: {token id: exact distance to its K-th nearest token} for the sample and every crowded token.
        crowded: ids of the crowded tokens, sorted.
        candidates: groups of ≥ MIN_CLUMP linked crowded tokens, each sorted; largest first (ties: lowest id).
        candidate_spread: per candidate, its angular spread: mean cosine distance (1 − cosine, unitless) over
            pairs of its members.
        angular: the angular scale from the sample (AngularScale).
        clumps: the candidates within the angular threshold (tight in angle too), largest first.
        clump_token_ids: every clump member, sorted.
        neighbours: {token id: ((neighbour id, cosine), ...)} the N_NEIGHBOURS nearest tokens by cosine for
            each notable token (longest, shortest, clump members, extra ids given), at most MAX_NOTABLE.
        clump_percentiles: per clump, median member percentile of (norm, unigram value or NaN,
            centroid distance), percentiles in [0, 1] among all tokens.
        evidence: what claim 24 read about the group it judged (the largest clump, else the candidate
            tightest in angle), or None when there is no candidate.
        claims: the verdict on claim 24.
        under_trained: every token's under-trained score (analyses.under_trained), or None when not scored.
    """

    norms: np.ndarray
    centroid_distance: np.ndarray
    unigram_dim: int | None
    unigram_values: np.ndarray | None
    longest: tuple[int, ...]
    shortest: tuple[int, ...]
    sample_size: int
    median_crowding: float
    threshold: float
    near_pairs: int
    exhaustive: bool
    precision: str
    crowding: dict
    crowded: tuple[int, ...]
    candidates: tuple[tuple[int, ...], ...]
    candidate_spread: tuple[float, ...]
    angular: AngularScale
    clumps: tuple[tuple[int, ...], ...]
    clump_token_ids: tuple[int, ...]
    neighbours: dict
    clump_percentiles: tuple[tuple[float, float, float], ...]
    evidence: ClumpEvidence | None
    claims: tuple[Claim, ...]
    under_trained: UnderTrainedResult | None = None


@dataclass(frozen=True, eq=False)
class CrowdingScale:
    """The crowding rule's scale, from the seeded sample.

    Attributes:
        sample: ids of the sample tokens, sorted.
        distances: [sample] exact distance of each to its K-th nearest other token (embedding units).
        median: median of those distances.
        threshold: crowding threshold (embedding units; -1 when there are too few tokens).
    """

    sample: np.ndarray
    distances: np.ndarray
    median: float
    threshold: float


def crowding_scale(token_embeddings: np.ndarray, seed: int = 0, device: str = "cpu") -> CrowdingScale:
    """The sample's K-th neighbour distances and the threshold of the rule."""
    w32 = np.asarray(token_embeddings, dtype=np.float32)
    if w32.ndim != 2:
        raise ValueError(f"expected a matrix of token rows, got shape {w32.shape}")
    n = w32.shape[0]
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(SAMPLE, n), replace=False)) if n > K + 1 else np.zeros(0, int)
    distances = np.array(_kth_distance(torch.as_tensor(w32, device=device), w32, sample))
    median, threshold = _threshold(distances, row_norms(w32))
    return CrowdingScale(sample, distances, median, threshold)


def analyse_outliers(token_embeddings: np.ndarray, unigram_dim: int | None, extra_notable: Sequence[int] = (),
                     seed: int = 0, device: str = "cpu",
                     found: tuple[CrowdingScale, PairScan] | None = None,
                     log_frequency: np.ndarray | None = None) -> OutliersResult:
    """Length extremes, crowded clumps by the rules in the module docstring, and neighbours by cosine.

    `found` is (crowding_scale(...), the pass's result with that threshold) when they already ran (the
    report runs them in the background); otherwise they run here. `log_frequency` ([tokens], NaN where
    unknown, -inf for tokens never seen) lets claim 24 test that the clump's tokens are rare; None: no
    frequency source."""
    w32 = np.asarray(token_embeddings, dtype=np.float32)  # float64 only a chunk or a gathered row set at a time
    n = w32.shape[0]
    w = torch.as_tensor(w32, device=device)
    mean = w32.mean(axis=0, dtype=np.float64)
    norms, centroid_distance = row_norms(w32), row_norms(w32, centre=mean)
    m = min(N_EXTREMES, n)
    longest = tuple(int(i) for i in np.argsort(-norms, kind="stable")[:m])
    shortest = tuple(int(i) for i in np.argsort(norms, kind="stable")[:m])

    if found is None:
        scale = crowding_scale(w32, seed, device)
        scan = scan_pairs(w32, threshold=scale.threshold, device=device)
    else:
        scale, scan = found
        if scan.threshold != scale.threshold or len(scan.predicts) != n:
            raise ValueError("the pair pass does not match these embeddings and this crowding threshold")
    crowding = dict(zip(scale.sample.tolist(), scale.distances.tolist()))
    kth = _kth_within(scan.near_pairs, scan.near_distances, scan.copies, scale.threshold)
    crowding.update(kth)
    crowded = np.array(sorted(kth), dtype=int)
    candidates = _link(crowded, scan.near_pairs, scan.copies)
    angular = angular_scale(w, norms, scale.sample)
    spreads = tuple(_angular_spread(w32, np.array(g)) for g in candidates)
    clumps = tuple(g for g, spread in zip(candidates, spreads) if spread <= angular.threshold)
    members = tuple(sorted(i for c in clumps for i in c))

    unigram = w32[:, unigram_dim].astype(np.float64) if unigram_dim is not None else None
    pct = (percentile_ranks(norms), percentile_ranks(unigram) if unigram is not None else np.full(n, np.nan),
           percentile_ranks(centroid_distance))
    clump_pct = tuple(_median_percentiles(pct, c) for c in clumps)
    evidence = _evidence(candidates, spreads, angular, pct, log_frequency, seed)

    notable = list(dict.fromkeys([*longest, *shortest, *members, *(int(i) for i in extra_notable)]))[:MAX_NOTABLE]
    neighbours = _cosine_neighbours(w, norms, notable)
    return OutliersResult(norms, centroid_distance, unigram_dim, unigram, longest, shortest, len(scale.sample),
                          scale.median, scale.threshold,
                          near_pair_count(scan.near_pairs, scan.copies, scale.threshold, scan.groups), True,
                          scan.precision,
                          {int(k): float(v) for k, v in sorted(crowding.items())},
                          tuple(int(i) for i in crowded), candidates, spreads, angular, clumps, members, neighbours,
                          clump_pct, evidence,
                          (_claim24(evidence, unigram_dim, complete=True),))  # the pair pass is exhaustive


def angular_scale(w: torch.Tensor, norms: np.ndarray, sample: np.ndarray) -> AngularScale:
    """The sample's cosine distances to their K-th nearest token by cosine, and the angular threshold."""
    if len(sample) == 0:
        return AngularScale(np.zeros(0), float("nan"), -1.0)
    nearest = _top_cosines(w, norms, [int(i) for i in sample], K)
    distances = np.array([1.0 - nearest[int(i)][K - 1][1] for i in sample])
    median, threshold = _low_outlier_threshold(distances, floor=1e-9)
    return AngularScale(distances, median, threshold)


def _angular_spread(w32: np.ndarray, members: np.ndarray) -> float:
    """Mean cosine distance over pairs of members, from their mean unit vector ū: for m unit vectors it is
    m / (m − 1) × mean |u − ū|² (two passes, no pairwise matrix, no cancellation). Zero vectors have no
    direction and are left out; fewer than two nonzero members coincide at the origin: spread 0."""
    count = sum(len(units) for units in _unit_rows(w32, members))
    if count < 2:
        return 0.0
    centre = sum(units.sum(0) for units in _unit_rows(w32, members)) / count
    squares = sum(float(((units - centre) ** 2).sum()) for units in _unit_rows(w32, members))
    return count / (count - 1) * squares / count


def _unit_rows(w32: np.ndarray, members: np.ndarray, chunk: int = 4096):
    """The nonzero members' unit vectors in float64, a chunk at a time (memory O(chunk), not O(members))."""
    for a in range(0, len(members), chunk):
        rows = w32[members[a:a + chunk]].astype(np.float64)
        lengths = np.linalg.norm(rows, axis=1)
        yield rows[lengths > 0] / lengths[lengths > 0, None]


def _median_percentiles(pct: tuple[np.ndarray, np.ndarray, np.ndarray], group) -> tuple[float, float, float]:
    ids = list(group)
    return tuple(float(np.median(p[ids])) for p in pct)


def _evidence(candidates, spreads, angular: AngularScale, pct, log_frequency: np.ndarray | None,
              seed: int) -> ClumpEvidence | None:
    """Claim 24's group: the largest clump, or else the candidate tightest in angle (ties: the larger)."""
    if not candidates:
        return None
    tight = [i for i, spread in enumerate(spreads) if spread <= angular.threshold]
    pick = tight[0] if tight else min(range(len(candidates)), key=lambda i: (spreads[i], -len(candidates[i]), i))
    group = candidates[pick]
    ratio = spreads[pick] / angular.median if angular.median > 0 else float("inf")
    return ClumpEvidence(len(group), spreads[pick], ratio, bool(tight), _median_percentiles(pct, group),
                         rarity(group, log_frequency, seed) if log_frequency is not None else None)


def rarity(group: Sequence[int], log_frequency: np.ndarray, seed: int = 0) -> Rarity | None:
    """Where the group's median member sits among tokens with a known frequency, and its members' mean
    percentile against RARITY_DRAWS seeded random sets of as many such tokens (a rank-sum test: it copes with
    the many ties of tokens a corpus never holds); None when under MIN_KNOWN_SHARE of the group has a frequency."""
    log_frequency = np.asarray(log_frequency, dtype=np.float64)
    known = ~np.isnan(log_frequency)  # -inf is known: never seen
    ids = np.array(group, dtype=int)
    inside = ids[(ids < len(log_frequency))]
    inside = inside[known[inside]]
    if len(inside) < max(2, MIN_KNOWN_SHARE * len(group)):
        return None
    pool = percentile_ranks(log_frequency[known])  # mid-ranks: ties share one percentile
    ranks = np.full(len(log_frequency), np.nan)
    ranks[known] = pool
    rarer = float(np.mean(log_frequency[known] < np.median(log_frequency[inside])))
    observed = float(np.mean(ranks[inside]))
    rng = np.random.default_rng(seed)
    means = np.array([np.mean(rng.choice(pool, len(inside), replace=False)) for _ in range(RARITY_DRAWS)])
    p_value = (1 + int((means <= observed).sum())) / (1 + RARITY_DRAWS)
    return Rarity(len(group), len(inside), rarer, observed, p_value)


def _kth_within(pairs: np.ndarray, distances: np.ndarray, copies: np.ndarray, threshold: float) -> dict:
    """{token: its K-th smallest distance} for every token with at least K others within the threshold.

    `pairs` join distinct rows (each id its group's first, see analyses.pairs.token_pairs.PairScan): a row's copies
    count as neighbours at distance 0, and each pair counts once per copy of the other row."""
    sizes = np.bincount(copies, minlength=len(copies))
    groups = np.flatnonzero(sizes > 1) if threshold >= 0 else np.zeros(0, dtype=np.int64)
    ends = np.concatenate([pairs[:, 0], pairs[:, 1], groups])
    others = np.concatenate([sizes[pairs[:, 1]], sizes[pairs[:, 0]], sizes[groups] - 1])  # neighbours per entry
    both = np.concatenate([distances, distances, np.zeros(len(groups))])
    if len(ends) == 0:
        return {}
    order = np.lexsort((both, ends))
    ends, both, others = ends[order], both[order], others[order]
    starts = np.searchsorted(ends, np.unique(ends))
    kth = {}
    for start, stop in zip(starts, np.append(starts[1:], len(ends))):
        at = int(np.searchsorted(np.cumsum(others[start:stop]), K))  # first entry that reaches K neighbours
        if at < stop - start:
            kth[int(ends[start])] = float(both[start + at])
    if len(groups):  # every copy shares its group's distances
        members = np.flatnonzero(copies != np.arange(len(copies)))
        kth.update({int(t): kth[int(copies[t])] for t in members if int(copies[t]) in kth})
    return kth


def _threshold(sample_distances: np.ndarray, norms: np.ndarray) -> tuple[float, float]:
    """The median crowding distance and the crowding threshold of the rule."""
    return _low_outlier_threshold(sample_distances, floor=1e-9 * max(float(np.median(norms)), 1e-30))


def _low_outlier_threshold(values: np.ndarray, floor: float) -> tuple[float, float]:
    """(median, threshold): the threshold is LOW_Z robust SD below the median log, and at most MAX_RATIO × the
    median; values under `floor` count as the floor (keeps log finite for exact duplicates)."""
    if len(values) == 0:
        return float("nan"), -1.0
    logs = np.log(np.maximum(values, floor))
    centre = float(np.median(logs))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(logs - centre)))
    return float(np.exp(centre)), float(min(np.exp(centre - LOW_Z * spread), MAX_RATIO * np.exp(centre)))


def _kth_distance(w: torch.Tensor, w32: np.ndarray, ids: np.ndarray, chunk: int = 256) -> list[float]:
    """Exact distance from each token in `ids` to its K-th nearest other token.

    Distances are ranked in float32 on the device; the K + 8 closest are re-measured in float64 directly."""
    out: list[float] = []
    if len(ids) == 0:
        return out
    squares = (w * w).sum(1)
    keep = min(K + 8, w.shape[0] - 1)
    for a in range(0, len(ids), chunk):
        rows = torch.as_tensor(ids[a:a + chunk], device=w.device)
        # (|u|² + |v|²) − 2u·v: the same operations in the same order, in place (one new block, not three)
        d2 = (squares[rows][:, None] + squares[None, :]).sub_((w[rows] @ w.T).mul_(2))
        d2[torch.arange(len(rows), device=w.device), rows] = float("inf")
        near = torch.topk(d2, keep, dim=1, largest=False).indices.cpu().numpy()
        rows64 = w32[ids[a:a + chunk]].astype(np.float64)
        exact = np.sort(np.linalg.norm(w32[near].astype(np.float64) - rows64[:, None, :], axis=2), axis=1)
        out.extend(float(x) for x in exact[:, K - 1])
    return out


def _link(crowded: np.ndarray, pairs: np.ndarray, copies: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Single-linkage groups of crowded tokens within the threshold of each other, with ≥ MIN_CLUMP members.

    Copies of a row are linked to each other (distance 0) and share the row's links; a row and its copies are
    crowded together (they share their neighbours' distances)."""
    if len(crowded) < MIN_CLUMP:
        return ()
    firsts = np.unique(copies[crowded])  # crowded distinct rows
    links = pairs[np.isin(pairs[:, 0], firsts) & np.isin(pairs[:, 1], firsts)]
    rows, columns = np.searchsorted(firsts, links[:, 0]), np.searchsorted(firsts, links[:, 1])
    graph = sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(firsts), len(firsts)))
    _, labels = connected_components(graph, directed=False)
    labels = labels[np.searchsorted(firsts, copies[crowded])]  # each crowded token takes its row's group
    groups = [tuple(int(i) for i in crowded[labels == g]) for g in np.unique(labels)]
    clumps = [g for g in groups if len(g) >= MIN_CLUMP]
    return tuple(sorted(clumps, key=lambda g: (-len(g), g[0])))


def _cosine_neighbours(w: torch.Tensor, norms: np.ndarray, ids: list[int]) -> dict:
    """The N_NEIGHBOURS most similar other tokens by cosine (ties: lower id) for each id."""
    return _top_cosines(w, norms, ids, N_NEIGHBOURS)


def _top_cosines(w: torch.Tensor, norms: np.ndarray, ids: list[int], count: int) -> dict:
    """{id: ((neighbour id, cosine), ...)} the `count` most similar other tokens by cosine (ties: lower id)."""
    if not ids or w.shape[0] < 2:
        return {}
    scale = torch.as_tensor(np.where(norms > 0, norms, 1.0), dtype=torch.float32, device=w.device)
    keep = min(count + 8, w.shape[0])
    out = {}
    for a in range(0, len(ids), 256):
        rows = torch.as_tensor(ids[a:a + 256], device=w.device)
        cos = _unit_products(w, scale, rows)
        cos[torch.arange(len(rows), device=w.device), rows] = -float("inf")
        values, indices = torch.topk(cos, keep, dim=1)
        for row, vals, cols in zip(ids[a:a + 256], values.cpu().numpy(), indices.cpu().numpy()):
            order = np.lexsort((cols, -vals))[:count]
            out[int(row)] = tuple((int(cols[j]), float(vals[j])) for j in order if np.isfinite(vals[j]))
    return out


def _unit_products(w: torch.Tensor, scale: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """[rows, tokens] float32 cosines unit[rows] @ unitᵀ, unit = w / scale, with the unit rows made UNIT_BLOCK
    at a time: the same float32 quotients and products as from a whole unit-norm copy, which at 128k × 4,096
    would take 2.1 GB."""
    queries = w[rows] / scale[rows, None]
    cos = torch.empty(len(rows), w.shape[0], dtype=torch.float32, device=w.device)
    units = torch.empty(min(UNIT_BLOCK, w.shape[0]), w.shape[1], dtype=torch.float32, device=w.device)  # reused
    for c0 in range(0, w.shape[0], UNIT_BLOCK):
        n = min(UNIT_BLOCK, w.shape[0] - c0)
        keys = torch.div(w[c0:c0 + n], scale[c0:c0 + n, None], out=units[:n])
        torch.mm(queries, keys.T, out=cos[:, c0:c0 + UNIT_BLOCK])
    return cos


CLAIM24_RULE = (
    f"holds if the largest clump (≥ {MIN_CLUMP} crowded tokens whose angular spread, the mean cosine distance "
    f"between members, is within the angular threshold) has its median member in the lowest {LOW_PERCENTILE:.0%} "
    f"of tokens by norm and by unigram-dim value and, where token frequencies are known, by log frequency, with "
    f"its members' mean frequency percentile lower than in {1 - RARE_P:.0%} of {RARITY_DRAWS} seeded random sets "
    f"of as many tokens. Fails when no candidate group is "
    f"tighter in angle than the median token's {K}th neighbour by cosine, when the group sits above the lowest "
    f"{LOW_PERCENTILE:.0%} by norm or unigram value, or when {TYPICAL_PERCENTILE:.0%} or more of the tokens are "
    f"rarer than its median member; inconclusive in between. Null: the same norms with random directions, whose short "
    f"vectors are close in distance but not in angle. value = the largest of the median percentiles tested; "
    f"decided only when the crowding search checked every candidate")


def _claim24(evidence: ClumpEvidence | None, unigram_dim: int | None, complete: bool = True) -> Claim:
    """Claim 24 from its parts (angle, norm, unigram value, frequency): fails when any part fails, holds when
    all hold, else inconclusive; never decided on a partial search (`complete` False)."""
    if not complete:
        return claim("rare_token_clump", None, None, CLAIM24_RULE,
                     "the crowding search stopped before checking every candidate, so a clump may have been missed")
    if evidence is None:
        return claim("rare_token_clump", None, False, CLAIM24_RULE, "no crowded group of tokens found")
    norm_pct, unigram_pct, centroid_pct = evidence.percentiles
    angle = "holds" if evidence.tight else "inconclusive" if evidence.angular_ratio < 1 else "fails"
    parts = [angle, _low(norm_pct)]
    tested = [norm_pct]
    detail = (f"{evidence.size} tokens; angular spread {evidence.angular_spread:.3g} = "
              f"{evidence.angular_ratio:.2f} × the median {K}th-neighbour cosine distance"
              f"{'' if evidence.tight else ' (above the angular threshold: not a clump)'}; "
              f"median percentile of norm {norm_pct:.0%}")
    if unigram_dim is None:
        detail += ", no unigram dim stands out in this model, so only the norm part is tested"
    else:
        parts.append(_low(unigram_pct))
        tested.append(unigram_pct)
        detail += f", of unigram dim {unigram_dim} {unigram_pct:.0%}, of distance to the centroid {centroid_pct:.0%}"
    if evidence.rarity is None:
        detail += "; frequency not tested (no frequency source, or too few members with a known frequency)"
    else:
        r = evidence.rarity
        parts.append("holds" if r.percentile <= LOW_PERCENTILE and r.p_value <= RARE_P
                     else "fails" if r.percentile >= TYPICAL_PERCENTILE else "inconclusive")
        tested.append(r.percentile)
        detail += (f"; {r.percentile:.0%} of tokens are rarer than its median member (frequency known for "
                   f"{r.known} of {r.size}), mean frequency percentile {r.mean_percentile:.0%}, p = {r.p_value:.3f} "
                   f"against random sets of as many tokens")
    holds = all(p == "holds" for p in parts)
    return claim("rare_token_clump", max(tested), holds, CLAIM24_RULE, detail,
                 inconclusive="fails" not in parts)


def _low(percentile: float) -> str:
    return "holds" if percentile <= LOW_PERCENTILE else "fails"
