"""Section: LayerNorm gives the channel dims a preferred basis."""

from __future__ import annotations

import numpy as np

from analyses.layernorm_basis import OUTLIER_Z, LayerNormBasisResult, analyse_layernorm_basis
from report.run.context import RunContext
from report.run.section import FigureSpec, Section
from report.write.plots import style

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
        FigureSpec("ln_gain_profiles", gain_profiles(r),
                   f"|gain| of every channel dim in four LayerNorms. Labelled dims have |robust z| ≥ {OUTLIER_Z:g}; "
                   "uniform gains would form a flat band."),
        FigureSpec("ln_gain_spread", spread_by_layer(r),
                   "Spread of each LayerNorm's |gains| (coefficient of variation, left; excess kurtosis, right) "
                   "against the same gains read in random orthonormal bases (grey band: 95% of draws)."),
        FigureSpec("ln_basis_nulls", nulls(r),
                   "Left: unevenness of the token embeddings' per-dim std in the standard basis (line) and in "
                   "random bases (histogram). Right: rank correlation of each LayerNorm's log |gain| with the "
                   f"per-dim log std of the {r.profile_source} embeddings, with the 95% band of shuffled dims."),
    ]


def context(r: LayerNormBasisResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    rows = j["per_layer_norm"]
    order = np.argsort([-row["max_abs_robust_z"] for row in rows], kind="stable")
    return {"j": j, "outlier_z": OUTLIER_Z, "strongest": [rows[i] for i in order[:SHOWN_LAYER_NORMS]]}


# Figures of the LayerNorm-basis section.
ROLE_STYLE = {  # role: (label, colour, marker, linestyle, x offset)
    "ln_1": ("LN1", style.OKABE_ITO["blue"], "o", "-", -0.15),
    "ln_2": ("LN2", style.OKABE_ITO["vermillion"], "s", "--", 0.15),
    "ln_f": ("final LN", style.OKABE_ITO["black"], "*", "", 0.0),
    "ln_emb": ("embedding LN", style.OKABE_ITO["purple"], "D", "", 0.0),
}
OTHER_STYLE = ("other LN", style.OKABE_ITO["sky"], "X", "", 0.0)
SINGLE = ("ln_f", "ln_emb")  # roles with one LayerNorm outside the blocks
NULL_GREY = "#9a9a9a"


def _style(role: str) -> tuple:
    return ROLE_STYLE.get(role, OTHER_STYLE)


def _title(role: str, layer: int) -> str:
    if role in SINGLE or role not in ROLE_STYLE:
        return _style(role)[0]
    return f"layer {layer} {_style(role)[0].split(' ')[0]}"


def _x_positions(r: LayerNormBasisResult) -> np.ndarray:
    """Layer index for block LayerNorms, one before layer 0 for the embedding LN, one past the last for the final."""
    last = max((layer for _, layer in r.labels), default=-1)
    place = {"ln_f": last + 1, "ln_emb": -1}
    return np.array([place.get(role, layer) + _style(role)[4] for role, layer in r.labels], dtype=float)


def _showcase(r: LayerNormBasisResult) -> list[int]:
    """Up to four LayerNorms worth showing: the first LN1 and LN2, the last LN2 and the final LN."""
    picks = []
    for role, pick_last in (("ln_1", False), ("ln_2", False), ("ln_2", True), ("ln_f", False), ("ln_emb", False)):
        idx = [i for i, (rl, _) in enumerate(r.labels) if rl == role]
        if idx:
            choice = idx[-1] if pick_last else idx[0]
            if choice not in picks and len(picks) < 4:
                picks.append(choice)
    return picks or list(range(min(4, len(r.labels))))


def gain_profiles(r: LayerNormBasisResult) -> "style.Figure":
    picks = _showcase(r)
    cols = 2 if len(picks) > 1 else 1
    rows = int(np.ceil(len(picks) / cols))
    fig = style.figure(height=1.9 * rows + 0.3)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    dims = np.arange(r.abs_gains.shape[1])
    for ax, i in zip(axes, picks):
        gains = r.abs_gains[i]
        outliers = list(r.outlier_dims[i])
        top = [d for d, z, _ in r.top_dims[i] if abs(z) >= OUTLIER_Z]
        normal = np.ones(len(dims), dtype=bool)
        normal[outliers] = False
        ax.scatter(dims[normal], gains[normal], s=3, color=style.NORMAL, marker="o", linewidths=0, rasterized=True,
                   label="dims")
        if outliers:
            ax.scatter(dims[outliers], gains[outliers], s=18, color=style.HEAVY, marker="^",
                       label=f"outliers (|robust z| ≥ {OUTLIER_Z:g})")
            style.label_dims(ax, top, dims, gains, limit=5)
        ax.axhline(np.median(gains), color="black", linestyle=":", linewidth=0.8, label="median")
        role, layer = r.labels[i]
        ax.set(title=_title(role, layer), xlabel="channel dim", ylabel="|gain| (multiplier)")
    for ax in axes[len(picks):]:
        ax.set_visible(False)
    handles = {h.get_label(): h for ax in axes[:len(picks)] for h in ax.get_legend_handles_labels()[0]}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=3, markerscale=1.5)
    return fig


def _layer_axis(ax, r: LayerNormBasisResult) -> None:
    """Integer layer ticks, with the final LayerNorm labelled as such."""
    roles = {role for role, _ in r.labels}
    layers = sorted({layer for role, layer in r.labels if role not in SINGLE})
    step = max(1, len(layers) // 12)
    ticks = layers[::step]
    labels = [str(t) for t in ticks]
    if "ln_emb" in roles:
        ticks, labels = [-1] + ticks, ["emb"] + labels
    if "ln_f" in roles:
        ticks, labels = ticks + [(layers[-1] + 1) if layers else 0], labels + ["final"]
    ax.set_xticks(ticks, labels)
    ax.set_xlabel("layer")


def _plot_roles(ax, x: np.ndarray, values: np.ndarray, roles: np.ndarray) -> None:
    """One series per LayerNorm role, each with its own colour, marker and line style."""
    for role in dict.fromkeys(roles):
        name, colour, marker, linestyle, _ = _style(role)
        keep = roles == role
        ax.plot(x[keep], values[keep], color=colour, marker=marker, linestyle=linestyle or "none",
                markersize=8 if role in SINGLE else 4, label=name)


def spread_by_layer(r: LayerNormBasisResult) -> "style.Figure":
    fig = style.figure(height=2.6)
    cv_ax, kurt_ax = fig.subplots(1, 2)
    x = _x_positions(r)
    roles = np.array([role for role, _ in r.labels])
    for ax, values, band, label in ((cv_ax, r.cv, r.rotated_cv_band, "CV of |gain| (std / mean)"),
                                    (kurt_ax, r.kurtosis, r.rotated_kurtosis_band, "excess kurtosis of |gain|")):
        ax.vlines(x, band[:, 0], band[:, 2], color=NULL_GREY, linewidth=4, alpha=0.6, label="random-basis 95%")
        _plot_roles(ax, x, values, roles)
        ax.set_ylabel(label)
        _layer_axis(ax, r)
    kurt_ax.set_yscale("symlog", linthresh=1.0)
    cv_ax.set_yscale("log")
    handles, labels = cv_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4)
    return fig


def nulls(r: LayerNormBasisResult) -> "style.Figure":
    fig = style.figure(height=2.5)
    hist_ax, rho_ax = fig.subplots(1, 2)
    null = r.token_std_null
    top = max(float(null.max()) if len(null) else 0.0, r.token_std_cv) * 1.08
    bins = np.linspace(0, top, 50)
    hist_ax.hist(null, bins=bins, color=NULL_GREY, label=f"{len(null)} random bases")
    hist_ax.axvline(r.token_std_cv, color=style.HEAVY, linestyle="--", linewidth=1.5, label="standard basis")
    hist_ax.set(xlabel="CV of per-dim token std", ylabel="random bases", title="token embeddings: rotation null")
    hist_ax.legend(loc="upper center")
    x = _x_positions(r)
    roles = np.array([role for role, _ in r.labels])
    if np.isfinite(r.spearman_null_q95):
        rho_ax.axhspan(-r.spearman_null_q95, r.spearman_null_q95, color=NULL_GREY, alpha=0.4, label="shuffled dims 95%")
    _plot_roles(rho_ax, x, r.spearman_profile, roles)
    rho_ax.axhline(0, color="black", linewidth=0.6)
    rho_ax.set(ylim=(-1.05, 1.05), ylabel=f"Spearman ρ with log std({r.profile_source})",
               title="gains vs basis use: permutation null")
    _layer_axis(rho_ax, r)
    rho_ax.legend(loc="lower right", fontsize=6)
    return fig


SECTION = Section("layernorm_basis", "LayerNorm gives the channel dims a preferred basis",
                  run, to_json, figures, context,
                  result=LayerNormBasisResult)
