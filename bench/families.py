"""GPT-2-shaped token embedding matrices that the planted checkpoint does not resemble.

Each family keeps the planted checkpoint's tokenizer and other tensors and replaces `wte.weight` with a
matrix built from a fixed seed (V = rows of the planted matrix, d = its width; norms around 3, as in GPT-2):

    isotropic      Gaussian directions, norms within ±3 %: no norm bound can prune anything
    common-mean    a shared mean direction 0.42 × the median norm (SVD 0 ≈ mean), norm IQR/median ≈ 0.27
    heavy-tailed   Gaussian directions, log-normal norms (σ = 0.8): a few very long tokens beat many
    near-duplicate every third token a copy of another, scaled by 1 ± 3 % with a little noise, some exact
    clump          common-mean rows, and 3,680 of them (7 %: reserved or padding tokens after weight decay)
                   near-identical: one short centre plus noise 1e-3 of its length, none bit-identical
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

FAMILIES = ("isotropic", "common-mean", "heavy-tailed", "near-duplicate", "clump")
CLUMP_SHARE = 3680 / 50257


def matrix(family: str, rows: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((rows, d), dtype=np.float32) / np.float32(np.sqrt(d))
    if family == "isotropic":
        return directions * np.float32(3.0) * (1 + 0.01 * rng.standard_normal((rows, 1), dtype=np.float32))
    if family == "common-mean":
        mean = rng.standard_normal(d).astype(np.float32)
        mean *= 0.42 * 3.0 / np.linalg.norm(mean)
        return mean + directions * np.float32(2.7) * rng.lognormal(0, 0.2, (rows, 1)).astype(np.float32)
    if family == "heavy-tailed":
        return directions * np.float32(3.0) * rng.lognormal(0, 0.8, (rows, 1)).astype(np.float32)
    if family == "near-duplicate":
        w = directions * np.float32(3.0) * rng.lognormal(0, 0.1, (rows, 1)).astype(np.float32)
        copies = rng.choice(rows, size=rows // 3, replace=False)
        sources = rng.integers(0, rows, size=len(copies))
        scale = (1 + 0.03 * rng.uniform(-1, 1, (len(copies), 1))).astype(np.float32)
        noise = rng.standard_normal((len(copies), d), dtype=np.float32) * np.float32(3e-3)
        w[copies] = w[sources] * scale + noise
        w[copies[:500]] = w[sources[:500]]  # exact duplicates
        return w
    if family == "clump":
        w = matrix("common-mean", rows, d, seed)
        centre = rng.standard_normal(d).astype(np.float32)
        centre *= 0.3 / np.linalg.norm(centre)
        members = rng.choice(rows, size=round(CLUMP_SHARE * rows), replace=False)
        noise = rng.standard_normal((len(members), d), dtype=np.float32) * np.float32(0.3e-3 / np.sqrt(d))
        w[members] = centre + noise
        return w
    raise ValueError(f"unknown family {family}")


def checkpoint(family: str, planted: Path, data: Path) -> Path:
    """A copy of the planted checkpoint folder with the family's token embedding matrix."""
    from safetensors.numpy import load_file, save_file

    folder = data / f"gpt2-{family}"
    if (folder / "config.json").is_file():
        return folder
    print(f"building the {family} checkpoint in {folder} …", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(planted, folder)
    files = sorted(folder.glob("*.safetensors"))
    for path in files:
        tensors = load_file(str(path))
        if "wte.weight" in tensors:
            rows, d = tensors["wte.weight"].shape
            tensors["wte.weight"] = np.ascontiguousarray(matrix(family, rows, d), dtype=np.float32)
            save_file(tensors, str(path), metadata={"format": "pt"})
    return folder
