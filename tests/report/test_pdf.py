"""The PDF report: every heading in it, A4, a sane page count, no blank pages, fonts embedded, bookmarks,
no WeasyPrint warnings (a missing glyph is a warning), running heads with the model id."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from report.load.tokens import readable
from report.write import render
from tests.planted import HOSTILE, HOSTILE_BYTES

A4 = (595.28, 841.89)


class _Headings(HTMLParser):
    """Texts of the section headings (h2) and subsection headings (h3) inside <main>."""

    def __init__(self):
        super().__init__()
        self.depth_main = 0
        self.current: str | None = None
        self.buffer = ""
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.depth_main += 1
        elif self.depth_main and tag in ("h2", "h3"):
            self.current, self.buffer = tag, ""

    def handle_endtag(self, tag):
        if tag == "main":
            self.depth_main -= 1
        elif tag == self.current:
            self.found.append((tag, " ".join(self.buffer.split())))
            self.current = None

    def handle_data(self, data):
        if self.current:
            self.buffer += data


def _squash(text: str) -> str:
    """Text without whitespace or soft hyphens, so line breaks in extracted PDF text do not matter."""
    return re.sub(r"[\s\u00ad]+", "", text)


@pytest.fixture(scope="module")
def reader(built_report) -> PdfReader:
    return PdfReader(str(built_report.pdf))


@pytest.fixture(scope="module")
def page_texts(reader) -> list[str]:
    return [page.extract_text() or "" for page in reader.pages]


@pytest.fixture(scope="module")
def headings(built_report) -> list[tuple[str, str]]:
    parser = _Headings()
    parser.feed(built_report.html.read_text(encoding="utf-8"))
    return parser.found


def test_no_weasyprint_warnings(built_report):
    assert built_report.pdf_warnings == (), "\n".join(built_report.pdf_warnings)


def test_every_heading_is_in_the_pdf(headings, page_texts):
    assert sum(1 for tag, _ in headings if tag == "h2") >= 3
    text = _squash("".join(page_texts))
    missing = [title for _, title in headings if _squash(title) not in text]
    assert missing == []


def test_a4_and_page_count(reader, headings):
    sections = sum(1 for tag, _ in headings if tag == "h2")
    assert sections + 1 <= len(reader.pages) <= 6 * sections + 4  # a title page; each section starts a page
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4[0]) < 1 and abs(height - A4[1]) < 1


def test_title_page_contents_and_running_heads(built_report, page_texts, headings):
    first = _squash(page_texts[0])
    assert "WEIGHTSREPORT" in first.upper()
    assert _squash(built_report.model_id) in first
    assert "Contents" in page_texts[0]
    for number, text in enumerate(page_texts[1:], start=2):
        assert _squash(built_report.model_id) in _squash(text), f"page {number} has no running head"
        assert re.search(rf"\b{number}\s*/\s*{len(page_texts)}\b", text), f"page {number} has no page number"


def test_bookmarks_follow_the_headings(reader, headings):
    outline = reader.outline
    assert outline, "no bookmarks"
    titles = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                titles.append(" ".join(str(item.title).split()))

    walk(outline)
    for tag, title in headings:
        assert title in titles, f"no bookmark for {tag} {title!r}"


def test_fonts_embedded(reader):
    checked = 0
    for number, page in enumerate(reader.pages, start=1):
        fonts = page.get("/Resources", {}).get_object().get("/Font", {})
        for name, ref in fonts.get_object().items() if fonts else ():
            font = ref.get_object()
            descendants = font.get("/DescendantFonts")
            targets = [d.get_object() for d in descendants] if descendants else [font]
            for target in targets:
                descriptor = target.get("/FontDescriptor")
                assert descriptor is not None, f"page {number}: font {name} has no descriptor"
                descriptor = descriptor.get_object()
                assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), \
                    f"page {number}: font {target.get('/BaseFont')} is not embedded"
                checked += 1
    assert checked


def _need(tool: str):
    if shutil.which(tool) is None:
        message = f"{tool} is not installed (sudo apt-get install poppler-utils)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_no_blank_pages(built_report, tmp_path, artifacts):
    _need("pdftoppm")
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(built_report.pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert pages
    blank = []
    for path in pages:
        grey = np.asarray(Image.open(path).convert("L"), dtype=np.uint8)
        height, width = grey.shape
        mm = height / 297  # pixels per millimetre; look inside the page margins only, not at running heads
        body = grey[int(22 * mm):int(height - 20 * mm), int(18 * mm):int(width - 18 * mm)]
        if (body < 200).mean() < 0.003:
            blank.append(path.name)
    assert blank == [], f"pages without ink: {blank}"
    for path in pages[:3]:
        shutil.copy(path, artifacts / f"pdf-{path.name}")


def test_hostile_tokens_have_glyphs(tmp_path):
    """Every planted hostile token, as the report shows it, renders in the PDF with real glyphs."""
    shown = [readable(t.encode("utf-8"))[0] for t in HOSTILE] + [readable(b)[0] for b in HOSTILE_BYTES]
    chips = "".join(render.fmt_token({"id": i, "text": s, "bytes": ""}) + " " for i, s in enumerate(shown))
    html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{render.asset('report.css')}</style></head>"
            f"<body><main><p>{chips}</p><table><tbody><tr><td>{chips}</td></tr></tbody></table></main></body></html>")
    target = tmp_path / "tokens.pdf"
    warnings = render.write_pdf(html, target)
    assert warnings == []
    text = _squash(PdfReader(str(target)).pages[0].extract_text())
    for s in ("龍喚士", "覚醒", "<script>alert(1)</script>", "</td></tr>", "&amp;", "$x^2$"):
        assert _squash(s) in text, s


def test_fixed_tables_keep_their_widths_and_long_tokens_inside(tmp_path):
    """Long tables use fixed column widths (`table.fixed`, widths on the header cells) so WeasyPrint need not
    measure every word first: the widths hold whatever the content, and a long token wraps inside its column
    instead of widening it or running over the next one."""
    from weasyprint import HTML
    from weasyprint.formatting_structure import boxes

    token = render.fmt_token({"id": 7, "text": "ab" * 30, "bytes": ""})
    html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{render.asset('report.css')}</style></head>"
            "<body><table class='tokens compact fixed'><thead><tr><th class='w-tok'>token</th>"
            "<th class='num w-num'>norm</th><th>nearest by cosine</th></tr></thead>"
            f"<tbody><tr><td>{token}</td><td class='num'>1.5</td><td>{token} {token}</td></tr></tbody></table>"
            "</body></html>")
    page = HTML(string=html, base_url=str(tmp_path)).render().pages[0]._page_box

    def walk(box):
        yield box
        for child in getattr(box, "children", []):
            yield from walk(child)

    table = next(b for b in walk(page) if isinstance(b, boxes.TableBox))
    em = 0.8 * 10 * 4 / 3  # table font size in px: 0.8em of the 10pt print body
    assert table.column_widths[0] == pytest.approx(8 * em, rel=0.02)  # 7em + 0.5em padding on each side
    assert table.column_widths[1] == pytest.approx(5.6 * em, rel=0.02)
    cell = next(b for b in walk(table.children[-1]) if isinstance(b, boxes.TableCellBox))
    right = cell.content_box_x() + cell.width
    text = [b for b in walk(cell) if isinstance(b, boxes.TextBox)]
    assert len({round(b.position_y) for b in text}) > 1  # the token wrapped
    assert all(b.position_x + b.width <= right + 0.5 for b in text)
