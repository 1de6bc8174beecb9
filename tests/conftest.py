"""Shared fixtures: tiny planted checkpoints, a loaded RunContext for section-level tests, and one report of the
planted checkpoint written through the CLI for every test that reads a finished report."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network
os.environ["WEIGHTS_REPORT_NO_CACHE"] = "1"  # each test computes; cache tests opt back in


def _cores_per_worker() -> int | None:
    """Under pytest-xdist (`make test` runs `-n auto`), this worker's share of the cores; None when run alone."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not os.environ.get("PYTEST_XDIST_WORKER") or not workers:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // int(workers))


# N workers each using every core would oversubscribe the machine; subprocesses inherit the same share.
CORES_PER_WORKER = _cores_per_worker()
if CORES_PER_WORKER is not None:
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(CORES_PER_WORKER)

import torch  # noqa: E402

from report.cli import main  # noqa: E402
from report.load.frequency import from_corpus  # noqa: E402
from report.load.hub import resolve  # noqa: E402
from report.load.loader import load_weights  # noqa: E402
from report.load.tokens import load_tokenizer, load_tokens  # noqa: E402
from report.run import pipeline  # noqa: E402
from report.run.context import Options, RunContext  # noqa: E402
from report.run.pipeline import run_section  # noqa: E402
from report.run.progress import Progress  # noqa: E402
from report.sections import all_sections  # noqa: E402
from report.write.render import WarningLog  # noqa: E402
from tests.planted import Planted, Spec, plant  # noqa: E402

if CORES_PER_WORKER is not None:
    torch.set_num_threads(CORES_PER_WORKER)


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


@dataclass(frozen=True)
class BuiltReport:
    """A report written from the planted checkpoint (with its corpus) by `python -m report`, what WeasyPrint
    said while writing its PDF, and the progress bars the run drew."""

    folder: Path
    checkpoint: Path
    model_id: str
    pdf_warnings: tuple[str, ...]
    progress_bars: tuple[Progress, ...]

    @property
    def html(self) -> Path:
        return self.folder / "report.html"

    @property
    def pdf(self) -> Path:
        return self.folder / "report.pdf"


@pytest.fixture(scope="session")
def built_report(planted, tmp_path_factory) -> BuiltReport:
    """One report for the whole session (a report takes seconds): the end-to-end, PDF and browser tests read it."""
    out = tmp_path_factory.mktemp("report-out")
    bars: list[Progress] = []

    class RecordedProgress(Progress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    watch = WarningLog()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(watch)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pipeline, "Progress", RecordedProgress)
            patch.setenv("WEIGHTS_REPORT_NO_CACHE", "1")  # the PDF must really be rendered here, not restored
            code = main(["--model", str(planted.folder), "--out", str(out), "--corpus", str(planted.corpus),
                         "--quiet"])
    finally:
        logger.removeHandler(watch)
    assert code == 0
    folder = out / planted.folder.name
    model_id = json.loads((folder / "results.json").read_text(encoding="utf-8"))["model"]["id"]
    return BuiltReport(folder, planted.folder, model_id, tuple(watch.messages), tuple(bars))
