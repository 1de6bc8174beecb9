"""Progress on stderr: one bar per model, each step named, and each step's share of the time at the end."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from tqdm import tqdm


class Progress:
    def __init__(self, label: str, total: int, enabled: bool = True):
        self.label = label
        self.bar = tqdm(total=total, desc=label, file=sys.stderr, disable=not enabled, leave=True,
                        bar_format="{desc}: {n_fmt}/{total_fmt} |{bar:20}| {postfix} [{elapsed}]")
        self.timings: list[tuple[str, float]] = []
        self.background: list[tuple[str, float]] = []  # work that overlapped the steps (not in their total)

    @contextmanager
    def step(self, name: str):
        self.bar.set_postfix_str(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings.append((name, time.perf_counter() - start))
            self.bar.update(1)

    def close(self) -> None:
        self.bar.set_postfix_str("done")
        self.bar.close()

    def summary(self) -> str:
        total = sum(t for _, t in self.timings) or 1.0
        parts = [f"{name} {t:.1f}s ({100 * t / total:.0f}%)" for name, t in self.timings if t >= 0.05 * total]
        behind = "".join(f"; {name} {t:.1f}s of it in the background" for name, t in self.background)
        return f"{self.label}: {total:.1f}s — " + ", ".join(parts) + behind
