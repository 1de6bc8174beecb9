"""The pair pass on the regimes that made it slow: low width, many exceptions, a wide bf16 bound relative to the
gaps, crowding pairs everywhere; and exact duplicate rows. Every answer equals a float64 brute force."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.calibration import null_model
from analyses.pairs import candidates as pair_candidates
from analyses.pairs import token_pairs
from analyses.pairs.token_pairs import scan_pairs
from tests.analyses.test_zero_layer import brute_force


@pytest.fixture
def small_blocks(monkeypatch):
    """Many row blocks, column chunks, bands of keys and row groups (with a ragged last group) on small matrices."""
    monkeypatch.setattr(token_pairs, "ROW_BLOCK", 80)
    monkeypatch.setattr(token_pairs, "COLUMN_CHUNK", 112)
    monkeypatch.setattr(pair_candidates, "BAND", 32)  # bands of keys, the last one ragged


def brute_near(w: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) at float64 distance ≤ threshold, sorted, with its distance."""
    d = distances(w)
    i, j = np.nonzero(np.triu(d <= threshold, 1))
    return np.stack([i, j], 1), d[i, j]


def distances(w: np.ndarray) -> np.ndarray:
    w64 = w.astype(np.float64)
    return np.concatenate([np.linalg.norm(w64[a:a + 100, None, :] - w64[None, :, :], axis=2)
                           for a in range(0, len(w), 100)])


def assert_exact(w: np.ndarray, threshold: float) -> None:
    w = np.asarray(w, dtype=np.float32)
    predicts, exception = brute_force(w)
    pairs, distances = brute_near(w, threshold)
    for precision in ("fp32", "bf16"):
        found = scan_pairs(w, threshold=threshold, precision=precision)
        np.testing.assert_array_equal(found.exception, exception)
        np.testing.assert_array_equal(found.predicts, predicts)
        assert_near_pairs(found, pairs, distances, threshold)


def assert_near_pairs(found, pairs: np.ndarray, distances: np.ndarray, threshold: float) -> None:
    """Every pair the pass lists is within the threshold at its exact distance; it lists every pair that is not
    inside a group of near-duplicates, and counts those too."""
    from analyses.pairs.copies import near_pair_count

    listed = dict(zip(map(tuple, found.near_pairs.tolist()), found.near_distances.tolist()))
    expected = dict(zip(map(tuple, pairs.reshape(-1, 2).tolist()), distances.tolist()))
    assert listed.keys() <= expected.keys()
    np.testing.assert_allclose([listed[p] for p in sorted(listed)], [expected[p] for p in sorted(listed)],
                               rtol=1e-12)
    firsts = {(int(found.copies[i]), int(found.copies[j])) for i, j in expected}  # copies: as their first row
    apart = {(i, j) for i, j in firsts if i != j and found.groups[i] != found.groups[j]}
    assert apart <= listed.keys()
    assert (found.near_pairs[:, 0] < found.near_pairs[:, 1]).all()
    assert near_pair_count(found.near_pairs, found.copies, threshold, found.groups) == len(expected)


def low_rank(n: int, d: int, seed: int) -> np.ndarray:
    """The calibration's low-rank null at a small size: nearly every token is an exception, and at low width
    the bf16 error bound is wide next to the gaps between scores."""
    rng = np.random.default_rng(seed)
    scale = 10 ** rng.normal(-1, 0.25, d)
    tokens = rng.standard_normal((n, 4)) @ rng.standard_normal((4, d)) / 2 + 0.05 * rng.standard_normal((n, d))
    return tokens * scale


@pytest.mark.parametrize("seed", range(3))
def test_low_width_many_exceptions_and_crowding_pairs(small_blocks, seed):
    w = low_rank(700, 16, seed)
    threshold = float(np.quantile(distances(w)[np.triu_indices(len(w), 1)], 0.01))  # thousands of pairs
    assert brute_force(w.astype(np.float32))[1].mean() > 0.5
    assert_exact(w, threshold)


def test_low_width_in_one_block():
    """Default block sizes: candidates come from the maxima of row groups rather than a full compare."""
    w = null_model("low-rank", 64, 2048, 0).tokens
    threshold = float(np.quantile(distances(w)[np.triu_indices(len(w), 1)], 0.0005))
    assert brute_force(w.astype(np.float32))[1].mean() > 0.5
    assert_exact(w, threshold)


def test_candidates_everywhere_take_the_dense_path(small_blocks):
    """Every score within the bf16 bound of every row's own: the group maxima admit everything."""
    rng = np.random.default_rng(5)
    u = rng.normal(size=8)
    w = u * (1 + 1e-4 * rng.normal(size=(400, 1))) + 1e-5 * rng.normal(size=(400, 8))
    assert_exact(w, 1e-3)


def test_mean_shifted_low_width(small_blocks):
    rng = np.random.default_rng(7)
    w = rng.normal(size=(600, 8)) * 0.1 + 0.5
    assert_exact(w, 0.05)


def expand(pairs: np.ndarray, copies: np.ndarray) -> set:
    """Every pair of tokens the pass's answer stands for: pairs inside each group of copies and across pairs."""
    members: dict = {}
    for t, first in enumerate(copies):
        members.setdefault(int(first), []).append(t)
    out = {(a, b) for group in members.values() for i, a in enumerate(group) for b in group[i + 1:]}
    out |= {(min(a, b), max(a, b)) for i, j in pairs for a in members[int(i)] for b in members[int(j)]}
    return out


def test_a_large_group_of_identical_rows_is_stored_once():
    from analyses.outliers import K, _kth_within
    from analyses.pairs.copies import near_pair_count

    rng = np.random.default_rng(8)
    w = rng.normal(size=(2000, 12)).astype(np.float32)
    w[300:1500] = w[7]  # 1201 identical rows: 720,600 pairs at distance 0
    w[1600:1610] = w[1900]  # a group whose first row is not the lowest of the rows involved here
    w[1700:1705] = w[3] + np.float32(0.01)  # close to a row, not equal
    w[1800], w[1801] = 0.0, -0.0  # equal values, different bits: not collapsed, still exact
    threshold = 0.9
    predicts, exception = brute_force(w)
    pairs, distance = brute_near(w, threshold)
    for precision in ("fp32", "bf16"):
        found = scan_pairs(w, threshold=threshold, precision=precision)
        np.testing.assert_array_equal(found.predicts, predicts)
        np.testing.assert_array_equal(found.exception, exception)
        assert found.copies[1200] == 7 and found.copies[1605] == 1600 and found.copies[1801] == 1801
        assert len(found.near_pairs) < 20 * len(w)  # the pairs inside the group are not stored
        assert near_pair_count(found.near_pairs, found.copies, threshold) == len(pairs)
        assert expand(found.near_pairs, found.copies) == {(int(i), int(j)) for i, j in pairs}
        kth = _kth_within(found.near_pairs, found.near_distances, found.copies, threshold)
        full = np.full((len(w), len(w)), np.inf)
        full[pairs[:, 0], pairs[:, 1]] = full[pairs[:, 1], pairs[:, 0]] = distance
        expected = np.sort(full, axis=1)[:, K - 1]
        assert kth == {t: float(expected[t]) for t in np.flatnonzero(np.isfinite(expected))}


def test_two_threads_share_the_pass_and_agree_with_one(small_blocks, monkeypatch):
    """scan_pairs on two threads (half the cores each) gives the one-thread pass's result, and an error in
    either thread reaches the caller."""
    import torch

    w = null_model("heavy-tailed", 32, 900, 5).tokens.astype(np.float32)
    w[100:200] = w[:100] * 1.001  # near-duplicates: crowding pairs
    threshold = float(np.quantile(distances(w[:200])[np.triu_indices(200, 1)], 0.01))
    single = token_pairs.PairPass(w, threshold=threshold)
    single.work()
    one = single.result()
    cores = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        two = scan_pairs(w, threshold=threshold)
        assert torch.get_num_threads() == 2  # the caller's setting is restored
        np.testing.assert_array_equal(two.predicts, one.predicts)
        np.testing.assert_array_equal(two.near_pairs, one.near_pairs)
        np.testing.assert_array_equal(two.near_distances, one.near_distances)
        assert (two.pairs_screened, two.pairs_scored) == (one.pairs_screened, one.pairs_scored)

        def broken(self, *block):
            raise ValueError("block failed")

        monkeypatch.setattr(token_pairs.PairPass, "_block", broken)
        with pytest.raises(ValueError, match="block failed"):
            scan_pairs(w, threshold=threshold)
    finally:
        torch.set_num_threads(cores)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("spread", [2.0, 40.0])  # candidates almost everywhere (one pass), or few (groups first)
def test_row_candidates_keep_every_pair_that_may_reach_the_target(monkeypatch, dtype, spread):
    """The banded floors only narrow the search: the candidates kept are exactly the pairs with
    s + (ε + TOLERANCE)|q||k| ≥ target, with each key's own |k|, where key norms spread widely within a chunk."""
    import torch

    monkeypatch.setattr(pair_candidates, "BAND", 64)
    rng = np.random.default_rng(7)
    rows, columns = 45, 300  # a ragged last group of rows, a ragged last band
    kn = torch.tensor(np.sort(rng.lognormal(0, 1.5, columns)), dtype=torch.float32)
    qn, own, slack = torch.ones(rows), torch.ones(rows), torch.zeros(rows)
    state = pair_candidates.RowCandidates(qn, own, slack, 0.01)
    reach = state.reach
    s = (1 - reach[:, None] * kn[None, :] * torch.tensor(rng.uniform(0, spread, (rows, columns)),
                                                         dtype=torch.float32)).to(getattr(torch, dtype))
    state.add(s, pair_candidates.group_max(s), torch.ones(rows, dtype=torch.bool), 0, kn, s.amax(1).float())
    assert not state.definite.any()
    expected = set(zip(*np.nonzero((s.float() + reach[:, None] * kn[None, :] >= own[:, None]).numpy())))
    found = set(zip(torch.cat(state.rows).tolist(), torch.cat(state.columns).tolist())) if state.rows else set()
    assert found == {(int(i), int(j)) for i, j in expected} and 0 < len(found) < rows * columns


def near_duplicate_clump(n: int, size: int, d: int = 32, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Trained-like rows and a clump of `size` near-identical rows (a common centre, noise ~3e-3 of its length:
    reserved or padding tokens after weight decay), a few of them exact copies."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, d)) * rng.lognormal(0, 0.2, (n, 1))
    centre = rng.standard_normal(d) * 0.3
    members = np.sort(rng.choice(n, size, replace=False))
    w[members] = centre + rng.standard_normal((size, d)) * 1e-3
    w = w.astype(np.float32)
    w[members[:4]] = w[members[4]]
    return w, members


def test_a_near_duplicate_clump_gives_the_brute_force_answers():
    """Near-identical, not bit-identical rows: every prediction, every crowded token's K-th distance, the clump
    and the count of near pairs are the float64 brute force's, though the pairs inside the clump are not listed."""
    from analyses.outliers import K, analyse_outliers
    from analyses.pairs.groups import K_NEAREST
    from tests.analyses.test_outliers import brute_force_crowded

    assert K <= K_NEAREST  # each member's K-th distance is among the nearest members the pass keeps
    w, members = near_duplicate_clump(1500, 300)
    r = analyse_outliers(w, None)
    crowded, kth = brute_force_crowded(w, r.threshold)
    assert r.crowded == tuple(crowded) and [r.crowding[t] for t in crowded] == pytest.approx(kth, rel=1e-12)
    assert r.clumps == (tuple(members.tolist()),)
    assert_exact(w, r.threshold)
    found = scan_pairs(w, threshold=r.threshold)
    assert (found.groups[members] == members[0]).all()  # one group, the copies in it too
    assert len(found.near_pairs) < 10 * len(members)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_near_duplicate_clump_costs_linear_memory(precision):
    """The pass's records for a clump of n near-identical rows (listed near pairs, pairs scored in float64) grow
    like n, not like its n²/2 pairs."""
    for size in (200, 800):
        w, _ = near_duplicate_clump(2000, size)
        found = scan_pairs(w, threshold=0.5, precision=precision)
        assert len(found.near_pairs) <= 10 * size
        assert found.pairs_scored <= 20 * size + 2000


def untied_clump(n: int, size: int, d: int = 256, extra: int = 0, inputs: bool = True,
                 seed: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An untied model's (input, output) matrices: trained-like rows (each output row near its input row, so most
    tokens predict themselves) and `size` untrained tokens whose output rows are near-identical (a common centre,
    noise ~1e-5 of its length: the screen cannot tell their scores apart) and the best keys for their own input
    rows, which are near-identical too when `inputs` (else for about a third of them). `extra` output rows have
    no input row (a vocabulary padded on the output side); the clump takes some of them."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n + extra, d)) * rng.lognormal(0, 0.2, (n + extra, 1))
    out = 0.7 * w + 0.5 * rng.standard_normal((n + extra, d))
    centre = rng.standard_normal(d) * 0.3
    members = np.sort(rng.choice(n + extra, size, replace=False))
    if inputs:
        w[members] = centre + rng.standard_normal((size, d)) * 3e-5
    scale = 3 if inputs else 30  # random input rows: a longer centre, the best key for some of them
    out[members] = scale * centre + rng.standard_normal((size, d)) * 3e-5 * scale
    return w[:n].astype(np.float32), out.astype(np.float32), members


def test_row_maxima_of_bf16_scores_read_from_their_bits():
    """The row maxima the screen takes from bf16 bit patterns equal a plain reduction: rows with positive scores,
    rows all negative, masked (-inf), zeros of either sign, and a ragged width."""
    import torch

    rng = np.random.default_rng(3)
    s = torch.as_tensor(rng.standard_normal((64, 300)), dtype=torch.float32)
    s[1] = -s[1].abs() - 1e-3  # every score negative
    s[2] = -float("inf")
    s[3, :] = -0.0
    s[4, :] = -float("inf")
    s[4, 7] = 0.0
    s[5, :10] = -float("inf")
    s = s.to(torch.bfloat16)
    best = token_pairs._row_max(s)
    assert best.dtype == torch.float32
    np.testing.assert_array_equal(best.numpy(), s.amax(1).float().numpy())


def test_widening_block_sizes_change_no_bit(monkeypatch):
    """The rows widened to float64, narrowed to the screen precision or projected at once are a matter of speed:
    blocks of the fewest rows (16) give every field of the result bit for bit, symmetric and direct, groups and
    copies too."""
    from analyses.pairs import groups

    w, out, _ = untied_clump(700, 200, extra=100, inputs=True)
    w[650:660] = w[640]  # exact copies
    threshold = float(np.quantile(distances(w[:300])[np.triu_indices(300, 1)], 0.02))

    def scans():
        return scan_pairs(w, threshold=threshold), scan_pairs(out, queries=w)

    default = scans()
    for module, name in ((token_pairs, "EXACT_BYTES"), (token_pairs, "SCALE_BYTES"), (groups, "CHUNK_BYTES")):
        monkeypatch.setattr(module, name, 1)
    tiny = scans()
    assert default[0].near_pairs.size and default[1].exception.any() and (default[1].groups != np.arange(700)).any()
    for a, b in zip(default, tiny):
        for field in ("predicts", "exception", "near_pairs", "near_distances", "copies", "groups"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert (a.pairs_screened, a.pairs_scored) == (b.pairs_screened, b.pairs_scored)


@pytest.mark.parametrize("inputs, extra", [(True, 0), (False, 0), (True, 300)])
def test_an_untied_near_duplicate_clump_gives_the_brute_force_answers(inputs, extra):
    """Untied: the output rows of a clump are grouped in the direct pass. Every prediction and exception is the
    float64 brute force's, in both screen precisions; the crowded tokens, the clump and the count of near pairs of
    the input matrix too; and the exact scoring holds a few pairs per member, not the clump's n² pairs."""
    from analyses.outliers import analyse_outliers
    from tests.analyses.test_outliers import brute_force_crowded
    from tests.analyses.test_zero_layer import brute_force

    w, out, members = untied_clump(1200, 300, extra=extra, inputs=inputs)
    predicts, exception = brute_force(w, out)
    queries = members[members < len(w)]
    assert np.isin(predicts[queries], members).mean() > (0.9 if inputs else 0.3)  # the clump's winners: members
    for precision in ("fp32", "bf16"):
        found = scan_pairs(out, queries=w, precision=precision)
        np.testing.assert_array_equal(found.exception, exception)
        np.testing.assert_array_equal(found.predicts, predicts)
        assert (found.groups[queries] == queries[0]).all()
        assert found.pairs_scored <= 10 * len(members) + len(w)
    r = analyse_outliers(w, None)
    crowded, kth = brute_force_crowded(w, r.threshold)
    assert r.crowded == tuple(crowded) and [r.crowding[t] for t in crowded] == pytest.approx(kth, rel=1e-12)
    assert r.clumps == ((tuple(queries.tolist()),) if inputs else ())
    pairs, distances = brute_near(w, r.threshold)
    assert_near_pairs(scan_pairs(w, threshold=r.threshold), pairs, distances, r.threshold)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_untied_near_duplicate_clump_costs_linear_memory(precision):
    """The direct pass's records for a clump of n near-identical output rows (pairs scored in float64; the
    candidates the screen holds are fewer) grow like n, not like the n² pairs of its members."""
    for size in (200, 800):
        w, out, _ = untied_clump(2000, size)
        found = scan_pairs(out, queries=w, precision=precision)
        assert found.pairs_scored <= 10 * size + 2000
