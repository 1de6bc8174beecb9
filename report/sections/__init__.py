"""The report's sections in run order. Each section module adapts one analysis to the report:
`run` calls the pure analysis, `to_json` gives its results.json entry, `figures` draws it and
`context` gives its template the tables and numbers it shows."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from matplotlib.figure import Figure

from report.context import RunContext


@dataclass(frozen=True, eq=False)
class FigureSpec:
    """A drawn figure with the stable file name it is saved under and its caption."""

    name: str
    figure: Figure
    caption: str


@dataclass(frozen=True)
class Section:
    """One section of the report and the functions that produce it."""

    key: str
    title: str
    run: Callable[[RunContext], Any]
    to_json: Callable[[Any, RunContext], dict]
    figures: Callable[[Any, RunContext], list[FigureSpec]]
    context: Callable[[Any, RunContext], dict]
    json_key: str | None = None  # results.json key under "analyses" (default: `key`); shared keys merge
    # Heavy work that needs only the weights: begun as soon as they are loaded (weights, the number of token
    # rows, options -> a handle with .result(), .cancel() and .seconds, its wall time); `run` finds the handle
    # in ctx.started[key].
    start: Callable[[Any, Any, Any], Any] | None = None
    # Entries at the top of results.json, beside "analyses" (result, ctx -> {key: value}).
    top_level: Callable[[Any, RunContext], dict] | None = None

    @property
    def template(self) -> str:
        return f"sections/{self.key}.html.j2"


# Run order: a section may read the results of any section above it.
RUN_ORDER = (
    "model_card",
    "position",
    "layernorm_basis",
    "ln_gains",
    "unigram",
    "svd",
    "correlations",
    "zero_layer",
    "outliers",
    "open_questions",
    "literature",
    "claims",
    "summary",
)


# Reading order of the report (the study's order, with the summary up front).
DISPLAY_ORDER = (
    "summary",
    "model_card",
    "layernorm_basis",
    "position",
    "ln_gains",
    "unigram",
    "svd",
    "correlations",
    "zero_layer",
    "outliers",
    "open_questions",
    "claims",
    "literature",
)


def display_rank(key: str) -> int:
    return DISPLAY_ORDER.index(key) if key in DISPLAY_ORDER else len(DISPLAY_ORDER)


def all_sections() -> list[Section]:
    """Every section, in the order it must run."""
    return [importlib.import_module(f"report.sections.{name}").SECTION for name in RUN_ORDER]
