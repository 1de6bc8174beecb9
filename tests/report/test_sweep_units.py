"""Sweep pieces without running analyses: checkpoint discovery, Hub revision resolution (list_repo_refs
mocked: no network in tests), the comparison across runs, the pool size (the emergence rule:
test_emergence.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from report.errors import ReportError
from report.sweep import engine, sources, trajectory


def test_trainer_folder_steps_from_state_or_name(tmp_path):
    for name in ("checkpoint-500", "checkpoint-20", "checkpoint-3", "runs", "checkpoint-x"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint-3" / "trainer_state.json").write_text(json.dumps({"global_step": 30}))
    (tmp_path / "checkpoint-20" / "trainer_state.json").write_text("not json")
    found = sources.discover(str(tmp_path))
    assert [c.step for c in found] == [20, 30, 500]  # step order, not name order; trainer_state wins
    assert found[1].source == str(tmp_path / "checkpoint-3") and found[1].revision is None
    with pytest.raises(ReportError, match="local folder"):
        sources.discover(str(tmp_path), ["step*"])


def test_duplicate_steps_are_refused(tmp_path):
    for name in ("checkpoint-1", "checkpoint-2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "trainer_state.json").write_text(json.dumps({"global_step": 7}))
    with pytest.raises(ReportError, match="step 7"):
        sources.discover(str(tmp_path))


@pytest.fixture
def refs(monkeypatch):
    import huggingface_hub

    calls = []

    def list_repo_refs(self, repo_id, **kwargs):
        calls.append(repo_id)
        def branch(name):
            return SimpleNamespace(name=name)

        return SimpleNamespace(branches=[branch(n) for n in ("main", "step0", "step1000", "step143000", "step512")],
                               tags=[branch("v1.0")])

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_refs", list_repo_refs)
    return calls


def test_hub_revisions_by_pattern_and_by_name(refs):
    found = sources.discover("EleutherAI/pythia-160m", ["step*"])
    assert [(c.step, c.revision) for c in found] == [(0, "step0"), (512, "step512"), (1000, "step1000"),
                                                     (143000, "step143000")]
    assert all(c.source == "EleutherAI/pythia-160m" and c.run == "EleutherAI--pythia-160m" for c in found)
    assert refs == ["EleutherAI/pythia-160m"]
    named = sources.discover("stanford-crfm/alias-gpt2-small-x21", ["checkpoint-100,checkpoint-20"])
    assert [(c.step, c.revision) for c in named] == [(20, "checkpoint-20"), (100, "checkpoint-100")]
    assert len(refs) == 1  # explicit names need no listing
    with pytest.raises(ReportError, match="No branch or tag"):
        sources.discover("EleutherAI/pythia-160m", ["checkpoint-*"])
    with pytest.raises(ReportError, match="no number"):
        sources.discover("EleutherAI/pythia-160m", ["main"])
    with pytest.raises(ReportError, match="--revisions"):
        sources.discover("EleutherAI/pythia-160m")


def test_listing_failure_is_one_clear_error(monkeypatch):
    import huggingface_hub

    def offline(repo_id, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(huggingface_hub, "list_repo_refs", offline)
    with pytest.raises(ReportError, match="name them explicitly"):
        sources.discover("gpt2", ["step*"])


def test_across_runs_compares_behaviour_not_dim_index():
    def block(dim_found):
        return {"steps": [0, 100], "final": dict.fromkeys(trajectory.METRICS),
                "emergence": {"unigram_dim": {"dim": dim_found, "step": 100} if dim_found is not None else None,
                              "heavy_dims": None, "clump": {"step": 0}}}

    rows = trajectory.across_runs({"seed1": block(138), "seed2": block(447), "seed3": block(None)})
    assert [r["grows_unigram_dim"] for r in rows] == [True, True, False]
    assert [r["unigram_dim_step"] for r in rows] == [100, 100, None]
    assert all("dim" not in r for r in rows)


def test_pool_size_respects_cores_memory_and_tasks():
    assert engine.pool_size(10, cores=16, memory_gb=8) == 3  # 2.5 GB each
    assert engine.pool_size(10, cores=2, memory_gb=64) == 2
    assert engine.pool_size(1, cores=16, memory_gb=64) == 1
    assert engine.pool_size(10, cores=4, memory_gb=1) == 1


def test_claims_matrix_rows_by_number_with_registered_names_and_gaps_for_failed_checkpoints():
    old = {"claims": [{"id": 24, "statement": "s", "verdict": "fails"}]}  # written before claims had names
    new = {"claims": [{"id": 9, "name": "unigram_dim_in_gains", "statement": "t", "verdict": "holds"},
                      {"id": 24, "name": "rare_token_clump", "statement": "s", "verdict": "holds"}]}
    rows = trajectory.claims_matrix([old["claims"], None, new["claims"]])
    assert [(r["id"], r["name"]) for r in rows] == [(9, "unigram_dim_in_gains"), (24, "rare_token_clump")]
    assert [r["verdicts"] for r in rows] == [[None, None, "holds"], ["fails", None, "holds"]]


@pytest.mark.parametrize("state", [{"global_step": True}, {"global_step": False}, {"global_step": 12.5},
                                   {"global_step": -3}, {"global_step": "40"}, {}, []])
def test_a_global_step_that_is_not_a_whole_number_falls_back_to_the_folder_number(tmp_path, state):
    (tmp_path / "checkpoint-40").mkdir()
    (tmp_path / "checkpoint-40" / "trainer_state.json").write_text(json.dumps(state))
    (step,) = [c.step for c in sources.discover(str(tmp_path))]
    assert step == 40 and type(step) is int
