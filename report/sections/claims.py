"""Section: the study's claims checklist, gathered from every analysis that tested one."""

from __future__ import annotations

from collections import Counter

from analyses.claims import STATEMENTS, Claim
from report.context import RunContext
from report.sections import Section


def run(ctx: RunContext) -> tuple[Claim, ...]:
    found = [c for result in ctx.results.values() for c in getattr(result, "claims", ())]
    return tuple(sorted(found, key=lambda c: c.id))


def to_json(claims: tuple[Claim, ...], ctx: RunContext) -> dict:
    counts = Counter(c.verdict for c in claims)
    return {"tested": len(claims), "of": len(STATEMENTS),
            "verdicts": {k: counts.get(k, 0) for k in ("holds", "fails", "not-applicable")}}


def figures(claims, ctx: RunContext) -> list:
    return []


def context(claims: tuple[Claim, ...], ctx: RunContext) -> dict:
    return {"claims": claims, "counts": to_json(claims, ctx)}


SECTION = Section("claims", "The study's claims, tested", run, to_json, figures, context)
