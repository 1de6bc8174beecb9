"""Save figures for papers (SVG + 300-dpi PNG, stable names) and inline them into the HTML.

Both files are byte-for-byte reproducible: no dates or software versions in their metadata, and a fixed
SVG hash salt (set in `style.RC`) for the ids inside the SVG.

The HTML and the PDF need only the SVGs; the PNGs are for papers. `FigureWriter` therefore draws every
figure and writes its SVG first, hands them over, then goes on rendering the PNGs in the background while
the caller renders the HTML and PDF.
"""

from __future__ import annotations

import base64
import io
import multiprocessing
import os
import queue
import traceback
from pathlib import Path

from matplotlib.figure import Figure

from report.write.lean_svg import lean_svg
from report.write.plots import style

PNG_DPI = 300


def save_vector(figure: Figure, folder: Path, name: str) -> str:
    """Finalize `figure`, write `name`.svg into `folder` and return the SVG as a data URI for the HTML: the
    same drawing in fewer nodes (`lean_svg`), which the PDF renderer paints about a fifth faster."""
    with style.style():
        style.finalize(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", dpi=style.RASTER_DPI, metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    (folder / f"{name}.svg").write_bytes(svg)
    return "data:image/svg+xml;base64," + base64.b64encode(lean_svg(svg)).decode("ascii")


def save_raster(figure: Figure, folder: Path, name: str) -> None:
    """Write `name`.png (300 dpi, white background) of a figure `save_vector` has already finalized."""
    with style.style():
        figure.savefig(folder / f"{name}.png", format="png", dpi=PNG_DPI, metadata={"Software": None},
                       facecolor="white", pil_kwargs={"compress_level": 1})  # ~10 % larger, much faster


class FigureWriter:
    """Draws and writes the figures of many jobs (a job, e.g. one report section, returns a list of specs with
    `.figure`, `.name` and `.caption`) with up to `workers` forked processes: matplotlib is single-threaded,
    and forked children see the finished analysis results for free.

    Workers take jobs from a shared counter, so a heavy section does not hold up the rest. For each job a
    worker draws the figures, writes their SVGs and reports them; when no job is left it writes the PNGs of
    the figures it drew. So `vectors()` returns as soon as every SVG exists, and `wait()` joins the PNGs
    later. Use it as a context manager: leaving the block early (an error, an interrupt) stops the workers."""

    def __init__(self, jobs: list, folder: Path, workers: int | None = None):
        self.jobs, self.folder = jobs, folder
        workers = min(len(jobs), workers or os.cpu_count() or 1)
        self.forked = workers >= 2 and "fork" in multiprocessing.get_all_start_methods()
        self.processes: list = []
        self.received: dict[str, dict[int, object]] = {"job": {}, "done": {}}
        self.drawn: list = []  # (figure, name) drawn in this process (no workers)
        if self.forked:
            context = multiprocessing.get_context("fork")
            self.queue = context.Queue()
            self.next_job = context.Value("i", 0)
            self.processes = [context.Process(target=self._work, args=(j,), daemon=True) for j in range(workers)]
            for process in self.processes:
                process.start()

    def _run_job(self, index: int) -> list[dict]:
        """Draw job `index` and write its SVGs; returns what the HTML needs to know of each figure."""
        with style.style():
            specs = list(self.jobs[index]())
        shown = []
        for spec in specs:
            width = round(float(spec.figure.get_figwidth()), 2)
            uri = save_vector(spec.figure, self.folder, spec.name)
            self.drawn.append((spec.figure, spec.name))
            shown.append({"name": spec.name, "caption": spec.caption, "width_in": width, "uri": uri})
        return shown

    def _take(self) -> int | None:
        with self.next_job.get_lock():
            index = self.next_job.value
            self.next_job.value += 1
        return index if index < len(self.jobs) else None

    def _work(self, worker: int) -> None:
        try:
            while (index := self._take()) is not None:
                self.queue.put(("job", index, self._run_job(index)))
            if hasattr(os, "nice"):  # the PDF, rendered meanwhile, is what the user waits for: yield to it
                os.nice(10)
            for figure, name in self.drawn:
                save_raster(figure, self.folder, name)
            self.queue.put(("done", worker, None))
        except OSError as exc:  # a full disk: the parent turns it into one message
            self.queue.put(("error", worker, OSError(exc.errno, exc.strerror, exc.filename)))
        except BaseException:  # report, do not hang the parent waiting for this worker's figures
            self.queue.put(("error", worker, traceback.format_exc()))

    def _receive(self, kind: str, count: int) -> dict[int, object]:
        """Messages of `kind` until `count` have come; messages of the other kind are kept for later."""
        while len(self.received[kind]) < count:
            try:
                message, index, payload = self.queue.get(timeout=0.5)
            except queue.Empty:
                dead = [p.exitcode for p in self.processes if p.exitcode not in (None, 0)]
                if dead:  # killed without a word (out of memory, a signal)
                    raise RuntimeError(f"a figure-saving worker died (exit code {dead[0]})") from None
                continue
            if message == "error" and isinstance(payload, OSError):
                raise payload
            if message == "error":
                raise RuntimeError(f"drawing or saving figures failed in a worker:\n{payload}")
            self.received[message][index] = payload
        return self.received[kind]

    def vectors(self) -> list[list[dict]]:
        """Draw (or wait for) every job's figures and SVGs. Per job, in job order: a list of
        {"name", "caption", "width_in", "uri" (the SVG as a data URI)}."""
        if not self.forked:
            return [self._run_job(i) for i in range(len(self.jobs))]
        shown = self._receive("job", len(self.jobs))
        return [shown[i] for i in range(len(self.jobs))]

    def wait(self) -> None:
        """Write (or wait for) every PNG."""
        if not self.forked:
            for figure, name in self.drawn:
                save_raster(figure, self.folder, name)
            self.drawn = []
            return
        self._receive("done", len(self.processes))
        for process in self.processes:
            process.join()
        self.processes = []

    def __enter__(self) -> "FigureWriter":
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:  # still running only when we leave early
            process.terminate()
            process.join()
        self.processes = []
