"""Section: what published work found about odd GPT-2 tokens, and how our lists overlap with it."""

from __future__ import annotations

import numpy as np

from analyses.literature import LiteratureResult, analyse_literature
from analyses.outliers import OutliersResult
from analyses.vectors import N_EXTREMES
from analyses.zero_layer import ZeroLayerResult
from report.run.context import RunContext
from report.run.section import FigureSpec, Section
from report.write.plots import style


def _lists(ctx: RunContext) -> dict:
    outliers = ctx.earlier("outliers")
    zero_layer = ctx.earlier("zero_layer")
    exceptions = sorted({i for e in zero_layer.exceptions for i in (e.token_id, e.predicts_id)})
    return {"clump": outliers.clump_token_ids, "longest": outliers.longest, "shortest": outliers.shortest,
            "exceptions": exceptions}


def run(ctx: RunContext) -> LiteratureResult:
    outliers = ctx.earlier("outliers")
    return analyse_literature(ctx.weights.model_id, ctx.tokens.data[: ctx.n_tokens], ctx.tokens.byte_level,
                              outliers.norms, outliers.centroid_distance, _lists(ctx))


def to_json(r: LiteratureResult, ctx: RunContext) -> dict:
    return {
        "applies": r.applies,
        "reason": r.reason,
        "known": [{"text": k.text, "source": k.source, "finding": k.finding, "pattern": k.pattern,
                   "matched": [ctx.token(i) for i in ids]} for k, ids in zip(r.known, r.matches)],
        "found": [ctx.token(f.token_id) | {
                   "entries": [r.known[k].text for k in f.entries], "norm_percentile": f.norm_percentile,
                   "centroid_distance_percentile": f.centroid_percentile, "in_clump": f.in_clump,
                   "in_longest": f.in_longest, "in_shortest": f.in_shortest, "in_exceptions": f.in_exceptions}
                  for f in r.found],
        "overlap": {name: {"count": len(ids), "token_ids": list(ids)} for name, ids in r.overlap.items()},
        "median_centroid_distance_percentile": r.median_centroid_percentile,
        "list_sizes": {name: len(ids) for name, ids in _lists(ctx).items()},
    }


def figures(r: LiteratureResult, ctx: RunContext) -> list[FigureSpec]:
    if not (r.applies and r.found):
        return []
    outliers = ctx.earlier("outliers")
    return [FigureSpec("literature_placement",
                       placement(r, outliers.norms, outliers.centroid_distance, outliers.clump_token_ids,
                                       ctx.tokens.display),
                       "Tokens named in published work (triangles) among all tokens, by embedding norm and "
                       "distance to the mean embedding; squares mark our crowded clumps.")]


def _published(found: dict) -> str:
    """The published strings a found token matches, stripped and without repeats."""
    return ", ".join(dict.fromkeys(text.strip() for text in found["entries"]))


def _on_lists(found: dict) -> str:
    flags = (("in_clump", "clump"), ("in_longest", f"{N_EXTREMES} longest"), ("in_shortest", f"{N_EXTREMES} shortest"),
             ("in_exceptions", "zero-layer exception"))
    return ", ".join(name for flag, name in flags if found[flag])


def context(r: LiteratureResult, ctx: RunContext) -> dict:
    """The fragment (`j`), its published entries grouped by source, its found tokens with their published strings
    and lists in words, and the tokens on each of our lists."""
    j = to_json(r, ctx)
    sources: dict[str, list] = {}
    for known in j["known"]:
        sources.setdefault(known["source"], []).append(known)
    found = [f | {"published": _published(f), "lists": _on_lists(f)} for f in j["found"]]
    by_id = {f["id"]: f for f in j["found"]}
    overlap = {name: [by_id[i] for i in listed["token_ids"]] for name, listed in j["overlap"].items()}
    return {"j": j, "sources": [{"source": name, "entries": entries} for name, entries in sources.items()],
            "found": found, "overlap": overlap}


# Figure of the literature section: where the published odd tokens sit in this model.
MAX_LABELS = 30


def placement(r: LiteratureResult, norms: np.ndarray, centroid_distance: np.ndarray, clump: tuple[int, ...],
              display: tuple[str, ...]) -> "style.Figure":
    ids = np.array([f.token_id for f in r.found])
    shown = ids[np.argsort(centroid_distance[ids], kind="stable")[::-1]][:MAX_LABELS]
    fig = style.figure(height=min(6.0, max(3.0, 0.16 * len(shown) + 0.8)))
    ax, labels = fig.subplots(1, 2, width_ratios=[1.5, 1])
    ax.scatter(norms, centroid_distance, color="#9a9a9a", label=f"all tokens ({len(norms):,})",
               **style.cloud(len(norms)))
    if clump:
        ax.scatter(norms[list(clump)], centroid_distance[list(clump)], marker="s", s=16, facecolors="none",
                   edgecolors=style.OKABE_ITO["vermillion"], linewidths=0.9, label="our clumps")
    ax.scatter(norms[ids], centroid_distance[ids], marker="^", s=18, color=style.OKABE_ITO["blue"],
               label="published tokens", linewidths=0)
    ax.set(xlabel="embedding norm", ylabel="distance to the centroid")
    ax.legend(loc="best")
    style.label_column(ax, labels, [(norms[i], centroid_distance[i]) for i in shown],
                 [f"{style.short_label(display[i])}  ({i})" for i in shown])
    return fig


SECTION = Section("literature", "What published work found", run, to_json, figures, context,
                  result=LiteratureResult, reads={"outliers": OutliersResult, "zero_layer": ZeroLayerResult})
