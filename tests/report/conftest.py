"""One generated report for the whole session, shared by the browser and PDF tests (a report takes seconds)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from report.pipeline import Request, build
from report.render import WarningLog


@dataclass(frozen=True)
class BuiltReport:
    """A report written from the planted checkpoint, and what WeasyPrint said while writing its PDF."""

    folder: Path
    checkpoint: Path
    model_id: str
    pdf_warnings: tuple[str, ...]

    @property
    def html(self) -> Path:
        return self.folder / "report.html"

    @property
    def pdf(self) -> Path:
        return self.folder / "report.pdf"


@pytest.fixture(scope="session")
def built_report(planted, tmp_path_factory) -> BuiltReport:
    out = tmp_path_factory.mktemp("report-out")
    watch = WarningLog()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(watch)
    previous = os.environ.get("WEIGHTS_REPORT_NO_CACHE")
    os.environ["WEIGHTS_REPORT_NO_CACHE"] = "1"  # the PDF must really be rendered here, not restored
    try:
        folder = build(Request(model=str(planted.folder), corpus=planted.corpus), out, show_progress=False)
    finally:
        logger.removeHandler(watch)
        if previous is None:
            os.environ.pop("WEIGHTS_REPORT_NO_CACHE", None)
        else:
            os.environ["WEIGHTS_REPORT_NO_CACHE"] = previous
    model_id = json.loads((folder / "results.json").read_text(encoding="utf-8"))["model"]["id"]
    return BuiltReport(folder, planted.folder, model_id, tuple(watch.messages))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ at the repository root (git-ignored): screenshots and page images to look at."""
    folder = Path(__file__).resolve().parents[2] / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder
