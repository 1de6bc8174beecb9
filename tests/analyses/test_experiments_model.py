"""The interventions through transformers: a complete tiny GPT-2 (the planted checkpoint with every tensor),
and a tiny GPT-2 trained for a few seconds on part of its vocabulary."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analyses.experiments import REPETITION_FDR, Intervention, low_pass, mean_replaced, probe_repetition
from analyses.stats import spearman
from analyses.unigram_null import estimated_effects
from report.load.architectures import architecture_for
from report.load.forward import Runner, Skipped, load_model
from report.load.sequences import corpus_sequences
from report.load.tokens import load_tokenizer
from report.sections import open_questions
from tests.conftest import context_for, run_sections
from tests.tiny_lm import complete_checkpoint, train_tiny_gpt2


@pytest.fixture(scope="module")
def complete(planted, tmp_path_factory):
    folder = complete_checkpoint(planted.folder, tmp_path_factory.mktemp("complete"))
    return dataclasses.replace(planted, folder=folder)


@pytest.fixture(scope="module")
def runner(complete):
    arch = architecture_for(__import__("json").loads((complete.folder / "config.json").read_text()))
    model, masked = load_model(complete.folder, arch, "cpu")
    text = corpus_sequences(load_tokenizer(complete.folder), complete.corpus, 256, 64)
    assert text.ids.shape == (32, 8) and text.unit == "sequence"  # ≥ 100 where the budget allows; here 256 // 8
    return Runner(model, masked, arch, text.ids, "cpu", 0, None, 0, show_progress=False)


def test_incomplete_checkpoints_are_skipped_with_the_reason(planted):
    arch = architecture_for(__import__("json").loads((planted.folder / "config.json").read_text()))
    with pytest.raises(Skipped, match="lacks .* tensors"):
        load_model(planted.folder, arch, "cpu")


def test_a_cutoff_that_keeps_every_frequency_changes_nothing(runner):
    table = runner.position.detach().double().numpy()
    base = runner.evaluate(Intervention())
    same = runner.evaluate(Intervention(position_table=low_pass(table, table.shape[0] // 2 + 1)))
    assert base.losses.shape == (32,) and np.allclose(same.losses, base.losses, rtol=0, atol=1e-6)
    smoothed = runner.evaluate(Intervention(position_table=low_pass(table, 2)))
    assert not np.allclose(smoothed.losses, base.losses, atol=1e-4)
    assert np.array_equal(runner.evaluate(Intervention()).losses, base.losses)  # the table was put back


def test_replacing_token_rows_by_themselves_changes_nothing(runner):
    rows = runner.embedding.detach().double().numpy()
    base = runner.evaluate(Intervention())
    assert np.allclose(runner.evaluate(Intervention(token_table=rows)).losses, base.losses, atol=1e-6)


def test_never_trained_tokens_cannot_be_repeated():
    model, config = train_tiny_gpt2()
    runner = Runner(model, False, architecture_for(config.to_dict()), np.zeros((1, 4), dtype=np.int64), "cpu", 0,
                    None, 0, show_progress=False)
    probability = runner.repeat_probability(range(64))
    trained, untrained = probability[1:48], probability[48:]
    assert untrained.max() < trained.min()
    # probed with trained tokens beside them, only the never-trained ones survive the FDR correction
    r = probe_repetition(runner.repeat_probability, list(range(40, 64)), 64, REPETITION_FDR, seed=0)
    assert set(r.confirmed) == set(range(48, 64))


def test_the_estimates_rank_dims_as_exact_ablations_do(runner):
    """On the complete tiny GPT-2: every dim ablated exactly against the gradient-and-curvature estimate."""
    table = runner.embedding.detach().double().numpy()
    base, gradients = runner.baseline()
    assert np.allclose(base.losses, runner.evaluate(Intervention()).losses, atol=1e-5)
    dims = range(0, table.shape[1], 4)
    exact = np.array([runner.evaluate(Intervention(token_table=mean_replaced(table, [j]))).losses.mean()
                      for j in dims]) - base.losses.mean()
    rho = spearman(estimated_effects(gradients, table)[list(dims)], exact)
    assert rho > 0.6, rho


def test_section_runs_every_experiment_with_a_corpus(complete):
    ctx = context_for(complete)
    ctx.corpus = complete.corpus
    ctx.options = dataclasses.replace(ctx.options, max_tokens=800)
    run_sections(ctx, upto="open_questions")
    r = ctx.results["open_questions"]
    assert r.experiments_skipped is None
    document = open_questions.top_level(r, ctx)["experiments"]
    assert {"baseline_loss", "position_smoothing", "position_dims_dropped", "unigram_ablation", "token_repetition",
            "corpus"} <= set(document)
    assert set(document["position_smoothing"][0]) >= {"cutoff", "variance_removed", "loss", "delta_loss", "ci95"}
    assert set(document["position_dims_dropped"]) == {"non_heavy", "heavy"}
    u = document["unigram_ablation"]
    assert {"delta_loss", "ci95", "null_size", "p_value", "effect_per_variance", "logit_frequency_spearman_before",
            "logit_frequency_spearman_after"} <= set(u)
    # every MLP reads the planted unigram dim through a gain of 4: its ablation tops every other dim
    d = ctx.weights.d_model
    assert u["null_size"] == d - 1 and u["rank"] == 1 and u["p_value"] == pytest.approx(1 / d) and u["ci95"][0] > 0
    assert u["effect_per_variance"]["ci95"][0] > 0
    assert {"id", "text", "bytes", "probability", "percentile", "p_value", "q_value", "confirmed"} <= set(
        document["token_repetition"][0])
    assert document["repetition_fdr"]["level"] == REPETITION_FDR
    assert document["corpus"]["tokens"] == 800 and document["corpus"]["sequences"] == 100
    assert document["corpus"]["unit"] == "sequence" and len(document["corpus"]["sha256"]) == 64
    names = [f.name for f in open_questions.figures(r, ctx)]
    assert {"open_smoothing", "open_ablations", "open_repetition", "open_mlp_read"} <= set(names)
    from report.write.render import environment

    own = ctx.for_section(open_questions.SECTION)
    html = environment().get_template("sections/open_questions.html.j2").render(
        ctx=open_questions.context(r, own), figs=[], claims=[])
    assert "cluster-robust t-interval over the" in html and "Benjamini–Hochberg" in html
    assert f"is 1 of {d}: p = " in html and "--corpus" in html


def test_encoders_use_the_masked_lm_head():
    import torch
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
    model = BertForMaskedLM(config).eval().requires_grad_(False)
    sequences = np.random.default_rng(0).integers(5, 50, size=(6, 16))
    runner = Runner(model, True, architecture_for(config.to_dict()), sequences, "cpu", 0, 3, None, show_progress=False)
    assert (runner.inputs == 3).any() and ((runner.targets != -100) == (runner.inputs == 3)).all()
    base = runner.evaluate(Intervention())
    table = runner.position.detach().double().numpy()
    same = runner.evaluate(Intervention(position_table=low_pass(table, table.shape[0] // 2 + 1)))
    assert np.allclose(same.losses, base.losses, atol=1e-6) and np.isfinite(base.losses).all()
    assert runner.repeat_probability([5, 6, 7]).shape == (3,)


def test_a_budget_below_one_token_is_refused(planted, tmp_path, capsys):
    from report.cli import main

    assert main(["--model", str(planted.folder), "--out", str(tmp_path), "--max-tokens", "0", "--quiet"]) == 2
    assert "error: --max-tokens must be a positive number" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_baseline_gradients_are_the_same_for_a_seed(complete):
    """Labels drawn for the curvature come from the runner's seeded generator: same seed, same numbers."""
    arch = architecture_for(__import__("json").loads((complete.folder / "config.json").read_text()))
    model, masked = load_model(complete.folder, arch, "cpu")
    ids = corpus_sequences(load_tokenizer(complete.folder), complete.corpus, 128, 64).ids
    runs = [Runner(model, masked, arch, ids, "cpu", seed, None, 0, show_progress=False).baseline()[1]
            for seed in (0, 0, 1)]
    assert np.array_equal(runs[0].sampled_sum, runs[1].sampled_sum) and np.array_equal(runs[0].rows, runs[1].rows)
    assert not np.array_equal(runs[0].sampled_sum, runs[2].sampled_sum)


def test_experiments_can_be_left_out(complete):
    ctx = context_for(complete)
    ctx.options = dataclasses.replace(ctx.options, experiments=False)
    run_sections(ctx, upto="open_questions")
    r = ctx.results["open_questions"]
    assert r.experiments is None and "--no-experiments" in r.experiments_skipped and r.mlp is not None


def test_a_model_too_large_for_free_memory_is_skipped_before_loading(complete, monkeypatch):
    import transformers

    import report.load.forward as forward

    arch = architecture_for(__import__("json").loads((complete.folder / "config.json").read_text()))
    built = transformers.AutoModelForCausalLM.from_pretrained(str(complete.folder))
    need = 4 * sum(p.numel() for p in built.parameters())
    assert forward.model_parameters(complete.folder, transformers.AutoModelForCausalLM) * 4 == need  # on meta
    monkeypatch.setattr(forward, "free_memory", lambda device: int(need / forward.MEMORY_SHARE) - 1)
    with pytest.raises(Skipped, match=r"float32 takes .* GB, more than 70% of the .* GB this machine has free"):
        load_model(complete.folder, arch, "cpu")
    monkeypatch.setattr(forward, "free_memory", lambda device: int(need / forward.MEMORY_SHARE) + 1)
    load_model(complete.folder, arch, "cpu")  # fits: loads


def test_a_checkpoint_without_its_blocks_is_skipped_before_any_weight_is_allocated(planted, monkeypatch):
    """A Hub model read by ranges holds its embeddings and norms only: told from the headers and the model's
    shape on the meta device, never by building the whole model in float32."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    arch = architecture_for(__import__("json").loads((planted.folder / "config.json").read_text()))
    with pytest.raises(Skipped, match=r"lacks some of the tensors the model needs: it holds [\d,]+ numbers of the "
                                      r"model's [\d,]+ parameters"):
        load_model(planted.folder, arch, "cpu")
