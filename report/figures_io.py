"""Save figures for papers (SVG + 300-dpi PNG, stable names) and inline them into the HTML.

Both files are byte-for-byte reproducible: no dates or software versions in their metadata, and a fixed
SVG hash salt (set in `style.RC`) for the ids inside the SVG.
"""

from __future__ import annotations

import base64
import io
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
