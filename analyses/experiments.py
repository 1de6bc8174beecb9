"""Interventions on the embeddings, measured by the language-model loss on a corpus.

The forward passes are not done here: `run_experiments` gets an `evaluate(Intervention)` that returns the
mean loss of every corpus sequence (and the average output logit of every token), and a
`repeat_probability(token ids)` that returns the probability the model gives each token when the token is
the obvious next one (repeated in context). Everything else is numbers: the filters, the ablations, the
paired bootstrap over sequences, the null of random dims, percentiles.

- Position smoothing: each position dim is low-passed along positions (real FFT, the lowest frequencies
  kept, the mean always kept); variance removed = ‖P − P_smooth‖² / ‖P − mean P‖².
- Position dims dropped: the non-heavy dims (then, as a contrast, the heavy dims) replaced by their mean
  over positions.
- Unigram ablation: the unigram dim of every token embedding replaced by its mean over tokens, against the
  same ablation of N_NULL_DIMS random other dims; percentile = share of null dims whose loss rose less.
- Token repetition (Land & Bartolo 2024): a token the model cannot predict even when repeated in context
  was (nearly) never trained. Percentile = share of a random sample of ordinary tokens with a lower
  probability; a token below CANNOT_REPEAT_PCT of them "cannot be repeated".

Delta losses are (intervened − baseline), in nats per token, averaged over sequences; their 95% CIs
resample sequences (paired: the same sequences in both conditions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from analyses.stats import Correlation, correlate

SMOOTHING_KEEP = (0.5, 0.25, 0.125, 0.0625)  # share of the position table's frequencies kept, per cut-off
N_NULL_DIMS = 10
N_BOOTSTRAP = 1000
N_ORDINARY = 100  # ordinary tokens sampled for the repetition null
CANNOT_REPEAT_PCT = 0.05


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


@dataclass(frozen=True)
class Delta:
    """Mean loss change over sequences (nats/token) and its paired-bootstrap 95% CI."""

    delta_loss: float
    ci95: tuple[float, float]


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
        baseline_loss: mean loss per token over sequences (nats); baseline_ci95 its bootstrap CI.
        n_sequences: corpus sequences evaluated.
        smoothing: one SmoothingPoint per cut-off (empty without position embeddings).
        dims_dropped: {"non_heavy": Delta, "heavy": Delta} (empty without position embeddings or heavy dims).
        unigram: Delta of the unigram-dim ablation; null_dims / null_deltas the random dims and theirs;
            null_percentile the share of null dims with a smaller loss change.
        logit_frequency_before, logit_frequency_after: Spearman of the mean output logit per token with log
            frequency, before and after the unigram ablation (None without frequencies).
        repetition_ids, repetition_probability, repetition_percentile: the probed tokens (clump and outliers),
            their repetition probabilities and percentiles among `ordinary_ids`, whose own are `ordinary_probability`.
        cannot_repeat: probed tokens below CANNOT_REPEAT_PCT of the ordinary ones.
    """

    baseline_loss: float
    baseline_ci95: tuple[float, float]
    n_sequences: int
    smoothing: tuple[SmoothingPoint, ...]
    dims_dropped: dict
    unigram: Delta
    null_dims: tuple[int, ...]
    null_deltas: np.ndarray
    null_percentile: float
    logit_frequency_before: Correlation | None
    logit_frequency_after: Correlation | None
    repetition_ids: tuple[int, ...]
    repetition_probability: np.ndarray
    repetition_percentile: np.ndarray
    ordinary_ids: tuple[int, ...]
    ordinary_probability: np.ndarray
    cannot_repeat: tuple[int, ...]


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
    """A copy of `table` [rows, d] whose columns `dims` hold their mean over rows."""
    out = np.array(table, dtype=np.float64)
    dims = list(dims)
    out[:, dims] = out[:, dims].mean(axis=0)
    return out


def bootstrap_mean_ci(values: np.ndarray, seed: int) -> tuple[float, float]:
    """95% percentile-bootstrap CI of the mean of `values` (resampling its entries)."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(N_BOOTSTRAP, len(values)))].mean(axis=1)
    return tuple(float(q) for q in np.percentile(means, [2.5, 97.5]))


def paired_delta(baseline: np.ndarray, changed: np.ndarray, seed: int) -> Delta:
    difference = np.asarray(changed, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    return Delta(float(difference.mean()), bootstrap_mean_ci(difference, seed))


def _logit_frequency(mean_logits: np.ndarray, log_frequency: np.ndarray | None, seed: int) -> Correlation | None:
    if log_frequency is None:
        return None
    n = len(log_frequency)
    return correlate(np.asarray(mean_logits[:n], dtype=np.float64), log_frequency, seed)


def run_experiments(evaluate: Callable[[Intervention], Evaluation],
                    repeat_probability: Callable[[Sequence[int]], np.ndarray],
                    token_table: np.ndarray, position_table: np.ndarray | None, heavy_dims: Sequence[int],
                    unigram_dim: int, log_frequency: np.ndarray | None, probe_ids: Sequence[int],
                    seed: int) -> ExperimentsResult:
    """All interventions; `token_table` [tokens, d] holds the real tokens' rows only."""
    rng = np.random.default_rng(seed)
    base = evaluate(Intervention())
    smoothing, dropped = [], {}
    if position_table is not None:
        n_freq = position_table.shape[0] // 2 + 1
        for fraction in SMOOTHING_KEEP:
            keep = max(1, int(round(fraction * n_freq)))
            smooth = low_pass(position_table, keep)
            run = evaluate(Intervention(position_table=smooth))
            smoothing.append(SmoothingPoint(keep, keep / n_freq, variance_removed(position_table, smooth),
                                            float(run.losses.mean()), paired_delta(base.losses, run.losses, seed)))
        heavy = sorted(int(i) for i in heavy_dims)
        others = sorted(set(range(position_table.shape[1])) - set(heavy))
        if heavy and others:
            for name, dims in (("non_heavy", others), ("heavy", heavy)):
                run = evaluate(Intervention(position_table=mean_replaced(position_table, dims)))
                dropped[name] = paired_delta(base.losses, run.losses, seed)
    ablated = evaluate(Intervention(token_table=mean_replaced(token_table, [unigram_dim])))
    candidates = np.array([i for i in range(token_table.shape[1]) if i != unigram_dim])
    null_dims = tuple(int(i) for i in np.sort(rng.choice(candidates, min(N_NULL_DIMS, len(candidates)), replace=False)))
    null = np.array([evaluate(Intervention(token_table=mean_replaced(token_table, [i]))).losses.mean()
                     for i in null_dims]) - base.losses.mean()
    unigram = paired_delta(base.losses, ablated.losses, seed)
    percentile = float((null < unigram.delta_loss).mean()) if len(null) else float("nan")

    probe = tuple(dict.fromkeys(int(i) for i in probe_ids))
    pool = np.setdiff1d(np.arange(token_table.shape[0]), probe)
    ordinary = tuple(int(i) for i in np.sort(rng.choice(pool, min(N_ORDINARY, len(pool)), replace=False)))
    probabilities = np.asarray(repeat_probability(list(probe) + list(ordinary)), dtype=np.float64)
    probe_p, ordinary_p = probabilities[: len(probe)], probabilities[len(probe):]
    pct = np.array([(ordinary_p < p).mean() for p in probe_p]) if len(ordinary_p) else np.full(len(probe), np.nan)
    return ExperimentsResult(
        baseline_loss=float(base.losses.mean()), baseline_ci95=bootstrap_mean_ci(base.losses, seed),
        n_sequences=len(base.losses), smoothing=tuple(smoothing), dims_dropped=dropped, unigram=unigram,
        null_dims=null_dims, null_deltas=null, null_percentile=percentile,
        logit_frequency_before=_logit_frequency(base.mean_logits, log_frequency, seed),
        logit_frequency_after=_logit_frequency(ablated.mean_logits, log_frequency, seed),
        repetition_ids=probe, repetition_probability=probe_p, repetition_percentile=pct,
        ordinary_ids=ordinary, ordinary_probability=ordinary_p,
        cannot_repeat=tuple(i for i, q in zip(probe, pct) if q < CANNOT_REPEAT_PCT),
    )
