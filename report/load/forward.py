"""Forward passes through the model for the experiments: load it with transformers and evaluate the loss on
fixed sequences (report/load/sequences.py) with the token or position embeddings replaced; the baseline pass also
gives the gradient of the loss with respect to every token's input embedding row.

The model comes from the local folder through `AutoModelForCausalLM` (or `AutoModelForMaskedLM` for
encoders), never with remote code, from safetensors only. A model that cannot be loaded whole (a
checkpoint without some of its tensors, an architecture transformers lacks) is not run: `load_model`
says why, and the section reports the experiments as skipped.
"""

from __future__ import annotations

import inspect
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from analyses.experiments import Evaluation, Gradients, Intervention
from report.load.architectures import Architecture

BATCH_TOKENS = 1024  # tokens per forward call: whole sequences, at least one (CPU matrix products run best near here)
REPEAT_BATCH = 128  # repetition prompts per forward call (prompts are short: ~1,000 tokens a call)
MASK_SHARE = 0.15  # masked-LM loss: share of positions masked (a fixed, seeded choice per sequence)
REPEATS = 8  # the probed token's copies in a repetition prompt
ENCODERS = {"bert", "roberta", "distilbert"}


MEMORY_SHARE = 0.7  # the float32 model may take this share of the memory free when the passes start
MISSING_SHARE = 0.01  # a checkpoint holding fewer numbers than this share below the model's parameters lacks some


class Skipped(Exception):
    """The forward passes cannot run on this model; the message says why."""


def stored_elements(folder: Path) -> int:
    """How many numbers the checkpoint's safetensors files hold, from their headers (nothing is read)."""
    total = 0
    for path in folder.glob("*.safetensors"):
        with open(path, "rb") as handle:
            header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
        total += sum(math.prod(entry["shape"]) for key, entry in header.items() if key != "__metadata__")
    return total


def model_parameters(folder: Path, auto) -> int | None:
    """The parameters the model has (tied ones once), counted on the meta device, where nothing is allocated;
    None where transformers cannot build it there (then loading decides)."""
    import transformers

    try:
        config = transformers.AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
        with torch.device("meta"):
            model = auto.from_config(config, trust_remote_code=False)
    except Exception:  # the loader's own attempt below says why, in the report's words
        return None
    return sum(p.numel() for p in model.parameters())


def free_memory(device: str) -> int | None:
    """Bytes free for a new model on `device` (the GPU's free memory, or the system's MemAvailable), or None
    where it cannot be told."""
    if torch.device(device).type == "cuda":
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            line = next(line for line in handle if line.startswith("MemAvailable:"))
        return int(line.split()[1]) * 1024
    except (OSError, StopIteration, ValueError):
        return None


def check_before_loading(folder: Path, auto, device: str) -> None:
    """Skipped, before any weight is allocated, when the checkpoint lacks part of the model (a Hub model read
    by ranges holds only the embeddings and norms: loading it would build the whole model in float32, 10 GB
    for Gemma-2-2B, only to find the rest missing), or when the model in float32 would take more than
    MEMORY_SHARE of the free memory (a 7B model needs 28 GB): the passes would swap or be killed."""
    needed = model_parameters(folder, auto)
    if needed is None:
        return
    stored = stored_elements(folder)
    if stored < needed * (1 - MISSING_SHARE):
        raise Skipped(f"the checkpoint lacks some of the tensors the model needs: it holds {stored:,} numbers "
                      f"of the model's {needed:,} parameters, so a forward pass would use random weights")
    need, free = 4 * needed, free_memory(device)
    if free is not None and need > MEMORY_SHARE * free:
        where = "GPU" if torch.device(device).type == "cuda" else "machine"
        raise Skipped(f"the whole model in float32 takes {need / 2**30:.1f} GB, more than "
                      f"{MEMORY_SHARE:.0%} of the {free / 2**30:.1f} GB this {where} has free; run the "
                      "report where it fits (a GPU: --device cuda) to answer them")


def load_model(folder: Path, arch: Architecture, device: str):
    """The model in eval mode on `device`, or Skipped with the reason."""
    import transformers

    masked = arch.name in ENCODERS
    auto = transformers.AutoModelForMaskedLM if masked else transformers.AutoModelForCausalLM
    if not list(folder.glob("*.safetensors")):
        raise Skipped("forward passes load safetensors checkpoints only, and this model has none")
    check_before_loading(folder, auto, device)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        model, info = auto.from_pretrained(str(folder), trust_remote_code=False, use_safetensors=True,
                                           torch_dtype=torch.float32, output_loading_info=True)
    except Exception as exc:  # transformers raises many kinds for configs and checkpoints it cannot use
        head = "masked-LM" if masked else "causal-LM"
        raise Skipped(f"transformers could not load it as a {head} model ({type(exc).__name__}: {exc})") from exc
    missing = sorted(info.get("missing_keys", []))
    if missing:
        raise Skipped(f"the checkpoint lacks {len(missing)} tensors the model needs (first: {missing[0]}), "
                      "so a forward pass would use random weights")
    model.requires_grad_(False)  # the experiments write embedding tables in place
    return model.to(device).eval(), masked


def _parameter(model, arch: Architecture, key: str | None) -> torch.nn.Parameter | None:
    """The model's parameter for a checkpoint key of the adapter (any of its prefixes)."""
    if key is None:
        return None
    params = dict(model.named_parameters())
    return next((params[name] for name in params if any(name == p + key for p in ("",) + arch.prefixes)
                 or name.endswith("." + key)), None)


class Runner:
    """Evaluates the loss on fixed corpus sequences with replaced embedding tables."""

    def __init__(self, model, masked: bool, arch: Architecture, sequences: np.ndarray, device: str, seed: int,
                 mask_id: int | None, bos_id: int | None, show_progress: bool | None = None):
        self.model, self.masked, self.arch, self.device = model, masked, arch, device
        self.sequences = torch.as_tensor(sequences)
        self.embedding = model.get_input_embeddings().weight
        self.position = _parameter(model, arch, arch.position_embeddings)
        self.mask_id, self.bos_id = mask_id, bos_id
        self.targets = self.sequences
        self.inputs = self.sequences
        if masked:  # a fixed random share of positions is masked, the same in every pass
            chosen = torch.as_tensor(np.random.default_rng(seed).random(sequences.shape) < MASK_SHARE)
            self.inputs = torch.where(chosen, torch.as_tensor(mask_id), self.sequences)
            self.targets = torch.where(chosen, self.sequences, torch.as_tensor(-100))
        self.show_progress = sys.stderr.isatty() if show_progress is None else show_progress  # no bars in logs
        self.passes = 0
        self.generator = torch.Generator(device=device).manual_seed(seed)  # labels drawn for the curvature

    @torch.inference_mode()
    def evaluate(self, change: Intervention) -> Evaluation:
        """The loss of every sequence with `change`'s tables in place of the model's own."""
        original = None
        if change.position_table is not None:
            original = self.position.detach().clone()
            offset = self.arch.position_offset
            rows = torch.as_tensor(change.position_table, dtype=self.position.dtype, device=self.position.device)
            self.position[offset: offset + rows.shape[0]] = rows
        table = self.embedding if change.token_table is None else self._table(change.token_table)
        try:
            return self._pass(table, None)
        finally:
            if original is not None:
                self.position.copy_(original)

    def baseline(self) -> tuple[Evaluation, Gradients]:
        """The model's own loss and its gradients with respect to the token input rows (one forward pass, two
        backward passes: the corpus's labels, and labels drawn from the model for the curvature)."""
        rows = torch.zeros(self.embedding.shape, dtype=torch.float64, device=self.embedding.device)
        sums, dots = [], []
        with torch.enable_grad():
            result = self._pass(self.embedding.detach(), (rows, sums, dots))
        return result, Gradients(rows.cpu().numpy(), torch.cat(sums).numpy(), torch.cat(dots).numpy())

    def _pass(self, table: torch.Tensor, gradients: tuple | None) -> Evaluation:
        """One pass over the sequences in batches; with `gradients` (rows, sums, dots) each batch's gradients
        are added to rows and appended to sums and dots (see analyses.experiments.Gradients)."""
        self.passes += 1
        losses, logit_sum, count = [], None, 0
        size = max(1, BATCH_TOKENS // self.inputs.shape[1])
        batches = range(0, len(self.inputs), size)
        for start in tqdm(batches, desc=f"forward pass {self.passes}", file=sys.stderr, leave=False,
                          disable=not self.show_progress):
            inputs = self.inputs[start: start + size].to(self.device)
            targets = self.targets[start: start + size].to(self.device)
            embeds = table[inputs]
            if gradients is not None:
                embeds.requires_grad_(True)
            logits = self.model(inputs_embeds=embeds).logits.float()
            if not self.masked:
                logits, targets = logits[:, :-1], targets[:, 1:]
            sequence_loss, counted = self._losses(logits, targets)
            if gradients is not None:
                self._gradients(gradients, inputs, embeds, logits, targets, sequence_loss)
            losses.append(sequence_loss.detach().double().cpu())
            batch_sum = logits.detach().double().sum(dim=(0, 1))
            logit_sum = batch_sum if logit_sum is None else logit_sum + batch_sum
            count += logits.shape[0] * logits.shape[1]
        return Evaluation(torch.cat(losses).numpy(), (logit_sum / count).cpu().numpy())

    @staticmethod
    def _losses(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy per sequence over its counted targets, and how many were counted."""
        token_loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none",
                                                       ignore_index=-100)
        counted = (targets != -100).sum(dim=1).clamp(min=1)
        return token_loss.sum(dim=1) / counted, counted

    def _gradients(self, gradients: tuple, inputs, embeds, logits, targets, sequence_loss) -> None:
        rows, sums, dots = gradients
        n = len(self.inputs)
        (grad,) = torch.autograd.grad(sequence_loss.sum() / n, embeds, retain_graph=True)
        rows.index_add_(0, inputs.reshape(-1), grad.reshape(-1, grad.shape[-1]).double())
        drawn = torch.multinomial(torch.softmax(logits.detach().reshape(-1, logits.shape[-1]), dim=-1), 1,
                                  generator=self.generator).reshape(targets.shape)
        drawn = torch.where(targets == -100, targets, drawn)
        sampled, counted = self._losses(logits, drawn)
        (grad,) = torch.autograd.grad(sampled.sum(), embeds)
        scale = (counted.double() / n).sqrt()[:, None]  # Gauss–Newton of the mean loss: Σ_s (T_s / n)·g̃_s g̃_sᵀ
        grad = grad.double()
        sums.append((grad.sum(dim=1) * scale).cpu())
        dots.append(((grad * embeds.detach().double()).sum(dim=1) * scale).cpu())

    def _table(self, rows: np.ndarray) -> torch.Tensor:
        """The embedding matrix with its first len(rows) rows replaced (padding rows kept)."""
        table = self.embedding.detach().clone()
        table[: len(rows)] = torch.as_tensor(rows, dtype=table.dtype, device=table.device)
        return table

    @torch.inference_mode()
    def repeat_probability(self, token_ids) -> np.ndarray:
        """P(token | the token repeated REPEATS times): at the next position (causal) or a masked last copy."""
        ids = torch.as_tensor(list(token_ids), dtype=torch.long)
        prompts = ids[:, None].repeat(1, REPEATS)
        if self.masked:
            prompts[:, -1] = self.mask_id
        elif self.bos_id is not None:
            prompts = torch.cat([torch.full((len(ids), 1), self.bos_id), prompts], dim=1)
        # only the last position's logits are needed: skip the rest of the vocabulary projection where we can
        last = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(self.model.forward).parameters else {}
        out = []
        for start in range(0, len(ids), REPEAT_BATCH):
            batch = prompts[start: start + REPEAT_BATCH].to(self.device)
            logits = self.model(input_ids=batch, **last).logits[:, -1].float()
            probability = torch.softmax(logits, dim=-1)
            out.append(probability.gather(1, ids[start: start + REPEAT_BATCH, None].to(self.device))[:, 0].cpu())
        return torch.cat(out).double().numpy()
