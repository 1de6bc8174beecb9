"""report.run.heap: freed blocks of rows go back to the system."""

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

MALLINFO = """
import ctypes
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def kept_mb():
    return libc.mallinfo2().fordblks / 2**20
"""

# The pair pass's squared row norms of a 32,000 × 2,304 matrix, widened to float64 1,024 rows (18 MB) at a time.
ROWS = MALLINFO + """
import torch
from report.run.heap import return_large_blocks
return_large_blocks()
def rss():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS')) / 1024
w = torch.ones(32000, 2304)
before = rss()
squares = torch.cat([(w[a:a + 1024].double() ** 2).sum(1) for a in range(0, len(w), 1024)])
print(rss() - before, kept_mb())
"""

# glibc's own pattern, independent of how a torch build allocates: once an 18 MB block is freed, the threshold
# rises and later blocks come from the heap; small allocations between them keep the heap from being trimmed.
BLOCKS = MALLINFO + """
from report.run.heap import return_large_blocks
if {call}:
    return_large_blocks()
libc.free(libc.malloc(18 << 20))
blocks, pins = [], []
for _ in range(10):
    blocks.append(libc.malloc(18 << 20))
    pins.append(libc.malloc(4096))
for block in blocks:
    libc.free(block)
print(0, kept_mb())
"""


def grown_and_kept_mb(script: str) -> tuple[float, float]:
    """(resident growth, free bytes the allocator keeps in its arenas) in MB after the blocks are freed."""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    grown, kept = map(float, out.stdout.split())
    return grown, kept


glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the behaviour it corrects is glibc's")


@glibc_only
def test_freed_blocks_of_rows_do_not_stay_resident():
    grown, kept = grown_and_kept_mb(ROWS)
    assert grown < 60 and kept < 60  # about one block at a time


@glibc_only
def test_without_the_call_glibc_keeps_freed_blocks():
    # Counted by the allocator, not by resident size: a host that reclaims cold pages may page kept blocks out.
    assert grown_and_kept_mb(BLOCKS.format(call=False))[1] > 100  # ~180 MB: the reason for the module
    assert grown_and_kept_mb(BLOCKS.format(call=True))[1] < 1
