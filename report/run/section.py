"""What a report section is: the functions that adapt one analysis to the report, the results of earlier
sections it reads (by name, with their types) and the type of the result it gives. The registry of sections,
in run order, is `report.sections`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from matplotlib.figure import Figure

from report.run.context import RunContext


@dataclass(frozen=True, eq=False)
class FigureSpec:
    """A drawn figure with the stable file name it is saved under and its caption."""

    name: str
    figure: Figure
    caption: str


@dataclass(frozen=True, eq=False)
class Section:
    """One section of the report and the functions that produce it.

    `reads` maps each earlier section this one reads (through `ctx.earlier(name)`) to the type of its result;
    `T | None` marks a read that tolerates the section not having run (a context built by hand). `result` is
    the type `run` returns. Both are checked when `report.sections` is imported, and on every read."""

    key: str
    title: str
    run: Callable[[RunContext], Any]
    to_json: Callable[[Any, RunContext], dict]
    figures: Callable[[Any, RunContext], list[FigureSpec]]
    context: Callable[[Any, RunContext], dict]
    result: Any = object  # a type (or union) that `run` returns
    reads: dict[str, Any] = field(default_factory=dict)
    reads_every_earlier: bool = False  # e.g. the claims checklist gathers the claims of whatever ran before it
    json_key: str | None = None  # results.json key under "analyses" (default: `key`); shared keys merge
    # Reads the pair pass (zero-layer predictions and crowded pairs over all token pairs), which the pipeline
    # begins as soon as the weights are loaded: through ctx.pair_pass().
    reads_pairs: bool = False
    # Entries at the top of results.json, beside "analyses" (result, ctx -> {key: value}).
    top_level: Callable[[Any, RunContext], dict] | None = None

    @property
    def template(self) -> str:
        return f"sections/{self.key}.html.j2"
