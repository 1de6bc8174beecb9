"""Turn results into deterministic JSON: floats to 6 significant digits, NaN/Inf to null, arrays to lists."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1


def plain(value):
    """A JSON-ready copy of `value` (dicts keep their order; floats are rounded to 6 significant digits)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return float(f"{value:.6g}") if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot write {type(value).__name__} to results.json")


def dumps(document: dict) -> str:
    return json.dumps(plain(document), ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def write(path: Path, document: dict) -> None:
    path.write_text(dumps(document), encoding="utf-8")


class MissingKey(LookupError):
    """A dotted path leads to a key the document does not have."""


def value_at(document: dict, path: str):
    """The value at a dotted path of a results document (`analyses.svd.singular_values`); None when the value,
    or a parent on the path, is null. Raises MissingKey where the path leaves the document."""
    value = document
    for depth, part in enumerate(path.split(".")):
        if value is None:
            return None
        if not isinstance(value, dict) or part not in value:
            raise MissingKey(".".join(path.split(".")[:depth + 1]))
        value = value[part]
    return value
