"""One look for every figure: a colour-blind-safe palette (Okabe–Ito), markers and line styles that survive
black-and-white printing, fonts that cover the scripts token strings use, and no mathtext in labels (a `$`
in a token must stay a dollar sign).

`figures_io.save_vector` calls `finalize` on every figure before writing it, so each figure gets, whatever
its drawing code did: plain-text log-scale tick labels (mathtext is off, so matplotlib's own `10^{k}` labels
would print as TeX source), many-point scatters and markers rasterised inside the otherwise vector SVG, legend
keys drawn large and opaque enough to read even when the points they stand for are faint, axis labels and
titles wrapped or shrunk to fit their axes instead of being cut off, and a layout computed once and frozen
(so the SVG and the PNG share it and neither pays for it again). Text stays text in the SVG.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from contextlib import contextmanager
from functools import lru_cache

import matplotlib
import numpy as np
from matplotlib import font_manager, ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

matplotlib.use("Agg")

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
# Okabe–Ito, ordered so neighbours differ in lightness too (blue/vermillion/green/... read apart in grey).
CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", ":", "-."]
HATCHES = ["", "////", "....", "xxxx"]
TOKEN = OKABE_ITO["black"]
POSITION = OKABE_ITO["vermillion"]
HEAVY = OKABE_ITO["vermillion"]
NORMAL = OKABE_ITO["blue"]
FULL_WIDTH = 6.6  # inches: the widest a figure may be (the text width of an A4 page with our margins)
HALF_WIDTH = 3.2  # inches: a figure meant to sit at half the text width
RASTER_DPI = 200  # resolution of the rasterised layers (point clouds) inside vector figures
RASTERIZE_ABOVE = 400  # a scatter (or a line's markers) with more points than this is rasterised inside the SVG:
# beyond a few hundred, single marks are not worth editing, and each costs the SVG and PDF renderers time
LEGEND_MARKER_AREA = 16.0  # pt², the size of scatter keys in legends
SIGNED_CMAP = "RdBu_r"  # diverging, colour-blind safe; zero is white, so B/W prints show |value|
MAGNITUDE_CMAP = "cividis"  # sequential, colour-blind safe, lightness rises monotonically (B/W safe)


# Scripts of the world's larger languages that neither DejaVu nor Noto Sans CJK cover, each in its Noto family
# (fonts-noto-core): tokens of multilingual vocabularies are drawn in them, not as empty boxes.
SCRIPT_FAMILIES = ("Noto Sans Devanagari", "Noto Sans Bengali", "Noto Sans Gurmukhi", "Noto Sans Gujarati",
                   "Noto Sans Oriya", "Noto Sans Tamil", "Noto Sans Telugu", "Noto Sans Kannada", "Noto Sans Malayalam",
                   "Noto Sans Sinhala", "Noto Sans Thai", "Noto Sans Lao", "Noto Sans Khmer", "Noto Sans Myanmar",
                   "Noto Sans Tibetan", "Noto Sans Arabic", "Noto Sans Hebrew", "Noto Sans Syriac", "Noto Sans Thaana",
                   "Noto Sans Georgian", "Noto Sans Armenian", "Noto Sans Ethiopic", "Noto Sans Cherokee",
                   "Noto Sans Mongolian")
FONT_FAMILIES = ("DejaVu Sans", "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans", *SCRIPT_FAMILIES,
                 "Noto Sans Symbols2", "Symbola")


@lru_cache(maxsize=1)
def _font_families() -> tuple[str, ...]:
    """The families of FONT_FAMILIES that matplotlib can use, in order (the later ones cover what the
    earlier lack: CJK, other scripts, symbols, emoji). A font installed after matplotlib built its font
    cache is unknown to matplotlib; fontconfig still knows its files, so they are added here."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in (f for f in FONT_FAMILIES if f not in names and shutil.which("fc-list")):
        listed = subprocess.run(["fc-list", family, "file"], capture_output=True, text=True, check=False).stdout
        for path in sorted({line.split(":")[0].strip() for line in listed.splitlines() if line.strip()}):
            if path.lower().endswith((".ttf", ".otf", ".ttc")):
                font_manager.fontManager.addfont(path)
    names = {f.name for f in font_manager.fontManager.ttflist}
    return tuple(n for n in FONT_FAMILIES if n in names) or ("sans-serif",)


RC = {
    "svg.hashsalt": "weights-report",
    "figure.autolayout": False,  # so that `set_layout_engine(None)` (see `_fit_labels`) leaves no engine at all
    "figure.constrained_layout.use": False,
    "svg.fonttype": "none",  # text stays text: editable in the SVG, selectable in the PDF, and cheap to render
    "text.parse_math": False,
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "axes.titlesize": 8.5,
    "axes.titlepad": 4,
    "axes.labelsize": 8,
    "axes.labelpad": 2.5,
    "axes.edgecolor": "#222222",
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "legend.borderaxespad": 0.3,
    "font.size": 8,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.5,
    "hatch.linewidth": 0.6,
    "patch.linewidth": 0.5,
    "figure.dpi": 100,
    "savefig.dpi": RASTER_DPI,
    "image.cmap": SIGNED_CMAP,
    "axes.formatter.use_mathtext": False,
}


@lru_cache(maxsize=1)
def _primary_charmap() -> frozenset[int]:
    """The code points the first usable family draws (DejaVu Sans where installed)."""
    path = font_manager.findfont(font_manager.FontProperties(family=_font_families()[0]), fallback_to_default=True)
    return frozenset(font_manager.get_font(path).get_charmap())


def _primary_draws(text: str) -> bool:
    charmap = _primary_charmap()
    return all(ord(c) in charmap or c.isspace() for c in text)


def _narrow_fonts(fig: Figure) -> None:
    """Text the first family draws whole is set in that family alone. Matplotlib looks every family of the
    fallback list up for each text it measures or draws (~30 families, ~20,000 lookups a figure, a quarter of
    a small report's time); only token strings need the fallbacks, and they keep them."""
    primary = [_font_families()[0]]
    for text in fig.findobj(Text):
        if _primary_draws(text.get_text()):
            text.set_fontfamily(primary)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            formatters = (axis.get_major_formatter(), axis.get_minor_formatter())
            fixed = [label for f in formatters if isinstance(f, ticker.FixedFormatter) for label in f.seq]
            labels = [t.get_text() for t in axis.get_ticklabels(which="both")]
            if all(_primary_draws(str(label)) for label in fixed + labels):  # numbers, or drawable strings
                axis.set_tick_params(which="both", labelfontfamily=primary[0])


@contextmanager
def style():
    """Apply the report's rcParams while figures are drawn and saved."""
    with matplotlib.rc_context({**RC, "font.family": list(_font_families())}):
        yield


def figure(width: float = FULL_WIDTH, height: float = 3.0, **kwargs) -> Figure:
    """A new figure with constrained layout, sized in inches (never wider than the page's text)."""
    return Figure(figsize=(min(width, FULL_WIDTH), height), layout="constrained", **kwargs)


def cloud(n: int, emphasis: float = 1.0) -> dict:
    """Scatter keywords for a cloud of `n` points: visible when there are hundreds, not a blot at 50,000.

    Use as `ax.scatter(x, y, **style.cloud(len(x)), color=..., label=...)`.
    """
    n = max(int(n), 1)
    size = emphasis * min(6.0, max(0.3, 1500.0 / n))
    alpha = min(0.9, max(0.25, 300.0 / n ** 0.75))
    return {"s": size, "alpha": alpha, "linewidths": 0, "rasterized": n > RASTERIZE_ABOVE}


def label_dims(ax, dims, values_x, values_y, limit: int = 6) -> None:
    """Write the dim number next to a few points."""
    for dim in list(dims)[:limit]:
        ax.annotate(str(dim), (values_x[dim], values_y[dim]), fontsize=6, xytext=(3, 2),
                    textcoords="offset points")


# -- applied to every figure before it is saved ------------------------------------------------------------

_SUPERSCRIPT = str.maketrans("0123456789-−+.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻⁺·")


def plain_math(text: str) -> str:
    """Matplotlib's tick-label mathtext (`$\\mathdefault{2\\times10^{-3}}$`) as plain text (`2×10⁻³`)."""
    if not text or "$" not in text or "\\mathdefault" not in text:
        return text
    body = text.replace("$", "")
    body = re.sub(r"\\mathdefault\{(.*)\}", r"\1", body)
    body = body.replace("\\times", "×").replace("\\cdot", "·").replace("\\,", "").replace("\\ ", " ")
    body = re.sub(r"\^\{([^{}]*)\}", lambda m: m.group(1).translate(_SUPERSCRIPT), body)
    body = re.sub(r"\^(\S)", lambda m: m.group(1).translate(_SUPERSCRIPT), body)
    return body.replace("{", "").replace("}", "").replace("-", "−")


class PlainTextFormatter(ticker.Formatter):
    """Wraps a formatter that writes mathtext and turns its labels into plain Unicode text."""

    def __init__(self, inner: ticker.Formatter):
        self.inner = inner

    def set_axis(self, axis):
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def set_locs(self, locs):
        self.inner.set_locs(locs)

    def __call__(self, x, pos=None):
        return plain_math(self.inner(x, pos))

    def format_data_short(self, value):
        return self.inner.format_data_short(value)

    def get_offset(self):
        return plain_math(self.inner.get_offset())


def _plain_tick_labels(axis) -> None:
    for getter, setter in ((axis.get_major_formatter, axis.set_major_formatter),
                           (axis.get_minor_formatter, axis.set_minor_formatter)):
        current = getter()
        if isinstance(current, ticker.LogFormatterMathtext):  # includes LogFormatterSciNotation
            setter(PlainTextFormatter(current))


def _readable_legend(legend) -> None:
    for handle in getattr(legend, "legend_handles", None) or getattr(legend, "legendHandles", []):
        if isinstance(handle, Collection):
            if len(handle.get_sizes()):
                handle.set_sizes([LEGEND_MARKER_AREA])
            handle.set_alpha(1.0)
        elif isinstance(handle, Line2D):
            handle.set_alpha(1.0)


def _wrapped(text: str) -> str:
    """`text` on two lines, broken at the space nearest its middle (unchanged if it has no space)."""
    if "\n" in text or " " not in text:
        return text
    middle = len(text) / 2
    cut = min((i for i, ch in enumerate(text) if ch == " "), key=lambda i: abs(i - middle))
    return text[:cut] + "\n" + text[cut + 1:]


def _fit(label, room: float, along: int, renderer) -> bool:
    """Make an axis label or title fit in `room` pixels: wrap it once, then shrink it (not below 5.5 pt).
    Returns whether it had to change."""
    if not label.get_text() or not label.get_visible() or room <= 0:
        return False
    extent = label.get_window_extent(renderer)
    if (extent.width, extent.height)[along] <= room:
        return False
    label.set_text(_wrapped(label.get_text()))
    extent = label.get_window_extent(renderer)
    length = (extent.width, extent.height)[along]
    if length > room:
        label.set_fontsize(max(5.5, label.get_fontsize() * room / length))
    return True


def _fit_labels(fig: Figure) -> None:
    """Axis labels no longer than their axis and titles no wider than their axes (+10 %), so no label is cut
    off at the figure's edge or runs into its neighbour. Leaves the layout computed and frozen."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    changed = False
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        if box.width < 30 and box.height < 30:
            continue
        changed |= _fit(ax.xaxis.label, box.width * 1.15, 0, renderer)
        changed |= _fit(ax.yaxis.label, box.height * 1.15, 1, renderer)
        if box.width >= 30:
            changed |= _fit(ax.title, box.width * 1.1, 0, renderer)
    if engine is not None and changed:
        engine.execute(fig)
    _pin_best_legends(fig, renderer)
    if engine is not None:
        # No engine at all, not "none": savefig draws every figure that has one (even "none"'s placeholder)
        # once more, invisibly, before the real draw, which would cost a third of each save for nothing.
        fig.set_layout_engine(None)


def _pin_best_legends(fig: Figure, renderer) -> None:
    """Fix each loc="best" legend at the corner it chose. Matplotlib searches again at every draw, counting
    the data points under each of nine candidate boxes (slow behind a cloud of 50,000 tokens), and a search at
    another dpi may pick another corner: pinned, the SVG and the PNG show the legend in the same place."""
    for legend in (ax.get_legend() for ax in fig.axes):
        if legend is None or legend._loc != 0:  # matplotlib's code for "best"; no public getter exists
            continue
        chosen = legend.get_window_extent(renderer).p0
        for code in range(1, len(legend.codes)):
            legend.set_loc(code)
            if np.allclose(legend.get_window_extent(renderer).p0, chosen, rtol=0, atol=1e-6):
                break
        else:  # not one of the fixed corners (cannot happen today): keep searching at each draw
            legend.set_loc("best")


def finalize(fig: Figure) -> Figure:
    """House rules every saved figure gets, whatever its drawing code did (see the module docstring)."""
    width, height = fig.get_size_inches()
    if width > FULL_WIDTH + 1e-6:  # never wider than the page's text: scale down, keep the aspect ratio
        fig.set_size_inches(FULL_WIDTH, height * FULL_WIDTH / width)
    for ax in fig.axes:
        _plain_tick_labels(ax.xaxis)
        _plain_tick_labels(ax.yaxis)
        for collection in ax.collections:
            offsets = collection.get_offsets()
            if offsets is not None and len(offsets) > RASTERIZE_ABOVE:
                collection.set_rasterized(True)
        for line in ax.lines:
            points = len(line.get_xdata())
            has_markers = line.get_marker() not in ("", "None", None, " ")
            if points > 100 * RASTERIZE_ABOVE or (points > RASTERIZE_ABOVE and has_markers):
                line.set_rasterized(True)
        legend = ax.get_legend()
        if legend is not None:
            _readable_legend(legend)
    for legend in fig.legends:
        _readable_legend(legend)
    _narrow_fonts(fig)
    _fit_labels(fig)
    return fig


# Drawing helpers several sections' figures share.
LABEL_CHARS = 28


def short_label(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label_column(ax, labels, points, texts) -> None:
    """Write `texts` in a column on the empty axes `labels` (same row as `ax`), each joined by a thin line to its
    point on `ax`. Each label sits at its point's height where it can, pushed apart just enough not to overlap."""
    labels.set_axis_off()
    labels.set(xlim=(0, 1), ylim=(0, 1))
    if not texts:
        return
    low, high = ax.get_ylim()
    wanted = np.clip([(y - low) / (high - low) if high > low else 0.5 for _, y in points], 0.02, 0.98)
    order = np.argsort(-wanted, kind="stable")
    slots = _spread(wanted[order], gap=min(0.07, 0.96 / max(len(texts) - 1, 1)))
    for k, slot in zip(order, slots):
        note = labels.annotate(texts[k], xy=points[k], xycoords=ax.transData, xytext=(0.04, slot),
                               textcoords=labels.transAxes, fontsize=6, va="center", ha="left", annotation_clip=False,
                               arrowprops={"arrowstyle": "-", "color": "#777777", "linewidth": 0.4, "shrinkA": 0,
                                           "shrinkB": 2})
        note.set_in_layout(False)  # the column is sized by its axes; long labels must not squeeze the plot


def _spread(targets: np.ndarray, gap: float, low: float = 0.02, high: float = 0.98) -> np.ndarray:
    """Positions as close to the (descending) targets as possible, at least `gap` apart, within [low, high]."""
    slots = np.array(targets, dtype=float)
    for i in range(1, len(slots)):
        slots[i] = min(slots[i], slots[i - 1] - gap)
    if len(slots) and slots[-1] < low:
        slots[-1] = low
        for i in range(len(slots) - 2, -1, -1):
            slots[i] = max(slots[i], slots[i + 1] + gap)
    return np.minimum(slots, high)


def sparse_minor_label(value: float, _position) -> str:
    """Label only the 2s, 3s and 5s between decades, so minor labels never collide."""
    mantissa = value / 10 ** np.floor(np.log10(value)) if value > 0 else 0
    return f"{value:g}" if round(mantissa) in (2, 3, 5) and abs(mantissa - round(mantissa)) < 1e-6 else ""
