"""One checkpoint's analysis, as a task that runs in a worker process (local pool or cluster worker).

The worker reads the weights itself and runs the single-model pipeline's analysis path (`analyse`, with the
shared cache keyed by the tensors' sha256, so a resumed sweep only loads and hashes what it already did) and
`results_document`. It returns plain data to the driver, which writes every file. A failure is returned,
not raised, so one bad checkpoint never sinks the sweep.
"""

from __future__ import annotations

import multiprocessing
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from report.errors import ReportError
from report.load.tokens import tokenizer_sha256
from report.run.cache import Cache
from report.run.context import Options, resolve_device
from report.run.heap import return_large_blocks
from report.run.pipeline import Request, analyse, results_document, write_report
from report.run.progress import Progress
from report.sweep.sources import Checkpoint
from report.write import results_json


@dataclass(frozen=True)
class Settings:
    """What every checkpoint's analysis shares; picklable, so it travels to cluster workers.

    Attributes: options (the choices that change numbers, as a report takes them; device may be "auto", resolved
    in each worker, whose GPU the driver may lack), corpus (path of the --corpus text, or None), cache_folder,
    full_reports, threads (torch threads per task), allow_pickle."""
    # forward passes on every checkpoint (minutes each) run only when asked: the CLI asks when a corpus is given
    options: Options = Options(device="auto", experiments=False)
    corpus: str | None = None
    cache_folder: str | None = None  # None: no cache
    full_reports: bool = False  # also render each checkpoint's HTML, PDF and figures
    threads: int = 0  # torch threads per task; 0 leaves torch's default
    allow_pickle: bool = False


def analyse_checkpoint(checkpoint: Checkpoint, settings: Settings) -> dict:
    """{status, error, results, ln_gains, tokenizer_sha256, files, computed, seconds, peak_rss_mb} for one
    checkpoint."""
    return_large_blocks()  # a worker process may not have come through report.cli
    began = time.perf_counter()
    outcome = {"status": "ok", "error": None, "results": None, "ln_gains": None, "tokenizer_sha256": None,
               "files": {}, "computed": False}
    try:
        outcome.update(_analyse(checkpoint, settings))
    except Exception as exc:  # recorded and shown in the report; the sweep goes on
        message = str(exc) if isinstance(exc, ReportError) else f"{type(exc).__name__}: {exc}"
        outcome.update(status="failed", error=message)
    outcome["seconds"] = time.perf_counter() - began
    outcome["peak_rss_mb"] = peak_rss_mb()
    return outcome


def peak_rss_mb() -> float:
    """This worker process's memory high-water mark (VmHWM restarts at exec; ru_maxrss may not)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _analyse(checkpoint: Checkpoint, settings: Settings) -> dict:
    if settings.threads:
        torch.set_num_threads(settings.threads)
    request = Request(model=checkpoint.source, revision=checkpoint.revision,
                      corpus=Path(settings.corpus) if settings.corpus else None, allow_pickle=settings.allow_pickle,
                      options=replace(settings.options, device=resolve_device(settings.options.device)))
    cache = Cache(Path(settings.cache_folder)) if settings.cache_folder else None
    progress = Progress(checkpoint.label, total=1, enabled=False)
    ctx, _ = analyse(request, progress, cache)
    computed = any(name == "tokenizer" for name, _ in progress.timings)  # a cache hit stops after loading
    files = _full_report(ctx) if settings.full_reports else {}
    return {"results": results_json.plain(results_document(ctx)), "ln_gains": ln_gains(ctx.weights),
            "tokenizer_sha256": tokenizer_sha256(ctx.tokens), "files": files, "computed": computed}


def ln_gains(weights) -> dict:
    """Every LayerNorm's gain vector, by role then layer: {role: [[gain per dim] per layer]} (6 digits)."""
    gains: dict[str, list] = {}
    for norm in sorted(weights.layer_norms, key=lambda n: (n.role, n.layer)):
        if norm.layer >= 0:  # the final norm (layer -1 or similar) is not per layer
            gains.setdefault(norm.role, []).append(norm.weight)
    return results_json.plain(gains)


def _full_report(ctx) -> dict[str, bytes]:
    """The checkpoint's own report (HTML, PDF, figures), as file bytes by relative path."""
    staging = Path(tempfile.mkdtemp(prefix="sweep-checkpoint-"))
    this = multiprocessing.current_process()
    daemon = this.daemon
    # Dask runs tasks in daemonic processes, which multiprocessing forbids to start children; the report's
    # figure workers are joined (or terminated) before write_report returns, so none can outlive this task.
    this.daemon = False
    try:
        folder = staging / "report"
        write_report(ctx, folder, Progress("report", total=1, enabled=False))
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    finally:
        this.daemon = daemon
        shutil.rmtree(staging, ignore_errors=True)
