"""The interventions through transformers: a complete tiny GPT-2 (the planted checkpoint with every tensor),
and a tiny GPT-2 trained for a few seconds on part of its vocabulary."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analyses.experiments import Intervention, low_pass
from report.architectures import architecture_for
from report.forward import Runner, Skipped, corpus_sequences, load_model
from report.sections import open_questions
from report.tokens import load_tokenizer
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
    sequences = corpus_sequences(load_tokenizer(complete.folder), complete.corpus, 32, 256)
    return Runner(model, masked, arch, sequences, "cpu", 0, None, 0, show_progress=False)


def test_incomplete_checkpoints_are_skipped_with_the_reason(planted):
    arch = architecture_for(__import__("json").loads((planted.folder / "config.json").read_text()))
    with pytest.raises(Skipped, match="lacks .* tensors"):
        load_model(planted.folder, arch, "cpu")


def test_a_cutoff_that_keeps_every_frequency_changes_nothing(runner):
    table = runner.position.detach().double().numpy()
    base = runner.evaluate(Intervention())
    same = runner.evaluate(Intervention(position_table=low_pass(table, table.shape[0] // 2 + 1)))
    assert base.losses.shape == (8,) and np.allclose(same.losses, base.losses, rtol=0, atol=1e-6)
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


def test_section_runs_every_experiment_with_a_corpus(complete):
    ctx = context_for(complete)
    ctx.corpus = complete.corpus
    ctx.options = dataclasses.replace(ctx.options, max_tokens=512)
    run_sections(ctx, upto="open_questions")
    r = ctx.results["open_questions"]
    assert r.experiments_skipped is None
    document = open_questions.top_level(r, ctx)["experiments"]
    assert {"baseline_loss", "position_smoothing", "position_dims_dropped", "unigram_ablation", "token_repetition",
            "corpus"} <= set(document)
    assert set(document["position_smoothing"][0]) >= {"cutoff", "variance_removed", "loss", "delta_loss", "ci95"}
    assert set(document["position_dims_dropped"]) == {"non_heavy", "heavy"}
    assert {"delta_loss", "ci95", "null_percentile", "logit_frequency_spearman_before",
            "logit_frequency_spearman_after"} <= set(document["unigram_ablation"])
    assert len(document["unigram_ablation"]["null"]) >= 10
    # every MLP reads the planted unigram dim through a gain of 4: its ablation tops the random dims
    assert document["unigram_ablation"]["null_percentile"] == 1.0 and document["unigram_ablation"]["ci95"][0] > 0
    assert {"token_id", "probability", "percentile"} <= set(document["token_repetition"][0])
    assert document["corpus"]["tokens"] == 512 and len(document["corpus"]["sha256"]) == 64
    names = [f.name for f in open_questions.figures(r, ctx)]
    assert {"open_smoothing", "open_ablations", "open_repetition", "open_mlp_read"} <= set(names)


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
