"""Section: the study's claims checklist, gathered from every analysis that tested one."""

from __future__ import annotations

from collections import Counter

import numpy as np

from analyses.claims import STATEMENTS, Claim, degeneracy, guard
from report.context import RunContext
from report.sections import Section


def run(ctx: RunContext) -> tuple[Claim, ...]:
    found = [c for result in ctx.results.values() for c in getattr(result, "claims", ())]
    norms = ctx.weights.layer_norms
    gains = np.array([ln.weight for ln in norms]).reshape(len(norms), ctx.weights.d_model) if norms else None
    problems = degeneracy(ctx.embeddings, ctx.weights.position_embeddings, gains)
    return guard(tuple(sorted(found, key=lambda c: c.id)), problems)


def to_json(claims: tuple[Claim, ...], ctx: RunContext) -> dict:
    counts = Counter(c.verdict for c in claims)
    return {"tested": len(claims), "of": len(STATEMENTS),
            "verdicts": {k: counts.get(k, 0) for k in ("holds", "fails", "not-applicable")}}


def figures(claims, ctx: RunContext) -> list:
    return []


def context(claims: tuple[Claim, ...], ctx: RunContext) -> dict:
    return {"claims": claims, "counts": to_json(claims, ctx)}


SECTION = Section("claims", "The study's claims, tested", run, to_json, figures, context)
