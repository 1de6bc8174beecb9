"""A training run in miniature: tiny checkpoints (Trainer layout) whose planted structure grows with the step.

`plant_series(root, Growth(...))` plants one structured checkpoint and one of pure noise with the same
tokenizer (tests/planted.py, unchanged), then writes `root/checkpoint-N/` for every step N as a mix of the
two: the unstructured remainder moves linearly from noise to structure over the run, while each planted
structure switches on whole at its own step, so the step each one emerges at is known exactly:
- position-heavy dims (the position embeddings, the layer-0 LN1 gains and the token embedding columns of
  the heavy dims) from `heavy_from`;
- a decoy: another dim's LN2 gain stands out from `decoy_from` until the real unigram dim takes over, so a
  tracker that ignores the dim's identity would date the unigram dim too early;
- the unigram dim (its LN2 gains and its token embedding column) from `unigram_from`;
- the clump (its tokens' rows) from `clump_from`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from tests.planted import Planted, Spec, plant

TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json")


@dataclass(frozen=True)
class Growth:
    steps: tuple[int, ...] = (0, 100, 200, 400, 800, 1600)
    heavy_from: int = 200
    decoy_from: int | None = 100
    decoy_dim: int = 5
    unigram_from: int = 400
    clump_from: int = 800
    spec: Spec = Spec()


@dataclass(frozen=True)
class Series:
    """The run's folder and the truth planted in it."""

    root: Path
    corpus: Path
    growth: Growth
    final: Planted
    folders: tuple[Path, ...]
    unigram_ln2_gains: tuple[tuple[float, ...], ...] = field(default=())  # [layer][checkpoint], the unigram dim

    def first_step_from(self, onset: int) -> int:
        return min(s for s in self.growth.steps if s >= onset)


def plant_series(root: Path, growth: Growth = Growth()) -> Series:
    root.mkdir(parents=True, exist_ok=True)
    spec = growth.spec
    final = plant(root / ".planted-final", spec)
    noise = plant(root / ".planted-noise", replace(spec, structure=False))
    structured, unstructured = (load_file(str(p.folder / "model.safetensors")) for p in (final, noise))
    corpus = root / "corpus.txt"
    shutil.copyfile(final.corpus, corpus)
    folders = []
    gains = [[] for _ in range(spec.n_layers)]
    for step in growth.steps:
        tensors = mixed(structured, unstructured, step, growth, final)
        folder = root / f"checkpoint-{step}"
        folder.mkdir()
        save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
        for name in TOKENIZER_FILES + ("config.json",):
            shutil.copyfile(final.folder / name, folder / name)
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}),
                                                   encoding="utf-8")
        for layer in range(spec.n_layers):
            gains[layer].append(float(tensors[f"h.{layer}.ln_2.weight"][spec.unigram_dim]))
        folders.append(folder)
    for planted in (final, noise):
        shutil.rmtree(planted.folder)
    return Series(root, corpus, growth, final, tuple(folders), tuple(tuple(g) for g in gains))


def mixed(structured: dict, unstructured: dict, step: int, growth: Growth, final: Planted) -> dict:
    """The checkpoint at `step`: noise and structure mixed as the module docstring says."""
    spec = growth.spec
    share = step / max(growth.steps)  # the remainder's progress from noise to structure
    out = {k: unstructured[k] + share * (structured[k] - unstructured[k]) for k in structured}
    heavy, u = list(spec.heavy_dims), spec.unigram_dim
    if step >= growth.heavy_from:
        out["wpe.weight"] = structured["wpe.weight"].copy()
        out["wte.weight"][:, heavy] = structured["wte.weight"][:, heavy]
        out["h.0.ln_1.weight"][heavy] = structured["h.0.ln_1.weight"][heavy]
    else:
        out["wpe.weight"] = unstructured["wpe.weight"].copy()
    unigram_on = step >= growth.unigram_from
    source = structured if unigram_on else unstructured
    out["wte.weight"][:, u] = source["wte.weight"][:, u]
    for layer in range(spec.n_layers):
        out[f"h.{layer}.ln_2.weight"][u] = source[f"h.{layer}.ln_2.weight"][u]
        if growth.decoy_from is not None and growth.decoy_from <= step < growth.unigram_from:
            out[f"h.{layer}.ln_2.weight"][growth.decoy_dim] = 4.0
    if step >= growth.clump_from:
        rows = list(final.clump)
        out["wte.weight"][rows] = structured["wte.weight"][rows]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}
