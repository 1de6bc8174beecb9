"""Read only the tensors the report needs: token and position embeddings, LayerNorms, an untied head
(and, through `ModelWeights.tensors`, any block matrix by role, lazily and in slices).

Safetensors files are memory-mapped and read tensor by tensor; pickle checkpoints are refused unless
the user opts in, and even then loaded with `weights_only=True`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from report.errors import ReportError
from report.load.architectures import Architecture, architecture_for
from report.load.hub import ModelSource, check_spec
from report.load.tensors import FLOAT_DTYPES, ModelTensors


@dataclass(frozen=True, eq=False)
class LayerNorm:
    """One LayerNorm's parameters. `layer` is -1 for the final LayerNorm; `role` is ln_1, ln_2 or ln_f.
    `weight` is the effective gain, the factor the model multiplies by (Gemma's stored weight + 1)."""

    name: str
    layer: int
    role: str
    weight: np.ndarray  # [d_model] gains
    bias: np.ndarray  # [d_model]; zeros where the norm has none (RMSNorm)
    has_bias: bool = True


@dataclass(frozen=True, eq=False)
class ModelWeights:
    """The weights a report reads, as float32 arrays, and what identifies them.

    Attributes:
        token_embeddings: [vocab_rows, d_model] input embedding matrix (rows are tokens).
        position_embeddings: [n_positions, d_model], or None for models without learned positions.
        layer_norms: every LayerNorm in model order (ln_1, ln_2 per layer, then the final one).
        unembedding: [vocab_rows, d_model] output matrix when it differs from the input one, else None.
        tied: whether the output matrix is the input embedding matrix.
        tensors_sha256: sha256 over the names, dtypes, shapes and bytes of every tensor read.
        tensor_sha256: per-tensor sha256 of the stored bytes, by checkpoint key.
        tensor_dtype: per-tensor stored dtype (float16, bfloat16, float32, float64), by checkpoint key.
        mlp_norm_role: role of the LayerNorm in front of each MLP ("ln_2", or "ln_1" in post-LN models).
        shared_norm: each block has one norm (role ln_1) feeding attention and the MLP alike (Phi-1/2, GPT-J,
            Cohere, Falcon-7B): it plays both roles, and there are no ln_2 norms.
        tensors: lazy, sliced access to the block matrices (MLP, attention) by role; None when built by hand.
    """

    model_id: str
    revision: str | None
    architecture: str
    config: dict
    token_embeddings: np.ndarray
    position_embeddings: np.ndarray | None
    layer_norms: tuple[LayerNorm, ...]
    unembedding: np.ndarray | None
    tied: bool
    word_start_rule: str
    tensors_sha256: str
    tensor_sha256: dict = field(default_factory=dict)
    mlp_norm_role: str = "ln_2"
    shared_norm: bool = False
    fetch: dict | None = None  # for a Hub model read by ranged requests: bytes fetched, from which files
    tensors: ModelTensors | None = None
    tensor_dtype: dict = field(default_factory=dict)

    @property
    def vocab_rows(self) -> int:
        return int(self.token_embeddings.shape[0])

    @property
    def d_model(self) -> int:
        return int(self.token_embeddings.shape[1])

    @property
    def n_positions(self) -> int:
        return 0 if self.position_embeddings is None else int(self.position_embeddings.shape[0])

    @property
    def n_layers(self) -> int:
        return 1 + max((ln.layer for ln in self.layer_norms), default=-1)

    def norms_with_role(self, role: str) -> tuple[LayerNorm, ...]:
        return tuple(ln for ln in self.layer_norms if ln.role == role)


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise ReportError(f"{folder} has no config.json, so it is not a model folder in Hub layout.")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}.") from exc
    if not isinstance(config, dict):
        raise ReportError(f"{path} holds a JSON {type(config).__name__}, not an object of settings "
                          "(like {\"model_type\": \"gpt2\", ...}).")
    return config


def check_model(spec: str, allow_pickle: bool = False) -> None:
    """The cheap checks of a model argument, before any model is built: its form, and for a local folder its
    config.json and weight files (safetensors headers only). A Hub id is checked when it is resolved."""
    folder = check_spec(spec)
    if folder is None:
        return
    config = read_config(folder)
    _check_layer_value(str(folder), config)
    _architecture(str(folder), config)  # an unsupported type is said before anything about weights
    pickle_only = not any(folder.glob("*.safetensors")) and not (folder / "model.safetensors.index.json").is_file()
    if not (allow_pickle and pickle_only):
        TensorReader(folder, allow_pickle=False)  # no weights, only pickles, unreadable headers or index
    elif not any(folder.glob("pytorch_model*.bin")) and not any(folder.glob("*.pt")):
        raise ReportError(f"{folder} holds no weights: expected *.safetensors (or, with --allow-pickle, "
                          "pytorch_model.bin).")


def _architecture(model_id: str, config: dict) -> Architecture:
    try:
        return architecture_for(config)
    except KeyError as exc:
        raise ReportError(f"{model_id}: {exc.args[0]}.") from exc
    except (TypeError, ValueError, OverflowError) as exc:
        raise ReportError(f"{model_id}: config.json lacks a size this architecture needs ({exc}).") from exc


def load_weights(source: ModelSource, allow_pickle: bool = False) -> ModelWeights:
    """Load the embedding and LayerNorm tensors of the model in `source.path`."""
    config = read_config(source.path)
    _check_layer_value(source.model_id, config)
    arch = _architecture(source.model_id, config)
    hub_entry = source.path.parent.parent if source.from_hub and source.path.parent.name == "snapshots" else None
    reader = TensorReader(source.path, allow_pickle, (hub_entry,) if hub_entry else ())
    _check_layer_count(source.model_id, config, reader)
    _check_sizes(source.model_id, arch, reader)
    tensors: dict[str, np.ndarray] = {}
    digests: dict[str, str] = {}
    dtypes: dict[str, str] = {}

    def read(name: str, required: bool = True) -> np.ndarray | None:
        key = next(filter(None, (reader.find(n, arch.prefixes) for n in arch.candidates(name))), None)
        if key is None:
            if required:
                raise ReportError(f"{source.model_id}: the checkpoint has no tensor {name!r} "
                                  f"(looked for {', '.join(p + name for p in arch.prefixes)}).")
            return None
        array, digest, dtype = reader.read(key)
        _check_dtype(source.model_id, key, dtype, reader.keys())
        _check_finite(source.model_id, key, array)
        tensors[name], digests[key], dtypes[key] = array, digest, dtype
        return array

    wte = read(arch.token_embeddings)
    _check_shape(source.model_id, arch.token_embeddings, wte, (None, arch.d_model))
    check_minimum_size(source.model_id, *wte.shape)
    if wte.shape[0] < arch.vocab_size:
        raise ReportError(f"{source.model_id}: the token embedding has {wte.shape[0]} rows but config.json "
                          f"says vocab_size={arch.vocab_size}.")
    wpe = read(arch.position_embeddings) if arch.position_embeddings else None
    if wpe is not None and arch.n_positions is not None:
        _check_shape(source.model_id, arch.position_embeddings, wpe,
                     (arch.n_positions + arch.position_offset, arch.d_model))
    if wpe is not None:
        wpe = wpe[arch.position_offset:]  # rows no position uses (OPT, RoBERTa) are dropped
    norms = []
    for spec in arch.layer_norms:
        if spec.key is None:  # a norm without parameters (OLMo-1): gain 1, no bias
            weight, bias = np.ones(arch.d_model, dtype=np.float32), None
        else:
            weight = read(spec.key + ".weight")
            bias = read(spec.key + ".bias", required=arch.norm == "layernorm")
            _check_shape(source.model_id, spec.key + ".weight", weight, (arch.d_model,))
        if bias is not None:
            _check_shape(source.model_id, spec.key + ".bias", bias, (arch.d_model,))
        weight = weight + np.float32(arch.gain_offset) if arch.gain_offset else weight  # the gain the model applies
        norms.append(LayerNorm(spec.name, spec.layer, spec.role, weight,
                               np.zeros_like(weight) if bias is None else bias, has_bias=bias is not None))
    _check_gains(source.model_id, norms)
    head = read(arch.unembedding, required=False) if arch.unembedding else None
    tied = head is None or (head.shape == wte.shape and np.array_equal(head, wte))
    if head is not None and not tied:
        _check_shape(source.model_id, arch.unembedding, head, wte.shape)
    combined = hashlib.sha256()
    for key in sorted(digests):
        combined.update(f"{key}:{digests[key]}\n".encode())
    return ModelWeights(
        model_id=source.model_id,
        revision=source.revision,
        architecture=arch.name,
        config=config,
        token_embeddings=wte,
        position_embeddings=wpe,
        layer_norms=tuple(norms),
        unembedding=None if tied else head,
        tied=tied,
        word_start_rule=arch.word_start_rule,
        tensors_sha256=combined.hexdigest(),
        tensor_sha256=dict(sorted(digests.items())),
        tensor_dtype=dict(sorted(dtypes.items())),
        mlp_norm_role=arch.mlp_norm_role,
        shared_norm=arch.shared_norm,
        fetch=source.fetch,
        tensors=ModelTensors(reader, arch, source.model_id),
    )


class TensorReader:
    """Finds keys across one or many safetensors files (or an opted-in pickle) and reads single tensors."""

    def __init__(self, folder: Path, allow_pickle: bool, roots: tuple[Path, ...] = ()):
        self.folder = folder
        # Every file read must lie in the model folder (or, for a Hub snapshot, its cache entry, whose
        # files are links into blobs/): an index may name "../../x" or "/etc/passwd".
        self.roots = tuple(r.resolve() for r in (folder, *roots))
        self.key_to_file: dict[str, Path] = {}
        self.pickled: dict[str, torch.Tensor] | None = None
        files = sorted(folder.glob("*.safetensors"))
        index = folder / "model.safetensors.index.json"
        if index.is_file():
            self.key_to_file = self._read_index(index)
        elif files:
            for path in files:
                self._check_inside(path, path.name)
                for key in self._keys_of(path):
                    if key in self.key_to_file:
                        raise ReportError(f"{self.key_to_file[key].name} and {path.name} both hold the tensor {key!r}, "
                                          "and there is no model.safetensors.index.json to say which one the model "
                                          "uses; remove the stale file or add an index.")
                    self.key_to_file[key] = path
        else:
            self._load_pickle(allow_pickle)

    def _read_index(self, index: Path) -> dict[str, Path]:
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, UnicodeDecodeError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ReportError(f"{index} is not a valid safetensors index: {type(exc).__name__} {exc}.") from exc
        if not isinstance(weight_map, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                       for k, v in weight_map.items()):
            raise ReportError(f"{index} is not a valid safetensors index: its weight_map must map tensor names "
                              "to file names (strings).")
        files = {name: self._check_inside(self.folder / name, name) for name in sorted(set(weight_map.values()))}
        return {key: files[name] for key, name in weight_map.items()}

    def _check_inside(self, path: Path, name: str) -> Path:
        """`path` if it names a file inside the model folder; a clear refusal otherwise."""
        pure = PurePosixPath(name.replace("\\", "/"))
        resolved = path.resolve()
        if pure.is_absolute() or ".." in pure.parts or not any(r == resolved or r in resolved.parents
                                                              for r in self.roots):
            raise ReportError(f"{self.folder} names the weights file {name!r}, which lies outside the model "
                              "folder; only files inside it are read.")
        return path

    @staticmethod
    def _keys_of(path: Path) -> list[str]:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                return list(handle.keys())
        except Exception as exc:  # safetensors raises its own error types for truncated headers
            raise ReportError(f"{path.name} is not a readable safetensors file ({exc}). "
                              "It may be truncated or corrupted; download it again.") from exc

    def _load_pickle(self, allow_pickle: bool) -> None:
        pickles = sorted(self.folder.glob("pytorch_model*.bin")) + sorted(self.folder.glob("*.pt"))
        if not pickles:
            raise ReportError(f"{self.folder} holds no weights: expected *.safetensors "
                              "(or, with --allow-pickle, pytorch_model.bin).")
        if not allow_pickle:
            raise ReportError(f"{self.folder} has only pickle checkpoints ({pickles[0].name}). Pickle files "
                              "can run code when loaded, so they are refused; convert the model to "
                              "safetensors, or pass --allow-pickle to load it with weights_only=True.")
        self.pickled = {}
        for path in pickles:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except Exception as exc:
                raise ReportError(f"{path.name} could not be loaded safely ({exc}).") from exc
            self.pickled.update(state)

    def keys(self) -> list[str]:
        return sorted(self.pickled) if self.pickled is not None else sorted(self.key_to_file)

    def find(self, name: str, prefixes: tuple[str, ...]) -> str | None:
        available = self.pickled if self.pickled is not None else self.key_to_file
        return next((p + name for p in prefixes if p + name in available), None)

    def read(self, key: str) -> tuple[np.ndarray, str, str]:
        """The tensor as float32 numpy, the sha256 of its stored bytes, and its stored dtype ("float16", …)."""
        if self.pickled is not None:
            tensor = self.pickled[key]
        else:
            from safetensors import safe_open

            path = self.key_to_file[key]
            if not path.is_file():
                raise ReportError(f"The safetensors index names {path.name} for {key}, but that file is missing.")
            try:
                with safe_open(str(path), framework="pt") as handle:
                    tensor = handle.get_tensor(key)
            except Exception as exc:
                raise ReportError(f"Could not read {key} from {path.name} ({exc}); the file may be "
                                  "truncated or corrupted.") from exc
        tensor = tensor.detach().contiguous()
        raw = tensor.reshape(-1).view(torch.uint8).numpy()
        digest = hashlib.sha256(raw.data).hexdigest()
        # One new float32 array: widening makes it, and a float32 tensor is copied off the file's mapping.
        widened = tensor.to(torch.float32, copy=True)
        return widened.numpy(), digest, str(tensor.dtype).removeprefix("torch.")


MIN_TOKENS = 4  # the smallest vocabulary every section runs on (3 tokens break the nearest-neighbour counts)
MIN_D_MODEL = 3  # the smallest width: the word-start plot and analysis read SVD components 1 and 2


def check_minimum_size(model_id: str, tokens: int, d_model: int) -> None:
    """Refuse sizes too small for the study, naming the smallest that works."""
    if tokens < MIN_TOKENS:
        raise ReportError(f"{model_id}: {tokens} tokens is too small a vocabulary for this report; the smallest "
                          f"it analyses is {MIN_TOKENS} tokens.")
    if d_model < MIN_D_MODEL:
        raise ReportError(f"{model_id}: embeddings of width {d_model} are too narrow for this report; the "
                          f"smallest width it analyses is d_model = {MIN_D_MODEL}.")


LAYER_KEYS = ("n_layer", "num_layers", "num_hidden_layers", "n_layers")


MAX_LAYERS = 10_000  # far beyond any model; a larger count is a typo, refused before anything is built per layer


def _layer_values(config: dict):
    return [(name, config[name]) for name in LAYER_KEYS if config.get(name) is not None]


def _check_layer_value(model_id: str, config: dict) -> None:
    """The layer count in config.json must be a whole number from 1 to MAX_LAYERS."""
    for name, value in _layer_values(config):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value != int(value) \
                or not 1 <= value <= MAX_LAYERS:
            raise ReportError(f"{model_id}: config.json gives {name} = {value!r}; it must be a whole number "
                              f"of at least 1 (and at most {MAX_LAYERS:,}).")


def _check_layer_count(model_id: str, config: dict, reader: "TensorReader") -> None:
    """The layer count in config.json can be no larger than the checkpoint's count of numbered blocks."""
    indices = [int(part) for key in reader.keys() for part in key.split(".") if part.isdigit()]
    blocks = 1 + max(indices, default=-1)
    for name, value in _layer_values(config):
        if value > blocks:
            raise ReportError(f"{model_id}: config.json gives {name} = {value!r}, but the checkpoint's tensors "
                              f"hold {blocks} numbered blocks; config.json does not match these weights.")


def _check_sizes(model_id: str, arch, reader: "TensorReader") -> None:
    """Refuse, before reading anything, sizes in config.json that the tensors contradict."""
    for what, value in (("number of layers", arch.n_layers), ("d_model", arch.d_model),
                        ("vocab_size", arch.vocab_size)):
        if value < 1:
            raise ReportError(f"{model_id}: config.json gives {what} = {value}; it must be at least 1.")
    blocks = [spec for spec in arch.layer_norms if spec.layer >= 0 and spec.key]
    last = max((spec.layer for spec in blocks), default=-1)
    missing = [spec.key for spec in blocks if spec.layer == last
               and not any(reader.find(n, arch.prefixes) for n in arch.candidates(spec.key + ".weight"))]
    if missing:
        raise ReportError(f"{model_id}: config.json says the model has {arch.n_layers} layers, but the checkpoint "
                          f"has no {missing[0]}.weight; config.json does not match these weights.")
    first_beyond = last + 1 + arch.extra_blocks  # past any blocks the architecture stores outside the stack
    beyond = [spec.key.replace(f".{last}.", f".{first_beyond}.") for spec in blocks if spec.layer == last]
    extra = [k for k in beyond if any(reader.find(n, arch.prefixes) for n in arch.candidates(k + ".weight"))]
    if extra:
        raise ReportError(f"{model_id}: config.json says the model has {arch.n_layers} layers, but the checkpoint "
                          f"also holds {extra[0]}.weight; config.json does not match these weights.")


def _check_shape(model_id: str, name: str, array: np.ndarray, expected: tuple) -> None:
    ok = array.ndim == len(expected) and all(e is None or a == e for a, e in zip(array.shape, expected))
    if not ok:
        want = "×".join("?" if e is None else str(e) for e in expected)
        raise ReportError(f"{model_id}: tensor {name} has shape {tuple(array.shape)}, but config.json "
                          f"implies {want}.")


# Names that quantization formats (bitsandbytes, GPTQ/AWQ, FP8 checkpoints) store beside a quantized tensor.
QUANT_SUFFIXES = ("SCB", "absmax", "quant_state", "quant_map", "scales", "qzeros", "weight_scale",
                  "weight_scale_inv", "input_scale", "weight_format", "zero_point")


def _check_dtype(model_id: str, key: str, dtype: str, keys: list[str]) -> None:
    """Integer, boolean and 8-bit float tensors hold codes, masks or scaled values, not the weights: refused."""
    if dtype in FLOAT_DTYPES:
        return
    stem = key.rsplit(".", 1)[0]
    beside = [k for k in keys if k.startswith(stem + ".")
              and any(part in QUANT_SUFFIXES for part in k[len(stem) + 1:].split("."))]
    if beside:
        why = (f"it is quantized (the checkpoint holds {', '.join(beside[:3])} beside it), and this tool does not "
               "dequantize: it cannot apply a quantization format's scales exactly, and the codes themselves are "
               "not the weights")
    elif dtype == "bool":
        why = "a boolean tensor is a mask, not learned weights"
    else:
        why = ("its values are integer or 8-bit codes of a quantized model, and the checkpoint carries no scales "
               "beside it to turn them back into weights")
    raise ReportError(f"{model_id}: tensor {key} is stored as {dtype}; {why}. The report reads float16, bfloat16, "
                      "float32 or float64 weights only: analyse the unquantized checkpoint.")


MAX_ABS = 1e12  # larger weights overflow float32 in the products the analyses take (|x|² · d)


def _check_finite(model_id: str, key: str, array: np.ndarray) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ReportError(f"{model_id}: tensor {key} holds {int(bad.sum())} NaN/Inf values "
                          f"(first at index {where}); the checkpoint is damaged.")
    huge = np.abs(array) > MAX_ABS
    if huge.any():
        where = tuple(int(i) for i in np.argwhere(huge)[0])
        raise ReportError(f"{model_id}: tensor {key} holds values as large as {float(np.abs(array).max()):.3g} "
                          f"(first at index {where}); weights beyond ±{MAX_ABS:.0e} overflow the analyses' float32 "
                          "products, and no trained model has them. The checkpoint is likely damaged or rescaled.")


def _check_gains(model_id: str, norms: list) -> None:
    """Every LayerNorm gain zero: each block sees a constant, so no section has anything to measure."""
    if norms and all(not np.any(ln.weight) for ln in norms):
        raise ReportError(f"{model_id}: every LayerNorm gain is zero, so every normalised activation is constant "
                          "and the model computes nothing from its input; there is nothing for the report to "
                          "analyse. The checkpoint may be freshly zero-initialised or damaged.")
