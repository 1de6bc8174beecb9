"""Section: the study's claims checklist, gathered from every analysis that tested one."""

from __future__ import annotations

from collections import Counter

import numpy as np

from analyses.claims import REGISTRY, Claim, degeneracy, guard
from report.calibration_table import MAX_FPR, MIN_POWER
from report.calibration_table import load as load_calibration
from report.context import RunContext
from report.section import Section

CALIBRATION_KEYS = ("fpr", "fpr_ci", "fpr_at", "power", "power_ci", "power_at", "status", "meets_targets", "misses",
                    "unshown")


def run(ctx: RunContext) -> tuple[Claim, ...]:
    found = [c for result in ctx.every_earlier().values() for c in getattr(result, "claims", ())]
    norms = ctx.weights.layer_norms
    gains = np.array([ln.weight for ln in norms]).reshape(len(norms), ctx.weights.d_model) if norms else None
    problems = degeneracy(ctx.embeddings, ctx.weights.position_embeddings, gains)
    return guard(tuple(sorted(found, key=lambda c: c.id)), problems)


def calibration() -> dict[int, dict]:
    """Each claim's measured error rates from the committed `make calibrate` table (empty if never run)."""
    data = load_calibration()
    if not data or "summary" not in data:
        return {}
    return {int(c): s for c, s in data["summary"].items()}


def to_json(claims: tuple[Claim, ...], ctx: RunContext) -> dict:
    counts = Counter(c.verdict for c in claims)
    rates = calibration()
    return {"tested": len(claims), "of": len(REGISTRY),
            "verdicts": {k: counts.get(k, 0) for k in ("holds", "fails", "not-applicable")},
            "calibration": {str(c.id): {key: rates[c.id].get(key) for key in CALIBRATION_KEYS}
                            for c in claims if c.id in rates}}


def figures(claims, ctx: RunContext) -> list:
    return []


def context(claims: tuple[Claim, ...], ctx: RunContext) -> dict:
    data = load_calibration()
    sizes = [s["size"] for s in data["sizes"]] if data else []
    return {"claims": claims, "counts": to_json(claims, ctx), "calibration": calibration(), "sizes": sizes,
            "max_fpr": MAX_FPR, "min_power": MIN_POWER}


SECTION = Section("claims", "The study's claims, tested", run, to_json, figures, context,
                  result=tuple, reads_every_earlier=True)
