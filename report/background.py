"""The zero-layer search, started on a background thread as soon as the weights are loaded (and started again
without them if the tokenizer shows that the last rows are padding).

It is most of a report's arithmetic, and it needs nothing the other sections compute, while most of those
sections keep only one core busy. So it starts early on all cores but one, and when its own section comes
up, the main thread joins in on the blocks that are left (`PredictionSearch` is built for sharing), so no
core idles while it finishes.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import torch

from analyses.zero_layer import PredictionSearch, Predictions


class BackgroundSearch:
    """A zero-layer search running on its own thread; `result()` joins it, `cancel()` stops it, and `seconds`
    is its wall time once `result()` has returned."""

    def __init__(self, token_embeddings: np.ndarray, device: str):
        cores = torch.get_num_threads()
        self.background_threads = max(1, cores - 1)  # leave one core to the sections that run meanwhile
        self.joining_threads = max(1, cores - self.background_threads)
        self.search: PredictionSearch | None = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.prepared = threading.Event()
        self.began = time.perf_counter()
        self.seconds = 0.0  # wall time from start to result
        self.thread = threading.Thread(target=self._run, args=(token_embeddings, device), daemon=True,
                                       name="zero-layer search")
        self.thread.start()

    def _run(self, token_embeddings: np.ndarray, device: str) -> None:
        torch.set_num_threads(self.background_threads)  # per thread: the main thread keeps its own setting
        try:
            self.search = PredictionSearch(token_embeddings, device)
            if self.cancelled:
                self.search.cancel()
        except BaseException as exc:  # handed to the main thread by result()
            self.error = exc
        finally:
            self.prepared.set()
        if self.search is not None:
            try:
                self.search.work()
            except BaseException as exc:
                self.error = exc

    def result(self) -> Predictions:
        """Work through the remaining blocks alongside the background thread, then return the result."""
        self.prepared.wait()
        if self.search is not None and self.error is None:
            own = torch.get_num_threads()
            torch.set_num_threads(self.joining_threads)
            try:
                self.search.work()
            finally:
                torch.set_num_threads(own)
        self.thread.join()
        self.seconds = time.perf_counter() - self.began
        if self.error is not None:
            raise self.error
        return self.search.result()

    def cancel(self) -> None:
        """Stop after the blocks in progress (used when the report fails or is interrupted)."""
        self.cancelled = True
        if self.search is not None:
            self.search.cancel()
