"""The checklist section: calibration-based inconclusive verdicts, verdict counts, and the rendered table."""

from __future__ import annotations

from analyses.claims import FAILS, HOLDS, INCONCLUSIVE, NOT_APPLICABLE, REGISTRY, VERDICTS, claim
from report.sections import claims as section
from report.write.render import environment

SIZES = [{"size": "d=64, V=4k", "d": 64, "tokens": 4000}, {"size": "d=768, V=4k", "d": 768, "tokens": 4000}]


def _cell(study, study_n=15):
    return {"fp": 0, "null": 60, "study": study, "study_n": study_n, "half": 0, "half_n": study_n, "why": []}


def _table(cells: dict[int, dict]) -> dict:
    return {"sizes": SIZES, "claims": {str(number): by_size for number, by_size in cells.items()}}


def _verdicts(verdicts: dict[int, str]) -> tuple:
    """A claim per number with the given verdict (through claim(), as the analyses give them)."""
    rows = []
    for number, verdict in verdicts.items():
        name = next(c.name for c in REGISTRY if c.id == number)
        rows.append(claim(name, 0.1, None if verdict == NOT_APPLICABLE else verdict == HOLDS, "rule", "measured x",
                          inconclusive=verdict == INCONCLUSIVE))
    return tuple(rows)


def test_a_miss_where_the_calibration_measured_low_power_becomes_inconclusive_and_says_why():
    table = _table({17: {"d=768, V=4k": _cell(7), "d=64, V=4k": _cell(15)}})
    (checked,) = section.underpowered(_verdicts({17: FAILS}), table, 700, 5000)
    assert checked.verdict == INCONCLUSIVE
    assert checked.detail == ("measured x; the calibration measured power 7/15 at d=768, V=4k: a miss is likely even "
                              "where the effect exists")
    (small,) = section.underpowered(_verdicts({17: FAILS}), table, 64, 5000)  # full power at the nearest size
    assert small.verdict == FAILS and small.detail == "measured x"


def test_power_at_the_target_holds_and_not_applicable_and_unmeasured_cells_are_left_alone():
    table = _table({n: {"d=768, V=4k": _cell(k)} for n, k in ((1, 14), (2, 0), (3, 0), (4, 13))})
    table["claims"]["5"] = {"d=768, V=4k": _cell(0, study_n=0)}  # no planted model ran: not measured, not zero power
    claims = _verdicts({1: FAILS, 2: HOLDS, 3: NOT_APPLICABLE, 4: FAILS, 5: FAILS, 6: FAILS})
    checked = {c.id: c.verdict for c in section.underpowered(claims, table, 768, 4000)}
    # 14/15 ≥ 90%: a real miss; 13/15 < 90%: inconclusive; claim 6 has no row in the table
    assert checked == {1: FAILS, 2: HOLDS, 3: NOT_APPLICABLE, 4: INCONCLUSIVE, 5: FAILS, 6: FAILS}
    assert section.underpowered(claims, None, 768, 4000) == claims


def test_verdict_counts_name_every_verdict_inconclusive_included():
    claims = _verdicts({1: HOLDS, 2: FAILS, 3: INCONCLUSIVE, 4: INCONCLUSIVE, 6: NOT_APPLICABLE})
    counts = section.to_json(claims, None)["verdicts"]
    assert list(counts) == list(VERDICTS)
    assert counts == {HOLDS: 1, FAILS: 1, INCONCLUSIVE: 2, NOT_APPLICABLE: 1}


def test_the_checklist_shows_four_distinct_verdicts_and_lists_parts_under_their_finding():
    claims = _verdicts({4: HOLDS, 5: FAILS, 6: NOT_APPLICABLE, 7: INCONCLUSIVE, 9: HOLDS, 13: HOLDS})
    html = environment().get_template("sections/claims.html.j2").render(ctx=section.context(claims, None))
    for number, css, label in ((4, "holds", "holds"), (5, "fails", "does not hold"),
                               (7, "inconclusive", "inconclusive"), (6, "not-applicable", "n/a")):
        row = html[html.index(f'id="claim-{number}"'):].split("</tr>")[0]
        assert f'<span class="verdict {css}">{label}</span>' in row  # and in the key above the table
        assert f'<span class="verdict {css}">{label}</span>' in html[:html.index("<table")]
    assert "3 hold, 1 does not hold, 1 is\ninconclusive and 1 does not apply to this model" in html
    rows = [html.index(f'id="claim-{n}"') for n in (4, 5, 7, 6, 9, 13)]
    assert rows == sorted(rows)  # 5 and 7 right under 4, before 6
    assert '<tr id="claim-5" class="part">' in html and '<tr id="claim-4">' in html
    assert "part of <a href=\"#claim-4\">claim 4</a>'s finding: reads the position-heavy dims and " \
           "<a href=\"#claim-3\">claim 3</a>" in html
    assert "make up 12 independent findings" in html
