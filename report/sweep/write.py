"""The driver's side of a sweep: checkpoint rows, sweep.json, figures, sweep.html and sweep.pdf, written into
a hidden folder and moved into place only when complete (`output_folder.write_atomically`, as for one model)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from report.run.pipeline import provenance, render_document
from report.run.section import FigureSpec
from report.sweep import trajectory
from report.sweep.sources import Checkpoint
from report.write import results_json
from report.write.output_folder import destination_folder, folder_name, write_atomically
from report.write.plots import sweep as plots

SCHEMA_VERSION = 1


def checkpoint_folder(checkpoint: Checkpoint, several_runs: bool) -> str:
    """Where a checkpoint's results.json goes, relative to the sweep folder."""
    folder = f"checkpoints/{folder_name(checkpoint.run)}" if several_runs else "checkpoints"
    return f"{folder}/{checkpoint.step}"


def sweep_document(name: str, runs: dict[str, list[Checkpoint]], outcomes: dict[str, list[dict]],
                   settings: dict) -> dict:
    several = len(runs) > 1
    blocks = {}
    for run, checkpoints in runs.items():
        entries = [{"step": c.step, "source": c.source, "revision": c.revision, "status": o["status"],
                    "error": o["error"],
                    "results": f"{checkpoint_folder(c, several)}/results.json" if o["status"] == "ok" else None,
                    "report": (f"{checkpoint_folder(c, several)}/report.html" if o["files"] else None)}
                   for c, o in zip(checkpoints, outcomes[run])]
        blocks[run] = trajectory.run_block([c.step for c in checkpoints], entries, outcomes[run])
    document = {"schema_version": SCHEMA_VERSION, "kind": "sweep", "name": name, "settings": settings,
                "provenance": provenance()}
    if not several:  # one run: its block at the top level too, as sweep.json's contract reads
        only = next(iter(blocks.values()))
        document.update(checkpoints=only["checkpoints"], trajectories=only["trajectories"],
                        emergence=only["emergence"])
    document["runs"] = blocks
    document["across_runs"] = trajectory.across_runs(blocks)
    document["emergence_spread"] = trajectory.emergence_spread(blocks)
    return document


def write_sweep(out_root: Path, name: str, runs: dict[str, list[Checkpoint]], outcomes: dict[str, list[dict]],
                settings: dict) -> tuple[Path, dict]:
    """Write OUT/<name>/ and return the folder and the sweep document."""
    document = sweep_document(name, runs, outcomes, settings)
    destination = destination_folder(out_root, name)

    def write(folder: Path) -> None:
        several = len(runs) > 1
        for run, checkpoints in runs.items():
            for checkpoint, outcome in zip(checkpoints, outcomes[run]):
                if outcome["status"] != "ok":
                    continue
                target = folder / checkpoint_folder(checkpoint, several)
                target.mkdir(parents=True)
                results_json.write(target / "results.json", outcome["results"])
                for relative, data in outcome["files"].items():
                    if relative != "results.json":
                        (target / relative).parent.mkdir(parents=True, exist_ok=True)
                        (target / relative).write_bytes(data)
        results_json.write(folder / "sweep.json", document)
        render_report(document, folder)

    write_atomically(destination, write, kind="sweep")
    return destination, document


def _figures(document: dict) -> list[FigureSpec]:
    runs = document["runs"]
    specs = [FigureSpec("sweep_unigram_identity", plots.unigram_identity(runs),  # in reading order
                        "The dim the unigram analysis names at each checkpoint; filled where it stands out. The "
                        "shaded span is the final dim's emergence interval, the dotted line its first step for good."),
             FigureSpec("sweep_trajectories", plots.trajectories(runs),
                        "Headline numbers against training step (symmetric-log axis: linear below the first "
                        "non-zero step); gaps are checkpoints whose analysis failed. Shaded in each run's colour: "
                        "the emergence interval of the position-heavy dims and of the clump.")]
    for index, (name, block) in enumerate(runs.items()):
        figure = plots.unigram_ln_gains(name, block)
        if figure is not None:
            specs.append(FigureSpec(f"sweep_ln_gains_{index}", figure,
                                    f"{name}: the gain of the final unigram dim in every LayerNorm, one line per "
                                    "layer, against training step."))
        specs.append(FigureSpec(f"sweep_claims_{index}", plots.claims_matrix(name, block),
                                f"{name}: the study's claims (rows, by number) at every checkpoint (columns)."))
    return specs


def render_report(document: dict, folder: Path) -> list[str]:
    def context(drawn) -> dict:
        shown = [figure for job in drawn() for figure in job]
        figures = {f["name"]: f | {"number": number} for number, f in enumerate(shown, start=1)}
        return {"doc": document, "figures": figures, "runs": list(document["runs"].items())}

    return render_document("sweep.html.j2", context, [partial(_figures, document)], folder, name="sweep", workers=1)
