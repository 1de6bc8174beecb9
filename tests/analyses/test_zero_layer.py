"""The exact pair pass equals the brute force (both screen precisions, adversarial matrices); planted pairs
come out as leading-space removals."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from analyses.zero_layer import (
    CATEGORIES,
    LEADING_SPACE,
    MACHINE,
    OTHER,
    TOLERANCE,
    UNPRINTABLE,
    analyse_zero_layer,
    category_of,
    zero_layer_predictions,
)


def brute_force(w: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The documented rule, straight from the full float64 matrix of dot products (out: untied unembedding)."""
    w64 = np.asarray(w, dtype=np.float64)
    out64 = w64 if out is None else np.asarray(out, dtype=np.float64)
    scores = w64 @ out64.T
    own = np.diag(scores).copy()
    np.fill_diagonal(scores, -np.inf)
    scale = TOLERANCE * np.linalg.norm(w64, axis=1)[:, None] * np.linalg.norm(out64, axis=1)[None, :]
    exception = ((scores - own[:, None]) > scale).any(axis=1)
    near = scores >= scores.max(axis=1, keepdims=True) - scale
    lowest = np.where(near, np.arange(len(out64))[None, :], len(out64)).min(axis=1)  # more keys than queries: ok
    return np.where(exception, lowest, np.arange(len(w))), exception


def assert_matches_brute_force(w: np.ndarray, out: np.ndarray | None = None) -> None:
    """Both screen precisions give the brute force's answer."""
    w = np.asarray(w, dtype=np.float32)
    out = None if out is None else np.asarray(out, dtype=np.float32)
    predicts, exception = brute_force(w, out)
    for precision in ("fp32", "bf16"):
        found = zero_layer_predictions(w, unembedding=out, precision=precision)
        np.testing.assert_array_equal(found.exception, exception)
        np.testing.assert_array_equal(found.predicts, predicts)


@pytest.fixture
def small_blocks(monkeypatch):
    """Many row blocks and column chunks on small matrices."""
    from analyses.pairs import candidates as pair_candidates
    from analyses.pairs import token_pairs

    monkeypatch.setattr(token_pairs, "ROW_BLOCK", 64)
    monkeypatch.setattr(token_pairs, "COLUMN_CHUNK", 96)
    monkeypatch.setattr(pair_candidates, "BAND", 40)


@pytest.mark.parametrize("seed", range(8))
def test_random_matrices_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 2500)), int(rng.integers(1, 96))
    lengths = rng.lognormal(0, rng.uniform(0.05, 0.8), size=(n, 1))
    w = rng.normal(size=(n, d)) * lengths + rng.normal(size=d) * rng.uniform(0, 3)
    assert_matches_brute_force(w)


def test_more_than_one_query_block_matches_brute_force():
    rng = np.random.default_rng(11)
    w = rng.normal(size=(2600, 40)) * rng.lognormal(0, 0.3, size=(2600, 1)) + 0.7
    assert_matches_brute_force(w)


def test_duplicate_rows_predict_themselves():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(300, 16))
    w[50] = w[10]
    w[51] = w[10]
    found = zero_layer_predictions(w.astype(np.float32))
    assert not found.exception[[10, 50, 51]].any()
    assert_matches_brute_force(w)


def test_ties_between_winners_go_to_the_lowest_id():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(200, 12))
    w[120] = 3 * w[7]
    w[40] = 3 * w[7]  # two identical, longer copies of token 7
    found = zero_layer_predictions(w.astype(np.float32))
    assert found.exception[7] and found.predicts[7] == 40
    assert_matches_brute_force(w)


def test_equal_norms_mean_every_token_predicts_itself():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(500, 24)) + 2.0
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    found = zero_layer_predictions(w.astype(np.float32))
    assert not found.exception.any()
    np.testing.assert_array_equal(found.predicts, np.arange(500))


def test_zero_vectors_predict_themselves():
    rng = np.random.default_rng(4)
    w = rng.normal(size=(100, 8))
    w[[3, 17, 60]] = 0.0
    found = zero_layer_predictions(w.astype(np.float32))
    assert not found.exception[[3, 17, 60]].any()
    assert_matches_brute_force(w)


def test_one_very_long_vector_wins_for_its_neighbours():
    rng = np.random.default_rng(5)
    w = rng.normal(size=(400, 32)) + 1.0
    w[123] = 50 * w.mean(axis=0)
    found = zero_layer_predictions(w.astype(np.float32))
    assert found.exception.sum() > 300 and (found.predicts[found.exception] == 123).all()
    assert not found.exception[123]
    assert_matches_brute_force(w)


def test_collinear_tokens_all_predict_the_longest():
    direction = np.random.default_rng(6).normal(size=10)
    w = np.outer(np.linspace(0.5, 3.0, 50), direction)
    found = zero_layer_predictions(w.astype(np.float32))
    assert (found.predicts[:-1] == 49).all() and found.predicts[49] == 49
    assert_matches_brute_force(w)


@pytest.mark.parametrize("shape", [(1, 4), (2, 1), (3, 2), (7, 300)])
def test_tiny_shapes(shape):
    rng = np.random.default_rng(sum(shape))
    assert_matches_brute_force(rng.normal(size=shape) * rng.lognormal(0, 1, size=(shape[0], 1)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(8)
    w = (rng.normal(size=(3000, 64)) * rng.lognormal(0, 0.4, size=(3000, 1)) + 0.5).astype(np.float32)
    cpu, cuda = zero_layer_predictions(w, "cpu"), zero_layer_predictions(w, "cuda")
    np.testing.assert_array_equal(cpu.predicts, cuda.predicts)


def test_half_the_products_on_any_input():
    rng = np.random.default_rng(9)
    w = (rng.normal(size=(3000, 64)) * (1 + 1e-3 * rng.normal(size=(3000, 1)))).astype(np.float32)  # narrow norms
    found = zero_layer_predictions(w)
    from analyses.pairs.token_pairs import ROW_BLOCK

    block = min(ROW_BLOCK, 3000)  # the upper triangle, plus the lower half of the diagonal blocks
    assert found.pairs_screened <= 0.5 * 3000 ** 2 + 0.5 * block * 3000 + 3000


def test_near_ties_within_the_bf16_error_bound(small_blocks):
    """Rivals whose score differs from the self score by less than the bf16 screen's error, both ways."""
    rng = np.random.default_rng(13)
    d = 32
    w = rng.normal(size=(600, d))
    for k, gap in enumerate([1e-3, -1e-3, 3e-6, -3e-6, 5e-7, -5e-7, 2e-3, 0.0]):
        u = w[10 * k]
        v = u.copy()
        v[0] += gap * (u @ u) / u[0] if u[0] else 0.0  # u·v = u·u (1 + gap), |v| ≈ |u|
        w[300 + 10 * k] = v
    w[400:420] = 1.004 * w[420:440]  # longer by less than the bf16 error: a near-tie with every copy
    assert_matches_brute_force(w)


def test_equal_norms_and_duplicates_across_blocks(small_blocks):
    rng = np.random.default_rng(14)
    w = rng.normal(size=(500, 12))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    w[100:130] = w[0]  # 31 identical unit rows in different blocks
    w[200:210] = 2 * w[5]
    w[210:220] = 2 * w[5]  # 20 identical winners: the lowest id takes them
    assert_matches_brute_force(w)
    found = zero_layer_predictions(w.astype(np.float32), precision="bf16")
    assert found.predicts[5] == 200 and not found.exception[200]


@pytest.mark.parametrize("seed", range(3))
def test_untied_unembedding_matches_brute_force(small_blocks, seed):
    rng = np.random.default_rng(20 + seed)
    n, d = 700, 24
    w = rng.normal(size=(n, d)) + rng.normal(size=d)
    out = 0.8 * w + rng.normal(0, 0.6, size=(n, d)) * rng.lognormal(0, 0.5, size=(n, 1))
    out[50:60] = out[40]  # ties among output rows
    assert_matches_brute_force(w, out)


def test_untied_with_more_output_rows_than_input_rows(small_blocks):
    """An output matrix padded past the input vocabulary: its extra rows are keys only (the own scores were
    taken over chunks of both matrices, which failed when the input had fewer rows)."""
    rng = np.random.default_rng(7)
    w = rng.normal(size=(1100, 24))
    out = np.concatenate([0.8 * w + rng.normal(0, 0.6, size=w.shape), rng.normal(0, 1.5, size=(300, 24))])
    assert_matches_brute_force(w, out)


def test_untied_claims_use_the_direct_path():
    rng = np.random.default_rng(30)
    w = rng.normal(size=(300, 16)).astype(np.float32)
    out = w.copy()
    out[7] = 3 * w[8]  # token 8's logit is beaten by output row 7
    direct = analyse_zero_layer(w, [b"x"] * 300, np.zeros(300, bool), unembedding=out)
    tied = analyse_zero_layer(w, [b"x"] * 300, np.zeros(300, bool))
    pairs = lambda r: {(e.token_id, e.predicts_id) for e in r.exceptions}  # noqa: E731
    predicts, exception = brute_force(w, out)
    assert direct.direct and not tied.direct
    assert pairs(direct) == {(int(u), int(predicts[u])) for u in np.flatnonzero(exception)}
    assert (8, 7) in pairs(direct) and (8, 7) not in pairs(tied)


@pytest.mark.parametrize("u, v, flags, expected", [
    (b" word", b"word", (False, False), LEADING_SPACE),
    (b" Word", b"word", (False, False), LEADING_SPACE),
    (b"word", b" word", (False, False), OTHER),
    (b"\xe2\x80", b"abc", (False, False), UNPRINTABLE),
    (b"abc", b"x", (False, True), UNPRINTABLE),
    (b"InstoreAndOnline", b"abc", (False, False), MACHINE),
    (b"</td>", b"x", (False, False), MACHINE),
    (b"x", b"20170301", (False, False), MACHINE),
    (b"x", b".com", (False, False), MACHINE),
    (b"hello", b"world", (False, False), OTHER),
])
def test_categories(u, v, flags, expected):
    assert category_of(u, v, *flags) == expected


def test_no_exceptions_makes_claims_21_to_23_not_applicable():
    w = np.eye(6, dtype=np.float32)
    r = analyse_zero_layer(w, [b"a"] * 6, np.zeros(6, dtype=bool))
    assert r.self_predict_fraction == 1.0 and not r.exceptions
    verdicts = {c.id: c.verdict for c in r.claims}
    assert verdicts == {20: "holds", 21: "not-applicable", 22: "not-applicable", 23: "not-applicable"}


def test_exception_fields_are_measured():
    w = np.array([[1.0, 0.0], [2.0, 0.2], [0.0, 1.0]], dtype=np.float32)
    r = analyse_zero_layer(w, [b" ab", b"AB", b"c"], np.zeros(3, dtype=bool))
    (e,) = r.exceptions
    assert (e.token_id, e.predicts_id, e.category) == (0, 1, LEADING_SPACE)
    assert e.norm_ratio == pytest.approx(np.hypot(2, 0.2))
    assert e.cosine == pytest.approx(2 / np.hypot(2, 0.2))
    assert e.dot_margin == pytest.approx(1.0)
    assert sum(r.category_counts.values()) == 1 and set(r.category_counts) == set(CATEGORIES)


def test_planted_pairs_are_leading_space_exceptions(planted, planted_ctx):
    r = planted_ctx.results["zero_layer"]
    by_token = {e.token_id: e for e in r.exceptions}
    assert planted.pairs
    for u, v in planted.pairs:
        assert by_token[u].predicts_id == v
        assert by_token[u].category == LEADING_SPACE
        assert by_token[u].cosine == pytest.approx(1.0, abs=1e-5)
        assert by_token[u].norm_ratio == pytest.approx(1.6, rel=1e-4)


def test_results_json_lists_every_exception(planted_ctx):
    from report.sections.zero_layer import SECTION

    r = planted_ctx.results["zero_layer"]
    fragment = SECTION.to_json(r, planted_ctx)
    assert len(fragment["exceptions"]) == len(r.exceptions) > 0
    first = fragment["exceptions"][0]
    assert {"token", "predicts", "cosine", "norm_ratio", "dot_margin", "category"} <= set(first)
    assert set(first["token"]) == set(first["predicts"]) == {"id", "text", "bytes"}
    assert fragment["self_predict_fraction"] == r.self_predict_fraction
    assert sum(fragment["category_counts"].values()) == len(r.exceptions)


def test_noise_has_few_exceptions(unplanted_ctx):
    r = unplanted_ctx.results["zero_layer"]
    assert r.self_predict_fraction > 0.9


def test_screen_precision_follows_the_hardware_flags_and_the_override(monkeypatch):
    from analyses.pairs.token_pairs import screen_precision

    monkeypatch.setenv("WEIGHTS_REPORT_SCREEN", "fp32")
    assert screen_precision("cpu") == "fp32"
    monkeypatch.setenv("WEIGHTS_REPORT_SCREEN", "bf16")
    assert screen_precision("cpu") == "bf16"
    monkeypatch.delenv("WEIGHTS_REPORT_SCREEN")
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    expected = "bf16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "fp32"
    assert screen_precision("cpu") == expected


def _vocabulary_and_weights(n: int, odd_in_five: int, seed: int = 0) -> tuple[list[bytes], np.ndarray]:
    """Plain letter tokens, `odd_in_five` of every five markup (ids ≡ 0, 1, … mod 5); unit-norm rows, so no token
    beats another by chance."""
    letters = [bytes([97 + (i // 26 ** k) % 26 for k in range(3)]) for i in range(n)]
    vocab = [b"<" + t + b">" if i % 5 < odd_in_five else t for i, t in enumerate(letters)]
    w = np.random.default_rng(seed).normal(size=(n, 64))
    return vocab, w / np.linalg.norm(w, axis=1, keepdims=True)


def _claim23(w: np.ndarray, vocab: list[bytes]):
    r = analyse_zero_layer(w.astype(np.float32), vocab, np.zeros(len(vocab), dtype=bool))
    return next(c for c in r.claims if c.id == 23), r


def test_claim23_holds_when_the_exceptions_are_odd_tokens():
    vocab, w = _vocabulary_and_weights(1000, 1)
    plain = [i for i in range(1000) if i % 5]
    for u, v in zip(range(0, 400, 10), plain[500:540]):  # 40 odd tokens each predict their own plain one
        w[v] = 1.2 * w[u]
    c, r = _claim23(w, vocab)
    assert len(r.exceptions) == 40 and c.verdict == "holds", c.detail


def test_claim23_counts_a_shared_target_once():
    """31 plain tokens all predict one markup token: every exception 'involves' it, but it is one token of 32.
    A binomial over pairs would call this a strong effect."""
    vocab, w = _vocabulary_and_weights(1000, 1)
    centre, members = w[1], [i for i in range(2, 100) if i % 5][:30]
    w[members] = centre + 0.01 * np.random.default_rng(1).normal(size=(30, 64))
    w[0] = 1.5 * centre  # token 0 is markup
    c, r = _claim23(w, vocab)
    assert {e.predicts_id for e in r.exceptions} == {0} and len(r.exceptions) == 31  # the centre too
    assert c.value == 1.0 and c.verdict == "fails", c.detail


def test_claim23_needs_enrichment_not_only_a_large_share():
    """Two tokens in five are markup: random pairs involve one 64% of the time, which is chance, not an effect."""
    vocab, w = _vocabulary_and_weights(2000, 2)
    rng = np.random.default_rng(2)
    ids = rng.permutation(2000)[:200]
    for u, v in zip(ids[:100], ids[100:]):
        w[v] = 1.2 * w[u]
    c, r = _claim23(w, vocab)
    assert len(r.exceptions) == 100 and c.value >= 0.5 and c.verdict == "fails", c.detail


ADVERSARIAL_BYTES = [b" word", b"word", b" Word", b"WORD", b" ", b"", b"\xe2\x80", b" \xe2\x80", b"\xff", b"abc",
                     b"x", b" x", b"X", b"</td>", b"camelCase", b" camelCase", b"20170301", b"deadbeef", b"abcdef",
                     b".com", b"http", b"\x00", b"\n", b" \n", b"caf\xc3\xa9", b" CAF\xc3\xa9", b"a_b", b"hello"]


@pytest.mark.parametrize("untied", [False, True])
def test_batched_exceptions_equal_one_at_a_time(monkeypatch, untied):
    """Every exception's floats are bit-identical to scoring it alone (float64 dots of its rows, as results.json
    has always had them), across several gather blocks; categories agree with category_of."""
    from analyses import zero_layer

    monkeypatch.setattr(zero_layer, "PAIR_BLOCK", 37)
    rng = np.random.default_rng(40)
    n, d = 400, 48
    w = (rng.normal(size=(n, d)) * rng.lognormal(0, 1.0, size=(n, 1)) + rng.normal(size=d)).astype(np.float32)
    out = (0.7 * w + rng.normal(0, 0.5, size=(n, d))).astype(np.float32) if untied else None
    token_bytes = [ADVERSARIAL_BYTES[i] for i in rng.integers(0, len(ADVERSARIAL_BYTES), n)]
    unprintable = rng.random(n) < 0.05
    r = analyse_zero_layer(w, token_bytes, unprintable, unembedding=out)
    assert len(r.exceptions) > 100
    o = w if out is None else out
    for e in r.exceptions:
        u, v = e.token_id, e.predicts_id
        eu, wu, wv = w[u].astype(np.float64), o[u].astype(np.float64), o[v].astype(np.float64)
        dot, own = float(eu @ wv), float(eu @ wu)
        assert e.cosine == dot / (r.norms[u] * np.linalg.norm(wv))
        assert e.norm_ratio == float(np.linalg.norm(wv) / np.linalg.norm(wu))
        assert e.dot_margin == ((dot - own) / abs(own) if own else float("inf"))
        assert e.category == category_of(token_bytes[u], token_bytes[v], bool(unprintable[u]), bool(unprintable[v]))
    assert len({e.category for e in r.exceptions}) == len(CATEGORIES)


def test_direct_pass_narrows_queries_a_block_at_a_time_and_agrees_across_precisions(small_blocks):
    """An untied model with planted exceptions: the bf16 screen (queries narrowed block by block, no whole copy
    kept) gives the float32 screen's answer, which is the brute force's."""
    from analyses.pairs.token_pairs import PairPass

    rng = np.random.default_rng(41)
    n, d = 900, 32
    w = rng.normal(size=(n, d)) * rng.lognormal(0, 0.4, size=(n, 1)) + rng.normal(size=d)
    out = 0.7 * w + rng.normal(0, 0.3, size=(n, d))
    out[200:230] = 1.5 * out[100:130]  # longer output rows take the predictions of tokens 100-129
    w, out = w.astype(np.float32), out.astype(np.float32)
    scan = PairPass(out, queries=w, precision="bf16")
    assert scan.qs is None and scan.ks.dtype == torch.bfloat16  # no whole narrowed copy of the queries
    bf16 = zero_layer_predictions(w, unembedding=out, precision="bf16")
    fp32 = zero_layer_predictions(w, unembedding=out, precision="fp32")
    np.testing.assert_array_equal(bf16.predicts, fp32.predicts)
    np.testing.assert_array_equal(bf16.exception, fp32.exception)
    predicts, exception = brute_force(w, out)
    np.testing.assert_array_equal(bf16.predicts, predicts)
    assert exception[100:130].all() and (predicts[100:130] == np.arange(200, 230)).sum() >= 15
