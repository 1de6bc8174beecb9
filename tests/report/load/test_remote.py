"""Hub models read by ranged requests (report/load/remote), against a local Hub stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from report.errors import ReportError
from report.load import remote
from report.load.hub import resolve
from report.load.loader import load_weights
from report.load.remote.store import Store
from report.run.context import Options
from report.run.pipeline import Request, analyse, build, results_document
from report.run.progress import Progress
from report.write import results_json
from tests.hub_server import Fault, HubServer
from tests.planted import Spec, plant

TOKEN_INDEX = Options(frequency="token-index")  # the token-index frequency source, not the wordfreq proxy

ROOT = Path(__file__).resolve().parents[3]
SMALL = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
         "special_tokens_map.json", "model.safetensors.index.json")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub-models")
    return {"single": plant(root / "single", Spec()), "sharded": plant(root / "sharded", Spec(sharded=True)),
            "other": plant(root / "other", Spec(structure=False, seed=1))}


@pytest.fixture(scope="module")
def server(models):
    with HubServer() as hub:
        hub.shas = {
            "single": hub.add_folder("org/tiny", models["single"].folder, exclude=("corpus.txt",)),
            "step1": hub.add_folder("org/tiny", models["other"].folder, branch="step1", exclude=("corpus.txt",)),
            "sharded": hub.add_folder("org/sharded", models["sharded"].folder, exclude=("corpus.txt",)),
        }
        yield hub


@pytest.fixture
def hub(server, tmp_path, monkeypatch):
    """The server, counts and faults reset, with empty caches (ours and Hugging Face's) for this test."""
    server.reset_counts()
    server.faults.clear()
    server.go_down_after(None)
    server.patch_constants(monkeypatch)
    monkeypatch.setenv("WEIGHTS_REPORT_CACHE", str(tmp_path / "report-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(remote.ranges, "RETRIES", 2)
    return server


def expected_bytes(folder: Path) -> int:
    """What a ranged fetch may serve: the tensors the loader reads, every shard's header, the small files."""
    weights = load_weights(resolve(str(folder)))
    total = sum((folder / n).stat().st_size for n in SMALL if (folder / n).is_file())
    for path in folder.glob("*.safetensors"):
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(length))
        total += 8 + length
        total += sum(v["data_offsets"][1] - v["data_offsets"][0]
                     for k, v in header.items() if k in weights.tensor_sha256)
    return total


@pytest.mark.parametrize("kind,repo", [("single", "org/tiny"), ("sharded", "org/sharded")])
def test_fetches_only_what_is_read_then_nothing(hub, models, kind, repo, monkeypatch):
    local = load_weights(resolve(str(models[kind].folder)))
    source = resolve(repo)
    weights = load_weights(source)
    assert weights.tensor_sha256 == local.tensor_sha256
    assert source.revision == hub.shas[kind] and len(source.revision) == 40
    assert 0 < hub.bytes_served <= 1.05 * expected_bytes(models[kind].folder)
    weight_bytes = sum(p.stat().st_size for p in models[kind].folder.glob("*.safetensors"))
    assert hub.bytes_served_for("*.safetensors") < 0.5 * weight_bytes  # the MLP and attention weights stay behind
    assert weights.fetch["bytes_fetched"] == hub.bytes_served
    assert set(weights.fetch["files"]) == {p.name for p in models[kind].folder.glob("*.safetensors")}

    hub.reset_counts()
    again = resolve(repo)
    assert again.path == source.path and hub.bytes_served == 0  # only the API asked which commit `main` is
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.go_down_after(0)
    offline = load_weights(resolve(repo))
    assert offline.tensors_sha256 == local.tensors_sha256 and offline.revision == hub.shas[kind]


def test_a_branch_resolves_to_its_commit(hub, models):
    source = resolve("org/tiny", "step1")
    assert source.revision == hub.shas["step1"] and source.model_id == "org/tiny@step1"
    assert load_weights(source).tensors_sha256 == load_weights(resolve(str(models["other"].folder))).tensors_sha256
    main = resolve("org/tiny")
    assert main.path != source.path


def test_the_standard_hf_cache_is_read_as_before(hub):
    from huggingface_hub import snapshot_download

    snapshot_download("org/tiny")
    hub.reset_counts()
    hub.go_down_after(0)
    source = resolve("org/tiny")
    assert source.fetch is None and "hf-cache" in str(source.path) and source.revision == hub.shas["single"]
    assert hub.bytes_served == 0


@pytest.mark.parametrize("kind", ["drop", "full", "short", "hangup", "unavailable"])
def test_a_fault_once_is_retried(hub, models, kind):
    hub.inject(Fault(kind, path="*.safetensors", times=1))
    weights = load_weights(resolve("org/sharded"))
    assert weights.tensor_sha256 == load_weights(resolve(str(models["sharded"].folder))).tensor_sha256
    assert hub.faults[0].times == 0


def test_a_server_that_never_honours_ranges_is_one_error_and_no_entry(hub):
    hub.inject(Fault("full", path="*.safetensors", times=100))
    with pytest.raises(ReportError, match="whole file"):
        resolve("org/sharded")
    assert Store("org/sharded").entry(hub.shas["sharded"]) is None


def test_a_server_gone_half_way_leaves_no_entry_and_no_report(hub, models, tmp_path):
    small_files = sum((models["sharded"].folder / n).is_file() for n in SMALL)
    hub.go_down_after(small_files + 2 * 2 + 1)  # the small files, two header reads per shard, one tensor range
    out = tmp_path / "out"
    with pytest.raises(ReportError, match="failed"):
        build(Request(model="org/sharded"), out, show_progress=False)
    assert not out.exists() or not any(out.iterdir())
    store = Store("org/sharded")
    assert store.entry(hub.shas["sharded"]) is None and not list(store.folder.glob(f"{hub.shas['sharded']}*"))
    hub.go_down_after(None)
    assert load_weights(resolve("org/sharded")).revision == hub.shas["sharded"]  # the next run starts again


def test_a_header_that_runs_past_the_file_is_refused(hub, models, tmp_path):
    folder = tmp_path / "truncated"
    folder.mkdir()
    for path in models["single"].folder.iterdir():
        if path.name != "corpus.txt":
            data = path.read_bytes()
            (folder / path.name).write_bytes(data[:-4096] if path.suffix == ".safetensors" else data)
    sha = hub.add_folder("org/truncated", folder)
    with pytest.raises(ReportError, match="past the end"):
        resolve("org/truncated")
    assert Store("org/truncated").entry(sha) is None


def test_unreachable_hub_uses_what_was_fetched_or_says_so(hub, tmp_path):
    hub.go_down_after(0)
    with pytest.raises(ReportError, match="could not be reached"):
        resolve("org/tiny")
    hub.go_down_after(None)
    first = resolve("org/tiny")
    hub.go_down_after(0)
    assert resolve("org/tiny").path == first.path


def test_an_interrupted_write_leaves_no_entry(hub, monkeypatch):
    from report.load.remote import store

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "verify_safetensors", interrupt)
    with pytest.raises(KeyboardInterrupt):
        resolve("org/tiny")
    assert Store("org/tiny").entry(hub.shas["single"]) is None
    assert not list(Store("org/tiny").folder.glob(".partial-*"))
    monkeypatch.undo()


def test_extra_keys_later_fetch_only_the_missing_tensor(hub):
    first = resolve("org/tiny")
    hub.reset_counts()
    mlp_weight = "h.0.mlp.c_fc.weight"
    grown = remote.fetch("org/tiny", None, extra_keys=lambda config, keys: [k for k in keys if k == mlp_weight])
    d = 64
    assert grown.path == first.path and grown.summary["tensors"] == first.fetch["tensors"] + 1
    with open(grown.path / "model.safetensors", "rb") as handle:
        assert "h.0.mlp.c_fc.weight" in handle.read(int.from_bytes(handle.read(8), "little")).decode()
    assert d * 4 * d * 4 <= hub.bytes_served_for("*.safetensors") <= d * 4 * d * 4 + 4096  # + the header


def test_gated_repo_needs_a_token(hub, models, monkeypatch):
    sha = hub.add_folder("org/gated", models["single"].folder, exclude=("corpus.txt",))
    hub.gate("org/gated", "secret")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(Path(os.environ["WEIGHTS_REPORT_CACHE"]).parent / "no-token"))
    with pytest.raises(ReportError, match="gated"):
        resolve("org/gated")
    monkeypatch.setenv("HF_TOKEN", "secret")
    assert resolve("org/gated").revision == sha


def test_pickle_only_repos_need_the_opt_in_and_come_whole(hub, models, tmp_path, capsys):
    import torch

    folder = tmp_path / "pickled"
    folder.mkdir()
    for name in ("config.json", "vocab.json", "merges.txt", "tokenizer_config.json"):
        (folder / name).write_bytes((models["single"].folder / name).read_bytes())
    from safetensors.torch import load_file

    torch.save(load_file(str(models["single"].folder / "model.safetensors")), folder / "pytorch_model.bin")
    hub.add_folder("org/pickled", folder)
    with pytest.raises(ReportError, match="--allow-pickle"):
        resolve("org/pickled")
    source = resolve("org/pickled", allow_pickle=True)
    assert "downloaded whole" in capsys.readouterr().err
    assert source.fetch["files"] == ["pytorch_model.bin"]
    assert load_weights(source, allow_pickle=True).vocab_rows == models["single"].vocab_size


def test_cli_report_equals_the_local_folder_one(hub, models, tmp_path):
    """`python -m report --model org/sharded` through HF_ENDPOINT gives the local folder's results."""
    env = {**os.environ, **hub.env(), "PYTHONPATH": str(ROOT)}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "report", "--model", "org/sharded", "--out", str(out),
                          "--frequency", "token-index", "--no-cache"], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert "tensors from 2 file(s)" in run.stderr and "MiB of" in run.stderr  # the bytes progress bar
    # The local side needs only its results.json: the report's own analysis path, without figures or PDF.
    local, _ = analyse(Request(model=str(models["sharded"].folder), options=TOKEN_INDEX),
                       Progress("local", 0, enabled=False))
    results_json.write(tmp_path / "local.json", results_document(local))
    remote_doc = json.loads((out / "org--sharded" / "results.json").read_text())
    local_doc = json.loads((tmp_path / "local.json").read_text())
    assert remote_doc["model"]["revision"] == hub.shas["sharded"]
    fetch = remote_doc["analyses"]["model_card"].pop("fetch")
    assert fetch["bytes_fetched"] <= 1.05 * expected_bytes(models["sharded"].folder)
    assert local_doc["analyses"]["model_card"].pop("fetch") is None
    for doc in (remote_doc, local_doc):
        doc["model"].pop("id"), doc["model"].pop("revision")  # where the weights came from, not what they hold
        doc["analyses"]["model_card"].pop("model_id"), doc["analyses"]["model_card"].pop("revision")
    # ranged reads fetch only embeddings and norms, so the block matrices (MLP read weights) are local-only
    assert "ranged requests" in remote_doc["analyses"].pop("mlp_read")["skipped"]
    assert "roles" in local_doc["analyses"].pop("mlp_read")
    # nor can a forward pass run on what was fetched: the section says to download the model whole
    assert "download it whole" in remote_doc.pop("experiments")["skipped"]
    local_doc.pop("experiments")  # the planted folder has no attention or MLP tensors either: skipped, its own reason
    assert remote_doc == local_doc
    assert "fetched by ranged reads" in (out / "org--sharded" / "report.html").read_text()


def test_a_damaged_cache_entry_is_fetched_again(hub, models):
    first = resolve("org/tiny")
    weights = first.path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    hub.reset_counts()
    again = resolve("org/tiny")
    assert hub.bytes_served_for("*.safetensors") > 0
    assert load_weights(again).tensors_sha256 == load_weights(resolve(str(models["single"].folder))).tensors_sha256


def test_a_row_slice_is_fetched_as_its_own_byte_range(hub, models):
    from safetensors.numpy import load_file

    source = remote.fetch("org/tiny", None, extra_keys=lambda config, keys: ["h.1.mlp.c_fc.weight[8:24]"])
    whole = load_file(str(models["single"].folder / "model.safetensors"))["h.1.mlp.c_fc.weight"]
    stored = load_file(str(source.path / "model.safetensors"))
    assert stored["h.1.mlp.c_fc.weight[8:24]"].shape == (16, whole.shape[1])
    assert (stored["h.1.mlp.c_fc.weight[8:24]"] == whole[8:24]).all()
    assert "h.1.mlp.c_fc.weight" not in stored
    assert hub.bytes_served <= 1.05 * (expected_bytes(models["single"].folder) + whole[8:24].nbytes)
    with pytest.raises(ReportError, match="Rows 0:999"):
        remote.fetch("org/tiny", None, extra_keys=lambda config, keys: ["h.1.mlp.c_fc.weight[0:999]"])


def test_the_hub_stand_in_speaks_ranges_refs_and_errors(hub, models):
    """The fixture other tests reuse: refs per branch, 206 with Content-Range, 416 past the end, Hub headers."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import get_session

    refs = HfApi().list_repo_refs("org/tiny")
    assert {b.name: b.target_commit for b in refs.branches} == {"main": hub.shas["single"], "step1": hub.shas["step1"]}
    url = f"{hub.url}/org/tiny/resolve/step1/model.safetensors"
    size = (models["other"].folder / "model.safetensors").stat().st_size
    head = get_session().head(url)
    assert head.headers["X-Repo-Commit"] == hub.shas["step1"] and head.headers["X-Linked-Size"] == str(size)
    part = get_session().get(url, headers={"Range": "bytes=8-15"})
    assert part.status_code == 206 and part.headers["Content-Range"] == f"bytes 8-15/{size}"
    assert part.content == (models["other"].folder / "model.safetensors").read_bytes()[8:16]
    assert get_session().get(url, headers={"Range": f"bytes={size}-"}).status_code == 416
    assert hub.bytes_served == 8
