"""Known answers for the interventions on a model small enough to be a formula: logits = (E[x] + P[t]) R Uᵀ."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.experiments import (
    Evaluation,
    Gradients,
    Intervention,
    Model,
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

    def baseline(self):
        """The model's own evaluation and its Gradients: d(mean loss)/d(token row) summed over occurrences, and
        the sums of each sequence's gradient under labels drawn from the model (analyses.unigram_null)."""
        rng = np.random.default_rng(1)
        rows = np.zeros_like(self.tokens)
        sums, dots = np.zeros((N_SEQ, D)), np.zeros((N_SEQ, D))
        scale = np.sqrt((T - 1) / N_SEQ)
        for t in range(T - 1):
            ids = self.sequences[:, t]
            p = self._probabilities(self.tokens, self.positions, ids, t)
            back = self.out @ self.read.T / (T - 1)  # d(logits)/d(row), as a row-vector map, per token of T − 1
            true = p.copy()
            true[np.arange(N_SEQ), self.sequences[:, t + 1]] -= 1  # d(−log p_y)/d logits
            np.add.at(rows, ids, true @ back / N_SEQ)
            drawn = np.array([rng.choice(V, p=row) for row in p])
            sampled = p.copy()
            sampled[np.arange(N_SEQ), drawn] -= 1
            g = sampled @ back
            sums += scale * g
            dots += scale * g * self.tokens[ids]
        return self.evaluate(Intervention()), Gradients(rows, sums, dots)

    def repeat_probability(self, ids):
        ids = np.asarray(ids)
        return self._probabilities(self.tokens, self.positions, ids, 0)[np.arange(len(ids)), ids]


def experiments(model: FormulaModel, dim: int, heavy=(0, 1, 2)):
    passes = Model(model.baseline, model.evaluate, model.repeat_probability, np.arange(N_SEQ) // 2)
    return run_experiments(passes, model.tokens, model.positions, heavy, dim, None, [0, 1, 2], seed=0)


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
    u = r.unigram
    assert abs(u.delta.delta_loss) < 1e-12 and u.delta.ci95[0] <= 0 <= u.delta.ci95[1]
    assert abs(u.estimate[5]) < 1e-12 and u.rank > 1 and u.p_value > 0.5


def test_the_planted_dim_tops_every_other_dim():
    read = 0.3 * np.eye(D)
    read[7, 7] = 3.0  # the loss depends on dim 7 far more than on any other
    r = experiments(FormulaModel(read), dim=7)
    u = r.unigram
    assert u.null_size == D - 1 and u.rank == 1
    assert u.p_value == pytest.approx(1 / D)  # the smallest p a null of every other dim allows
    assert u.delta.ci95[0] > 0 and u.delta.delta_loss > np.delete(u.effect, 7).max()
    assert 7 in u.exact_dims and len(u.exact_dims) > 3
    lo, hi = u.effect_per_variance_ci95
    assert lo < u.effect_per_variance < hi and u.effect_per_variance == pytest.approx(
        u.delta.delta_loss / u.variance_share[7])


def test_first_order_estimates_track_exact_ablations():
    """Every dim ablated exactly on the formula model: the gradient's estimate ranks them alike."""
    from analyses.stats import spearman
    from analyses.unigram_null import estimated_effects, first_order_effects

    read = np.diag(np.linspace(0.2, 2.0, D))
    model = FormulaModel(read, seed=3)
    base, gradient = model.baseline()
    exact = [model.evaluate(Intervention(token_table=mean_replaced(model.tokens, [j]))).losses.mean()
             - base.losses.mean() for j in range(D)]
    exact = np.array(exact)
    # the model's data are drawn from itself: it sits at its loss's minimum, and the gradient alone misses the cost
    assert abs(spearman(first_order_effects(gradient.rows, model.tokens), exact)) < 0.5
    assert spearman(estimated_effects(gradient, model.tokens), exact) > 0.8


def test_smoothing_and_position_dims_follow_what_the_model_reads():
    read = 0.3 * np.eye(D)
    read[:3, :3] = 3.0 * np.eye(3)  # "heavy" dims 0-2 carry what matters
    r = experiments(FormulaModel(read), dim=7)
    removed = [p.variance_removed for p in r.smoothing]
    assert removed == sorted(removed) and all(0 <= v <= 1 for v in removed)
    assert r.dims_dropped["heavy"].delta_loss > r.dims_dropped["non_heavy"].delta_loss


def test_paired_delta_of_identical_runs_is_zero():
    losses = np.random.default_rng(0).random(30)
    clusters = np.arange(30) // 3
    assert paired_delta(losses, losses, clusters).delta_loss == 0
    assert paired_delta(losses, losses, clusters).ci95 == (0, 0)


def test_deterministic_for_a_seed():
    model = FormulaModel(np.eye(D))
    a, b = experiments(model, 3), experiments(model, 3)
    assert a.unigram.exact_dims == b.unigram.exact_dims and np.array_equal(a.unigram.effect, b.unigram.effect)
    assert a.ordinary_ids == b.ordinary_ids and np.array_equal(a.repetition_q, b.repetition_q)
