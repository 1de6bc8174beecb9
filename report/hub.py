"""Turn a model argument (Hub id or local directory) into a local folder, offline-first."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from report.errors import ReportError

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
WANTED_FILES = [
    "config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "special_tokens_map.json",
]


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files are: the local folder, the id shown in the report, the revision."""

    path: Path
    model_id: str
    revision: str | None
    from_hub: bool


def split_revision(spec: str) -> tuple[str, str | None]:
    """`gpt2@v1` -> ("gpt2", "v1"); an existing local folder, or a spec without `@`, is left whole."""
    if "@" not in spec or Path(spec).expanduser().is_dir():
        return spec, None
    model, _, revision = spec.rpartition("@")
    if not model or not revision:
        raise ReportError(f"{spec!r}: write a Hub revision as MODEL@REVISION, for example gpt2@main.")
    return model, revision


def resolve(spec: str, revision: str | None = None, allow_pickle: bool = False) -> ModelSource:
    """A local directory is used as is; anything else must be a Hub id, looked up in the cache first."""
    local = Path(spec).expanduser()
    if local.is_dir():
        return ModelSource(local.resolve(), spec.rstrip("/"), revision, from_hub=False)
    if spec.startswith((".", "/", "~")) or os.sep + os.sep in spec or ".." in spec:
        raise ReportError(f"No such model directory: {spec!r}. Give a local folder in Hub layout "
                          "(config.json, *.safetensors, tokenizer files) or a Hub id such as 'gpt2'.")
    if not HUB_ID.match(spec):
        raise ReportError(f"{spec!r} is neither a local directory nor a valid Hub model id "
                          "(like 'gpt2' or 'openai-community/gpt2-medium').")
    return _from_hub(spec, revision, allow_pickle)


def _from_hub(repo_id: str, revision: str | None, allow_pickle: bool) -> ModelSource:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    patterns = WANTED_FILES + (["pytorch_model.bin", "pytorch_model*.bin", "*.bin.index.json"] if allow_pickle else [])
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    where = f"{repo_id}" + (f" at revision {revision}" if revision else "")
    try:
        path = snapshot_download(repo_id, revision=revision, allow_patterns=patterns, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError) as cached_miss:
        if offline:
            raise ReportError(
                f"Model {where} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set, so it "
                f"cannot be downloaded. Fetch it once while online (for example "
                f"`huggingface-cli download {repo_id}`), or point --model at a local directory in Hub "
                "layout (config.json, *.safetensors, tokenizer files)."
            ) from cached_miss
        try:
            path = snapshot_download(repo_id, revision=revision, allow_patterns=patterns)
        except RevisionNotFoundError as exc:
            raise ReportError(f"Model {repo_id} has no revision {revision!r} on the Hub.") from exc
        except RepositoryNotFoundError as exc:
            raise ReportError(f"There is no model {repo_id!r} on the Hub (check the spelling, "
                              "or log in if it is private).") from exc
        except Exception as exc:  # network down, proxy, DNS: all the same to the user
            raise ReportError(
                f"Model {where} is not in the local Hugging Face cache and the Hub could not be "
                f"reached ({type(exc).__name__}). Fetch it while online (`huggingface-cli download "
                f"{repo_id}`), or point --model at a local directory in Hub layout."
            ) from exc
    path = Path(path)
    # An asked-for revision is part of the id, so two revisions of one model get separate output folders.
    return ModelSource(path, f"{repo_id}@{revision}" if revision else repo_id, path.name, from_hub=True)
