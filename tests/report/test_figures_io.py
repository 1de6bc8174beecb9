"""FigureWriter: SVGs first and in order, PNGs after `wait`, the same bytes with or without workers, and a
failing figure reported instead of hanging."""

from __future__ import annotations

import base64

import pytest
from matplotlib.artist import Artist

from report.figures_io import FigureWriter
from report.plots import style


def _figures(names):
    drawn = []
    for name in names:
        fig = style.figure(width=2, height=1.5)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1])
        ax.set_title(f"title-{name}")
        drawn.append((fig, name))
    return drawn


class _Broken(Artist):
    def draw(self, renderer):
        raise ValueError("this figure cannot be drawn")


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_vectors_in_order_then_rasters(tmp_path, workers):
    names = ["a", "b", "c", "d", "e"]
    with FigureWriter(_figures(names), tmp_path, workers=workers) as writer:
        uris = writer.vectors()
        assert all((tmp_path / f"{n}.svg").is_file() for n in names)
        writer.wait()
    for name, uri in zip(names, uris):
        svg = base64.b64decode(uri.split(",", 1)[1])
        assert svg == (tmp_path / f"{name}.svg").read_bytes()
        assert f"title-{name}".encode() in svg  # text stays text (svg.fonttype none)
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == names


def test_same_bytes_with_and_without_workers(tmp_path):
    one, many = tmp_path / "one", tmp_path / "many"
    for folder, workers in ((one, 1), (many, 2)):
        folder.mkdir()
        with FigureWriter(_figures(["x", "y", "z"]), folder, workers=workers) as writer:
            writer.vectors()
            writer.wait()
    for path in sorted(one.iterdir()):
        assert path.read_bytes() == (many / path.name).read_bytes(), path.name


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_figure_is_reported(tmp_path, workers):
    drawn = _figures(["ok", "bad", "also_ok"])
    drawn[1][0].axes[0].add_artist(_Broken())
    with pytest.raises((RuntimeError, ValueError), match="cannot be drawn"):
        with FigureWriter(drawn, tmp_path, workers=workers) as writer:
            writer.vectors()
            writer.wait()
