"""A pool worker ends when the sweep driver that started it dies (kill -9, an out-of-memory kill): nothing
else would stop it, and it holds a checkpoint's tensors in memory.

Two ways, because either alone can miss: on Linux the kernel sends SIGTERM when the parent dies
(`prctl(PR_SET_PDEATHSIG)`); everywhere, a thread notices that the process's parent has changed. A worker
that ends this way first stops the processes it started itself (a full report's figure workers).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_SECONDS = 0.5
EXIT_CODE = 128 + signal.SIGTERM


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker as soon as `parent_pid` is no longer its parent."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    _ask_the_kernel()
    if os.getppid() != parent_pid:  # the parent died before the kernel was asked
        _end()
    threading.Thread(target=_watch, args=(parent_pid,), name="parent-watch", daemon=True).start()


def _ask_the_kernel() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no prctl in this C library: the watching thread still ends the worker


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    _end()


def _on_sigterm(signum, frame) -> None:
    _end()


def _end() -> None:
    """Stop this worker's own children, then exit at once (no cleanup that could wait on the dead parent)."""
    for child in multiprocessing.active_children():
        child.terminate()
    os._exit(EXIT_CODE)
