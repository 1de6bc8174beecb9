"""The summary: verdicts by independent finding with their parts, and the family-wise false-holds rate."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from analyses.claims import FAILS, HOLDS, INCONCLUSIVE, NOT_APPLICABLE, REGISTRY, claim
from report.sections import summary
from report.write.render import environment


def _claims(verdicts: dict[int, str]) -> tuple:
    by_id = {c.id: c.name for c in REGISTRY}
    return tuple(claim(by_id[n], 0.1, None if v == NOT_APPLICABLE else v == HOLDS, "rule",
                       inconclusive=v == INCONCLUSIVE) for n, v in verdicts.items())


def _ctx(claims) -> SimpleNamespace:
    """Only the checklist ran: the summary's other reads are absent."""
    weights = SimpleNamespace(vocab_rows=10, word_start_rule="leading-space")
    return SimpleNamespace(earlier=lambda key: claims if key == "claims" else None, weights=weights, n_tokens=10,
                           word_start=np.zeros(10, bool), tokens=SimpleNamespace(scheme="bpe"))


ALL_HOLD = {c.id: HOLDS for c in REGISTRY}


def _render(result: summary.Summary) -> str:
    return environment().get_template("sections/summary.html.j2").render(ctx=summary.context(result, None))


def test_claims_are_counted_as_independent_findings_with_their_parts():
    groups = summary.claim_groups(_claims({**ALL_HOLD, 4: FAILS, 7: INCONCLUSIVE, 6: NOT_APPLICABLE}))
    assert len(groups) == 12
    heavy = next(g for g in groups if g.id == 4)
    assert heavy.verdict == FAILS and heavy.parts == ((5, HOLDS), (7, INCONCLUSIVE), (8, HOLDS))
    assert [g.id for g in groups if not g.parts] == [1, 2, 3, 6, 14, 15, 16, 17, 19]
    # a part tested without its finding's own claim still shows, the finding as not tested
    (alone,) = summary.claim_groups(_claims({21: HOLDS}))
    assert (alone.id, alone.verdict, alone.parts) == (20, NOT_APPLICABLE, ((21, HOLDS),))


def test_the_summary_no_longer_opens_with_a_bare_count_of_claims_that_hold(monkeypatch):
    monkeypatch.setattr(summary, "load_calibration", lambda: None)
    result = summary.run(_ctx(_claims({**ALL_HOLD, 4: FAILS, 7: INCONCLUSIVE, 17: INCONCLUSIVE})))
    assert result.counts == {HOLDS: 21, FAILS: 1, INCONCLUSIVE: 2, NOT_APPLICABLE: 0}
    assert result.group_counts == {HOLDS: 10, FAILS: 1, INCONCLUSIVE: 1, NOT_APPLICABLE: 0}
    html = _render(result)
    assert "Of the study's claims, 21 hold" not in html
    lede = " ".join(html[:html.index("</p>")].split())
    assert "leaves 12 independent findings. For this model 10 of them hold, 1 does not hold, 1 is inconclusive" in lede
    assert "(claim by claim: 21 hold, 1 do not hold, 2 inconclusive, 0 not applicable;" in lede
    assert html.count('<li><a href="#claim-') == 3  # the findings with parts: 4, 9, 20
    assert '<span class="verdict inconclusive">inconclusive</span>' in html


def test_an_unmeasured_family_wise_rate_is_said_to_be_unmeasured_never_invented(monkeypatch):
    monkeypatch.setattr(summary, "load_calibration", lambda: {"sizes": [], "claims": {}})
    result = summary.run(_ctx(_claims(ALL_HOLD)))
    assert result.family_wise is None and summary.to_json(result, None)["family_wise"] is None
    text = " ".join(_render(result).split())
    assert "has not been measured" in text and "null models got" not in text


def test_the_family_wise_rate_comes_from_the_table_with_its_wilson_interval(monkeypatch):
    table = {"family_wise": {"null_models": 420, "with_false_holds": 21,
                             "by_family": {"gaussian": {"models": 60, "with_false_holds": 0},
                                           "contrast": {"models": 60, "with_false_holds": 9}}}}
    monkeypatch.setattr(summary, "load_calibration", lambda: table)
    result = summary.run(_ctx(_claims(ALL_HOLD)))
    assert result.family_wise["rate"] == pytest.approx(0.05)
    text = " ".join(_render(result).split())
    assert ("21 of 420 null models got at least one false \"holds\" (5.0%, 95% interval 3.3% to 7.5%); by family: "
            "gaussian 0 of 60, contrast 9 of 60.") in text.replace("&#34;", '"')
    assert "has not been measured" not in text
    fragment = summary.to_json(result, None)
    assert fragment["family_wise"]["with_false_holds"] == 21
    assert fragment["claim_findings"][3] == {"id": 4, "verdict": HOLDS,
                                             "parts": [{"id": 5, "verdict": HOLDS}, {"id": 7, "verdict": HOLDS},
                                                       {"id": 8, "verdict": HOLDS}]}


@pytest.mark.parametrize("verdicts, combined", [
    ((HOLDS, HOLDS), HOLDS), ((HOLDS, INCONCLUSIVE), INCONCLUSIVE), ((INCONCLUSIVE, FAILS), FAILS),
    ((HOLDS, NOT_APPLICABLE), NOT_APPLICABLE)])
def test_a_headline_on_two_claims_takes_the_weaker_verdict(verdicts, combined):
    assert summary._both(verdicts) == combined


@pytest.mark.parametrize("direct, logits", [(False, "Under W Wᵀ,"),
                                            (True, "Under the unembedding against the embedding (untied),")])
def test_the_zero_layer_finding_names_the_logits_it_read(direct, logits):
    zero_layer = SimpleNamespace(direct=direct, self_predict_fraction=0.99, exceptions=())
    claims = _claims(ALL_HOLD)
    ctx = SimpleNamespace(earlier=lambda key: {"claims": claims, "zero_layer": zero_layer}.get(key))
    assert summary._zero_layer(ctx).text.startswith(logits)
