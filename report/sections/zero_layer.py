"""Section: the zero-layer model (W Wᵀ) and the tokens that do not predict themselves."""

from __future__ import annotations

from collections import Counter

from analyses.zero_layer import CATEGORIES, CATEGORY_RULES, TOLERANCE, ZeroLayerResult, analyse_zero_layer
from report.background import BackgroundSearch
from report.context import RunContext
from report.plots import zero_layer as plots
from report.section import FigureSpec, Section

SHOWN_PER_CATEGORY = 15  # rows per category in the report; results.json has every exception


def start(weights, rows: int, options) -> BackgroundSearch:
    unembedding = weights.unembedding[:rows] if weights.unembedding is not None else None
    return BackgroundSearch(weights.token_embeddings[:rows], options.device, options.seed, unembedding)


def run(ctx: RunContext) -> ZeroLayerResult:
    search = ctx.started.get("zero_layer")
    unembedding = ctx.weights.unembedding[: ctx.n_tokens] if ctx.weights.unembedding is not None else None
    return analyse_zero_layer(ctx.embeddings, ctx.tokens.data[: ctx.n_tokens],
                              ctx.tokens.unprintable[: ctx.n_tokens], ctx.options.device,
                              found=search.result().predictions if search is not None else None,
                              unembedding=unembedding)


def to_json(r: ZeroLayerResult, ctx: RunContext) -> dict:
    display = ctx.tokens.display
    return {
        "self_predict_fraction": r.self_predict_fraction,
        "n_exceptions": len(r.exceptions),
        "exceptions": [{"token_id": e.token_id, "predicts_id": e.predicts_id, "token": display[e.token_id],
                        "predicts": display[e.predicts_id], "cosine": e.cosine, "norm_ratio": e.norm_ratio,
                        "dot_margin": e.dot_margin, "category": e.category} for e in r.exceptions],
        "category_counts": r.category_counts,
        "category_rules": CATEGORY_RULES,
        "rule": (f"u is an exception iff some v ≠ u has u·v > u·u + {TOLERANCE:g}·|u||v| (float64 scores); "
                 "it then predicts the lowest id among the v within that tolerance of the best score"),
        "logits": "unembedding rows against the input embedding (untied)" if r.direct else "W·Wᵀ (tied)",
        "search": {"pairs_screened": r.pairs_screened, "pairs_total": r.pairs_total},  # the same on any machine
    }


def figures(r: ZeroLayerResult, ctx: RunContext) -> list[FigureSpec]:
    if not r.exceptions:
        return []
    return [FigureSpec("zero_layer_exceptions", plots.exceptions(r),
                       "Every exception u → v by the cosine of u and v and the length ratio |v|/|u|, marked by "
                       "category (left); v wins exactly when cos · |v|/|u| > 1, above the dashed curve. "
                       "Exceptions per category (right).")]


def _row(e, ctx: RunContext) -> dict:
    return {"u": ctx.token(e.token_id), "v": ctx.token(e.predicts_id), "cosine": e.cosine,
            "norm_ratio": e.norm_ratio, "dot_margin": e.dot_margin}


def context(r: ZeroLayerResult, ctx: RunContext) -> dict:
    groups = []
    for category in CATEGORIES:
        members = sorted((e for e in r.exceptions if e.category == category), key=lambda e: (-e.dot_margin, e.token_id))
        if members:
            groups.append({"category": category, "rule": CATEGORY_RULES[category], "count": len(members),
                           "rows": [_row(e, ctx) for e in members[:SHOWN_PER_CATEGORY]]})
    targets = Counter(e.predicts_id for e in r.exceptions)
    popular = [ctx.token(v) | {"count": c}
               for v, c in sorted(targets.items(), key=lambda kv: (-kv[1], kv[0])) if c > 1][:8]
    return {"r": r, "groups": groups, "shown": SHOWN_PER_CATEGORY, "popular_targets": popular,
            "n_exceptions": len(r.exceptions), "tolerance": TOLERANCE,
            "screened_share": r.pairs_screened / r.pairs_total if r.pairs_total else 0.0,
            "scored_share": r.pairs_scored / r.pairs_total if r.pairs_total else 0.0,
            "d": ctx.weights.d_model, "tied": ctx.weights.tied}


SECTION = Section("zero_layer", "The zero-layer model", run, to_json, figures, context, start=start,
                  result=ZeroLayerResult)
