"""Interventions on the embeddings, measured by the language-model loss on a corpus.

The forward passes are not done here: `run_experiments` gets a `Model` whose `baseline()` returns the mean loss
of every corpus sequence (and the average output logit of every token) with the gradients of the loss with
respect to the token embedding rows (analyses/unigram_null.py), whose `evaluate(Intervention)` does the same
pass with replaced tables, and whose `repeat_probability(token ids)` returns the probability the model gives
each token when the token is the obvious next one (repeated in context). Everything else is numbers
(analyses/inference.py for the tests).

- Position smoothing: each position dim is low-passed along positions (real FFT, the lowest frequencies
  kept, the mean always kept); variance removed = ‖P − P_smooth‖² / ‖P − mean P‖².
- Position dims dropped: the non-heavy dims (then, as a contrast, the heavy dims) replaced by their mean
  over positions.
- Unigram ablation: the unigram dim of every token embedding replaced by its mean over tokens. Every other
  dim is its null. Each dim's loss change is estimated at once from the baseline pass's gradients (first
  order plus a Gauss–Newton curvature term); the dims leading that estimate and the dims of largest variance
  are ablated exactly, the unigram dim always. p = (1 + #other dims whose effect,
  exact where measured, estimated elsewhere, is ≥ the unigram dim's) / d. Effect per variance: its loss
  change per unit share of the table's total variance that the ablation removes.
- Token repetition (Land & Bartolo 2024): a token the model cannot predict even when repeated in context
  was (nearly) never trained. Each probe's p is its rank among ordinary tokens (lower probability: smaller
  p); Benjamini–Hochberg across probes at REPETITION_FDR; only the confirmed "cannot be repeated".

Delta losses are (intervened − baseline), in nats per token, averaged over sequences; their 95% CIs are
cluster-robust t-intervals over the corpus's unit (documents, or separated sequences).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from analyses.inference import (
    Delta,
    benjamini_hochberg,
    cluster_interval,
    lower_tail_p,
    paired_delta,
    reference_size,
)
from analyses.stats import Correlation, correlate
from analyses.unigram_null import Gradients, UnigramNull, unigram_null

SMOOTHING_KEEP = (0.5, 0.25, 0.125, 0.0625)  # share of the position table's frequencies kept, per cut-off
REPETITION_FDR = 0.05  # Benjamini–Hochberg level across the probed tokens
MIN_ORDINARY = 100  # ordinary tokens sampled for the repetition null, at least (more with many probes)

__all__ = ["Delta", "Evaluation", "Gradients", "ExperimentsResult", "Intervention", "Model", "SmoothingPoint",
           "UnigramNull", "low_pass", "mean_replaced", "paired_delta", "run_experiments", "variance_removed"]


@dataclass(frozen=True, eq=False)
class Intervention:
    """Replacement tables for one forward pass (None: the model's own)."""

    token_table: np.ndarray | None = None  # [tokens, d]
    position_table: np.ndarray | None = None  # [positions, d]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One pass over the corpus: mean loss per sequence (nats/token) and mean output logit per token."""

    losses: np.ndarray  # [sequences]
    mean_logits: np.ndarray  # [vocab]


@dataclass(frozen=True, eq=False)
class Model:
    """What the experiments may ask of the model and its corpus.

    Attributes:
        baseline: () -> (Evaluation, Gradients of the mean loss w.r.t. the token input rows).
        evaluate: Intervention -> Evaluation over the same sequences.
        repeat_probability: token ids -> P(token | token repeated), one per id.
        clusters: [sequences] the unit each sequence belongs to (its document, or itself).
    """

    baseline: Callable[[], tuple[Evaluation, Gradients]]
    evaluate: Callable[[Intervention], Evaluation]
    repeat_probability: Callable[[Sequence[int]], np.ndarray]
    clusters: np.ndarray


@dataclass(frozen=True)
class SmoothingPoint:
    """One smoothing cut-off: frequencies kept of the total, variance removed (0..1), loss and its change."""

    cutoff: int
    kept_fraction: float
    variance_removed: float
    loss: float
    delta: Delta


@dataclass(frozen=True, eq=False)
class ExperimentsResult:
    """Every intervention's effect on the loss.

    Attributes:
        baseline_loss: mean loss per token over sequences (nats); baseline_ci95 its cluster-robust CI.
        n_sequences, n_clusters: corpus sequences evaluated and the units they came in.
        smoothing: one SmoothingPoint per cut-off (empty without position embeddings).
        dims_dropped: {"non_heavy": Delta, "heavy": Delta} (empty without position embeddings or heavy dims).
        unigram: the unigram-dim ablation against every other dim (analyses.unigram_null.UnigramNull).
        logit_frequency_before, logit_frequency_after: Spearman of the mean output logit per token with log
            frequency, before and after the unigram ablation (None without frequencies).
        repetition_ids, repetition_probability: the probed tokens (clump and outliers) and their repetition
            probabilities; repetition_percentile: share of `ordinary_ids` (whose own are `ordinary_probability`)
            with a lower one; repetition_p, repetition_q: each probe's p against the ordinary tokens and its
            Benjamini–Hochberg q-value.
        repetition_fdr: the BH level; cannot_repeat: probed tokens with q ≤ it.
    """

    baseline_loss: float
    baseline_ci95: tuple[float, float]
    n_sequences: int
    n_clusters: int
    smoothing: tuple[SmoothingPoint, ...]
    dims_dropped: dict
    unigram: UnigramNull
    logit_frequency_before: Correlation | None
    logit_frequency_after: Correlation | None
    repetition_ids: tuple[int, ...]
    repetition_probability: np.ndarray
    repetition_percentile: np.ndarray
    repetition_p: np.ndarray
    repetition_q: np.ndarray
    ordinary_ids: tuple[int, ...]
    ordinary_probability: np.ndarray
    repetition_fdr: float
    cannot_repeat: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Repetition:
    """Probes against ordinary tokens: probabilities, percentiles, p, BH q, and the confirmed probes."""

    ids: tuple[int, ...]
    probability: np.ndarray
    percentile: np.ndarray
    p: np.ndarray
    q: np.ndarray
    ordinary_ids: tuple[int, ...]
    ordinary_probability: np.ndarray
    confirmed: tuple[int, ...]


def low_pass(table: np.ndarray, keep: int) -> np.ndarray:
    """Each column of `table` [positions, d] with only its `keep` lowest real-FFT frequencies (≥ 1: the mean)."""
    spectrum = np.fft.rfft(np.asarray(table, dtype=np.float64), axis=0)
    spectrum[max(1, keep):] = 0
    return np.fft.irfft(spectrum, n=table.shape[0], axis=0)


def variance_removed(original: np.ndarray, changed: np.ndarray) -> float:
    """‖original − changed‖² over the original's variance around its per-dim mean (0: nothing removed)."""
    original = np.asarray(original, dtype=np.float64)
    total = ((original - original.mean(axis=0)) ** 2).sum()
    return float(((original - changed) ** 2).sum() / total) if total > 0 else 0.0


def mean_replaced(table: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """A copy of `table` [rows, d] (float32 or wider, as it is) whose columns `dims` hold their mean over rows
    (computed in float64)."""
    out = np.array(table, dtype=np.result_type(np.asarray(table).dtype, np.float32))
    dims = list(dims)
    out[:, dims] = np.asarray(table, dtype=np.float64)[:, dims].mean(axis=0)
    return out


def probe_repetition(repeat_probability: Callable[[Sequence[int]], np.ndarray], probe_ids: Sequence[int],
                     n_tokens: int, level: float, seed: int) -> Repetition:
    """The probes' repetition p-values against enough ordinary tokens (drawn with `seed`) for the smallest p
    to clear BH's first step at `level`, and the probes confirmed at that level."""
    probe = tuple(dict.fromkeys(int(i) for i in probe_ids))
    pool = np.setdiff1d(np.arange(n_tokens), probe)
    size = min(max(MIN_ORDINARY, reference_size(len(probe), level)), len(pool))
    ordinary = tuple(int(i) for i in np.sort(np.random.default_rng(seed).choice(pool, size, replace=False)))
    probabilities = np.asarray(repeat_probability(list(probe) + list(ordinary)), dtype=np.float64)
    probe_p, ordinary_p = probabilities[: len(probe)], probabilities[len(probe):]
    percentile = np.array([(ordinary_p < p).mean() for p in probe_p]) if size else np.full(len(probe), np.nan)
    p = lower_tail_p(probe_p, ordinary_p)
    q = benjamini_hochberg(p)
    return Repetition(probe, probe_p, percentile, p, q, ordinary, ordinary_p,
                      tuple(i for i, value in zip(probe, q) if value <= level))


def _logit_frequency(mean_logits: np.ndarray, log_frequency: np.ndarray | None, seed: int) -> Correlation | None:
    if log_frequency is None:
        return None
    n = len(log_frequency)
    return correlate(np.asarray(mean_logits[:n], dtype=np.float64), log_frequency, seed)


def _positions(model: Model, base: Evaluation, position_table: np.ndarray, heavy_dims: Sequence[int]):
    smoothing, dropped = [], {}
    n_freq = position_table.shape[0] // 2 + 1
    for fraction in SMOOTHING_KEEP:
        keep = max(1, int(round(fraction * n_freq)))
        smooth = low_pass(position_table, keep)
        run = model.evaluate(Intervention(position_table=smooth))
        smoothing.append(SmoothingPoint(keep, keep / n_freq, variance_removed(position_table, smooth),
                                        float(run.losses.mean()), paired_delta(base.losses, run.losses,
                                                                               model.clusters)))
    heavy = sorted(int(i) for i in heavy_dims)
    others = sorted(set(range(position_table.shape[1])) - set(heavy))
    if heavy and others:
        for name, dims in (("non_heavy", others), ("heavy", heavy)):
            run = model.evaluate(Intervention(position_table=mean_replaced(position_table, dims)))
            dropped[name] = paired_delta(base.losses, run.losses, model.clusters)
    return tuple(smoothing), dropped


def run_experiments(model: Model, token_table: np.ndarray, position_table: np.ndarray | None,
                    heavy_dims: Sequence[int], unigram_dim: int, log_frequency: np.ndarray | None,
                    probe_ids: Sequence[int], seed: int) -> ExperimentsResult:
    """All interventions; `token_table` [tokens, d] holds the real tokens' rows only."""
    base, gradients = model.baseline()
    smoothing, dropped = ((), {}) if position_table is None else _positions(model, base, position_table, heavy_dims)
    ablate = lambda dim: model.evaluate(Intervention(token_table=mean_replaced(token_table, [dim])))  # noqa: E731
    unigram, ablated = unigram_null(ablate, base.losses, model.clusters, gradients, token_table,
                                    unigram_dim)
    repetition = probe_repetition(model.repeat_probability, probe_ids, token_table.shape[0], REPETITION_FDR, seed)
    return ExperimentsResult(
        baseline_loss=float(base.losses.mean()),
        baseline_ci95=cluster_interval(base.losses, model.clusters),
        n_sequences=len(base.losses), n_clusters=len(np.unique(model.clusters)),
        smoothing=smoothing, dims_dropped=dropped, unigram=unigram,
        logit_frequency_before=_logit_frequency(base.mean_logits, log_frequency, seed),
        logit_frequency_after=_logit_frequency(ablated.mean_logits, log_frequency, seed),
        repetition_ids=repetition.ids, repetition_probability=repetition.probability,
        repetition_percentile=repetition.percentile, repetition_p=repetition.p, repetition_q=repetition.q,
        ordinary_ids=repetition.ordinary_ids, ordinary_probability=repetition.ordinary_probability,
        repetition_fdr=REPETITION_FDR, cannot_repeat=repetition.confirmed,
    )

