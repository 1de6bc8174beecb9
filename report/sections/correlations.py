"""Section: how the frequency candidates correlate (results.json: analyses.unigram.correlations)."""

from __future__ import annotations

import numpy as np

from analyses.correlations import LABELS, VARIABLES, CorrelationsResult, analyse_correlations
from analyses.svd import SvdResult
from analyses.unigram import UnigramResult
from report.run.context import RunContext
from report.run.section import FigureSpec, Section
from report.sections.unigram import beyond_norm_json
from report.write.plots import style

N_RESAMPLES = 1000


def run(ctx: RunContext) -> CorrelationsResult:
    unigram, svd = ctx.earlier("unigram"), ctx.earlier("svd")
    tokens = ctx.embeddings
    variables = {
        "unigram_dim": tokens[:, unigram.dim],
        "norm": svd.norms,
        "svd0": svd.coordinates[:, 0],
        "log_frequency": ctx.log_frequency,
        "token_index": np.arange(len(tokens), dtype=np.float64),
    }
    return analyse_correlations(variables, unigram.dim, unigram.standout,
                                frequency_usable=ctx.frequency.kind != "token-index",
                                seed=ctx.options.seed, n_resamples=N_RESAMPLES,
                                token_embeddings=tokens, candidates=tuple(unigram.qualifying))


def to_json(r: CorrelationsResult, ctx: RunContext) -> dict:
    return {
        "correlations": [{"x": p.x, "y": p.y, "spearman": p.spearman, "pearson": p.pearson, "ci95": list(p.ci95),
                          "pearson_ci95": list(p.pearson_ci95), "n": p.n, "meaning": p.meaning} for p in r.pairs],
        "correlations_method": f"percentile bootstrap over tokens, {r.n_resamples} resamples, seed {r.seed}; "
                               "ci95 is Spearman's interval, pearson_ci95 Pearson's",
        "partial_correlations": [{"x": p.x, "y": p.y, "control": p.control, "spearman": p.spearman,
                                  "ci95": list(p.ci95), "n": p.n, "spearman_without_control": p.raw_spearman}
                                 for p in r.partials],
        "partial_correlations_method": "Spearman partial correlation (first-order formula on ranks); "
                                       "ci95 from Fisher's z with standard error sqrt(1.06 / (n - 4))",
        "unigram_dim_beyond_norm": {name: beyond_norm_json(link) for name, link in r.beyond_norm.items()},
        "correlations_setup": {"unigram_dim": r.unigram_dim, "unigram_dim_stands_out": r.unigram_standout,
                               "frequency_from_text": r.frequency_usable, "bootstrap_resamples": r.n_resamples,
                               "seed": r.seed},
    }


def figures(r: CorrelationsResult, ctx: RunContext) -> list[FigureSpec]:
    return [FigureSpec("correlation_matrix", matrix(r),
                       "Rank (Spearman, lower left) and linear (Pearson, upper right) correlations among the five "
                       f"candidates; the unigram dim is dim {r.unigram_dim}. Right: partial Spearman correlations "
                       "with the embedding norm held fixed.")]


def context(r: CorrelationsResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    from_text = j["correlations_setup"]["frequency_from_text"]
    beyond = {name: link["meaning"] for name, link in j["unigram_dim_beyond_norm"].items()
              if np.isfinite(link["spearman"]) and (name != "log_frequency" or from_text)}
    return {"j": j, "labels": LABELS, "frequency_kind": ctx.frequency.kind, "beyond_norm": beyond}


# Figure of the correlations section: the correlation matrix, annotated so it reads without colour.
SHORT = {"unigram_dim": "unigram dim", "norm": "norm", "svd0": "SVD0", "log_frequency": "log freq.",
         "token_index": "token index"}


def _annotate(ax, values: np.ndarray, mask: np.ndarray | None = None) -> None:
    for (i, j), v in np.ndenumerate(values):
        if mask is not None and not mask[i, j]:
            continue
        text = "—" if not np.isfinite(v) else f"{v:.2f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7,
                color="white" if np.isfinite(v) and abs(v) > 0.6 else "black")


def matrix(r: CorrelationsResult) -> "style.Figure":
    fig = style.figure(height=3.0)
    main_ax, partial_ax = fig.subplots(1, 2, width_ratios=[1.35, 1])
    n = len(VARIABLES)
    lower = np.tril(np.ones((n, n), dtype=bool), -1)
    combined = np.where(lower, r.matrix_spearman, r.matrix_pearson)
    np.fill_diagonal(combined, np.nan)
    image = main_ax.imshow(np.ma.masked_invalid(combined), vmin=-1, vmax=1, cmap="RdBu_r")
    _annotate(main_ax, combined, ~np.eye(n, dtype=bool))
    names = [SHORT[v] for v in VARIABLES]
    main_ax.set_xticks(range(n), names, rotation=35, ha="right")
    main_ax.set_yticks(range(n), names)
    main_ax.set_title("Spearman (lower left) · Pearson (upper right)")
    others = [v for v in VARIABLES if v != "norm"]
    partial = np.full((len(others), len(others)), np.nan)
    position = {v: i for i, v in enumerate(others)}
    for p in r.partials:
        i, j = position[p.x], position[p.y]
        partial[max(i, j), min(i, j)] = p.spearman
    partial_ax.imshow(np.ma.masked_invalid(partial), vmin=-1, vmax=1, cmap="RdBu_r")
    _annotate(partial_ax, partial, np.isfinite(partial))
    partial_ax.set_xticks(range(len(others)), [SHORT[v] for v in others], rotation=35, ha="right")
    partial_ax.set_yticks(range(len(others)), [SHORT[v] for v in others])
    partial_ax.set_title("partial Spearman, norm held fixed")
    fig.colorbar(image, ax=[main_ax, partial_ax], label="correlation coefficient", shrink=0.8)
    return fig


SECTION = Section("correlations", "How the frequency candidates correlate", run, to_json, figures, context,
                  json_key="unigram",
                  result=CorrelationsResult, reads={"unigram": UnigramResult, "svd": SvdResult})
