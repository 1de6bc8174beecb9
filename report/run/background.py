"""The pair pass (zero-layer predictions and crowded pairs, analyses.pairs.token_pairs), started on a background
thread as soon as the weights are loaded (and started again without them if the tokenizer shows that the
last rows are padding).

It is most of a report's arithmetic, and it needs nothing the other sections compute, while most of those
sections keep only one core busy. So it starts early on all cores but one, and when the zero-layer section
comes up, the main thread joins in on the blocks that are left (`PairPass` is built for sharing), so no core
idles while it finishes. The outliers section takes the same result.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from analyses.outliers import CrowdingScale, crowding_scale
from analyses.pairs.token_pairs import PairPass, PairScan


@dataclass(frozen=True, eq=False)
class Found:
    """What the background work produced.

    Attributes:
        pairs: the symmetric pass over the embeddings (its predictions are W·Wᵀ's; its near pairs feed the
            crowding rule).
        direct: the pass of the embeddings against an untied unembedding, or None when tied.
        crowding: the crowding scale whose threshold the symmetric pass used.
    """

    pairs: PairScan
    direct: PairScan | None
    crowding: CrowdingScale

    @property
    def predictions(self) -> PairScan:
        """The model's own zero-layer predictions: the direct pass when untied, else W·Wᵀ's."""
        return self.direct if self.direct is not None else self.pairs


class BackgroundSearch:
    """The pair pass(es) running on their own thread; `result()` joins them, `cancel()` stops them, and
    `seconds` is their wall time once `result()` has returned.

    The passes run one after the other, and each is built only when the one before has finished and let go
    of its screen-precision copy of the weights: one such copy is held at a time (1 GB per matrix at
    128k × 4,096), not one per pass."""

    def __init__(self, token_embeddings: np.ndarray, device: str, seed: int = 0,
                 unembedding: np.ndarray | None = None):
        cores = torch.get_num_threads()
        self.background_threads = max(1, cores - 1)  # leave one core to the sections that run meanwhile
        self.joining_threads = max(1, cores - self.background_threads)
        self.current: PairPass | None = None  # the pass under way, which a joining thread may share
        self.stage = 0  # passes built so far
        self.over = False  # no pass is left to build (or one failed or was cancelled)
        self.changed = threading.Condition()
        self.scans: list[PairScan] = []
        self.crowding: CrowdingScale | None = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.began = time.perf_counter()
        self.seconds = 0.0  # wall time from start to result
        self._found: Found | None = None
        self.thread = threading.Thread(target=self._run, args=(token_embeddings, device, seed, unembedding),
                                       daemon=True, name="pair pass")
        self.thread.start()

    def _run(self, token_embeddings, device: str, seed: int, unembedding) -> None:
        torch.set_num_threads(self.background_threads)  # per thread: the main thread keeps its own setting
        try:
            self.crowding = crowding_scale(token_embeddings, seed, device)
            builders = [lambda: PairPass(token_embeddings, threshold=self.crowding.threshold, device=device)]
            if unembedding is not None:
                builders.append(lambda: PairPass(unembedding, queries=token_embeddings, device=device))
            for build in builders:
                if self.cancelled:
                    break
                scan = build()
                with self.changed:
                    self.current, self.stage = scan, self.stage + 1
                    self.changed.notify_all()
                if self.cancelled:
                    scan.cancel()
                scan.work()
                scan.wait()  # for the blocks a joining thread still holds
                with self.changed:
                    self.current = None
                self.scans.append(scan.result())  # raises when cancelled
                del scan  # its copies go before the next pass builds its own
        except BaseException as exc:  # handed to the main thread by result()
            self.error = exc
        finally:
            with self.changed:
                self.current, self.over = None, True
                self.changed.notify_all()

    def _joinable(self, seen: int) -> tuple[PairPass | None, int]:
        """The pass under way and its stage, once one newer than stage `seen` is; None when no pass is left."""
        with self.changed:
            self.changed.wait_for(lambda: self.over or (self.current is not None and self.stage > seen))
            return (None if self.over else self.current), self.stage

    def result(self) -> Found:
        """Work through the remaining blocks alongside the background thread, then return the result."""
        if self._found is not None:
            return self._found
        own = torch.get_num_threads()
        torch.set_num_threads(self.joining_threads)
        try:
            scan, seen = self._joinable(0)
            while scan is not None:
                try:
                    scan.work()
                except BaseException:
                    self.cancel()
                    raise
                scan = None  # not held while the next pass is built
                scan, seen = self._joinable(seen)
        finally:
            torch.set_num_threads(own)
        self.thread.join()
        self.seconds = time.perf_counter() - self.began
        if self.error is not None:
            raise self.error
        self._found = Found(self.scans[0], self.scans[1] if len(self.scans) > 1 else None, self.crowding)
        return self._found

    def cancel(self) -> None:
        """Stop after the blocks in progress (used when the report fails or is interrupted)."""
        self.cancelled = True
        with self.changed:
            if self.current is not None:
                self.current.cancel()


def start_pair_pass(weights, rows: int, options) -> BackgroundSearch:
    """Begin the pair pass over the first `rows` token rows (and the untied unembedding's) in the background."""
    unembedding = weights.unembedding[:rows] if weights.unembedding is not None else None
    return BackgroundSearch(weights.token_embeddings[:rows], options.device, options.seed, unembedding)
