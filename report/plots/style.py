"""One look for every figure: a colour-blind-safe palette (Okabe–Ito), markers that survive black and
white printing, fonts that cover the scripts token strings use, and no mathtext in labels (a `$` in
a token must stay a dollar sign)."""

from __future__ import annotations

from contextlib import contextmanager

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure

matplotlib.use("Agg")

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", ":", "-."]
TOKEN = OKABE_ITO["black"]
POSITION = OKABE_ITO["vermillion"]
HEAVY = OKABE_ITO["vermillion"]
NORMAL = OKABE_ITO["blue"]
FULL_WIDTH = 6.6  # inches: the text width of an A4 page with our margins
RASTER_DPI = 200


def _font_families() -> list[str]:
    names = {f.name for f in font_manager.fontManager.ttflist}
    wanted = ["DejaVu Sans", "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans", "Noto Sans Symbols2"]
    return [n for n in wanted if n in names] or ["sans-serif"]


RC = {
    "svg.hashsalt": "weights-report",
    "svg.fonttype": "path",
    "text.parse_math": False,
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "font.size": 8,
    "lines.linewidth": 1.0,
    "savefig.dpi": RASTER_DPI,
    "image.cmap": "RdBu_r",
}


@contextmanager
def style():
    """Apply the report's rcParams while figures are drawn and saved."""
    with matplotlib.rc_context({**RC, "font.family": _font_families()}):
        yield


def figure(width: float = FULL_WIDTH, height: float = 3.0, **kwargs) -> Figure:
    """A new figure with constrained layout, sized in inches."""
    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def label_dims(ax, dims, values_x, values_y, limit: int = 6) -> None:
    """Write the dim number next to a few points."""
    for dim in list(dims)[:limit]:
        ax.annotate(str(dim), (values_x[dim], values_y[dim]), fontsize=6, xytext=(3, 2),
                    textcoords="offset points")
