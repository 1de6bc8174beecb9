"""Known answers for the interventions on a model small enough to be a formula: logits = (E[x] + P[t]) R Uᵀ."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.experiments import (
    N_NULL_DIMS,
    Evaluation,
    Intervention,
    low_pass,
    mean_replaced,
    paired_delta,
    run_experiments,
    variance_removed,
)

V, D, T, N_SEQ = 40, 16, 12, 24


class FormulaModel:
    """A bigram model read through a matrix R: the loss depends on a dim exactly as much as R reads it."""

    def __init__(self, read: np.ndarray, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.tokens = rng.normal(0, 1, (V, D))
        self.positions = np.sin(np.arange(T)[:, None] * (1 + np.arange(D))[None, :] / T) * 0.3
        self.read = read
        self.out = rng.normal(0, 1, (V, D))
        self.sequences = np.empty((N_SEQ, T), dtype=int)
        self.sequences[:, 0] = rng.integers(0, V, N_SEQ)
        for t in range(1, T):  # sample the data from the model itself, so its loss is near the best possible
            p = self._probabilities(self.tokens, self.positions, self.sequences[:, t - 1], t - 1)
            self.sequences[:, t] = [rng.choice(V, p=row) for row in p]

    def _probabilities(self, tokens, positions, ids, t):
        logits = (tokens[ids] + positions[t]) @ self.read @ self.out.T
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def evaluate(self, change: Intervention) -> Evaluation:
        tokens = self.tokens if change.token_table is None else change.token_table
        positions = self.positions if change.position_table is None else change.position_table
        losses, logits = np.zeros(N_SEQ), []
        for t in range(T - 1):
            p = self._probabilities(tokens, positions, self.sequences[:, t], t)
            losses -= np.log(p[np.arange(N_SEQ), self.sequences[:, t + 1]]) / (T - 1)
            logits.append(np.log(p))
        return Evaluation(losses, np.concatenate(logits).mean(axis=0))

    def repeat_probability(self, ids):
        ids = np.asarray(ids)
        return self._probabilities(self.tokens, self.positions, ids, 0)[np.arange(len(ids)), ids]


def experiments(model: FormulaModel, dim: int, heavy=(0, 1, 2)):
    return run_experiments(model.evaluate, model.repeat_probability, model.tokens, model.positions, heavy, dim,
                           None, [0, 1, 2], seed=0)


def test_low_pass_keeping_every_frequency_is_the_identity():
    table = np.random.default_rng(1).normal(0, 1, (T, D))
    assert np.allclose(low_pass(table, T // 2 + 1), table, atol=1e-12)
    assert variance_removed(table, low_pass(table, T // 2 + 1)) < 1e-20
    kept_mean = low_pass(table, 1)
    assert np.allclose(kept_mean, table.mean(axis=0)) and variance_removed(table, kept_mean) == pytest.approx(1.0)


def test_mean_replaced_leaves_other_dims_alone():
    table = np.arange(12.0).reshape(4, 3)
    out = mean_replaced(table, [1])
    assert np.array_equal(out[:, [0, 2]], table[:, [0, 2]]) and np.all(out[:, 1] == table[:, 1].mean())


def test_ablating_a_dim_the_model_never_reads_changes_nothing():
    read = np.eye(D)
    read[5] = 0  # dim 5 is never read
    r = experiments(FormulaModel(read), dim=5)
    assert abs(r.unigram.delta_loss) < 1e-12 and r.unigram.ci95[0] <= 0 <= r.unigram.ci95[1]
    assert r.null_percentile == 0.0  # every random dim matters more


def test_the_planted_dim_tops_the_null_of_random_dims():
    read = 0.3 * np.eye(D)
    read[7, 7] = 3.0  # the loss depends on dim 7 far more than on any other
    r = experiments(FormulaModel(read), dim=7)
    assert len(r.null_dims) >= N_NULL_DIMS and 7 not in r.null_dims
    assert r.null_percentile == 1.0
    assert r.unigram.ci95[0] > 0 and r.unigram.delta_loss > r.null_deltas.max()


def test_smoothing_and_position_dims_follow_what_the_model_reads():
    read = 0.3 * np.eye(D)
    read[:3, :3] = 3.0 * np.eye(3)  # "heavy" dims 0-2 carry what matters
    r = experiments(FormulaModel(read), dim=7)
    removed = [p.variance_removed for p in r.smoothing]
    assert removed == sorted(removed) and all(0 <= v <= 1 for v in removed)
    assert r.dims_dropped["heavy"].delta_loss > r.dims_dropped["non_heavy"].delta_loss


def test_paired_delta_of_identical_runs_is_zero():
    losses = np.random.default_rng(0).random(30)
    assert paired_delta(losses, losses, seed=0).delta_loss == 0 and paired_delta(losses, losses, 0).ci95 == (0, 0)


def test_deterministic_for_a_seed():
    model = FormulaModel(np.eye(D))
    a, b = experiments(model, 3), experiments(model, 3)
    assert a.null_dims == b.null_dims and np.array_equal(a.null_deltas, b.null_deltas)
    assert a.ordinary_ids == b.ordinary_ids
