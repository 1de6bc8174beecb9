"""lean_svg: fewer nodes, the same drawing (pixel for pixel in WeasyPrint's PDF), text still text."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from report.write.lean_svg import lean_svg
from report.write.plots import style

NS = "{http://www.w3.org/2000/svg}"

HANDMADE = b"""<?xml version="1.0" encoding="utf-8" standalone="no"?>
<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="100pt" height="50pt" viewBox="0 0 100 50"
     xmlns="http://www.w3.org/2000/svg" version="1.1">
 <metadata><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></metadata>
 <defs>
  <style type="text/css">*{stroke-linejoin: round; stroke-linecap: butt}</style>
  <path id="m1" d="M 0 0 L 0 3" style="stroke: #000000; stroke-width: 0.8"/>
 </defs>
 <g id="figure_1">
  <g id="axes_1">
   <g id="kept" style="opacity: 0.5"><path d="M 0 0 L 9 9" style="fill: none; stroke: #0072b2"/></g>
   <g id="used"><path d="M 1 1 L 2 2"/></g>
   <use xlink:href="#used" x="3" y="3"/>
   <use xlink:href="#m1" x="10" y="40" style="stroke: #000000; stroke-width: 0.8"/>
   <path d="M 5 5 L 6 6" style="fill: none; white-space: pre"/>
   <text x="1" y="2" style="font-size: 7px; font-family: 'DejaVu Sans'; text-anchor: end">a <tspan>b</tspan> c</text>
  </g>
 </g>
</svg>
"""


def _tags(svg: bytes) -> list[str]:
    return [node.tag.removeprefix(NS) for node in ET.fromstring(svg).iter()]


def test_bookkeeping_goes_and_the_rest_stays():
    lean = ET.fromstring(lean_svg(HANDMADE))
    ids = {node.get("id") for node in lean.iter() if node.tag == f"{NS}g"}
    assert ids == {"kept", "used"}  # figure_1 and axes_1 held nothing but an id; "used" is referenced
    assert lean.find(f"{NS}metadata") is None and lean.find(f".//{NS}style") is None
    assert (lean.get("stroke-linejoin"), lean.get("stroke-linecap")) == ("round", "butt")  # the sheet's rule
    kept = lean.find(f".//{NS}g[@id='kept']")
    assert kept.get("opacity") == "0.5" and kept[0].get("stroke") == "#0072b2" and kept[0].get("style") is None
    odd = [n for n in lean.iter(f"{NS}path") if n.get("d") == "M 5 5 L 6 6"][0]
    assert odd.get("style") == "fill: none; white-space: pre" and odd.get("fill") is None  # not an attribute
    text = lean.find(f".//{NS}text")
    assert "".join(text.itertext()) == "a b c"  # whitespace and tails inside text are the text
    assert (text.get("font-size"), text.get("font-family"), text.get("text-anchor")) == \
        ("7px", "'DejaVu Sans'", "end")
    assert lean.find(f".//{NS}use[@x='10']").get("stroke-width") == "0.8"


def test_a_sheet_that_is_not_one_universal_rule_keeps_every_style():
    """A stylesheet outranks presentation attributes, so with one left no style may become an attribute."""
    svg = HANDMADE.replace(b"*{stroke-linejoin: round; stroke-linecap: butt}", b"path{stroke: red}")
    lean = ET.fromstring(lean_svg(svg))
    assert lean.find(f".//{NS}style").text == "path{stroke: red}"
    assert all(node.get("stroke") is None for node in lean.iter() if node.get("style"))


def test_svg_that_is_not_well_formed_is_passed_through():
    broken = HANDMADE.replace(b"a <tspan>", b"a\x01<tspan>")  # a control character, as matplotlib writes it
    assert lean_svg(broken) == broken


def _matplotlib_svg() -> bytes:
    rng = np.random.default_rng(0)
    with style.style():
        figure = style.figure(style.FULL_WIDTH, 2.4)
        axes = figure.subplots(1, 2)
        axes[0].scatter(rng.normal(size=900), rng.normal(size=900), **style.cloud(900))
        axes[0].plot([-2, 2], [0, 1], linestyle="--", label="dashed $1")
        axes[0].legend()
        axes[1].imshow(rng.normal(size=(8, 8)), cmap=style.SIGNED_CMAP)
        axes[1].set_title("x-label Ω 漢字")
        axes[0].set_yscale("symlog")
        style.finalize(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", dpi=style.RASTER_DPI, metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def _pdf_pixels(svg: bytes, folder, tag: str) -> np.ndarray:
    from weasyprint import HTML

    uri = "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
    HTML(string=f'<img src="{uri}" style="width: 4in">').write_pdf(folder / f"{tag}.pdf")
    subprocess.run(["pdftoppm", "-r", "100", "-png", "-singlefile", folder / f"{tag}.pdf", folder / tag],
                   check=True)
    return np.asarray(Image.open(folder / f"{tag}.png").convert("L"), dtype=int)


def test_matplotlib_figure_draws_the_same_in_fewer_nodes(tmp_path):
    svg = _matplotlib_svg()
    lean = lean_svg(svg)
    assert len(_tags(lean)) < 0.7 * len(_tags(svg))
    assert _tags(lean).count("text") == _tags(svg).count("text") > 0  # text stays text
    assert b"x-label \xce\xa9 \xe6\xbc\xa2\xe5\xad\x97" in lean and b"dashed $1" in lean
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftoppm is not installed (sudo apt-get install poppler-utils)")
        pytest.skip("pdftoppm is not installed")
    before, after = _pdf_pixels(svg, tmp_path, "before"), _pdf_pixels(lean, tmp_path, "after")
    assert before.shape == after.shape and (before < 200).mean() > 0.002  # something was drawn (on an A4 page)
    assert np.array_equal(before, after)


def test_prefixes_survive_another_library_changing_the_global_map():
    """WeasyPrint's PDF metadata module maps prefix "" to no namespace when it is first imported, which used to
    turn a later report's inline SVGs into ns0:svg (and two runs in one process into different bytes)."""
    first = lean_svg(HANDMADE)
    ET.register_namespace("", "")
    ET.register_namespace("xlink", "urn:not-xlink")
    again = lean_svg(HANDMADE)
    assert again == first and b"ns0:" not in again and b"<svg " in again and b"xlink:href" in again
