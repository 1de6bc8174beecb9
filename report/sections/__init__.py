"""The registry of the report's sections: one line per section, in run order.

Each module here adapts one analysis to the report (see report.run.section.Section) and must be registered
below; a section reads only sections registered above it, and only those it declares in `reads`. The
registry is checked when this package is imported, so a mistake fails every test with a clear message.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path

from analyses import claims
from report.run.section import FigureSpec, Section

__all__ = ["FigureSpec", "Section", "Entry", "REGISTRY", "TOP", "RegistryError", "all_sections", "display_order",
           "display_rank", "check_registry"]

TOP = ""  # `shown_after=TOP`: the first section of the report


@dataclass(frozen=True)
class Entry:
    """A registered section: its module name (which is its key) and, when the reader should meet it
    elsewhere than where it runs, the section it is shown right after (TOP: first)."""

    name: str
    shown_after: str | None = None


# Run order: a section may read the results of any section above it. Reading order is run order, except
# where a line moves its section (the summary up front, the study's order elsewhere).
REGISTRY = (
    Entry("model_card"),
    Entry("position"),
    Entry("layernorm_basis", shown_after="model_card"),
    Entry("ln_gains"),
    Entry("unigram"),
    Entry("svd"),
    Entry("correlations"),
    Entry("zero_layer"),
    Entry("outliers"),
    Entry("open_questions"),
    Entry("under_trained"),
    Entry("literature", shown_after="claims"),
    Entry("claims"),
    Entry("summary", shown_after=TOP),
)


class RegistryError(ImportError):
    """The registry and the section modules disagree; raised when report.sections is imported."""


def check_registry(registry: tuple[Entry, ...], sections: dict[str, Section], modules: set[str],
                   claim_sections: dict[str, str] | None = None) -> None:
    """Raise RegistryError unless every module in `modules` is registered once, each section's key is its
    module's name, every read names a section registered above it with a matching result type, the
    reading order places every section exactly once, and every claim ({name: section}) names a section
    whose claim table can show it."""
    names = [e.name for e in registry]
    problems = [f"section {n!r} is registered twice" for n in sorted({n for n in names if names.count(n) > 1})]
    problems += [f"report/sections/{m}.py is not registered: add Entry({m!r}) to REGISTRY in run order"
                 for m in sorted(modules - set(names))]
    problems += [f"REGISTRY names {n!r}, but there is no report/sections/{n}.py" for n in names if n not in modules]
    for position, name in enumerate(names):
        section = sections.get(name)
        if section is None:
            continue
        if section.key != name:
            problems.append(f"report/sections/{name}.py defines a Section keyed {section.key!r}; use {name!r}")
        if section.result is object:
            problems.append(f"section {name!r} does not declare the type its run returns: Section(result=...)")
        gatherer = next((n for n in names[:position] if n in sections and sections[n].reads_every_earlier), None)
        if gatherer is not None and _has_claims(section.result):
            problems.append(f"section {name!r} states claims but runs after {gatherer!r}, which gathers every "
                            "earlier section's: register it above")
        for read, kind in section.reads.items():
            producer = sections.get(read)
            if read not in names[:position]:
                where = "runs later" if read in names else "is not registered"
                problems.append(f"section {name!r} reads {read!r}, which {where}: a section may read only "
                                "sections registered above it")
            elif producer is not None and not _gives(producer.result, kind):
                problems.append(f"section {name!r} reads {read!r} as {_name(kind)}, but {read!r} gives "
                                f"{_name(producer.result)}")
    problems += [f"claim {claim!r} is shown in section {where!r}, which is not registered (analyses/claims.py)"
                 for claim, where in sorted((claim_sections or {}).items()) if where not in names]
    problems += _place_problems(registry)
    if problems:
        raise RegistryError("The section registry (report/sections/__init__.py) is inconsistent:\n  - "
                            + "\n  - ".join(problems))


def _gives(result, declared) -> bool:
    """Whether every value of type `result` (a type or a union of types) is an instance of `declared`."""
    kinds = getattr(result, "__args__", None) or (result,)
    return all(isinstance(None, declared) if k is type(None) else issubclass(k, declared) for k in kinds)


def _has_claims(result) -> bool:
    kinds = getattr(result, "__args__", None) or (result,)
    return any(dataclasses.is_dataclass(k) and "claims" in {f.name for f in dataclasses.fields(k)} for k in kinds)


def _name(kind) -> str:
    return getattr(kind, "__name__", None) or str(kind)


def _place_problems(registry: tuple[Entry, ...]) -> list[str]:
    names = {e.name for e in registry}
    anchors = [e.shown_after for e in registry if e.shown_after is not None]
    problems = [f"two sections are shown right after {_anchor(a)}; move one of them"
                for a in sorted(set(anchors)) if anchors.count(a) > 1]
    problems += [f"section {e.name!r} is shown after {e.shown_after!r}, which is not registered"
                 for e in registry if e.shown_after not in (None, TOP) and e.shown_after not in names]
    problems += [f"section {e.name!r} is shown after itself" for e in registry if e.shown_after == e.name]
    if not problems and len(_reading_order(registry)) != len(registry):
        problems.append("the shown_after places form a loop")
    return problems


def _anchor(name: str) -> str:
    return "the top of the report" if name == TOP else repr(name)


def _reading_order(registry: tuple[Entry, ...]) -> list[str]:
    """Run order with each moved section placed right after its anchor (a loop of moves drops its members)."""
    moved: dict[str, str] = {e.shown_after: e.name for e in registry if e.shown_after is not None}
    order: list[str] = []

    def place(name: str) -> None:
        order.append(name)
        if name in moved:
            place(moved.pop(name))

    if TOP in moved:
        place(moved.pop(TOP))
    for entry in registry:
        if entry.shown_after is None:
            place(entry.name)
    return order


def _modules() -> set[str]:
    return {p.stem for p in Path(__file__).parent.glob("*.py") if p.stem != "__init__"}


def _load(registry: tuple[Entry, ...], modules: set[str]) -> dict[str, Section]:
    """Each registered module's SECTION (a name without a module is left to check_registry to report)."""
    return {e.name: importlib.import_module(f"{__name__}.{e.name}").SECTION for e in registry if e.name in modules}


_SECTIONS = _load(REGISTRY, _modules())  # importing the sections imports their analyses, which declare new claims
check_registry(REGISTRY, _SECTIONS, _modules(), {c.name: c.section for c in claims.REGISTRY})
_DISPLAY = tuple(_reading_order(REGISTRY))


def all_sections() -> list[Section]:
    """Every section, in the order it must run."""
    return list(_SECTIONS.values())


def display_order() -> tuple[str, ...]:
    """Section keys in the report's reading order."""
    return _DISPLAY


def display_rank(key: str) -> int:
    return _DISPLAY.index(key)
