"""Lazy access to any block matrix by role (MLP input/output, attention value/output), read in slices.

`ModelWeights.tensors` holds one `ModelTensors`: it knows each architecture's keys through its adapter
(`Architecture.matrices`) and reads only the rows a question needs, through safetensors' memory-mapped
`get_slice`, a block of rows at a time, so a per-dim norm of a Llama MLP never holds the whole matrix.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from report.errors import ReportError
from report.load.architectures import Architecture, MatrixSpec
from report.run.cache import file_hash

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")  # stored values that are the weights themselves
SAFETENSORS_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64", "I8": "int8",
                      "U8": "uint8", "I32": "int32", "BOOL": "bool", "F8_E4M3": "float8_e4m3fn",
                      "F8_E5M2": "float8_e5m2"}
ROW_BLOCK = 1024  # rows read per slice: bounds memory at ROW_BLOCK × row length float32 values


class ModelTensors:
    """Block matrices of one checkpoint by role and layer, oriented as [in features, out features]."""

    def __init__(self, reader, arch: Architecture, model_id: str):
        self.reader = reader  # report.load.loader.TensorReader
        self.arch = arch
        self.model_id = model_id

    @property
    def folder(self) -> Path:
        return self.reader.folder

    def key(self, spec: MatrixSpec, layer: int) -> str | None:
        return self.reader.find(spec.key.format(i=layer), self.arch.prefixes)

    def missing(self, role: str) -> list[str]:
        """Keys of `role` that the checkpoint lacks in some layer (all of them if the adapter names none)."""
        specs = self.arch.matrix_specs(role)
        if not specs:
            return [f"(no {role} matrices known for {self.arch.name})"]
        absent = (spec.key.format(i=i) for i in range(self.arch.n_layers) for spec in self.arch.matrix_specs(role, i)
                  if self.key(spec, i) is None)
        return list(dict.fromkeys(absent))  # a fused expert tensor is named by one spec per expert: once each

    def not_weights(self, role: str) -> str | None:
        """Why the role's matrices cannot be read as weights (stored as integer or 8-bit codes of a quantized
        model, which this tool does not dequantize), or None when every one is stored as floats."""
        # each key once: a fused expert tensor is named by one spec per expert
        keys = dict.fromkeys(self.key(spec, i) for i in range(self.arch.n_layers)
                             for spec in self.arch.matrix_specs(role, i))
        for key in filter(None, keys):
            dtype = self._dtype(key)
            if dtype not in FLOAT_DTYPES:
                return (f"{key} is stored as {dtype}, the codes of a quantized model, which this tool does not "
                        "dequantize")
        return None

    def has(self, role: str) -> bool:
        return not self.missing(role)

    def read(self, role: str, layer: int) -> np.ndarray:
        """[in, out] float64: the role's matrices of one layer, side by side along the output features."""
        return np.concatenate([np.concatenate(list(self._blocks(spec, layer)), axis=0)
                               for spec in self.arch.matrix_specs(role, layer)], axis=1)

    def feature_norms(self, role: str, layer: int, side: str) -> np.ndarray:
        """L2 norm per input feature (side="in", over every output feature of every matrix of the role) or per
        output feature (side="out", over every input feature; the matrices' outputs side by side); float64."""
        parts = []
        for spec in self.arch.matrix_specs(role, layer):
            squares = [(block ** 2).sum(axis=1 if side == "in" else 0) for block in self._blocks(spec, layer)]
            parts.append(np.concatenate(squares) if side == "in" else np.sum(squares, axis=0))
        return np.sqrt(np.sum(parts, axis=0) if side == "in" else np.concatenate(parts))

    def _blocks(self, spec: MatrixSpec, layer: int):
        """The matrix as [in, out] float64 blocks of ≤ ROW_BLOCK input features, in order; of a fused 3-D expert
        tensor only the spec's expert is read."""
        key = self.key(spec, layer)
        if key is None:
            raise ReportError(f"{self.model_id}: the checkpoint has no tensor {spec.key.format(i=layer)!r}.")
        stored = self._shape(key)
        fused = spec.expert is not None
        if len(stored) != 2 + fused or (fused and not 0 <= spec.expert < stored[0]):
            expected = f"[experts ≥ {spec.expert + 1}, …, …]" if fused else "a matrix"
            raise ReportError(f"{self.model_id}: tensor {key} has shape {tuple(stored)}, expected {expected}.")
        shape = stored[1:] if fused else stored
        lead = (spec.expert,) if fused else ()
        ranges = spec.out_ranges or ((0, shape[1] if spec.layout == "in_out" else shape[0]),)
        n_in = shape[0] if spec.layout == "in_out" else shape[1]
        for start in range(0, n_in, ROW_BLOCK):
            stop = min(n_in, start + ROW_BLOCK)
            if spec.layout == "in_out":
                parts = [self._slice(key, *lead, slice(start, stop), slice(a, b)) for a, b in ranges]
                yield np.concatenate(parts, axis=1)
            else:
                parts = [self._slice(key, *lead, slice(a, b), slice(start, stop)) for a, b in ranges]
                yield np.concatenate(parts, axis=0).T

    def _shape(self, key: str) -> list[int]:
        if self.reader.pickled is not None:
            return list(self.reader.pickled[key].shape)
        with self._open(key) as handle:
            return list(handle.get_slice(key).get_shape())

    def _dtype(self, key: str) -> str:
        if self.reader.pickled is not None:
            return str(self.reader.pickled[key].dtype).removeprefix("torch.")
        with self._open(key) as handle:
            stored = handle.get_slice(key).get_dtype()
        return SAFETENSORS_DTYPES.get(stored, stored)

    def _slice(self, key: str, *index) -> np.ndarray:
        """The stored tensor at `index` (slices, after an expert's int for a fused 3-D tensor), read alone."""
        if self.reader.pickled is not None:
            tensor = self.reader.pickled[key][index]
        else:
            with self._open(key) as handle:
                tensor = handle.get_slice(key)[index]
        array = tensor.to(torch.float64).numpy()
        if not np.isfinite(array).all():
            raise ReportError(f"{self.model_id}: tensor {key} holds NaN/Inf values; the checkpoint is damaged.")
        return array

    def _open(self, key: str):
        from safetensors import safe_open

        path = self.reader.key_to_file[key]
        try:
            return safe_open(str(path), framework="pt")
        except Exception as exc:  # safetensors raises its own error types
            raise ReportError(f"Could not read {key} from {path.name} ({exc}).") from exc

    def files_sha256(self) -> str:
        """sha256 over every weight file's bytes: the identity of the whole model (for forward passes)."""
        digest = hashlib.sha256()
        for path in self.files():
            digest.update(f"{path.name}:{file_hash(path)}\n".encode())
        return digest.hexdigest()

    def fingerprint(self) -> str:
        """A cheap identity of the weight files (names, sizes, modification times) for cache keys of results
        that read block matrices lazily; `files_sha256` is the exact one."""
        files = self.files()
        stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.is_file()]
        return hashlib.sha256(repr(stats).encode()).hexdigest()

    def files(self) -> list[Path]:
        """The weight files: the safetensors files the keys live in, or the opted-in pickles."""
        return sorted(set(self.reader.key_to_file.values())) or \
            sorted(self.folder.glob("pytorch_model*.bin")) + sorted(self.folder.glob("*.pt"))
