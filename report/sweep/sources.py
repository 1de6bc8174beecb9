"""Which checkpoints a sweep covers: `checkpoint-N` folders of a Trainer output folder, or Hub revisions.

A Hub id's revisions are either named (`step1000`) or matched (`step*`) against the repo's branches and
tags, listed once through huggingface_hub's `list_repo_refs`. A checkpoint's training step comes from
`trainer_state.json` (`global_step`) when there is one, else from the last number in its folder or
revision name.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path

from report.errors import ReportError
from report.load.hub import HUB_ID
from report.write.output_folder import folder_name

TRAINER_FOLDER = re.compile(r"^checkpoint-(\d+)$")
WILDCARDS = set("*?[")


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of one run: where its weights are, and its training step."""

    run: str  # the run's name in the report
    step: int
    source: str  # local folder, or Hub id
    revision: str | None = None  # Hub revision; None for a local folder

    @property
    def label(self) -> str:
        return f"{self.run} step {self.step}"


def discover(run: str, revisions: list[str] | None = None, name: str | None = None) -> list[Checkpoint]:
    """The checkpoints of one run, in step order. `run` is a local folder or a Hub id; `name` is the run's
    name in the report (default: its folder's name, or the Hub id)."""
    folder = Path(run).expanduser()
    name = name or run_name(run)
    if folder.is_dir():
        if revisions:
            raise ReportError(f"--revisions applies to Hub ids, but {run!r} is a local folder; its checkpoints "
                              "are its checkpoint-N subfolders.")
        found = trainer_checkpoints(folder, name)
    elif HUB_ID.match(run) and not run.startswith((".", "/", "~")):
        if not revisions:
            raise ReportError(f"{run!r} is not a local folder; for a Hub id, say which revisions to sweep with "
                              "--revisions (a pattern such as 'step*', or names such as step1000,step2000).")
        found = hub_checkpoints(run, revisions, name)
    else:
        raise ReportError(f"No such run folder: {run!r}. Give a folder of checkpoint-N subfolders (Hugging Face "
                          "Trainer layout) or a Hub id with --revisions.")
    steps = [c.step for c in found]
    duplicated = sorted({s for s in steps if steps.count(s) > 1})
    if duplicated:
        raise ReportError(f"{run!r}: several checkpoints claim step {duplicated[0]}; the sweep needs one per step.")
    return sorted(found, key=lambda c: c.step)


def run_name(run: str) -> str:
    path = Path(run).expanduser()
    return folder_name(path.resolve().name if path.is_dir() else run)


def trainer_checkpoints(folder: Path, name: str) -> list[Checkpoint]:
    found = []
    for child in sorted(folder.iterdir()):
        match = TRAINER_FOLDER.match(child.name)
        if match and child.is_dir():
            found.append(Checkpoint(name, trainer_step(child, int(match.group(1))), str(child)))
    if not found:
        raise ReportError(f"{folder} has no checkpoint-N subfolders (the Hugging Face Trainer layout); "
                          "to analyse a single model, use `python -m report --model`.")
    return found


def trainer_step(folder: Path, from_name: int) -> int:
    """`global_step` from trainer_state.json when it is there and readable, else the folder's number."""
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        step = state["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return from_name
    # JSON true is a Python int too (bool subclasses int); a step is a whole number, never a flag
    return step if type(step) is int and step >= 0 else from_name


def hub_checkpoints(repo_id: str, revisions: list[str], name: str) -> list[Checkpoint]:
    wanted = [r.strip() for value in revisions for r in value.split(",") if r.strip()]
    patterns = [r for r in wanted if WILDCARDS & set(r)]
    names = [r for r in wanted if r not in patterns]
    if patterns:
        refs = list_refs(repo_id)
        matched = sorted({ref for ref in refs for p in patterns if fnmatch.fnmatchcase(ref, p)})
        if not matched:
            raise ReportError(f"No branch or tag of {repo_id} matches {', '.join(patterns)} "
                              f"({len(refs)} refs listed).")
        names = sorted(set(names) | set(matched))
    return [Checkpoint(name, revision_step(repo_id, r), repo_id, r) for r in names]


def revision_step(repo_id: str, revision: str) -> int:
    numbers = re.findall(r"\d+", revision)
    if not numbers:
        raise ReportError(f"Cannot tell the training step of {repo_id} revision {revision!r}: its name has no "
                          "number (revisions like step1000 or checkpoint-1000 have one).")
    return int(numbers[-1])


def list_refs(repo_id: str) -> list[str]:
    """Branch and tag names of a Hub model repo."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:  # a fresh client: it reads the endpoint now, not when huggingface_hub was first imported
        refs = HfApi().list_repo_refs(repo_id)
    except RepositoryNotFoundError as exc:
        raise ReportError(f"There is no model {repo_id!r} on the Hub (check the spelling, or log in if it is "
                          "private).") from exc
    except Exception as exc:  # offline, DNS, proxy: all the same to the user
        raise ReportError(f"Could not list the revisions of {repo_id} on the Hub ({type(exc).__name__}); "
                          "name them explicitly (--revisions step1000,step2000) if they are in the local "
                          "cache.") from exc
    return [ref.name for ref in list(refs.branches) + list(refs.tags)]
