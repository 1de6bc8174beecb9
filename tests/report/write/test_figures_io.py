"""FigureWriter: jobs drawn and their SVGs handed over in job order, PNGs after `wait`, the same bytes with or
without workers, and a failing figure reported instead of hanging."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from matplotlib.artist import Artist
from matplotlib.figure import Figure

from report.write.figures_io import FigureWriter
from report.write.lean_svg import lean_svg
from report.write.plots import style


@dataclass
class Spec:
    figure: Figure
    name: str
    caption: str


def _figure(name: str, broken: bool = False) -> Spec:
    fig = style.figure(width=2, height=1.5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.set_title(f"title-{name}")
    if broken:
        ax.add_artist(_Broken())
    return Spec(fig, name, f"caption of {name}")


class _Broken(Artist):
    def draw(self, renderer):
        raise ValueError("this figure cannot be drawn")


JOBS = [["a", "b"], [], ["c"], ["d", "e"]]


def _jobs(names=JOBS, broken=()):
    return [lambda names=names: [_figure(n, n in broken) for n in names] for names in names]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_vectors_in_job_order_then_rasters(tmp_path, workers):
    with FigureWriter(_jobs(), tmp_path, workers=workers) as writer:
        shown = writer.vectors()
        assert all((tmp_path / f"{n}.svg").is_file() for names in JOBS for n in names)
        writer.wait()
    assert [[f["name"] for f in job] for job in shown] == JOBS
    for figure in (f for job in shown for f in job):
        svg = base64.b64decode(figure["uri"].split(",", 1)[1])
        assert svg == lean_svg((tmp_path / f"{figure['name']}.svg").read_bytes())
        assert f"title-{figure['name']}".encode() in svg  # text stays text (svg.fonttype none)
        assert figure["caption"] == f"caption of {figure['name']}" and figure["width_in"] == 2
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == sorted(n for names in JOBS for n in names)


def test_same_bytes_with_and_without_workers(tmp_path):
    one, many = tmp_path / "one", tmp_path / "many"
    for folder, workers in ((one, 1), (many, 2)):
        folder.mkdir()
        with FigureWriter(_jobs(), folder, workers=workers) as writer:
            writer.vectors()
            writer.wait()
    for path in sorted(one.iterdir()):
        assert path.read_bytes() == (many / path.name).read_bytes(), path.name


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_figure_is_reported(tmp_path, workers):
    with pytest.raises((RuntimeError, ValueError), match="cannot be drawn"):
        with FigureWriter(_jobs(broken={"c"}), tmp_path, workers=workers) as writer:
            writer.vectors()
            writer.wait()


def test_hostile_token_strings_have_glyphs_in_figures(tmp_path):
    """Token strings as the report shows them (CJK, emoji, escapes) draw with real glyphs in SVG and PNG."""
    import warnings

    from report.load.tokens import readable
    from tests.planted import HOSTILE, HOSTILE_BYTES

    shown = [readable(t.encode("utf-8"))[0] for t in HOSTILE] + [readable(b)[0] for b in HOSTILE_BYTES]

    def job():
        fig = style.figure(width=4, height=4)
        ax = fig.add_subplot()
        for i, text in enumerate(shown):
            ax.text(0, i, text)
        ax.set(ylim=(-1, len(shown)))
        return [Spec(fig, "tokens", "")]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with FigureWriter([job], tmp_path, workers=1) as writer:
            writer.vectors()
            writer.wait()
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []


def test_fonts_installed_after_matplotlib_cached_its_list_are_found(monkeypatch):
    """A font that fontconfig knows but matplotlib's font cache predates is added from its file."""
    import os
    import shutil as sh
    import subprocess

    from matplotlib import font_manager

    known = sh.which("fc-list") and subprocess.run(["fc-list", "Symbola"], capture_output=True, text=True).stdout
    if not known and os.environ.get("CI") != "true":  # CI installs it (make sysdeps); users may not have it
        pytest.skip("the Symbola font is not installed: sudo apt-get install fonts-symbola")
    style._font_families.cache_clear()
    stale = [f for f in font_manager.fontManager.ttflist if f.name != "Symbola"]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)
    try:
        assert "Symbola" in style._font_families()
    finally:
        style._font_families.cache_clear()
