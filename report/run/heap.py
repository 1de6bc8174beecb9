"""Return freed blocks of rows to the system (glibc)."""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
THRESHOLD_BYTES = 4 << 20


def return_large_blocks() -> None:
    """Serve every allocation of 4 MB or more from its own mapping, so freeing it gives the memory back.

    glibc starts with that behaviour but raises its threshold to the size of the first such block freed; from
    then on blocks of rows (tens of MB, allocated and freed in a loop over the vocabulary) come from a heap
    that is rarely trimmed, and the process keeps the memory of every block it ever freed. Measured on a
    64,000 × 2,304 report: peak 3.19 GB with the default, 2.04 GB with this, same time within noise. A no-op
    where the C library is not glibc."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass
