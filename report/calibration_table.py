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


def nearest_size(data: dict, d_model: int, tokens: int) -> dict | None:
    """The calibrated size ({"size", "d", "tokens", …} of data["sizes"]) nearest a model of this width and vocabulary,
    nearest in log d and log V together; None when the table has no sizes."""
    sizes = (data or {}).get("sizes") or []
    distance = lambda s: np.hypot(np.log(s["d"] / d_model), np.log(s["tokens"] / tokens))  # noqa: E731
    return min(sizes, key=distance, default=None) if d_model > 0 and tokens > 0 else None


def study_power(data: dict, claim_id: int, d_model: int, tokens: int) -> tuple[int, int, str] | None:
    """(hits, planted models, size label): how often the calibration found claim `claim_id` where the study's effect
    was planted, at the calibrated size nearest this model's; None where the table has no planted models there."""
    size = nearest_size(data, d_model, tokens)
    cell = ((data or {}).get("claims") or {}).get(str(claim_id), {}).get(size["size"]) if size else None
    if not cell or not cell.get("study_n"):
        return None
    return int(cell["study"]), int(cell["study_n"]), size["size"]


def family_wise(data: dict) -> dict | None:
    """How often a null model gets at least one false "holds" over all null families: {null_models,
    with_false_holds, rate, ci (95% Wilson), by_family: {family: {models, with_false_holds}}}; None where the
    table has not measured it."""
    measured = (data or {}).get("family_wise")
    if not measured or not measured.get("null_models"):
        return None
    n, k = int(measured["null_models"]), int(measured["with_false_holds"])
    return {"null_models": n, "with_false_holds": k, "rate": k / n, "ci": wilson(k, n),
            "by_family": measured.get("by_family") or {}}
