"""The section registry: one line per section, reads declared and typed, mistakes caught at import."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

import report.sections as registry
from report.run.context import Options, Reader, RunContext, UndeclaredRead
from report.run.section import Section
from report.sections import TOP, Entry, RegistryError, check_registry

SECTIONS_DIR = Path(registry.__file__).parent


@dataclass(frozen=True)
class Small:
    value: int


@dataclass(frozen=True)
class Other:
    value: int


@dataclass(frozen=True)
class Stated:
    claims: tuple = ()


def section(key: str, result=Small, **kwargs) -> Section:
    return Section(key, key.title(), lambda ctx: result(1), lambda r, ctx: {}, lambda r, ctx: [],
                   lambda r, ctx: {}, result=result, **kwargs)


def check(entries, sections, modules=None):
    sections = {s.key: s for s in sections}
    check_registry(tuple(entries), sections, set(sections) if modules is None else modules)


def test_the_real_registry_covers_every_module_in_run_and_reading_order():
    assert [s.key for s in registry.all_sections()] == [e.name for e in registry.REGISTRY]
    assert {p.stem for p in SECTIONS_DIR.glob("*.py")} - {"__init__"} == {e.name for e in registry.REGISTRY}
    order = registry.display_order()
    assert sorted(order) == sorted(e.name for e in registry.REGISTRY)
    assert order[0] == "summary" and order.index("layernorm_basis") + 1 == order.index("position")
    assert order[-2:] == ("claims", "literature")


def test_a_consistent_registry_passes_and_places_moved_sections():
    a, b, c = section("a"), section("b", reads={"a": Small}), section("c", reads={"a": Small | None})
    entries = (Entry("a"), Entry("b", shown_after=TOP), Entry("c", shown_after="a"))
    check(entries, [a, b, c])
    assert registry._reading_order(entries) == ["b", "a", "c"]
    # one line adds a section: placed where it runs unless its line moves it
    assert registry._reading_order((Entry("a"), Entry("new"), Entry("b"))) == ["a", "new", "b"]


@pytest.mark.parametrize("entries, sections, modules, message", [
    ((Entry("a"),), [section("a")], {"a", "stray"},
     "report/sections/stray.py is not registered: add Entry('stray')"),
    ((Entry("a"), Entry("ghost")), [section("a")], {"a"}, "REGISTRY names 'ghost', but there is no"),
    ((Entry("a"), Entry("a")), [section("a")], {"a"}, "section 'a' is registered twice"),
    ((Entry("a"), Entry("b")), [section("a", reads={"b": Small}), section("b")], None,
     "section 'a' reads 'b', which runs later"),
    ((Entry("a"),), [section("a", reads={"nowhere": Small})], None, "reads 'nowhere', which is not registered"),
    ((Entry("a"),), [section("a", result=object)], None, "section 'a' does not declare the type its run returns"),
    ((Entry("gather"), Entry("late")), [section("gather", reads_every_earlier=True), section("late", result=Stated)],
     None, "section 'late' states claims but runs after 'gather', which gathers"),
    ((Entry("a"), Entry("b")), [section("a", result=Other), section("b", reads={"a": Small})], None,
     "section 'b' reads 'a' as Small, but 'a' gives Other"),
    ((Entry("a"), Entry("b")), [section("a", result=Small | None), section("b", reads={"a": Small})], None,
     "section 'b' reads 'a' as Small, but 'a' gives"),
    ((Entry("a"), Entry("b", shown_after="a"), Entry("c", shown_after="a")), [section(k) for k in "abc"], None,
     "two sections are shown right after 'a'"),
    ((Entry("a", shown_after=TOP), Entry("b", shown_after=TOP)), [section(k) for k in "ab"], None,
     "two sections are shown right after the top of the report"),
    ((Entry("a"), Entry("b", shown_after="zzz")), [section(k) for k in "ab"], None, "shown after 'zzz', which is not"),
    ((Entry("a"), Entry("b", shown_after="c"), Entry("c", shown_after="b")), [section(k) for k in "abc"], None,
     "the shown_after places form a loop"),
])
def test_a_bad_registry_fails_with_a_clear_message(entries, sections, modules, message):
    with pytest.raises(RegistryError, match="section registry") as error:
        check(entries, sections, modules)
    assert message in str(error.value)


def test_a_claim_must_be_shown_in_a_registered_section():
    check_registry((Entry("a"),), {"a": section("a")}, {"a"}, {"a_claim": "a"})
    with pytest.raises(RegistryError, match="claim 'lost' is shown in section 'gone', which is not registered"):
        check_registry((Entry("a"),), {"a": section("a")}, {"a"}, {"a_claim": "a", "lost": "gone"})


def test_a_section_key_must_be_its_module_name():
    with pytest.raises(RegistryError, match="defines a Section keyed 'b'; use 'a'"):
        check_registry((Entry("a"),), {"a": section("b")}, {"a"})


def test_an_unregistered_module_fails_the_package_import(tmp_path):
    """The check runs on import: a copy of the package with one stray module cannot be imported."""
    copy = tmp_path / "sections_copy"
    shutil.copytree(SECTIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "stray.py").write_text((SECTIONS_DIR / "svd.py").read_text(encoding="utf-8"), encoding="utf-8")
    root = SECTIONS_DIR.parents[1]  # the repository, so that the copy imports this checkout's report package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)])}
    run = subprocess.run([sys.executable, "-c", "import sections_copy"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode != 0
    assert "RegistryError" in run.stderr and "report/sections/stray.py is not registered" in run.stderr


def context(results: dict, reader=None) -> RunContext:
    ctx = RunContext(SimpleNamespace(), SimpleNamespace(), SimpleNamespace(), Options(), results)
    return ctx if reader is None else ctx.for_section(reader)


def test_a_section_reads_only_what_it_declared_with_the_declared_type():
    results = {"a": Small(1), "b": Other(2)}
    view = context(results, section("c", reads={"a": Small, "gone": Small | None, "b": Small}))
    assert view.earlier("a") == Small(1)
    assert view.earlier("gone") is None  # declared optional, did not run
    assert view.results is results  # a view shares the results it reads
    with pytest.raises(UndeclaredRead, match="section 'c' reads section 'x' without declaring it"):
        view.earlier("x")
    with pytest.raises(UndeclaredRead, match="declares section 'b' as .*Small.*, but it gave a Other"):
        view.earlier("b")
    with pytest.raises(UndeclaredRead, match="reads every earlier section without declaring"):
        view.every_earlier()
    required = context({}, section("c", reads={"a": Small}))
    with pytest.raises(UndeclaredRead, match="reads section 'a', which has not run yet"):
        required.earlier("a")
    everything = context(results, Reader("all", {}, reads_every_earlier=True))
    assert everything.every_earlier() == results


def test_run_section_refuses_a_result_of_another_type():
    from report.run.pipeline import run_section

    liar = Section("liar", "Liar", lambda ctx: Other(1), None, None, None, result=Small)
    with pytest.raises(TypeError, match="section 'liar' declares result="):
        run_section(liar, context({}))


def _literal_reads(path: Path) -> set[str]:
    """Names passed as string literals to `ctx.earlier(...)` anywhere in a module."""
    calls = (n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.Call))
    return {c.args[0].value for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "earlier"
            and c.args and isinstance(c.args[0], ast.Constant)}


def test_every_read_in_the_code_is_declared():
    """Also the reads on branches a planted model never takes: each literal `ctx.earlier("x")` is declared."""
    for s in registry.all_sections():
        assert _literal_reads(SECTIONS_DIR / f"{s.key}.py") <= set(s.reads), s.key
    from report.write import search_index

    assert _literal_reads(Path(search_index.__file__)) <= set(search_index.READER.reads)
    assert _literal_reads(SECTIONS_DIR / "svd.py") == {"unigram"}  # the scan finds reads at all
