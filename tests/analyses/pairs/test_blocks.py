"""analyses.pairs.blocks: per-row results of small blocks leave no heap behind."""

import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from analyses.pairs.blocks import in_blocks

ROOT = Path(__file__).resolve().parents[3]

# Heap bytes glibc keeps free after the pass's row-wise float64 steps over a few matrices of width 4,096 (1 MB
# blocks, 125 of them per step at 4,000 rows), with the report's mmap threshold.
SCRIPT = """
import ctypes, torch
from report.run.heap import return_large_blocks
return_large_blocks()
from analyses.pairs.groups import near_groups
from analyses.pairs.token_pairs import _dots, _squares
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
kept = []
for rows in (4000, 3000, 2000):  # where a freed block lands varies from run to run: a few layouts
    w = torch.randn(rows, 4096, generator=torch.Generator().manual_seed(rows))
    for step in (lambda: _squares(w), lambda: _dots(w, None, w, None), lambda: near_groups(w, 1.0)):
        result = step()
        kept.append(libc.mallinfo2().fordblks / 2**20)
print(*kept)
"""


def test_blocks_are_written_in_place():
    w = torch.arange(12.0).reshape(6, 2)
    out = in_blocks(6, 4, lambda a, b: w[a:b].double().sum(1), w)
    assert out.dtype == torch.float64 and out.tolist() == [1.0, 5.0, 9.0, 13.0, 17.0, 21.0]
    pairs = in_blocks(6, 5, lambda a, b: w[a:b].double(), w, (2,))
    assert torch.equal(pairs, w.double())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the heap it measures is glibc's")
def test_row_wise_steps_leave_no_heap_behind():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={"OMP_NUM_THREADS": "1", "PATH": ""})
    kept = [float(x) for x in out.stdout.split()]
    assert max(kept) < 20, kept  # a list of block results kept to the end left a block per step: ~125 MB each
