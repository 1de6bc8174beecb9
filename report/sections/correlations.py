"""Section: how the frequency candidates correlate (results.json: analyses.unigram.correlations)."""

from __future__ import annotations

import numpy as np

from analyses.correlations import LABELS, CorrelationsResult, analyse_correlations
from analyses.svd import SvdResult
from analyses.unigram import UnigramResult
from report.context import RunContext
from report.plots import correlations as plots
from report.section import FigureSpec, Section
from report.sections.unigram import beyond_norm_json

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
    return [FigureSpec("correlation_matrix", plots.matrix(r),
                       "Rank (Spearman, lower left) and linear (Pearson, upper right) correlations among the five "
                       f"candidates; the unigram dim is dim {r.unigram_dim}. Right: partial Spearman correlations "
                       "with the embedding norm held fixed.")]


def context(r: CorrelationsResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    from_text = j["correlations_setup"]["frequency_from_text"]
    beyond = {name: link["meaning"] for name, link in j["unigram_dim_beyond_norm"].items()
              if np.isfinite(link["spearman"]) and (name != "log_frequency" or from_text)}
    return {"j": j, "labels": LABELS, "frequency_kind": ctx.frequency.kind, "beyond_norm": beyond}


SECTION = Section("correlations", "How the frequency candidates correlate", run, to_json, figures, context,
                  json_key="unigram",
                  result=CorrelationsResult, reads={"unigram": UnigramResult, "svd": SvdResult})
