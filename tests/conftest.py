"""Shared fixtures: tiny planted checkpoints, and a loaded RunContext for section-level tests."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network
os.environ["WEIGHTS_REPORT_NO_CACHE"] = "1"  # each test computes; cache tests opt back in

from report.context import Options, RunContext  # noqa: E402
from report.frequency import from_corpus  # noqa: E402
from report.hub import resolve  # noqa: E402
from report.loader import load_weights  # noqa: E402
from report.tokens import load_tokenizer, load_tokens  # noqa: E402
from tests.planted import Planted, Spec, plant  # noqa: E402


@pytest.fixture(scope="session")
def planted(tmp_path_factory) -> Planted:
    """A GPT-2-shaped checkpoint with every structure of the study planted (Hub key style, tied)."""
    return plant(tmp_path_factory.mktemp("planted"), Spec())


@pytest.fixture(scope="session")
def unplanted(tmp_path_factory) -> Planted:
    """The same shapes holding isotropic noise only: the study's structural claims must fail here."""
    return plant(tmp_path_factory.mktemp("unplanted"), Spec(structure=False, seed=1))


def context_for(checkpoint: Planted, seed: int = 0) -> RunContext:
    """Load a planted checkpoint the way the pipeline does, with exact corpus frequencies."""
    source = resolve(str(checkpoint.folder))
    weights = load_weights(source)
    tokenizer = load_tokenizer(source.path)
    tokens = load_tokens(tokenizer, weights.vocab_rows, weights.word_start_rule)
    frequency = from_corpus(tokenizer, checkpoint.corpus, weights.vocab_rows)
    return RunContext(weights, tokens, frequency, Options(seed=seed, device="cpu"))


def run_sections(ctx: RunContext, upto: str | None = None) -> RunContext:
    """Run every registered section in order (stopping after `upto`) as the pipeline does, filling ctx.results."""
    from report.pipeline import run_section
    from report.sections import all_sections

    for section in all_sections():
        ctx.results[section.key] = run_section(section, ctx)
        if section.key == upto:
            break
    return ctx


@pytest.fixture(scope="session")
def planted_ctx(planted) -> RunContext:
    return run_sections(context_for(planted))


@pytest.fixture(scope="session")
def unplanted_ctx(unplanted) -> RunContext:
    return run_sections(context_for(unplanted))
