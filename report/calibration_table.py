"""The committed calibration table (report/calibration.json, written by `make calibrate`) as the report reads it:
its targets, the 95% Wilson interval every rate is shown with, and the loader. Kept apart from the command so a
report does not import the synthetic-model generators."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "calibration.json"
MAX_FPR, MIN_POWER = 0.05, 0.90


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a binomial rate k/n ((0, 1) when n = 0)."""
    if n == 0:
        return 0.0, 1.0
    z = 1.959964
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def load(path: Path = DATA) -> dict | None:
    """The committed calibration, or None when it has not been run."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
