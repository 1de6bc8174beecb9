"""Jinja rendering of the report (autoescaped, strict) and the PDF through WeasyPrint."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def fmt_number(value, digits: int = 3) -> str:
    """Integers with thousands separators; other numbers to `digits` significant digits; missing as —."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    value = float(value)
    if not math.isfinite(value):
        return "—"
    if value != 0 and (abs(value) >= 10 ** (digits + 2) or abs(value) < 10 ** -(digits + 1)):
        return f"{value:.{digits - 1}e}"
    text = f"{value:.{digits}g}"
    return text if "e" not in text else f"{value:,.0f}"


def fmt_percent(value, digits: int = 1) -> str:
    if value is None or not math.isfinite(float(value)):
        return "—"
    return f"{100 * float(value):.{digits}f}%"


def fmt_p(value) -> str:
    if value is None or not math.isfinite(float(value)):
        return "—"
    value = float(value)
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def fmt_token(token: dict) -> Markup:
    """A token string as data: escaped, isolated from surrounding bidi text, id and bytes on hover."""
    raw = token.get("bytes", "")
    spaced = " ".join(raw[i:i + 2] for i in range(0, len(raw), 2))
    title = f"id {token['id']} · bytes {spaced}" if spaced else f"id {token['id']}"
    return Markup('<code class="tok" dir="ltr" title="{}">{}</code>').format(title, token["text"])


def fmt_verdict(verdict: str) -> Markup:
    label = {"holds": "holds", "fails": "fails", "not-applicable": "n/a"}.get(verdict, verdict)
    return Markup('<span class="verdict {}">{}</span>').format(verdict, label)


def fmt_ci(interval) -> str:
    lo, hi = interval
    return f"[{fmt_number(lo)}, {fmt_number(hi)}]"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt_number, pct=fmt_percent, p=fmt_p, tok=fmt_token, verdict=fmt_verdict, ci=fmt_ci,
                       zip=lambda a, b: list(zip(a, b)))
    env.globals["css"] = lambda: Markup((TEMPLATES / "report.css").read_text(encoding="utf-8"))
    return env


def render_html(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


class _GlyphWatch(logging.Handler):
    """Collects WeasyPrint warnings, so a missing glyph or font becomes visible to callers and tests."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def write_pdf(html: str, target: Path) -> list[str]:
    """Render `html` to `target` as PDF; return WeasyPrint's warnings."""
    from weasyprint import HTML

    watch = _GlyphWatch()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(watch)
    try:
        HTML(string=html, base_url=str(target.parent)).write_pdf(str(target))
    finally:
        logger.removeHandler(watch)
    return watch.messages
