"""Turn a model argument (Hub id or local directory) into a local folder, offline-first."""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from report.errors import ReportError
from report.load import remote

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
    fetch: dict | None = None  # what was fetched from the Hub to build `path` (ranged reads), if anything


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
    local = check_spec(spec)
    if local is not None:
        return ModelSource(local.resolve(), spec.rstrip("/"), revision, from_hub=False)
    return _from_hub(spec, revision, allow_pickle)


def check_spec(spec: str) -> Path | None:
    """The local folder `spec` names, None for a well-formed Hub id, or a ReportError saying what it is instead
    (without touching the network)."""
    if not spec.strip():
        raise ReportError("An empty --model names no model (it is not taken as the current folder): give a Hub "
                          "id such as 'gpt2' or a local folder in Hub layout, './' for the current one.")
    local = Path(spec).expanduser()
    if local.is_dir():
        return local
    if local.exists():
        raise ReportError(f"{spec!r} is a file, not a checkpoint folder: give the folder that holds config.json, "
                          "*.safetensors and the tokenizer files (or a Hub id such as 'gpt2').")
    if spec.startswith((".", "/", "~")) or os.sep + os.sep in spec or ".." in spec:
        raise ReportError(f"No such model directory: {spec!r}. Give a local folder in Hub layout "
                          "(config.json, *.safetensors, tokenizer files) or a Hub id such as 'gpt2'.")
    if not HUB_ID.match(spec):
        raise ReportError(f"{spec!r} is neither a local directory nor a valid Hub model id "
                          "(like 'gpt2' or 'openai-community/gpt2-medium').")
    return None


def _from_hub(repo_id: str, revision: str | None, allow_pickle: bool) -> ModelSource:
    """The standard Hugging Face cache first (no network); else only the tensors read, by ranged requests
    (report/load/remote); a repo with pickle weights only is downloaded whole, and only with --allow-pickle."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    where = f"{repo_id}" + (f" at revision {revision}" if revision else "")
    shown = f"{repo_id}@{revision}" if revision else repo_id  # two revisions get separate output folders
    path = _hf_cached(repo_id, revision, allow_pickle)
    if path is not None:
        return ModelSource(path, shown, path.name, from_hub=True)
    if offline:
        fetched = remote.cached(repo_id, revision)
        if fetched is not None:
            return ModelSource(fetched.path, shown, fetched.sha, from_hub=True, fetch=fetched.summary)
        raise ReportError(
            f"Model {where} is not in the local Hugging Face cache (nor in this tool's cache of fetched "
            f"tensors) and HF_HUB_OFFLINE is set, so it cannot be fetched. Run once while online (only "
            f"the tensors the report reads are fetched), or `huggingface-cli download {repo_id}`, or point "
            "--model at a local directory in Hub layout (config.json, *.safetensors, tokenizer files).")
    try:
        with _hub_errors(repo_id, revision, where):
            fetched = remote.fetch(repo_id, revision)
            if fetched is None:
                return _whole_pickles(repo_id, revision, allow_pickle, shown)
    except HubUnreachable:
        fetched = remote.cached(repo_id, revision)  # what an earlier run fetched for this revision
        if fetched is None:
            raise
    return ModelSource(fetched.path, shown, fetched.sha, from_hub=True, fetch=fetched.summary)


def _hf_cached(repo_id: str, revision: str | None, allow_pickle: bool) -> Path | None:
    """The snapshot folder in the standard Hugging Face cache, if it holds weights we may read."""
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, revision=revision, allow_patterns=_patterns(allow_pickle),
                                      local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError, or an odd cache layout): fetch instead
        return None
    weights = list(path.glob("*.safetensors")) + (list(path.glob("pytorch_model*.bin")) if allow_pickle else [])
    return path if weights and (path / "config.json").is_file() else None


def _patterns(allow_pickle: bool) -> list[str]:
    return WANTED_FILES + (["pytorch_model.bin", "pytorch_model*.bin", "*.bin.index.json"] if allow_pickle else [])


def _whole_pickles(repo_id: str, revision: str | None, allow_pickle: bool, shown: str) -> ModelSource:
    from huggingface_hub import snapshot_download

    if not allow_pickle:
        raise ReportError(f"Model {repo_id} has only pickle weights (no *.safetensors). Pickle files can run "
                          "code when loaded, so they are refused; pass --allow-pickle to download them whole "
                          "and load them with weights_only=True.")
    print(f"{shown}: only pickle weights on the Hub, so they are downloaded whole (--allow-pickle), "
          "not by ranges", file=sys.stderr, flush=True)
    path = Path(snapshot_download(repo_id, revision=revision, allow_patterns=_patterns(True)))
    return ModelSource(path, shown, path.name, from_hub=True,
                       fetch={"method": "whole pickle files (--allow-pickle)",
                              "files": sorted(p.name for p in path.glob("pytorch_model*.bin"))})


class HubUnreachable(ReportError):
    """The Hub did not answer the first question (which commit is this revision?)."""


@contextmanager
def _hub_errors(repo_id: str, revision: str | None, where: str):
    """huggingface_hub's errors as one paragraph each; a Hub that cannot be reached falls back to our cache."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        yield
    except ReportError:
        raise
    except GatedRepoError as exc:
        raise ReportError(f"Model {repo_id} is gated: accept its terms on its Hub page, then log in "
                          "(`huggingface-cli login`) or set HF_TOKEN.") from exc
    except RevisionNotFoundError as exc:
        raise ReportError(f"Model {repo_id} has no revision {revision!r} on the Hub.") from exc
    except RepositoryNotFoundError as exc:
        raise ReportError(f"There is no model {repo_id!r} on the Hub (check the spelling, "
                          "or log in if it is private).") from exc
    except Exception as exc:  # network down, proxy, DNS: all the same to the user
        raise HubUnreachable(
            f"Model {where} is not in the local Hugging Face cache nor this tool's cache, and the Hub could "
            f"not be reached ({type(exc).__name__}). Run again when online, or `huggingface-cli download "
            f"{repo_id}`, or point --model at a local directory in Hub layout.") from exc
