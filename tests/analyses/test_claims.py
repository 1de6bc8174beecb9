"""The claim registry: one entry per claim of the study, each decided exactly once, referred to by name."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from analyses.claims import (
    BY_ID,
    BY_NAME,
    REGISTRY,
    SHARED,
    STUDY,
    ClaimSpec,
    claim,
    declare,
    findings,
    guard,
    in_finding_order,
    in_section,
    named,
    spec,
)
from report.sections import all_sections
from report.sections.summary import _verdict
from report.write.render import TEMPLATES, environment


def test_registry_numbers_the_study_claims_from_one_in_order_with_unique_names():
    study = [c.id for c in STUDY]
    assert study == list(range(1, len(STUDY) + 1))  # the study's CLAIMS.md numbering, no gap
    numbers = [c.id for c in REGISTRY]
    assert numbers[:len(study)] == study and numbers == sorted(set(numbers))  # declared claims follow, in order
    assert len(BY_NAME) == len(REGISTRY) == len(BY_ID)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", c.name) for c in REGISTRY)
    assert len({c.statement for c in REGISTRY}) == len(REGISTRY)


def test_every_claim_names_a_real_section_and_deciding_module():
    sections = {s.key for s in all_sections()}
    for c in REGISTRY:
        assert c.section in sections, c
        assert importlib.import_module(c.decided_by), c
        assert c.reads and set(c.reads) <= {"token embeddings", "position embeddings", "LayerNorm gains"}, c


def test_every_section_with_claims_shows_its_claim_table():
    """A claim's section is where its row appears: that section's template must draw the table."""
    for key in {c.section for c in REGISTRY}:
        text = (TEMPLATES / "sections" / f"{key}.html.j2").read_text(encoding="utf-8")
        assert "m.claim_rows(claims)" in text, key


def test_claim_takes_a_registered_name_and_carries_its_number_and_statement():
    c = claim("unigram_dim_in_gains", 3, True, "rule", "detail")
    assert (c.id, c.name, c.statement, c.value, c.verdict) == (9, "unigram_dim_in_gains", BY_ID[9].statement, 3.0,
                                                              "holds")


def test_an_unknown_claim_name_fails_at_once_listing_the_known_names():
    with pytest.raises(KeyError, match="no claim named 'unigram_dimm'.*unigram_dim_in_gains"):
        claim("unigram_dimm", 1.0, True, "rule")
    with pytest.raises(KeyError, match="no claim named"):
        spec("9")
    with pytest.raises(KeyError, match="no claim named"):
        named([], "no_such_claim")


def test_an_unknown_claim_name_in_a_template_fails_the_render():
    env = environment()
    rows = [{"id": 21, "value": 0.9}]
    ok = env.from_string('{% for c in claims | named("exceptions_parallel_and_longer") %}{{ c.value }}{% endfor %}')
    assert ok.render(claims=rows) == "0.9"
    bad = env.from_string('{% for c in claims | named("exceptions_parallel") %}{{ c.value }}{% endfor %}')
    with pytest.raises(KeyError, match="no claim named 'exceptions_parallel'"):
        bad.render(claims=rows)


def test_sections_get_their_registered_claims_in_order_from_objects_or_json_dicts():
    objects = tuple(claim(c.name, None, None, "rule") for c in REGISTRY)
    dicts = [{"id": c.id} for c in objects]  # results.json from before claims had names
    for key in {c.section for c in REGISTRY}:
        wanted = [c.id for c in REGISTRY if c.section == key]
        assert [c.id for c in in_section(objects, key)] == wanted
        assert [c["id"] for c in in_section(dicts, key)] == wanted
    assert in_section(objects, "summary") == [] and in_section([], "svd") == []


def test_guard_reads_each_claims_registered_inputs():
    claims = (claim("gains_favour_standard_basis", 0.5, True, "r"), claim("token_dims_striped", 0.5, True, "r"))
    guarded = guard(claims, {"LayerNorm gains": "every LayerNorm gives all dims the same gain"})
    assert [c.verdict for c in guarded] == ["not-applicable", "holds"]
    assert guarded[0].detail == "degenerate input: every LayerNorm gives all dims the same gain"


def test_the_planted_report_decides_every_registered_claim_exactly_once_in_its_module(planted_ctx):
    decided = [(type(result).__module__, c.name) for key, result in planted_ctx.results.items() if key != "claims"
               for c in getattr(result, "claims", ())]
    assert sorted(name for _, name in decided) == sorted(BY_NAME)
    assert all(BY_NAME[name].decided_by == module for module, name in decided)
    checklist = planted_ctx.results["claims"]
    assert [(c.id, c.name) for c in checklist] == [(c.id, c.name) for c in REGISTRY]


def test_summary_reads_verdicts_by_name_and_refuses_unknown_names(planted_ctx):
    assert _verdict(planted_ctx, "rare_token_clump") == planted_ctx.results["outliers"].claims[0].verdict
    with pytest.raises(KeyError, match="no claim named"):
        _verdict(planted_ctx, "clump")


def test_no_template_or_section_refers_to_a_claim_by_bare_number():
    root = Path(TEMPLATES)
    for path in [*root.glob("**/*.j2"), *Path(root.parent, "report", "sections").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"claim_rows\(claims, \[|c\.id == \d|_verdict\(ctx, \d", text), path


def test_every_claim_is_in_exactly_one_finding_whose_own_claim_is_independent():
    groups = findings()
    members = [n for root, parts in groups.items() for n in (root, *parts)]
    assert sorted(members) == [c.id for c in REGISTRY]
    assert all(not BY_ID[root].depends_on for root in groups)  # a finding does not hang on another finding
    assert all(set(BY_ID[p].depends_on) <= set(BY_ID) and BY_ID[p].depends_on[0] == root
               for root, parts in groups.items() for p in parts)
    assert groups[4] == (5, 7, 8) and groups[9] == (10, 11, 12, 13, 18, 24) and groups[20] == (21, 22, 23)
    assert set(SHARED) == {root for root, parts in groups.items() if parts}


def test_finding_order_puts_parts_right_after_their_finding():
    unregistered = max(BY_ID) + 1
    order = [c["id"] for c in in_finding_order([{"id": i} for i in (unregistered, 24, 6, 5, 4, 9)])]
    assert order == [4, 5, 6, 9, 24, unregistered]  # an unregistered number goes last


def test_declare_refuses_a_taken_number_or_name_a_bad_name_input_or_dependency():
    taken = BY_ID[9]
    assert declare(taken) is taken and len(REGISTRY) == len(BY_ID)  # declaring again changes nothing
    free = max(BY_ID) + 1
    with pytest.raises(ValueError, match=f"number 9 is taken by {taken.name!r}"):
        declare(ClaimSpec(9, "another_claim", "x", "svd", "analyses.svd", ("token embeddings",)))
    with pytest.raises(ValueError, match="name 'svd0_one_sign' is taken"):
        declare(ClaimSpec(free, "svd0_one_sign", "x", "svd", "analyses.svd", ("token embeddings",)))
    with pytest.raises(ValueError, match="not snake_case.*reads 'tokens'.*claim 999, which is not registered"):
        declare(ClaimSpec(free, "Bad-Name", "x", "svd", "analyses.svd", ("tokens",), depends_on=(999,)))
    assert free not in BY_ID and [c.id for c in REGISTRY] == sorted(BY_ID)  # nothing half-registered
