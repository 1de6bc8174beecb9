"""Save figures for papers (SVG + 300-dpi PNG, stable names) and inline them into the HTML.

Both files are byte-for-byte reproducible: no dates or software versions in their metadata, and a fixed
SVG hash salt (set in `style.RC`) for the ids inside the SVG.
"""

from __future__ import annotations

import base64
import io
import multiprocessing
import os
from pathlib import Path

from matplotlib.figure import Figure

from report.plots import style

PNG_DPI = 300


def save(figure: Figure, folder: Path, name: str) -> str:
    """Write `name`.svg and `name`.png into `folder`; return the SVG as a data URI for the HTML."""
    with style.style():
        style.finalize(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", dpi=style.RASTER_DPI, metadata={"Date": None, "Creator": None})
        svg = buffer.getvalue()
        (folder / f"{name}.svg").write_bytes(svg)
        figure.savefig(folder / f"{name}.png", format="png", dpi=PNG_DPI, metadata={"Software": None},
                       facecolor="white")
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


_PENDING: list[tuple[Figure, Path, str]] = []  # read by forked workers; set just before the fork


def _save_pending(index: int) -> str:
    figure, folder, name = _PENDING[index]
    return save(figure, folder, name)


def save_all(figures: list[tuple[Figure, str]], folder: Path, workers: int | None = None) -> list[str]:
    """Save many figures, in parallel where the platform can fork (matplotlib's savefig is single-threaded
    and the figures already exist, so forked children inherit them for free). Returns the data URIs."""
    workers = min(len(figures), workers or os.cpu_count() or 1)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [save(figure, folder, name) for figure, name in figures]
    global _PENDING
    _PENDING = [(figure, folder, name) for figure, name in figures]
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return pool.map(_save_pending, range(len(figures)), chunksize=1)
    finally:
        _PENDING = []
