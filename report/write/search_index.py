"""Per-token data for the HTML report's token search, built from the section results that exist.

The index is embedded in the page as JSON (see `render.json_script`) holding compact binary columns, so
every token of a 256k vocabulary fits: numbers are float32 with a per-column power-of-two scale, token ids
unsigned 16- or 32-bit integers, each as base64 of the little-endian bytes; token texts are one JSON array
of display strings (as small as one joined string with 16-bit lengths, within 0.4 bytes a token, and
needs no decoding). float32 keeps a relative error of at most 2⁻²⁴, so the 4 significant digits the page
shows are those of the exact value (but for about 1 token in 10,000, at a rounding boundary); "f16" would
halve the numbers' size but change the third digit shown for 5–7 % of tokens. At most `MAX_ROWS` tokens
are included (the page says so when a vocabulary is larger), and nearest neighbours are kept for at most
`MAX_NEIGHBOUR_ROWS` tokens (the lowest ids among those the outliers section listed; the page says so when
some are left out), `MAX_NEIGHBOURS` each. Every section is optional: a column whose section did not run is
`None`. Sizes and timings at 50k and 256k tokens: docs/report.md (measured by
`python -m tests.report.search_page`).

Layout (version 2); F = {"type": "f32" | "f16", "exp": e, "data": base64} holds values × 2⁻ᵉ (NaN for a
missing or non-finite value), U = {"type": "u16" | "u32", "data": base64}::

    {"version": 2, "rows": R, "tokens": N, "digits": 4, "relative_error": 2⁻²⁴,
     "text":  [display string per token id < R],
     "norm":  F | None,
     "svd":   [F per component, 3] | None,
     "unigram": {"dim": k, "values": F} | None,
     "zero_layer": {"ids": U, "predicts": U} | None,     (ascending ids; ids not listed predict themselves)
     "neighbours": {"k": K, "listed": n, "ids": U, "start": U, "near": U, "cosine": F} | None}
                   (the neighbours of ids[j] are near[start[j]:start[j+1]], ascending ids; n rows listed by
                    the section, len(ids) of them kept)
"""

from __future__ import annotations

import base64
import math
from typing import Any, Iterable

import numpy as np

from analyses.outliers import OutliersResult
from analyses.svd import SvdResult
from analyses.unigram import UnigramResult
from analyses.zero_layer import ZeroLayerResult
from report.run.context import Reader, RunContext

VERSION = 2
NUMBER_TYPE = "f32"
DIGITS = {"f32": 4, "f16": 3}  # significant digits the page shows
RELATIVE_ERROR = {"f32": 2.0 ** -24, "f16": 2.0 ** -11}  # above 2⁻¹⁸⁹ (f32), 2⁻²⁹ (f16) of a column's largest
TOP_EXPONENT = {"f32": 64, "f16": 15}  # a column's largest magnitude is scaled into [2ᵀ⁻¹, 2ᵀ)
FLOAT_DTYPES = {"f32": "<f4", "f16": "<f2"}
MAX_ROWS = 1 << 20  # 1,048,576 tokens: four times the largest vocabularies in use (Gemma's 256,000)
MAX_NEIGHBOURS = 5
MAX_NEIGHBOUR_ROWS = 12_000
SVD_COMPONENTS = 3
# Every column is optional: a section that did not run leaves its column None. `build` expects a context
# lent to this reader (`ctx.for_section(READER)`).
READER = Reader("search index", {"svd": SvdResult | None, "unigram": UnigramResult | None,
                                 "zero_layer": ZeroLayerResult | None, "outliers": OutliersResult | None})


def _base64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def floats(values: Iterable[float], kind: str = "") -> dict[str, Any]:
    """`values` as an F column of `kind` (default NUMBER_TYPE): floats of values × 2⁻ᵉ, where the power of two
    (exact, so it adds no error) puts the largest finite magnitude in [2ᵀ⁻¹, 2ᵀ), T = TOP_EXPONENT[kind]: far
    from both ends of the type's range. e = 0 when there is no finite nonzero value; non-finite values
    become NaN."""
    kind = kind or NUMBER_TYPE
    column = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(column)
    largest = float(np.max(np.abs(column[finite]))) if finite.any() else 0.0
    exp = math.frexp(largest)[1] - TOP_EXPONENT[kind] if largest > 0 else 0
    scaled = np.where(finite, np.ldexp(np.where(finite, column, 0.0), -exp), np.nan)
    return {"type": kind, "exp": exp, "data": _base64(scaled.astype(FLOAT_DTYPES[kind]))}


def unsigned(values: Iterable[int]) -> dict[str, str]:
    """Non-negative integers as a U column: 16-bit when every value fits, else 32-bit."""
    column = np.array(list(values), dtype=np.int64)
    if column.size and (column.min() < 0 or column.max() >= 1 << 32):
        raise ValueError("a U column holds integers in [0, 2³²)")
    kind = "u16" if not column.size or column.max() < 1 << 16 else "u32"
    return {"type": kind, "data": _base64(column.astype("<u2" if kind == "u16" else "<u4"))}


def decode(column: dict[str, Any]) -> np.ndarray:
    """An F or U column back as numbers (float64 or int64), as the page reads it."""
    raw = base64.b64decode(column["data"])
    if column["type"] in FLOAT_DTYPES:
        return np.ldexp(np.frombuffer(raw, dtype=FLOAT_DTYPES[column["type"]]).astype(np.float64), column["exp"])
    return np.frombuffer(raw, dtype="<u2" if column["type"] == "u16" else "<u4").astype(np.int64)


def _svd(ctx: RunContext, rows: int) -> tuple[dict | None, list | None]:
    svd = ctx.earlier("svd")
    if svd is None:
        return None, None
    norms = getattr(svd, "norms", None)
    coordinates = getattr(svd, "coordinates", None)
    norm_col = None if norms is None else floats(np.asarray(norms, dtype=np.float64).ravel()[:rows])
    svd_cols = None
    if coordinates is not None and np.ndim(coordinates) == 2:
        k = min(SVD_COMPONENTS, np.shape(coordinates)[1])
        svd_cols = [floats(np.asarray(coordinates, dtype=np.float64)[:rows, c]) for c in range(k)]
    return norm_col, svd_cols


def _unigram(ctx: RunContext, rows: int) -> dict | None:
    unigram = ctx.earlier("unigram")
    dim = getattr(unigram, "dim", None)
    if dim is None or not 0 <= int(dim) < ctx.embeddings.shape[1]:
        return None
    return {"dim": int(dim), "values": floats(np.asarray(ctx.embeddings[:rows, int(dim)], dtype=np.float64))}


def _zero_layer(ctx: RunContext, rows: int) -> dict | None:
    zero = ctx.earlier("zero_layer")
    exceptions = getattr(zero, "exceptions", None)
    if zero is None or exceptions is None:
        return None
    # One prediction per token (the first listed, should a result ever repeat one), ascending ids.
    predicts: dict[int, int] = {}
    for e in exceptions:
        if int(e.token_id) < rows:
            predicts.setdefault(int(e.token_id), int(e.predicts_id))
    ids = sorted(predicts)
    return {"ids": unsigned(ids), "predicts": unsigned(predicts[i] for i in ids)}


def _neighbours(ctx: RunContext, rows: int) -> dict | None:
    outliers = ctx.earlier("outliers")
    table = getattr(outliers, "neighbours", None)
    if outliers is None or table is None:
        return None
    listed = sorted(int(t) for t in table if int(t) < rows)
    kept = listed[:MAX_NEIGHBOUR_ROWS]
    start, near, cosine = [0], [], []
    for token_id in kept:
        for neighbour, cos in list(table[token_id])[:MAX_NEIGHBOURS]:
            near.append(int(neighbour))
            cosine.append(float(cos))
        start.append(len(near))
    width = max((b - a for a, b in zip(start, start[1:])), default=0)
    return {"k": width, "listed": len(listed), "ids": unsigned(kept), "start": unsigned(start),
            "near": unsigned(near), "cosine": floats(cosine)}


def build(ctx: RunContext) -> dict[str, Any]:
    """The search index of one model's report (plain JSON-ready values, deterministic)."""
    total = ctx.n_tokens
    rows = min(total, MAX_ROWS)
    norm, svd = _svd(ctx, rows)
    return {
        "version": VERSION,
        "rows": rows,
        "tokens": total,
        "digits": DIGITS[NUMBER_TYPE],
        "relative_error": RELATIVE_ERROR[NUMBER_TYPE],
        "text": list(ctx.tokens.display[:rows]),
        "norm": norm,
        "svd": svd,
        "unigram": _unigram(ctx, rows),
        "zero_layer": _zero_layer(ctx, rows),
        "neighbours": _neighbours(ctx, rows),
    }
