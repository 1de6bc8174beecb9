"""The report's own path on a synthetic model: a run context built from arrays (tokens, positions, gains, log
frequency, token bytes) and every claim's verdict as the report's sections give it. `make calibrate` scores
exactly this, so a calibrated rule is the rule a report applies (one code path, no second wiring)."""

from __future__ import annotations

import numpy as np

from analyses.calibration import N_LAYERS, Synthetic
from analyses.claims import REGISTRY
from analyses.stats import shared_moments
from report.load.frequency import TokenFrequency
from report.load.loader import LayerNorm, ModelWeights
from report.load.tokens import TokenTable
from report.run.context import Options, RunContext
from report.run.pipeline import run_sections
from report.sections import all_sections

GATHERER = "claims"  # the section that gathers every claim and applies the degeneracy guard


class UndecidedClaim(RuntimeError):
    """A registered claim that no section decided: calibration would silently score it as never holding."""


def context_from_arrays(model: Synthetic, options: Options) -> RunContext:
    """A run context for `model` as the loader and tokenizer would give it: a tied, pre-LN GPT-2-like model."""
    d = model.tokens.shape[1]
    norms = [LayerNorm(f"h.{layer}.{role}", layer, role, np.asarray(gains[layer], dtype=np.float32),
                       np.zeros(d, dtype=np.float32))
             for layer in range(N_LAYERS) for role, gains in (("ln_1", model.ln1), ("ln_2", model.ln2))]
    norms.append(LayerNorm("ln_f", -1, "ln_f", np.asarray(model.ln_f, dtype=np.float32), np.zeros(d, np.float32)))
    weights = ModelWeights("synthetic", None, "GPT2LMHeadModel", {"model_type": "gpt2"}, model.tokens,
                           np.asarray(model.positions, dtype=np.float32), tuple(norms), None, True,
                           "leading space", "synthetic")
    n = len(model.tokens)
    display = tuple(t.decode("utf-8", "backslashreplace") for t in model.token_bytes)
    tokens = TokenTable(display, model.token_bytes, display, np.asarray(model.word_start, dtype=bool),
                        np.zeros(n, bool), np.ones(n, bool), np.asarray(model.unprintable, dtype=bool), True,
                        "byte-level")
    log10 = np.asarray(model.log_frequency, dtype=np.float64) / np.log(10)  # the report's frequencies are log10
    frequency = TokenFrequency("corpus", "synthetic frequencies", 10 ** log10, log10)
    return RunContext(weights, tokens, frequency, options)


def claim_sections(expensive: bool = True) -> list:
    """The sections that decide a claim, those they read, and the gatherer, in run order; without `expensive`,
    the sections that read the pair pass (zero-layer, outliers) and every section that reads them are left out."""
    sections = {s.key: s for s in all_sections()}
    wanted = {c.section for c in REGISTRY} | {GATHERER}
    missing = wanted - set(sections)
    if missing:
        raise UndecidedClaim(f"claims are registered to sections that do not exist: {', '.join(sorted(missing))}")
    for key in sorted(wanted, key=list(sections).index, reverse=True):
        wanted |= set(sections[key].reads)
    dropped = {key for key, s in sections.items() if s.reads_pairs} if not expensive else set()
    for key, s in sections.items():  # run order: readers come after what they read
        if dropped & set(s.reads) and key != GATHERER:
            dropped.add(key)
    return [s for key, s in sections.items() if key in wanted - dropped]


def verdicts(model: Synthetic, seed: int, expensive: bool = True) -> dict[int, tuple[str, str]]:
    """Every claim's (verdict, detail) on `model`, as a report gives it: the sections that decide claims run
    through the pipeline's own section runner (with the pair pass only if `expensive`). A claim whose section
    ran but that no section decided raises UndecidedClaim."""
    sections = claim_sections(expensive)
    ctx = context_from_arrays(model, Options(seed=seed, experiments=False))
    with shared_moments():  # several sections take the token matrix's column moments: compute them once
        run_sections(ctx, sections)
    checked = ctx.results[GATHERER]
    ran = {s.key for s in sections}
    found = {c.id: (c.verdict, c.detail) for c in checked}
    undecided = [c for c in REGISTRY if c.section in ran and c.id not in found]
    if undecided:
        raise UndecidedClaim("no section decided claim(s) " + ", ".join(f"{c.id} ({c.name})" for c in undecided)
                             + "; each registered claim needs an analysis that calls claim() for it")
    return found
