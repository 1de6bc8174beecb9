"""Section: the zero-layer model (W Wᵀ) and the tokens that do not predict themselves."""

from __future__ import annotations

from collections import Counter

import numpy as np

from analyses.zero_layer import CATEGORIES, CATEGORY_RULES, TOLERANCE, ZeroLayerResult, analyse_zero_layer
from report.run.context import RunContext
from report.run.section import FigureSpec, Section
from report.write.plots import style

SHOWN_PER_CATEGORY = 15  # rows per category in the report; results.json has every exception


def run(ctx: RunContext) -> ZeroLayerResult:
    found = ctx.pair_pass()
    unembedding = ctx.weights.unembedding[: ctx.n_tokens] if ctx.weights.unembedding is not None else None
    return analyse_zero_layer(ctx.embeddings, ctx.tokens.data[: ctx.n_tokens],
                              ctx.tokens.unprintable[: ctx.n_tokens], ctx.options.device,
                              found=found.predictions if found is not None else None,
                              unembedding=unembedding)


def to_json(r: ZeroLayerResult, ctx: RunContext) -> dict:
    return {
        "n_tokens": r.n_tokens,
        "self_predict_fraction": r.self_predict_fraction,
        "n_exceptions": len(r.exceptions),
        "exceptions": [{"token": ctx.token(e.token_id), "predicts": ctx.token(e.predicts_id), "cosine": e.cosine,
                        "norm_ratio": e.norm_ratio, "dot_margin": e.dot_margin, "category": e.category}
                       for e in r.exceptions],
        "category_counts": r.category_counts,
        "category_rules": CATEGORY_RULES,
        "popular_targets": _popular_targets(r, ctx),
        "rule": (f"u is an exception iff some v ≠ u has u·v > u·u + {TOLERANCE:g}·|u||v| (float64 scores); "
                 "it then predicts the lowest id among the v within that tolerance of the best score"),
        "tolerance": TOLERANCE,
        "logits": "unembedding rows against the input embedding (untied)" if r.direct else "W·Wᵀ (tied)",
        "direct": r.direct,
        "search": _search(r),  # the same on any machine
    }


def _popular_targets(r: ZeroLayerResult, ctx: RunContext) -> list[dict]:
    """Tokens predicted by more than one other token, most predicted first (at most 8), with that count."""
    targets = Counter(e.predicts_id for e in r.exceptions)
    ranked = sorted(targets.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"token": ctx.token(v), "count": c} for v, c in ranked if c > 1][:8]


def _search(r: ZeroLayerResult) -> dict:
    """How much work the exact search did: dot products screened and rescored, and their share of V²."""
    share = (lambda n: n / r.pairs_total) if r.pairs_total else (lambda n: 0.0)
    return {"precision": r.precision, "pairs_screened": r.pairs_screened, "pairs_scored": r.pairs_scored,
            "pairs_total": r.pairs_total, "screened_share": share(r.pairs_screened),
            "scored_share": share(r.pairs_scored)}


def figures(r: ZeroLayerResult, ctx: RunContext) -> list[FigureSpec]:
    if not r.exceptions:
        return []
    return [FigureSpec("zero_layer_exceptions", exceptions(r),
                       "Every exception u → v by the cosine of u and v and the length ratio |v|/|u|, marked by "
                       "category (left); v wins exactly when cos · |v|/|u| > 1, above the dashed curve. "
                       "Exceptions per category (right).")]


def _groups(j: dict) -> list[dict]:
    """The exceptions of results.json by category, largest margin first, SHOWN_PER_CATEGORY rows each."""
    groups = []
    for category in CATEGORIES:
        members = sorted((e for e in j["exceptions"] if e["category"] == category),
                         key=lambda e: (-e["dot_margin"], e["token"]["id"]))
        if members:
            groups.append({"category": category, "rule": CATEGORY_RULES[category], "count": len(members),
                           "rows": members[:SHOWN_PER_CATEGORY]})
    return groups


def context(r: ZeroLayerResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    return {"j": j, "groups": _groups(j), "shown": SHOWN_PER_CATEGORY}


# Figures of the zero-layer section.
CATEGORY_STYLE = {  # colour and marker per category, distinct in colour and in grey
    "leading-space removal": (style.OKABE_ITO["blue"], "o"),
    "unprintable byte": (style.OKABE_ITO["vermillion"], "s"),
    "machine-readable": (style.OKABE_ITO["green"], "^"),
    "other": ("#6b6b6b", "x"),
}


def exceptions(r: ZeroLayerResult) -> "style.Figure":
    fig = style.figure(height=2.8)
    left, right = fig.subplots(1, 2, width_ratios=[1.6, 1])
    cos = np.array([e.cosine for e in r.exceptions])
    ratio = np.array([e.norm_ratio for e in r.exceptions])
    for category in CATEGORIES:
        mask = np.array([e.category == category for e in r.exceptions])
        if mask.any():
            colour, marker = CATEGORY_STYLE[category]
            left.scatter(ratio[mask], cos[mask], marker=marker, color=colour,
                         label=f"{category} ({int(mask.sum()):,})", **style.cloud(int(mask.sum()), 1.5))
    grid = np.linspace(1.0, max(float(ratio.max()) * 1.05, 1.1), 200)
    left.plot(grid, 1 / grid, linestyle="--", color="#555555", linewidth=0.8, label="cos = |u|/|v|")
    left.set(xlabel="|v| / |u|", ylabel="cos(u, v)", title="how v beats u")
    left.legend(loc="lower right")
    counts = [r.category_counts[c] for c in CATEGORIES]
    y = np.arange(len(CATEGORIES))
    bars = right.barh(y, counts, color=[CATEGORY_STYLE[c][0] for c in CATEGORIES])
    for bar, hatch in zip(bars, style.HATCHES):
        bar.set_hatch(hatch)
    right.set_yticks(y, CATEGORIES)
    right.invert_yaxis()
    right.set(xlabel="exceptions", title="categories")
    return fig


SECTION = Section("zero_layer", "The zero-layer model", run, to_json, figures, context, reads_pairs=True,
                  result=ZeroLayerResult)
