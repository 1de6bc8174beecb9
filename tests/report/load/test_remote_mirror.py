"""Hub stand-ins that answer less than the Hub: file lists without sizes, revisions without weights; and
--quiet, which silences the fetch's progress bar as well as ours."""

from __future__ import annotations

import warnings

import pytest

from report.cli import main, quiet
from report.errors import ReportError
from report.load.hub import resolve
from report.load.loader import load_weights
from tests.report.load.test_remote import hub, models, server  # noqa: F401  (fixtures)


def test_a_list_without_sizes_falls_back_to_each_files_head(hub, models, monkeypatch):  # noqa: F811
    monkeypatch.setattr(hub, "omit_sizes", True)
    source = resolve("org/sharded")
    weights = load_weights(source)
    assert weights.vocab_rows == models["sharded"].vocab_size
    heads = [path for method, path, _ in hub.requests if method == "HEAD" and path.endswith(".safetensors")]
    assert heads, "the sizes came from somewhere other than the files' own HEAD"


def test_a_revision_without_weights_says_so(hub, models, tmp_path):  # noqa: F811
    folder = tmp_path / "no-weights"
    folder.mkdir()
    (folder / "config.json").write_bytes((models["single"].folder / "config.json").read_bytes())
    hub.add_folder("org/empty", folder)
    with pytest.raises(ReportError, match="has no weights at all") as caught:
        resolve("org/empty")
    assert "pickle" not in str(caught.value)


def test_quiet_silences_fetch_bars_and_matplotlib(hub, tmp_path, capsys):  # noqa: F811
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    enable_progress_bars()  # as for a user: the hub fixture turns them off for the other tests
    try:
        code = main(["--model", "org/tiny", "--out", str(tmp_path / "out"), "--quiet", "--no-cache"])
        assert code == 0 and capsys.readouterr().err == ""
        assert not are_progress_bars_disabled(), "--quiet must not outlive its run"
        with quiet(True), warnings.catch_warnings(record=True) as caught:
            from report.write.plots import style

            with style.style():
                fig = style.figure(2, 1)
                fig.add_subplot().set_title("\U00013000")  # a hieroglyph: no installed font has it
                fig.savefig(tmp_path / "x.png")
        assert not [w for w in caught if "Glyph" in str(w.message)]
    finally:
        disable_progress_bars()
