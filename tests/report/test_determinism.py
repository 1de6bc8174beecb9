"""The same weights give byte-identical results.json, figures, HTML and PDF."""

from __future__ import annotations

import hashlib

from report.cli import main
from tests.planted import Spec, plant


def digests(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_runs_are_byte_identical(tmp_path):
    checkpoint = plant(tmp_path / "m", Spec(d_model=32, n_positions=32, n_layers=2, heavy_dims=(1, 5, 9, 14),
                                            unigram_dim=7))
    runs = []
    for name in ("first", "second"):
        out = tmp_path / name
        assert main(["--model", str(checkpoint.folder), "--out", str(out), "--corpus", str(checkpoint.corpus),
                     "--quiet", "--no-cache"]) == 0
        runs.append(digests(out / checkpoint.folder.name))
    assert {"results.json", "report.html", "report.pdf"} <= set(runs[0])
    assert any(name.endswith(".svg") for name in runs[0]) and any(name.endswith(".png") for name in runs[0])
    assert runs[0] == runs[1]
