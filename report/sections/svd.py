"""Section: SVD combinations of channel dims."""

from __future__ import annotations

import numpy as np

from analyses.correlations import SHOWN, UNDECIDED, link_states, overall
from analyses.svd import N_EXTREMES, N_NULL, SvdResult, analyse_svd
from analyses.unigram import UnigramResult
from report.run.context import RunContext
from report.run.section import FigureSpec, Section
from report.write.plots import style


def run(ctx: RunContext) -> SvdResult:
    unigram = ctx.earlier("unigram")
    link = unigram.frequency_beyond_norm
    state = overall(link_states(link)) if link is not None and np.isfinite(link.statistic) else UNDECIDED
    return analyse_svd(ctx.embeddings, ctx.word_start, unigram.dim, ctx.options.seed, ctx.options.device,
                       unigram_standout=bool(unigram.standout),
                       unigram_carries_frequency=None if state == UNDECIDED else state == SHOWN)


def to_json(r: SvdResult, ctx: RunContext) -> dict:
    return {
        "singular_values": r.singular_values,
        "cos_svd0_mean": r.cos_svd0_mean,
        "svd0_same_sign_fraction": r.svd0_same_sign_fraction,
        "energy_share_component_0": float(r.singular_values[0] ** 2 / (r.singular_values ** 2).sum()),
        "leading_space_auroc": r.word_start_auroc,
        "leading_space_ashman_d": r.word_start_ashman_d,
        "leading_space_two_gaussian_bic_gain": r.word_start_bic_gain,
        "leading_space_two_gaussian_valley": r.word_start_valley,
        "norm_extremes": {
            "token_ids": list(r.extreme_ids),
            "longest": _extremes(r, ctx, r.extreme_ids[:len(r.extreme_ids) // 2]),
            "shortest": _extremes(r, ctx, r.extreme_ids[len(r.extreme_ids) // 2:]),
            "extremeness_on_svd0": r.extremeness,
            "longest_mean_percentile": r.longest_percentile,
            "shortest_mean_percentile": r.shortest_percentile,
            "null_p": r.extremeness_null_p,
            "longest_null_p": r.group_null_p[0],
            "shortest_null_p": r.group_null_p[1],
            "null": f"residual norms shuffled across tokens, {N_NULL} permutations; each group tested toward its "
                    "own end, null_p the larger of the two",
        },
        "unigram_dim": ctx.earlier("unigram").dim,
        "unigram_dim_loading": r.unigram_loading,
        "unigram_dim_loading_rank": r.unigram_loading_rank,
        "directions": r.directions,
    }


def _extremes(r: SvdResult, ctx: RunContext, ids) -> list[dict]:
    """Tokens with their embedding norm and their coordinate on component 0."""
    return [ctx.token(i) | {"norm": float(r.norms[i]), "svd0": float(r.coordinates[i, 0])} for i in ids]


def figures(r: SvdResult, ctx: RunContext) -> list[FigureSpec]:
    return [
        FigureSpec("svd_spectrum", spectrum(r),
                   "Singular values of the token embedding matrix. A first value far above the rest is the "
                   "shared mean direction."),
        FigureSpec("svd_component_0", component0(r),
                   f"Component 0: its sign across tokens (left), and where the {N_EXTREMES} longest and "
                   f"{N_EXTREMES} shortest vectors fall on it (right)."),
        FigureSpec("svd_components_1_2", components_1_2(r, ctx.word_start),
                   "Tokens on components 1 and 2, by whether they start a word. Two clouds mean the model "
                   "keeps a word-start direction."),
    ]


def context(r: SvdResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    return {"j": j, "longest": j["norm_extremes"]["longest"][:10], "shortest": j["norm_extremes"]["shortest"][:10]}


# Figures of the SVD section.


def spectrum(r: SvdResult) -> "style.Figure":
    fig = style.figure(height=2.4)
    left, right = fig.subplots(1, 2)
    s = r.singular_values
    left.semilogy(np.arange(len(s)), s, marker="o", markersize=2, linewidth=0.8, color=style.NORMAL)
    left.set(xlabel="component", ylabel="singular value", title="spectrum (log scale)")
    share = np.cumsum(s ** 2) / np.sum(s ** 2)
    right.plot(np.arange(1, len(s) + 1), share, color=style.NORMAL)
    right.set(xlabel="number of components", ylabel="share of Σ W²", title="cumulative energy", xscale="log")
    return fig


def component0(r: SvdResult) -> "style.Figure":
    fig = style.figure(height=2.5)
    left, right = fig.subplots(1, 2)
    left.hist(r.coordinates[:, 0], bins=80, color=style.NORMAL)
    left.axvline(0, color="black", linestyle="--", linewidth=0.8)
    left.set(xlabel="component 0 coordinate", ylabel="tokens", title="sign of component 0")
    right.scatter(r.coordinates[:, 0], r.norms, s=0.4, color=style.TOKEN, alpha=0.3, rasterized=True, linewidths=0)
    ids = list(r.extreme_ids)
    half = len(ids) // 2
    right.scatter(r.coordinates[ids[:half], 0], r.norms[ids[:half]], s=10, marker="^",
                  color=style.OKABE_ITO["vermillion"], label="longest")
    right.scatter(r.coordinates[ids[half:], 0], r.norms[ids[half:]], s=10, marker="s",
                  color=style.OKABE_ITO["sky"], label="shortest")
    right.set(xlabel="component 0 coordinate", ylabel="embedding norm", title="norm extremes on component 0")
    right.legend(markerscale=1)
    return fig


def components_1_2(r: SvdResult, word_start: np.ndarray) -> "style.Figure":
    fig = style.figure(width=4.6, height=3.6)
    ax = fig.add_subplot()
    coords = r.coordinates
    for mask, label, colour, marker in ((word_start, "word start (leading space)", style.OKABE_ITO["blue"], "o"),
                                        (~word_start, "continuation", style.OKABE_ITO["orange"], "^")):
        ax.scatter(coords[mask, 1], coords[mask, 2], s=1.2, color=colour, marker=marker, alpha=0.35,
                   rasterized=True, linewidths=0, label=f"{label} ({int(mask.sum()):,})")
    ax.scatter([0], [0], marker="+", s=80, color="black", label="origin")
    ax.set(xlabel="component 1", ylabel="component 2")
    ax.legend(markerscale=5, loc="best")
    return fig


SECTION = Section("svd", "SVD: the mean direction and the word-start split", run, to_json, figures, context,
                  result=SvdResult, reads={"unigram": UnigramResult})
