"""Section: LayerNorm gives the channel dims a preferred basis."""

from __future__ import annotations

import numpy as np

from analyses.layernorm_basis import OUTLIER_Z, LayerNormBasisResult, analyse_layernorm_basis
from report.context import RunContext
from report.plots import layernorm_basis as plots
from report.section import FigureSpec, Section

SHOWN_LAYER_NORMS = 8  # the LayerNorms with the largest outliers in the table


def run(ctx: RunContext) -> LayerNormBasisResult:
    norms = ctx.weights.layer_norms
    gains = np.array([ln.weight for ln in norms]).reshape(len(norms), ctx.weights.d_model)
    return analyse_layernorm_basis([(ln.role, ln.layer) for ln in norms], gains, ctx.embeddings,
                                   ctx.weights.position_embeddings, seed=ctx.options.seed, device=ctx.options.device)


def _rows(r: LayerNormBasisResult, ctx: RunContext) -> list[dict]:
    rows = []
    for i, ln in enumerate(ctx.weights.layer_norms):
        rows.append({
            "name": ln.name, "role": ln.role, "layer": ln.layer,
            "cv": float(r.cv[i]), "excess_kurtosis": float(r.kurtosis[i]), "max_abs_robust_z": float(r.max_abs_z[i]),
            "outlier_dims": list(r.outlier_dims[i]),
            "top_dims": [{"dim": d, "robust_z": z, "abs_gain": g} for d, z, g in r.top_dims[i]],
            "rotated_cv_95": [float(r.rotated_cv_band[i, 0]), float(r.rotated_cv_band[i, 2])],
            "rotated_kurtosis_95": [float(r.rotated_kurtosis_band[i, 0]), float(r.rotated_kurtosis_band[i, 2])],
            "spearman_vs_profile": float(r.spearman_profile[i]), "permutation_p": float(r.spearman_p[i]),
        })
    return rows


def to_json(r: LayerNormBasisResult, ctx: RunContext) -> dict:
    return {
        "outlier_rule": f"a dim's |gain| is an outlier if its |robust z| within its LayerNorm is ≥ {OUTLIER_Z:g}",
        "layer_norms_with_outliers_fraction": r.outlier_share,
        "layer_norms_with_outliers": int(np.sum(r.outlier_counts > 0)),
        "median_excess_kurtosis": float(np.median(r.kurtosis)) if len(r.kurtosis) else float("nan"),
        "d_model": ctx.weights.d_model,
        "recurrence_null": {"dim": r.recurring_dim, "layer_norms": r.recurring_count, "p": r.recurring_p,
                            "method": "each LayerNorm's outliers at its own rate over the other dims "
                                      "(Poisson-binomial), Bonferroni over dims"},
        "gains_beyond_rotated_band": int(np.sum(r.gains_beyond_rotation)),
        "per_layer_norm": _rows(r, ctx),
        "rotation_null": {
            "method": f"{r.n_rotations} random bases, each as d independent uniform unit directions r; "
                      "effective gain rᵀ diag(|w|) r, dim variance rᵀ C r from the token covariance's eigenvalues",
            "token_std_cv": r.token_std_cv,
            "token_std_cv_null_median": float(np.median(r.token_std_null)),
            "token_std_cv_null_95": [float(q) for q in np.quantile(r.token_std_null, [0.025, 0.975])],
            "p": r.token_std_p, "null_z": r.token_std_null_z,
            "n_rotations": r.n_rotations,
            "standard_basis_beats_every_rotation": bool(np.all(r.token_std_null < r.token_std_cv)),
        },
        "permutation_null": {
            "profile": f"log10 per-dim std of the {r.profile_source} embeddings",
            "method": f"{r.n_permutations} permutations of the dims; two-sided p on |Spearman ρ|",
            "abs_spearman_null_q95": r.spearman_null_q95,
            "layer_norms_p_below_0.01": int(np.sum(r.spearman_p < 0.01)),
            "profile_source": r.profile_source,
            "n_permutations": r.n_permutations,
        },
    }


def figures(r: LayerNormBasisResult, ctx: RunContext) -> list[FigureSpec]:
    if not r.labels:
        return []
    return [
        FigureSpec("ln_gain_profiles", plots.gain_profiles(r),
                   f"|gain| of every channel dim in four LayerNorms. Labelled dims have |robust z| ≥ {OUTLIER_Z:g}; "
                   "uniform gains would form a flat band."),
        FigureSpec("ln_gain_spread", plots.spread_by_layer(r),
                   "Spread of each LayerNorm's |gains| (coefficient of variation, left; excess kurtosis, right) "
                   "against the same gains read in random orthonormal bases (grey band: 95% of draws)."),
        FigureSpec("ln_basis_nulls", plots.nulls(r),
                   "Left: unevenness of the token embeddings' per-dim std in the standard basis (line) and in "
                   "random bases (histogram). Right: rank correlation of each LayerNorm's log |gain| with the "
                   f"per-dim log std of the {r.profile_source} embeddings, with the 95% band of shuffled dims."),
    ]


def context(r: LayerNormBasisResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    rows = j["per_layer_norm"]
    order = np.argsort([-row["max_abs_robust_z"] for row in rows], kind="stable")
    return {"j": j, "outlier_z": OUTLIER_Z, "strongest": [rows[i] for i in order[:SHOWN_LAYER_NORMS]]}


SECTION = Section("layernorm_basis", "LayerNorm gives the channel dims a preferred basis",
                  run, to_json, figures, context,
                  result=LayerNormBasisResult)
