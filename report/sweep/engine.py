"""Run one task per checkpoint: on a local process pool (default) or on an existing Dask cluster.

The pool is sized to the machine: no more processes than cores, nor than the memory allows at
`WORKER_MEMORY_GB` each (the peak a GPT-2-size analysis stays under), and torch threads are shared out
so the processes do not oversubscribe the cores. A process that dies (killed, out of memory) breaks a
Python process pool; the pool is then rebuilt and the unfinished checkpoints resubmitted, up to
`ATTEMPTS` times each. A worker ends when the driver dies (`lifeline`). On Dask the scheduler does the
same when a worker is lost (a task is retried on another worker until it has killed
`distributed.scheduler.allowed-failures` workers).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from tqdm import tqdm

from report.errors import ReportError
from report.sweep.lifeline import die_with_parent
from report.sweep.sources import Checkpoint
from report.sweep.task import Settings, analyse_checkpoint

WORKER_MEMORY_GB = 2.5
ATTEMPTS = 3


def pool_size(tasks: int, cores: int | None = None, memory_gb: float | None = None) -> int:
    cores = cores or os.cpu_count() or 1
    memory_gb = available_memory_gb() if memory_gb is None else memory_gb
    return max(1, min(tasks, cores, int(memory_gb // WORKER_MEMORY_GB)))


def available_memory_gb() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") / 2 ** 30


def progress_bar(total: int, enabled: bool) -> tqdm:
    """Counts checkpoints; tqdm's rate gives the estimate of time left."""
    return tqdm(total=total, desc="sweep", unit="checkpoint", file=sys.stderr, disable=not enabled,
                bar_format="{desc}: {n_fmt}/{total_fmt} checkpoints |{bar:20}| {postfix} [{elapsed}<{remaining}]")


def run_local(checkpoints: list[Checkpoint], settings: Settings, workers: int | None = None,
              on_done: Callable[[int, dict], None] | None = None, show_progress: bool = True) -> list[dict]:
    """Outcomes of `analyse_checkpoint`, in the order of `checkpoints`."""
    workers = workers or pool_size(len(checkpoints))
    cores = os.cpu_count() or 1
    settings = replace(settings, threads=settings.threads or max(1, cores // workers))
    outcomes: dict[int, dict] = {}
    attempts = dict.fromkeys(range(len(checkpoints)), 0)
    bar = progress_bar(len(checkpoints), show_progress)
    try:
        while len(outcomes) < len(checkpoints):
            left = [i for i in range(len(checkpoints)) if i not in outcomes]
            before = set(multiprocessing.active_children())
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=die_with_parent, initargs=(os.getpid(),))
            try:
                running = {pool.submit(analyse_checkpoint, checkpoints[i], settings): i for i in left}
                while running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        index = running.pop(future)
                        outcomes[index] = future.result()
                        _finished(bar, checkpoints[index], outcomes[index], on_done, index)
            except BrokenProcessPool:  # a worker died; which of the running tasks killed it is unknown
                for index in running.values():
                    attempts[index] += 1
                    if attempts[index] >= ATTEMPTS:
                        outcomes[index] = lost(f"its worker process died {ATTEMPTS} times (killed, or out of memory)")
                        _finished(bar, checkpoints[index], outcomes[index], on_done, index)
                pool.shutdown(wait=True)
            except BaseException:  # interrupted: stop the workers now rather than finish the queue
                _stop(pool, before)
                raise
            else:
                pool.shutdown(wait=True)
    finally:
        bar.close()
    return [outcomes[i] for i in range(len(checkpoints))]


def connect(address: str):
    """(a Dask client of the scheduler at `address`, distributed.as_completed), or one clear ReportError."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise ReportError("--cluster needs Dask distributed: pip install 'distributed>=2024.1'.") from exc
    try:
        return Client(address, timeout="20s"), as_completed
    except (OSError, TimeoutError) as exc:
        raise ReportError(f"Cannot reach the Dask scheduler at {address}: {exc}.") from exc


def run_dask(checkpoints: list[Checkpoint], settings: Settings, address: str,
             on_done: Callable[[int, dict], None] | None = None, show_progress: bool = True) -> list[dict]:
    """The same tasks on an existing Dask distributed scheduler at `address` (tcp://host:port)."""
    client, as_completed = connect(address)
    outcomes: dict[int, dict] = {}
    bar = progress_bar(len(checkpoints), show_progress)
    try:
        futures = client.map(analyse_checkpoint, checkpoints, settings=settings, pure=False, retries=ATTEMPTS - 1)
        index_of = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            index = index_of[future.key]
            try:
                outcomes[index] = future.result()
            except Exception as exc:  # KilledWorker, or a worker that cannot import the task
                outcomes[index] = lost(f"{type(exc).__name__} on the cluster: {exc}")
            _finished(bar, checkpoints[index], outcomes[index], on_done, index)
    finally:
        bar.close()
        client.close()
    return [outcomes[i] for i in range(len(checkpoints))]


def _stop(pool: ProcessPoolExecutor, before: set) -> None:
    """Cancel what has not started and end the pool's workers: this process's children that `before` (taken
    just before the pool was made) does not hold."""
    pool.shutdown(wait=False, cancel_futures=True)
    for process in set(multiprocessing.active_children()) - before:
        process.terminate()


def lost(error: str) -> dict:
    return {"status": "failed", "error": error, "results": None, "ln_gains": None, "tokenizer_sha256": None,
            "files": {}, "computed": False, "seconds": None, "peak_rss_mb": None}


def _finished(bar: tqdm, checkpoint: Checkpoint, outcome: dict, on_done, index: int) -> None:
    bar.set_postfix_str(f"{checkpoint.label} {outcome['status']}")
    bar.update(1)
    if on_done is not None:
        on_done(index, outcome)
