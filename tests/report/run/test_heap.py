"""report.run.heap: freed blocks of rows go back to the system."""

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# The pair pass's squared row norms of a 32,000 × 2,304 matrix, widened to float64 1,024 rows (18 MB) at a time.
SCRIPT = """
import torch
from report.run.heap import return_large_blocks
if {call}:
    return_large_blocks()
def rss():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS')) / 1024
w = torch.ones(32000, 2304)
before = rss()
squares = torch.cat([(w[a:a + 1024].double() ** 2).sum(1) for a in range(0, len(w), 1024)])
print(rss() - before)
"""


def grown_mb(call: bool) -> float:
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(call=call)], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    return float(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the behaviour it corrects is glibc's")
def test_freed_blocks_do_not_stay_resident():
    assert grown_mb(call=True) < 60  # about one block at a time
    assert grown_mb(call=False) > 200  # glibc's default keeps them (the reason for the module)
