"""Per-token data for the HTML report's token search, built from the section results that exist.

The index is embedded in the page as JSON (see `render.json_script`), so its size is bounded: numbers
are kept to `DIGITS` significant digits, columns are plain arrays indexed by token id, at most
`MAX_ROWS` tokens are included (the page says so when a vocabulary is larger), and nearest neighbours
are kept for at most `MAX_NEIGHBOUR_ROWS` tokens, `MAX_NEIGHBOURS` each. For a 50,257-token vocabulary
this is about 2.5 MB. Every section is optional: a column whose section did not run is `None`.

Layout (version 1)::

    {"version": 1, "rows": R, "tokens": N, "digits": 4,
     "text":  [display string per token id < R],
     "norm":  [L2 norm] | None,
     "svd":   [[coordinate on component c] for c in 0..2] | None,
     "unigram": {"dim": k, "values": [W[id, k]]} | None,
     "zero_layer": {"exceptions": [[id, predicted id], ...]} | None,   (ids not listed predict themselves)
     "neighbours": {"k": K, "rows": {"id": [[neighbour id, cosine], ...]}} | None}
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from analyses.outliers import OutliersResult
from analyses.svd import SvdResult
from analyses.unigram import UnigramResult
from analyses.zero_layer import ZeroLayerResult
from report.context import Reader, RunContext

VERSION = 1
DIGITS = 4
MAX_ROWS = 65_536
MAX_NEIGHBOURS = 5
MAX_NEIGHBOUR_ROWS = 12_000
SVD_COMPONENTS = 3
# Every column is optional: a section that did not run leaves its column None. `build` expects a context
# lent to this reader (`ctx.for_section(READER)`).
READER = Reader("search index", {"svd": SvdResult | None, "unigram": UnigramResult | None,
                                 "zero_layer": ZeroLayerResult | None, "outliers": OutliersResult | None})


def rounded(value: float, digits: int = DIGITS) -> float | None:
    """`value` to `digits` significant digits; NaN and infinities become None (JSON null)."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def _column(values: Iterable[float], rows: int) -> list[float | None]:
    return [rounded(v) for v in np.asarray(values, dtype=np.float64).ravel()[:rows].tolist()]


def _svd(ctx: RunContext, rows: int) -> tuple[list | None, list | None]:
    svd = ctx.earlier("svd")
    if svd is None:
        return None, None
    norms = getattr(svd, "norms", None)
    coordinates = getattr(svd, "coordinates", None)
    norm_col = None if norms is None else _column(norms, rows)
    svd_cols = None
    if coordinates is not None and np.ndim(coordinates) == 2:
        k = min(SVD_COMPONENTS, np.shape(coordinates)[1])
        svd_cols = [_column(np.asarray(coordinates)[:, c], rows) for c in range(k)]
    return norm_col, svd_cols


def _unigram(ctx: RunContext, rows: int) -> dict | None:
    unigram = ctx.earlier("unigram")
    dim = getattr(unigram, "dim", None)
    if dim is None or not 0 <= int(dim) < ctx.embeddings.shape[1]:
        return None
    return {"dim": int(dim), "values": _column(ctx.embeddings[:, int(dim)], rows)}


def _zero_layer(ctx: RunContext, rows: int) -> dict | None:
    zero = ctx.earlier("zero_layer")
    exceptions = getattr(zero, "exceptions", None)
    if zero is None or exceptions is None:
        return None
    pairs = sorted({(int(e.token_id), int(e.predicts_id)) for e in exceptions if int(e.token_id) < rows})
    return {"exceptions": [list(p) for p in pairs]}


def _neighbours(ctx: RunContext, rows: int) -> dict | None:
    outliers = ctx.earlier("outliers")
    table = getattr(outliers, "neighbours", None)
    if outliers is None or table is None:
        return None
    kept: dict[str, list] = {}
    width = 0
    for token_id in sorted(int(t) for t in table if int(t) < rows)[:MAX_NEIGHBOUR_ROWS]:
        near = [[int(n), rounded(c)] for n, c in list(table[token_id])[:MAX_NEIGHBOURS]]
        width = max(width, len(near))
        kept[str(token_id)] = near
    return {"k": width, "rows": kept}


def build(ctx: RunContext) -> dict[str, Any]:
    """The search index of one model's report (plain JSON-ready values, deterministic)."""
    total = ctx.n_tokens
    rows = min(total, MAX_ROWS)
    norm, svd = _svd(ctx, rows)
    return {
        "version": VERSION,
        "rows": rows,
        "tokens": total,
        "digits": DIGITS,
        "text": list(ctx.tokens.display[:rows]),
        "norm": norm,
        "svd": svd,
        "unigram": _unigram(ctx, rows),
        "zero_layer": _zero_layer(ctx, rows),
        "neighbours": _neighbours(ctx, rows),
    }
