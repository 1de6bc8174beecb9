"""Section: LayerNorm gains against position activity."""

from __future__ import annotations

import numpy as np

from analyses.ln_gains import OUTLIER_Z, ROLES, LnGainsResult, analyse_ln_gains
from analyses.position import PositionResult
from report.context import RunContext
from report.plots import ln_gains as plots
from report.section import FigureSpec, Section

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
    shown = plots.panel_layers(r)
    subset = "" if len(shown) == len(r.layers) else f" ({len(shown)} of {len(r.layers)} layers, evenly spaced)"
    heavy = " Position-heavy dims are red triangles." if r.heavy_dims else ""
    specs = [FigureSpec(f"ln_gains_{role}", plots.layer_grid(r, role),
                        f"{ROLE_NAMES[role]}: log10 |gain| against log10 std of the position embeddings, one point per "
                        f"channel dim, one panel per layer{subset}.{heavy}")
             for role in ROLES if not (ctx.weights.shared_norm and role == "ln_2")]  # LN2 would repeat LN1
    ratio = (" and the median |gain| of position-heavy dims relative to the other dims (right; 1 = no difference)"
             if r.heavy_dims else "")
    specs.append(FigureSpec("ln_gains_summary", plots.summary(r),
                            "Every layer at a glance: rank correlation of gain with position activity"
                            f"{' (left)' if ratio else ''}"
                            f"{ratio}."))
    return specs


def context(r: LnGainsResult, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    rows = j["per_layer"]
    all_rows = len(rows) <= MAX_TABLE_LAYERS
    shown = rows if all_rows else [row for row in rows if row["layer"] in plots.panel_layers(r)]
    return {"j": j, "rows": shown, "all_rows": all_rows, "outlier_z": OUTLIER_Z}


SECTION = Section("ln_gains", "LayerNorm gains against position activity", run, to_json, figures, context,
                  result=LnGainsResult, reads={"position": PositionResult})
