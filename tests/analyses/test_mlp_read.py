"""Known answers for what the blocks read from and write into a dim, and the dim's effect on the logits."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from analyses.mlp_read import TOP_K, analyse_mlp_read, logit_effect
from report.sections import open_questions
from tests.conftest import context_for, run_sections

D, L, V = 24, 4, 300


def _norms(rng, planted_dim=None, layers=(), scale=6.0):
    w = rng.normal(0, 1, (L, D, 4 * D))
    for layer in layers:
        w[layer, planted_dim] *= scale
    return np.linalg.norm(w, axis=2)


def test_a_planted_read_direction_is_found_where_it_was_planted():
    rng = np.random.default_rng(0)
    norms = {"mlp_in": _norms(rng, 5, layers=(1, 3)), "mlp_out": _norms(rng)}
    gains = {"mlp_in": np.ones((L, D))}
    r = analyse_mlp_read(range(L), norms, gains, 5, rng.normal(0, 1, (V, D)), None, True, None, seed=0)
    mlp_in = r.profile("mlp_in")
    assert list(mlp_in.strongest_dim[[1, 3]]) == [5, 5] and {1, 3} <= set(mlp_in.top_layers)
    assert mlp_in.dim_percentile[1] == 1.0 and mlp_in.dim_percentile[3] == 1.0
    assert mlp_in.dim_percentile[0] < 1.0 and r.profile("mlp_out").dim_percentile.max() < 1.0
    assert r.profile("attn_value") is None and r.logit_frequency is None


def test_the_gain_alone_can_make_a_dim_the_most_read():
    rng = np.random.default_rng(1)
    gains = np.ones((L, D))
    gains[:, 9] = 20.0
    r = analyse_mlp_read(range(L), {"mlp_in": _norms(rng)}, {"mlp_in": gains}, 9, rng.normal(0, 1, (V, D)),
                         None, True, None, seed=0)
    p = r.profile("mlp_in")
    assert p.top_layers == tuple(range(L)) and np.all(p.dim_percentile == 1.0)
    assert np.median(p.weight_only_percentile) < 0.9  # the matrices themselves do not single it out
    assert TOP_K >= 1


def test_logit_effect_tracks_a_planted_frequency_code():
    rng = np.random.default_rng(2)
    log_frequency = rng.normal(0, 2, V)
    head = rng.normal(0, 0.1, (V, D))
    head[:, 3] = log_frequency
    gain = np.ones(D)
    gain[3] = -2.0  # a negative gain flips the sign of the effect
    r = analyse_mlp_read(range(L), {"mlp_in": _norms(rng)}, {"mlp_in": np.ones((L, D))}, 3, head, gain, True,
                         log_frequency, seed=0)
    assert r.logit_frequency.spearman < -0.99 and r.logit_frequency.spearman_ci95[1] < -0.98
    uncentred = logit_effect(head, gain, 3, centred=False)
    assert np.allclose(uncentred, -2.0 * log_frequency)
    assert np.allclose(logit_effect(head, gain, 3, centred=True), uncentred - head @ gain / D)


def test_section_finds_the_planted_read_row_through_the_checkpoint(planted, tmp_path):
    """A row of layer 1's c_fc (GPT-2 Conv1D, [d, 4d]) made 8x louder is that layer's most read dim."""
    folder = tmp_path / "model"
    shutil.copytree(planted.folder, folder)
    state = load_file(str(folder / "model.safetensors"))
    loud = 29
    state["h.1.mlp.c_fc.weight"][loud] *= 8
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    ctx = run_sections(context_for(type(planted)(folder, planted.corpus, planted.spec, planted.vocab_size)),
                       upto="open_questions")
    r = ctx.results["open_questions"]
    mlp_in = r.mlp.profile("mlp_in")
    assert mlp_in.strongest_dim[1] == loud and mlp_in.weight_only_percentile[1] < 1.0
    assert r.mlp.dim == planted.spec.unigram_dim and mlp_in.dim_percentile[0] == 1.0  # the gain of 4 on it
    assert set(r.missing_roles) == {"mlp_out", "attn_out"}  # the planted files have no c_proj
    assert r.experiments is None and "lacks" in r.experiments_skipped  # on by default, but no c_proj to run


def test_section_says_why_without_mlp_weights(planted, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(planted.folder, folder)
    state = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in state.items() if "c_fc" not in k}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})
    ctx = run_sections(context_for(type(planted)(folder, planted.corpus, planted.spec, planted.vocab_size)),
                       upto="open_questions")
    r = ctx.results["open_questions"]
    assert r.mlp is None and "h.0.mlp.c_fc.weight" in r.mlp_skipped
    document = open_questions.to_json(r, ctx)
    assert document["skipped"] == r.mlp_skipped
    assert open_questions.figures(r, ctx) == []


@pytest.mark.parametrize("role", ["mlp_in"])
def test_planted_report_json_shape(planted_ctx, role):
    document = open_questions.to_json(planted_ctx.results["open_questions"], planted_ctx)
    rows = document["roles"][role]["per_layer"]
    assert len(rows) == planted_ctx.weights.n_layers and {"layer", "percentile", "strongest_dim"} <= set(rows[0])
    assert document["logits"]["spearman_log_frequency"] is not None
