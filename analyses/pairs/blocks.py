"""Per-row float64 results computed a few rows at a time, written into one output as each block is done.

The blocks are small on purpose (about 1 MB of float64 rows: they stay in cache and, below the mmap threshold
the report sets in report.run.heap, reuse heap memory instead of mapping fresh pages). That makes the way their
results are kept matter: a list of per-block results, concatenated at the end, leaves each small result just
above the block that was freed before it, and torch's 64-byte-aligned allocations ask for a few bytes more than
such a hole, so every step would take fresh heap and never give it back: 4 GB over one pass of a
128,256 × 4,096 matrix. Writing into the output as each block finishes frees everything in order."""

from __future__ import annotations

from typing import Callable

import torch


def in_blocks(n: int, step: int, block: Callable[[int, int], torch.Tensor], like: torch.Tensor,
              columns: tuple[int, ...] = ()) -> torch.Tensor:
    """[n, *columns] float64 on `like`'s device: rows a:b are block(a, b), for b - a ≤ step."""
    out = torch.empty((n, *columns), dtype=torch.float64, device=like.device)
    for a in range(0, n, step):
        out[a:a + step] = block(a, min(n, a + step))
    return out
