"""Section: SVD combinations of channel dims."""

from __future__ import annotations

import numpy as np

from analyses.correlations import SHOWN, UNDECIDED, link_states, overall
from analyses.svd import N_EXTREMES, N_NULL, SvdResult, analyse_svd
from analyses.unigram import UnigramResult
from report.context import RunContext
from report.plots import svd as plots
from report.section import FigureSpec, Section


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
        FigureSpec("svd_spectrum", plots.spectrum(r),
                   "Singular values of the token embedding matrix. A first value far above the rest is the "
                   "shared mean direction."),
        FigureSpec("svd_component_0", plots.component0(r),
                   f"Component 0: its sign across tokens (left), and where the {N_EXTREMES} longest and "
                   f"{N_EXTREMES} shortest vectors fall on it (right)."),
        FigureSpec("svd_components_1_2", plots.components_1_2(r, ctx.word_start),
                   "Tokens on components 1 and 2, by whether they start a word. Two clouds mean the model "
                   "keeps a word-start direction."),
    ]


def context(r: SvdResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    return {"j": j, "longest": j["norm_extremes"]["longest"][:10], "shortest": j["norm_extremes"]["shortest"][:10]}


SECTION = Section("svd", "SVD: the mean direction and the word-start split", run, to_json, figures, context,
                  result=SvdResult, reads={"unigram": UnigramResult})
