"""Section: under-trained tokens, scored from the weights (analyses.under_trained) and, where forward passes ran,
confirmed by the repetition test of the open questions. Its JSON merges into analyses.outliers."""

from __future__ import annotations

from analyses.outliers import OutliersResult
from analyses.under_trained import MIN_KEPT, RULE, UnderTrainedResult, confirmed_by
from report.run.context import RunContext
from report.run.section import Section
from report.sections.open_questions import N_PROBE_UNDER_TRAINED, OpenQuestions

SHOWN = 20  # candidates listed in the report's table (results.json has every kept one)


def run(ctx: RunContext) -> UnderTrainedResult | None:
    return ctx.earlier("outliers").under_trained


def _confirmed(r: UnderTrainedResult, ctx: RunContext) -> tuple[list, float | None]:
    """Per kept candidate True / False / None (not probed, or no forward passes), and the BH level."""
    questions = ctx.earlier("open_questions")
    e = questions.experiments if questions is not None else None
    if e is None:
        return [None] * len(r.ranked), None
    return confirmed_by(r, e.repetition_ids, e.cannot_repeat), e.repetition_fdr


def to_json(r: UnderTrainedResult | None, ctx: RunContext) -> dict:
    if r is None:
        return {"under_trained": []}
    confirmed, level = _confirmed(r, ctx)
    return {
        "under_trained": [ctx.token(i) | {"score": float(r.score[i]), "confirmed": c, "in_clump": bool(r.in_clump[i]),
                           "norm_percentile": float(r.norm_percentile[i])} for i, c in zip(r.ranked, confirmed)],
        "under_trained_rule": {"rule": RULE, "kept": r.kept, "reference": r.reference_kind,
                               "reference_size": len(r.reference), "removed_components": r.removed_components,
                               "probed_top": N_PROBE_UNDER_TRAINED, "fdr_level": level,
                               "probed": sum(c is not None for c in confirmed),
                               "confirmed": sum(bool(c) for c in confirmed)},
    }


def figures(r, ctx: RunContext) -> list:
    return []


def context(r: UnderTrainedResult | None, ctx: RunContext) -> dict:
    j = to_json(r, ctx)
    return {"j": j, "rule": RULE, "rows": j["under_trained"][:SHOWN], "min_kept": MIN_KEPT, "shown": SHOWN}


SECTION = Section("under_trained", "Under-trained tokens, scored", run, to_json, figures, context,
                  json_key="outliers", result=UnderTrainedResult | None,
                  reads={"outliers": OutliersResult, "open_questions": OpenQuestions | None})
