"""The pair pass shared between threads: the same answer however the blocks are shared, the brute
force's answer, cancellation, and errors handed to the caller."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from analyses.outliers import crowding_scale
from analyses.pairs import token_pairs
from analyses.pairs.token_pairs import PairPass, scan_pairs
from analyses.zero_layer import zero_layer_predictions
from report.run import background
from report.run.background import BackgroundSearch
from tests.analyses.test_zero_layer import brute_force


def _matrix(seed: int, n: int = 2600, d: int = 48) -> np.ndarray:
    """Several query blocks' worth of tokens with spread-out lengths, duplicates and planted exceptions."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, d)) * rng.lognormal(0, 0.4, size=(n, 1))
    w[n // 2: n // 2 + 20] = w[:20]  # duplicate rows: ties
    w[100:140] = 1.3 * w[140:180] + rng.normal(0, 0.01, size=(40, d))  # longer near-copies win
    return w.astype(np.float32)


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.predicts, b.predicts)
    np.testing.assert_array_equal(a.exception, b.exception)
    np.testing.assert_array_equal(a.near_pairs, b.near_pairs)
    np.testing.assert_array_equal(a.near_distances, b.near_distances)
    assert (a.precision, a.pairs_screened, a.pairs_scored) == (b.precision, b.pairs_screened, b.pairs_scored)


@pytest.mark.parametrize("threads", [2, 3])
def test_blocks_shared_between_threads_give_the_single_thread_answer(monkeypatch, threads):
    monkeypatch.setattr(token_pairs, "ROW_BLOCK", 128)  # many blocks to share
    w = _matrix(0)
    threshold = crowding_scale(w).threshold
    alone = scan_pairs(w, threshold=threshold)
    search = PairPass(w, threshold=threshold)
    workers = [threading.Thread(target=search.work) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    _same(search.result(), alone)
    predicts, exception = brute_force(w)
    np.testing.assert_array_equal(alone.predicts, predicts)
    np.testing.assert_array_equal(alone.exception, exception)
    assert alone.exception.sum() >= 40


def test_background_search_equals_the_plain_search(monkeypatch):
    monkeypatch.setattr(token_pairs, "ROW_BLOCK", 128)
    w = _matrix(1)
    handle = BackgroundSearch(w, "cpu", seed=3, unembedding=1.1 * w)
    found = handle.result()
    _same(found.pairs, scan_pairs(w, threshold=crowding_scale(w, 3).threshold))
    _same(found.direct, zero_layer_predictions(w, unembedding=1.1 * w))
    assert found.predictions is found.direct
    assert handle.seconds > 0


def test_a_cancelled_search_has_no_result():
    search = PairPass(_matrix(2, n=300))
    search.cancel()
    search.work()
    with pytest.raises(RuntimeError, match="cancelled"):
        search.result()


def test_an_unstarted_search_has_no_result():
    with pytest.raises(RuntimeError, match="has not run to the end"):
        PairPass(_matrix(3, n=300)).result()


def test_background_errors_reach_the_caller():
    handle = BackgroundSearch(np.zeros(5, dtype=np.float32), "cpu")  # one row, no matrix
    with pytest.raises(ValueError):  # raised on the background thread, re-raised here
        handle.result()


def test_the_passes_and_their_screen_copies_go_once_the_result_is_taken(monkeypatch):
    """The report keeps its search for the whole run: the passes (with their screen-precision copies of the
    weights) must not stay with it."""
    monkeypatch.setattr(token_pairs, "ROW_BLOCK", 128)
    w = _matrix(4, n=600)
    handle = BackgroundSearch(w, "cpu", unembedding=0.9 * w)
    found = handle.result()
    assert handle.current is None and handle.result() is found
    handle.cancel()  # harmless afterwards
    assert found.direct is not None and len(found.direct.predicts) == 600


def test_the_direct_pass_is_built_only_once_the_symmetric_pass_is_done(monkeypatch):
    """One screen-precision copy at a time: the second pass is built after the first has finished."""
    events = []

    class Recorded(PairPass):
        def __init__(self, *args, **kwargs):
            events.append(("built", kwargs.get("queries") is None))
            super().__init__(*args, **kwargs)

        def wait(self):
            super().wait()
            events.append(("done", self.symmetric))

    monkeypatch.setattr(background, "PairPass", Recorded)
    monkeypatch.setattr(token_pairs, "ROW_BLOCK", 64)
    w = _matrix(5, n=700)
    found = BackgroundSearch(w, "cpu", unembedding=1.2 * w).result()
    assert events == [("built", True), ("done", True), ("built", False), ("done", False)]
    _same(found.direct, zero_layer_predictions(w, unembedding=1.2 * w))
