"""Section: outlier tokens, crowded clumps of under-trained tokens, and their nearest neighbours."""

from __future__ import annotations

import dataclasses

import numpy as np
from matplotlib.ticker import MaxNLocator

from analyses.outliers import MIN_CLUMP, N_NEIGHBOURS, RULE, K, OutliersResult, analyse_outliers
from analyses.stats import percentile_ranks
from analyses.under_trained import score_under_trained
from analyses.unigram import UnigramResult
from analyses.zero_layer import ZeroLayerResult
from report.run.context import RunContext
from report.run.section import FigureSpec, Section
from report.write.plots import style

SHOWN_NEIGHBOURS = 3  # neighbours listed inline in the report's tables (results.json has N_NEIGHBOURS)
SHOWN_MEMBERS = 40  # clump members listed per clump


def unigram_dim(ctx: RunContext) -> int | None:
    """The unigram dim when the unigram section found one that stands out; else None."""
    unigram = ctx.earlier("unigram")
    if not unigram.standout:
        return None
    return int(unigram.dim)


def clump_frequency(ctx: RunContext) -> np.ndarray | None:
    """Log frequencies for claim 24's rarity test: exact corpus counts (a token never seen, NaN, is the rarest of
    all), else None. The wordfreq proxy measures English words, not the text the model was trained on: a clump
    of strings common in English but rare in training (or the reverse) must not turn the verdict."""
    if ctx.frequency.kind != "corpus":
        return None
    log_frequency = ctx.log_frequency
    return np.where(np.isnan(log_frequency), -np.inf, log_frequency)


def run(ctx: RunContext) -> OutliersResult:
    found = ctx.pair_pass()  # the pass that gave the zero-layer predictions also found every crowded pair
    result = analyse_outliers(ctx.embeddings, unigram_dim(ctx), ctx.earlier("zero_layer").targets, ctx.options.seed,
                              ctx.options.device, found=(found.crowding, found.pairs) if found is not None else None,
                              log_frequency=clump_frequency(ctx))
    w = ctx.weights
    head = w.unembedding if w.unembedding is not None else w.token_embeddings
    scored = score_under_trained(head[: len(result.norms)], result.norms, result.centroid_distance,
                                 result.clump_token_ids)
    return dataclasses.replace(result, under_trained=scored)


def _neighbours_json(r: OutliersResult, ctx: RunContext, token_id: int) -> list[dict]:
    return [ctx.token(v) | {"cosine": c} for v, c in r.neighbours.get(token_id, ())]


def to_json(r: OutliersResult, ctx: RunContext) -> dict:
    ranks = percentile_ranks(r.norms), percentile_ranks(r.centroid_distance)

    def listed(ids):
        return [_token_row(r, ctx, i, ranks) for i in ids]

    return {
        "n_tokens": len(r.norms),
        "clump_token_ids": list(r.clump_token_ids),
        "clumps": [list(c) for c in r.clumps],
        "clump_percentiles": [{"size": len(c), "norm": p[0], "unigram_dim_value": p[1], "centroid_distance": p[2]}
                              for c, p in zip(r.clumps, r.clump_percentiles)],
        "clump_members": [listed(c) for c in r.clumps],
        "rule": RULE,
        "crowding": {"k": K, "min_clump": MIN_CLUMP, "sample_size": r.sample_size, "precision": r.precision,
                     "median_kth_neighbour_distance": r.median_crowding, "threshold": r.threshold,
                     "pairs_within_threshold": r.near_pairs, "exhaustive": r.exhaustive,
                     "n_crowded": len(r.crowded), "crowded_token_ids": list(r.crowded)},
        "angular": {"median_kth_neighbour_cosine_distance": r.angular.median, "threshold": r.angular.threshold,
                    "candidates": [_candidate_json(r, c, s) for c, s in zip(r.candidates, r.candidate_spread)]},
        "claim24_evidence": _evidence_json(r),
        "unigram_dim": r.unigram_dim,
        "n_neighbours": N_NEIGHBOURS,
        "longest": listed(r.longest),
        "shortest": listed(r.shortest),
        "neighbours": {str(i): _neighbours_json(r, ctx, i) for i in sorted(r.neighbours)},
    }


def _token_row(r: OutliersResult, ctx: RunContext, i: int, ranks) -> dict:
    """A notable token with its norm, its percentiles among all tokens (norm, distance to the centroid), its
    value on the unigram dim and its crowding distance (None where not computed)."""
    norm_ranks, centroid_ranks = ranks
    return ctx.token(i) | {
        "norm": float(r.norms[i]), "norm_percentile": float(norm_ranks[i]),
        "centroid_distance_percentile": float(centroid_ranks[i]),
        "unigram_dim_value": float(r.unigram_values[i]) if r.unigram_values is not None else None,
        "kth_neighbour_distance": r.crowding.get(i)}


def _candidate_json(r: OutliersResult, members, spread: float) -> dict:
    """A group of crowded tokens with its angular spread, that spread over the sample's median, and whether it
    is tight enough in angle to be a clump."""
    ratio = spread / r.angular.median if r.angular.median > 0 else None
    return {"size": len(members), "angular_spread": spread, "spread_over_median": ratio,
            "clump": spread <= r.angular.threshold, "token_ids": list(members)}


def _evidence_json(r: OutliersResult) -> dict | None:
    e = r.evidence
    if e is None:
        return None
    rarity = None if e.rarity is None else dataclasses.asdict(e.rarity)
    return {"size": e.size, "angular_spread": e.angular_spread, "angular_ratio": e.angular_ratio, "clump": e.tight,
            "percentiles": {"norm": e.percentiles[0], "unigram_dim_value": e.percentiles[1],
                            "centroid_distance": e.percentiles[2]},
            "frequency": rarity}


def figures(r: OutliersResult, ctx: RunContext) -> list[FigureSpec]:
    y_label = f"value on unigram dim {r.unigram_dim}" if r.unigram_dim is not None else "distance to the centroid"
    specs = [FigureSpec("outliers_norm_scatter", overview(r, y_label),
                        f"Every token by embedding norm and {y_label}; crowded clumps highlighted, the "
                        f"{len(r.longest)} longest and {len(r.shortest)} shortest vectors marked.")]
    if r.clumps:
        specs.append(FigureSpec("outliers_clump_zoom", clump_zoom(r, y_label, ctx.tokens.display),
                                "The largest clump up close, each member labelled with its token string "
                                "(grey: other tokens in the window)."))
    return specs


def _shown(j: dict, row: dict) -> dict:
    """A token row of results.json with its first SHOWN_NEIGHBOURS neighbours, as the tables list it."""
    return row | {"neighbours": j["neighbours"].get(str(row["id"]), [])[:SHOWN_NEIGHBOURS]}


def context(r: OutliersResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    clumps = [{"percentiles": p, "members": [_shown(j, t) for t in members[:SHOWN_MEMBERS]]}
              for p, members in zip(j["clump_percentiles"], j["clump_members"])]
    return {
        "j": j, "rule": RULE, "k": K, "min_clump": MIN_CLUMP, "n_neighbours": N_NEIGHBOURS,
        "loose": [c for c in j["angular"]["candidates"] if not c["clump"]],
        "frequency_kind": ctx.frequency.kind,
        "shown_neighbours": SHOWN_NEIGHBOURS, "shown_members": SHOWN_MEMBERS, "clumps": clumps,
        "longest": [_shown(j, t) for t in j["longest"]],
        "shortest": [_shown(j, t) for t in j["shortest"]],
    }


# Figures of the outliers section.
CLUMP_COLOURS = [style.OKABE_ITO["vermillion"], style.OKABE_ITO["green"], style.OKABE_ITO["purple"],
                 style.OKABE_ITO["orange"]]
MAX_LABELS = 40


def _y(r: OutliersResult) -> np.ndarray:
    return r.unigram_values if r.unigram_values is not None else r.centroid_distance


def overview(r: OutliersResult, y_label: str) -> "style.Figure":
    fig = style.figure(height=3.4)
    ax = fig.add_subplot()
    y = _y(r)
    ax.scatter(r.norms, y, color="#9a9a9a", label=f"all tokens ({len(y):,})", **style.cloud(len(y)))
    for ids, label, marker, colour in ((r.longest, f"{len(r.longest)} longest", "^", style.OKABE_ITO["blue"]),
                                       (r.shortest, f"{len(r.shortest)} shortest", "v", style.OKABE_ITO["sky"])):
        ax.scatter(r.norms[list(ids)], y[list(ids)], marker=marker, s=14, color=colour, label=label, linewidths=0)
    for n, clump in enumerate(r.clumps[: len(CLUMP_COLOURS)]):
        ids = list(clump)
        ax.scatter(r.norms[ids], y[ids], marker="s", s=16, facecolors="none", linewidths=0.9,
                   edgecolors=CLUMP_COLOURS[n], label=f"clump {n + 1} ({len(ids)} tokens)")
    ax.set(xlabel="embedding norm", ylabel=y_label)
    ax.legend(loc="best")
    return fig


def clump_zoom(r: OutliersResult, y_label: str, display: tuple[str, ...]) -> "style.Figure":
    """The largest clump in a window around it; labels stacked in a column, joined to their points."""
    ids = np.array(r.clumps[0])
    y = _y(r)
    x0, x1 = r.norms[ids].min(), r.norms[ids].max()
    y0, y1 = y[ids].min(), y[ids].max()
    pad_x = max((x1 - x0) * 0.6, 1e-3 * max(abs(x1), 1e-9))
    pad_y = max((y1 - y0) * 0.6, 1e-3 * max(abs(y1), 1e-9))
    window = ((r.norms > x0 - pad_x) & (r.norms < x1 + pad_x) & (y > y0 - pad_y) & (y < y1 + pad_y))
    window[ids] = False
    shown = ids[np.argsort(y[ids], kind="stable")][::-1][:MAX_LABELS]  # top of the column = highest point
    height = min(6.5, max(2.6, 0.16 * len(shown) + 0.6))
    fig = style.figure(height=height)
    ax, labels = fig.subplots(1, 2, width_ratios=[1.5, 1])
    ax.scatter(r.norms[window], y[window], color="#9a9a9a", **style.cloud(int(window.sum()) + 1))
    ax.scatter(r.norms[ids], y[ids], marker="s", s=14, facecolors="none", edgecolors=CLUMP_COLOURS[0], linewidths=0.9)
    ax.set(xlim=(x0 - pad_x, x1 + pad_x), ylim=(y0 - pad_y, y1 + pad_y), xlabel="embedding norm", ylabel=y_label,
           title=f"clump 1: {len(ids)} tokens" + (f" (first {MAX_LABELS} labelled)" if len(ids) > MAX_LABELS else ""))
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(6))
    style.label_column(ax, labels, [(r.norms[i], y[i]) for i in shown],
                 [f"{style.short_label(display[i])}  ({i})" for i in shown])
    return fig


SECTION = Section("outliers", "Outlier tokens and the under-trained clump", run, to_json, figures, context,
                  result=OutliersResult, reads={"unigram": UnigramResult, "zero_layer": ZeroLayerResult},
                  reads_pairs=True)
