"""How the report writes numbers and names: the one set of formatters the templates use (as Jinja filters,
through report.write.render) and the sections use in the sentences they write themselves (the summary's findings).
Plain Python, so a section can use them without importing the renderer."""

from __future__ import annotations

import math

# How the report names the norm in front of each MLP, by its role (ModelWeights.mlp_norm_role).
NORM_LABELS = {"ln_1": "LN1", "ln_2": "LN2"}


def norm_label(ctx) -> str:
    """How the report names the norm in front of each MLP: LN2 in pre-LN models, LN1 in post-LN ones."""
    return NORM_LABELS[ctx.weights.mlp_norm_role]


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


def fmt_ci(interval) -> str:
    lo, hi = interval
    return f"[{fmt_number(lo)}, {fmt_number(hi)}]"
