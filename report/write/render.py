"""Jinja rendering of the report (autoescaped, strict) and the PDF through WeasyPrint."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from analyses.claims import in_section, named
from report.write.wording import fmt_ci, fmt_number, fmt_p, fmt_percent


def _templates() -> Path:
    """report/templates/ when installed from a wheel (package data); in a checkout, the top-level templates/
    folder it is built from."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "templates"
    return installed if (installed / "report.html.j2").is_file() else package.parent / "templates"


TEMPLATES = _templates()


def _shown_with_escapes(text: str, raw_hex: str) -> bool:
    """Whether a display string differs from its bytes read as UTF-8 (beyond ␣ for a space): escaped bytes,
    invisible or bidi characters, a row without a token."""
    try:
        plain = bytes.fromhex(raw_hex).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return True
    return plain.replace(" ", "\u2423") != text


TOKEN_CHARS = 60  # a token longer than this is cut for display: layout time must not grow with token length
TITLE_BYTES = 48  # bytes listed in the hover title


def short_token(text: str, limit: int = TOKEN_CHARS) -> str:
    """`text` cut to `limit` characters, saying how long it was (the full string stays in results.json and
    in the report's search)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit - 12]}… (+{len(text) - limit + 12:,} chars)"


def fmt_token(token: dict) -> Markup:
    """A token string as data: escaped, isolated from surrounding bidi text, id and bytes on hover.

    Tokens shown with escapes (\\xNN for bytes that are not UTF-8, \\u{…} for invisible or direction
    characters) get the class `esc`, drawn with a dashed outline, so a reader can tell them from text.
    Long tokens are shortened (their length in the hover title), so they cannot stall the PDF's layout.
    """
    raw = token.get("bytes")
    text = token["text"]
    spaced = " ".join(raw[i:i + 2] for i in range(0, min(len(raw), 2 * TITLE_BYTES), 2)) if raw else ""
    if raw and len(raw) > 2 * TITLE_BYTES:
        spaced += f" … ({len(raw) // 2:,} bytes)"
    title = f"id {token['id']} · bytes {spaced}" if spaced else f"id {token['id']}"
    if len(text) > TOKEN_CHARS:
        title += f" · {len(text):,} characters"
    css = "tok"
    if raw is not None and _shown_with_escapes(text, raw):
        css = "tok esc"
    return Markup('<code class="{}" dir="ltr" data-id="{}" title="{}">{}</code>').format(
        css, int(token["id"]), title, short_token(text))


_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                 0x2028: "\\u2028", 0x2029: "\\u2029"}


def json_script(value) -> Markup:
    """`value` as JSON that is safe inside <script type="application/json">: no `<`, `>` or `&` survive
    (as in `</script>` or `<!--` in a token string), so the data cannot end the element or start markup."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Markup(text.translate(_JSON_ESCAPES))


def fmt_verdict(verdict: str) -> Markup:
    label = {"holds": "holds", "fails": "does not hold", "not-applicable": "n/a"}.get(verdict, verdict)
    return Markup('<span class="verdict {}">{}</span>').format(verdict, label)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt_number, pct=fmt_percent, p=fmt_p, tok=fmt_token, verdict=fmt_verdict, ci=fmt_ci,
                       zip=lambda a, b: list(zip(a, b)), in_section=in_section, named=named)
    env.filters["json_script"] = json_script
    env.globals["asset"] = asset
    return env


def asset(name: str) -> Markup:
    """The text of one of our own files under templates/ (stylesheets, the page script), to inline."""
    path = (TEMPLATES / name).resolve()
    if path.parent != TEMPLATES.resolve() or path.suffix not in {".css", ".js"}:
        raise ValueError(f"not a report asset: {name}")
    return Markup(path.read_text(encoding="utf-8"))


def render_html(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


class WarningLog(logging.Handler):
    """Collects WeasyPrint warnings, so a missing glyph or font becomes visible to callers and tests."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# The token search's index (JSON, so no `<` inside: the first `</script>` ends it).
_SEARCH_INDEX = re.compile(r'<script type="application/json" id="token-index">[^<]*</script>')


def without_search_index(html: str) -> str:
    """`html` less the token search's index: the PDF never shows the search, and parsing the index's
    megabytes (10 MB for 256k tokens) would cost WeasyPrint about half a second for nothing."""
    return _SEARCH_INDEX.sub("", html, count=1)


def write_pdf(html: str, target: Path) -> list[str]:
    """Render `html` to `target` as PDF; return WeasyPrint's warnings."""
    from weasyprint import HTML

    watch = WarningLog()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(watch)
    try:
        HTML(string=without_search_index(html), base_url=str(target.parent)).write_pdf(str(target))
    finally:
        logger.removeHandler(watch)
    return watch.messages
