"""The same picture in fewer, simpler SVG nodes, for the copy of each figure inlined into the HTML and PDF.

WeasyPrint paints an inline SVG node by node in Python, and at GPT-2 size the figures' ~11,000 nodes were
about half of the PDF's time. Most of that is bookkeeping matplotlib writes for editors, not drawing:
a `<g id="…">` around every tick, label and line (a third of all nodes), a CSS `style` attribute on every
node (parsed by a CSS tokenizer, node by node) and a `*{…}` stylesheet matched against every node.
`lean_svg` removes that bookkeeping without changing what is drawn: groups with nothing but an id that
nothing references are replaced by their children, simple `style` attributes become the equivalent
presentation attributes, the stylesheet's declarations move onto the root (they are inherited properties)
and the metadata block goes. Text stays text. The SVG files under figures/ keep matplotlib's full structure.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
_GROUP, _METADATA, _DEFS, _STYLE, _TEXT = (f"{{{SVG}}}{tag}" for tag in ("g", "metadata", "defs", "style", "text"))
_REFERENCE = re.compile(r"#([^\s)\"';,]+)")
# Properties that are also SVG presentation attributes, so `style="p: v"` and `p="v"` draw the same (no
# stylesheet is left to outrank the attribute). A style naming anything else is kept as it is.
PRESENTATION = frozenset({
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity", "stroke-linecap",
    "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "opacity",
    "font-size", "font-family", "font-style", "font-weight", "text-anchor", "clip-path",
})
NOT_INHERITED = frozenset({"opacity", "clip-path"})
# matplotlib's stylesheet, exactly: a universal rule setting two inherited properties.
_UNIVERSAL_RULE = re.compile(r"\s*\*\s*\{([^{}]*)\}\s*")


def _declarations(style: str) -> dict[str, str] | None:
    """`style` as {property: value} when every property is a presentation attribute, else None."""
    found = {}
    for declaration in filter(str.strip, style.split(";")):
        name, colon, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not colon or name not in PRESENTATION or not value or "!" in value:
            return None
        found[name] = value
    return found


def _universal_rule(sheet: ET.Element) -> dict[str, str] | None:
    """The declarations of a stylesheet that is one `*{…}` rule of inherited presentation properties."""
    rule = _UNIVERSAL_RULE.fullmatch(sheet.text or "")
    declarations = _declarations(rule.group(1)) if rule else None
    return None if declarations is None or NOT_INHERITED & declarations.keys() else declarations


def lean_svg(svg: bytes) -> bytes:
    """`svg` (as matplotlib writes it) with the same drawing in fewer, simpler nodes; see the module text.
    An SVG that is not well-formed XML (matplotlib writes a control character in a label as it is) is
    returned unchanged: leaning it is an optimisation, never a reason for a figure to go missing."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError:
        return svg
    referenced = {name for node in root.iter() for value in node.attrib.values()
                  for name in _REFERENCE.findall(value)}
    sheets = {sheet: _universal_rule(sheet) for sheet in root.iter(_STYLE)}
    # A stylesheet outranks presentation attributes: styles become attributes only once no sheet is left.
    restyle = all(rule is not None for rule in sheets.values())
    if restyle:
        for rule in sheets.values():  # inherited properties: on the root they reach every node
            root.attrib.update(rule)

    def lean(parent: ET.Element) -> None:
        kept = []
        for child in parent:
            if child.tag == _METADATA or (restyle and child in sheets):
                continue
            if child.tag != _TEXT:  # inside text, whitespace and tails are the text itself
                lean(child)
            if restyle and (style := child.get("style")) is not None and (found := _declarations(style)):
                del child.attrib["style"]
                child.attrib.update(found)
            if child.tag == _GROUP and set(child.attrib) <= {"id"} and child.get("id") not in referenced:
                kept.extend(child)
            else:
                kept.append(child)
        parent[:] = kept
        for child in kept:
            child.tail = None  # whitespace between elements draws nothing
        if not (parent.text or "").strip():
            parent.text = None

    lean(root)
    # Written back with matplotlib's prefixes, not ns0:/ns1:. The prefix map is global and other libraries
    # change it (WeasyPrint's PDF metadata module maps "" to no namespace when first imported), so set it here.
    ET.register_namespace("", SVG)
    ET.register_namespace("xlink", XLINK)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)
