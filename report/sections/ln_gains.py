"""Section: LayerNorm gains against position activity."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FormatStrFormatter, FuncFormatter, MaxNLocator

from analyses.ln_gains import OUTLIER_Z, ROLES, LnGainsResult, analyse_ln_gains
from analyses.position import PositionResult
from report.run.context import RunContext
from report.run.section import FigureSpec, Section
from report.write.plots import style

ROLE_NAMES = {"ln_1": "LN1 (first LayerNorm of each block)", "ln_2": "LN2 (second LayerNorm of each block)"}
SHARED = ("each block has one LayerNorm, whose output feeds attention and the MLP in parallel: the two roles "
          "coincide, and the LN2 statistics are those of the same norm as LN1")
MAX_TABLE_LAYERS = 16  # beyond this the table shows the layers the figures draw


def run(ctx: RunContext) -> LnGainsResult:
    w = ctx.weights
    ln1 = w.norms_with_role("ln_1")
    ln2 = ln1 if w.shared_norm else w.norms_with_role("ln_2")  # one norm in front of both sublayers
    layers = [ln.layer for ln in ln1]
    shape = (len(layers), w.d_model)
    position = ctx.earlier("position")
    return analyse_ln_gains(layers, np.array([ln.weight for ln in ln1]).reshape(shape),
                            np.array([ln.weight for ln in ln2]).reshape(shape),
                            position.profile.position_std if position.has_positions else None, position.heavy_dims)


def _per_layer(r: LnGainsResult) -> list[dict]:
    return [{
        "layer": int(layer),
        **{role: {"spearman": float(r.spearman[role][i]), "heavy_to_other_median_gain": float(r.heavy_ratio[role][i]),
                  "heavy_lower_p": float(r.heavy_lower_p[role][i]), "outlier_dims": list(r.outlier_dims[role][i])}
           for role in ROLES},
    } for i, layer in enumerate(r.layers)]


def to_json(r: LnGainsResult, ctx: RunContext) -> dict:
    return {
        "applicable": r.applicable,
        "has_position_embeddings": bool(np.isfinite(r.log_position_std).any()),
        "roles_coincide": ctx.weights.shared_norm,
        "shared_norm": SHARED if ctx.weights.shared_norm else None,
        "heavy_dims": list(r.heavy_dims),
        "statistics": "per layer: Spearman ρ of log10 |gain| vs log10 std(position) over dims; median |gain| of "
                      "heavy dims / of other dims; one-sided Mann–Whitney p that heavy gains are lower",
        "outlier_rule": f"|robust z| of log10 |gain| within its LayerNorm ≥ {OUTLIER_Z:g}",
        "per_layer": _per_layer(r),
    }


def figures(r: LnGainsResult, ctx: RunContext) -> list[FigureSpec]:
    if not np.isfinite(r.log_position_std).any() or not len(r.layers):
        return []
    shown = panel_layers(r)
    subset = "" if len(shown) == len(r.layers) else f" ({len(shown)} of {len(r.layers)} layers, evenly spaced)"
    heavy = " Position-heavy dims are red triangles." if r.heavy_dims else ""
    specs = [FigureSpec(f"ln_gains_{role}", layer_grid(r, role),
                        f"{ROLE_NAMES[role]}: log10 |gain| against log10 std of the position embeddings, one point per "
                        f"channel dim, one panel per layer{subset}.{heavy}")
             for role in ROLES if not (ctx.weights.shared_norm and role == "ln_2")]  # LN2 would repeat LN1
    ratio = (" and the median |gain| of position-heavy dims relative to the other dims (right; 1 = no difference)"
             if r.heavy_dims else "")
    specs.append(FigureSpec("ln_gains_summary", summary(r),
                            "Every layer at a glance: rank correlation of gain with position activity"
                            f"{' (left)' if ratio else ''}"
                            f"{ratio}."))
    return specs


def context(r: LnGainsResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    rows = j["per_layer"]
    all_rows = len(rows) <= MAX_TABLE_LAYERS
    shown = rows if all_rows else [row for row in rows if row["layer"] in panel_layers(r)]
    return {"j": j, "rows": shown, "all_rows": all_rows, "outlier_z": OUTLIER_Z}


# Figures of the LayerNorm-gains-vs-position section.
MAX_PANELS = 12
COLUMNS = 4
ROLE_LINES = {"ln_1": ("LN1", style.OKABE_ITO["blue"], "o", "-"),
              "ln_2": ("LN2", style.OKABE_ITO["vermillion"], "s", "--")}


def panel_layers(r: LnGainsResult) -> list[int]:
    """All layers when there are few; otherwise MAX_PANELS evenly spaced ones, always with the first and last."""
    layers = [int(x) for x in r.layers]
    if len(layers) <= MAX_PANELS:
        return layers
    picks = np.unique(np.round(np.linspace(0, len(layers) - 1, MAX_PANELS)).astype(int))
    return [layers[i] for i in picks]


def layer_grid(r: LnGainsResult, role: str) -> "style.Figure":
    shown = panel_layers(r)
    rows = int(np.ceil(len(shown) / COLUMNS))
    cols = min(COLUMNS, len(shown))
    fig = style.figure(height=1.55 * rows + 0.35)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    heavy = np.zeros(len(r.log_position_std), dtype=bool)
    heavy[list(r.heavy_dims)] = True
    x = r.log_position_std
    row_of = {int(layer): i for i, layer in enumerate(r.layers)}
    for ax, layer in zip(axes.ravel(), shown):
        i = row_of[layer]
        y = r.log_abs_gain[role][i]
        ax.scatter(x[~heavy], y[~heavy], s=3, color=style.NORMAL, marker="o", linewidths=0, rasterized=True,
                   label="other dims")
        if heavy.any():
            ax.scatter(x[heavy], y[heavy], s=7, color=style.HEAVY, marker="^", linewidths=0, rasterized=True,
                       label="position-heavy")
        ax.set_title(f"layer {layer}  ρ = {r.spearman[role][i]:.2f}", fontsize=7)
    for ax in axes.ravel()[len(shown):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("log10 std(position)", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("log10 |gain|", fontsize=7)
    axes[0, 0].legend(loc="best", fontsize=6, markerscale=2)
    fig.suptitle(f"{ROLE_LINES[role][0]} gains", fontsize=9)
    return fig


def summary(r: LnGainsResult) -> "style.Figure":
    has_heavy = all(np.isfinite(r.heavy_ratio[role]).all() and (r.heavy_ratio[role] > 0).all() for role in ROLE_LINES)
    fig = style.figure(height=2.3)
    axes = fig.subplots(1, 2 if has_heavy else 1, squeeze=False)[0]
    rho_ax = axes[0]
    for role, (label, colour, marker, linestyle) in ROLE_LINES.items():
        rho_ax.plot(r.layers, r.spearman[role], color=colour, marker=marker, linestyle=linestyle, markersize=3.5,
                    label=label)
        if has_heavy:
            axes[1].plot(r.layers, r.heavy_ratio[role], color=colour, marker=marker, linestyle=linestyle,
                         markersize=3.5, label=label)
    rho_ax.axhline(0, color="black", linewidth=0.6)
    rho_ax.set(xlabel="layer", ylabel="Spearman ρ with log std(position)", ylim=(-1.05, 1.05))
    rho_ax.legend(loc="best")
    if has_heavy:
        ratio_ax = axes[1]
        ratio_ax.axhline(1, color="black", linewidth=0.6, linestyle=":")
        ratio_ax.set(xlabel="layer", ylabel="median |gain|: heavy / other dims", yscale="log")
        ratio_ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ratio_ax.yaxis.set_minor_formatter(FuncFormatter(style.sparse_minor_label))
        ratio_ax.tick_params(axis="y", which="minor", labelsize=5)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


SECTION = Section("ln_gains", "LayerNorm gains against position activity", run, to_json, figures, context,
                  result=LnGainsResult, reads={"position": PositionResult})
