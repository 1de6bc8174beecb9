"""Section: the study's claims checklist, gathered from every analysis that tested one."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from analyses.claims import (
    BY_ID,
    FAILS,
    INCONCLUSIVE,
    REGISTRY,
    SHARED,
    VERDICTS,
    Claim,
    degeneracy,
    findings,
    guard,
    in_finding_order,
)
from report.calibration_table import MAX_FPR, MIN_POWER, study_power
from report.calibration_table import load as load_calibration
from report.run.context import RunContext
from report.run.section import Section
from report.write.results_json import plain

CALIBRATION_KEYS = ("fpr", "fpr_ci", "fpr_at", "power", "power_ci", "power_at", "status", "meets_targets", "misses",
                    "unshown")


def run(ctx: RunContext) -> tuple[Claim, ...]:
    found = [c for result in ctx.every_earlier().values() for c in getattr(result, "claims", ())]
    norms = ctx.weights.layer_norms
    gains = np.array([ln.weight for ln in norms]).reshape(len(norms), ctx.weights.d_model) if norms else None
    problems = degeneracy(ctx.embeddings, ctx.weights.position_embeddings, gains)
    checked = guard(tuple(sorted(found, key=lambda c: c.id)), problems)
    return underpowered(checked, load_calibration(), ctx.weights.d_model, len(ctx.embeddings))


def underpowered(claims: tuple[Claim, ...], data: dict | None, d_model: int, tokens: int) -> tuple[Claim, ...]:
    """Each "does not hold" becomes "inconclusive" where the calibration, at the calibrated size nearest this
    model, found the claim in fewer than MIN_POWER of the models with the study's effect planted: there a miss is
    likely even where the effect exists. "holds" and "not applicable" are never changed."""
    out = []
    for c in claims:
        power = study_power(data, c.id, d_model, tokens) if c.verdict == FAILS else None
        if power is not None and power[0] < MIN_POWER * power[1]:
            hits, planted, size = power
            why = (f"the calibration measured power {hits}/{planted} at {size}: a miss is likely even where the "
                   "effect exists")
            c = replace(c, verdict=INCONCLUSIVE, detail=f"{c.detail}; {why}" if c.detail else why)
        out.append(c)
    return tuple(out)


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
            "verdicts": {k: counts.get(k, 0) for k in VERDICTS},
            "calibration": {str(c.id): {key: rates[c.id].get(key) for key in CALIBRATION_KEYS}
                            for c in claims if c.id in rates}}


def figures(claims, ctx: RunContext) -> list:
    return []


def parts_of(claims: tuple[Claim, ...]) -> dict[int, dict]:
    """{claim number: {"finding", "shared", "also"}} for each tested claim that is part of another's finding: the
    claim whose finding it is, what it reads of it, and any further claims it reads."""
    return {c.id: {"finding": BY_ID[c.id].depends_on[0], "shared": SHARED.get(BY_ID[c.id].depends_on[0], ""),
                   "also": BY_ID[c.id].depends_on[1:]}
            for c in claims if c.id in BY_ID and BY_ID[c.id].depends_on}


def context(claims: tuple[Claim, ...], ctx: RunContext) -> dict:
    """The fragment (`j`), the rows as results.json's top-level `claims` holds them, and presentation constants."""
    data = load_calibration()
    sizes = [s["size"] for s in data["sizes"]] if data else []
    return {"j": to_json(claims, ctx), "claims": [plain(c) for c in in_finding_order(claims)],
            "parts": parts_of(claims), "findings": len(findings()), "sizes": sizes,
            "max_fpr": MAX_FPR, "min_power": MIN_POWER}


SECTION = Section("claims", "The study's claims, tested", run, to_json, figures, context,
                  result=tuple, reads_every_earlier=True)
