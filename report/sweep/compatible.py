"""Checkpoints of one run must be the same model at different steps: one architecture, one shape, one
tokenizer. Emergence follows a dim or a token id from checkpoint to checkpoint, which means nothing across
widths or vocabularies, so a run that mixes them is refused, never silently mixed. Across runs only
behaviour is compared, so runs may differ.

Local checkpoints are checked from their config.json before any analysis (cheap); the tokenizer, and every
Hub checkpoint, only from the analyses' own record of what they read.
"""

from __future__ import annotations

from pathlib import Path

from report.errors import ReportError
from report.load.architectures import architecture_for
from report.load.loader import read_config
from report.sweep.sources import Checkpoint

SHAPE = ("architecture", "vocab_size", "d_model", "n_layers")


def config_identity(folder: Path) -> dict | None:
    """Architecture and shape as config.json states them; None where it cannot be read (the analysis of that
    checkpoint then fails and says why)."""
    try:
        arch = architecture_for(read_config(folder))
    except (ReportError, KeyError, TypeError, ValueError, OverflowError):
        return None
    return {"architecture": arch.name, "vocab_size": arch.vocab_size, "d_model": arch.d_model,
            "n_layers": arch.n_layers}


def analysed_identity(outcome: dict) -> dict | None:
    """Architecture, shape (embedding rows) and tokenizer as the analysis found them; None if it failed."""
    if outcome["status"] != "ok":
        return None
    model = outcome["results"]["model"]
    return {**{key: model.get(key) for key in SHAPE}, "tokenizer": outcome.get("tokenizer_sha256")}


def check_run(checkpoints: list[Checkpoint], identities: list[dict | None]) -> None:
    """Refuse a run whose checkpoints differ; name the first that differs from the run's first known one."""
    known = [(c, i) for c, i in zip(checkpoints, identities) if i is not None]
    if not known:
        return
    first, reference = known[0]
    for checkpoint, identity in known[1:]:
        differences = [_difference(key, reference[key], identity[key]) for key in reference
                       if key in identity and identity[key] != reference[key]]
        if differences:
            raise ReportError(f"Run {checkpoint.run!r} mixes incompatible checkpoints: {_where(checkpoint)} differs "
                              f"from {_where(first)}: {', '.join(differences)}. A sweep follows dims and token ids "
                              "from checkpoint to checkpoint, so every checkpoint of one run must share its "
                              "architecture, shape and tokenizer; give the differing checkpoints as another --run "
                              "(runs are compared by behaviour only).")


def check_configs(runs: dict[str, list[Checkpoint]]) -> None:
    """Before any analysis: the local checkpoints of each run agree in config.json."""
    for checkpoints in runs.values():
        local = [c for c in checkpoints if c.revision is None]
        check_run(local, [config_identity(Path(c.source)) for c in local])


def check_outcomes(runs: dict[str, list[Checkpoint]], outcomes: dict[str, list[dict]]) -> None:
    """After the analyses: each run's analysed checkpoints agree in shape and tokenizer."""
    for name, checkpoints in runs.items():
        check_run(checkpoints, [analysed_identity(o) for o in outcomes[name]])


def _where(checkpoint: Checkpoint) -> str:
    place = checkpoint.source if checkpoint.revision is None else f"{checkpoint.source}@{checkpoint.revision}"
    return f"step {checkpoint.step} ({place})"


def _difference(key: str, expected, found) -> str:
    if key == "tokenizer":
        return "another tokenizer (different token strings)"
    return f"{key} {found!r} instead of {expected!r}"
