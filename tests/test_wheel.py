"""The package installed from its wheel, outside the checkout, finds its own templates and data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.planted import Spec, plant

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "report", "analyses", "templates")


def _run(*args, **kwargs) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_report_from_the_installed_wheel(tmp_path):
    source = tmp_path / "source"  # a copy: building must not leave build/ or egg-info in the checkout
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", tmp_path / "dist", source)
    [wheel] = (tmp_path / "dist").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    templates = {f"report/templates/{p.relative_to(ROOT / 'templates')}" for p in (ROOT / "templates").rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts}
    assert templates | {"report/calibration.json"} <= shipped

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    # The dependencies come from this environment's site-packages: a plain path, so its .pth files (the
    # checkout's editable install among them) are not processed and `report` can only come from the wheel.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(WEIGHTS_REPORT_NO_CACHE="1", HF_HUB_OFFLINE="1")
    where = _run(python, "-c", "import report, report.write.render as r; print(report.__file__); print(r.TEMPLATES)",
                 cwd=elsewhere, env=env).split()
    assert all(Path(p).is_relative_to(site) for p in where), where
    model = plant(tmp_path / "model", Spec(d_model=32, n_positions=32, n_layers=2, heavy_dims=(1, 5, 9, 14),
                                           unigram_dim=7)).folder
    _run(venv / "bin" / "weights-report", "--model", model, "--out", tmp_path / "out", "--quiet",
         cwd=elsewhere, env=env)
    written = {p.name for p in (tmp_path / "out" / "model").iterdir()}
    assert {"report.html", "report.pdf", "results.json", "figures"} <= written
