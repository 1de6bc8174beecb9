"""Forward passes through the model for the experiments: load it with transformers, cut the corpus into
sequences, and evaluate the loss with the token or position embeddings replaced.

The model comes from the local folder through `AutoModelForCausalLM` (or `AutoModelForMaskedLM` for
encoders), never with remote code, from safetensors only. A model that cannot be loaded whole (a
checkpoint without some of its tensors, an architecture transformers lacks) is not run: `load_model`
says why, and the section reports the experiments as skipped.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from analyses.experiments import Evaluation, Intervention
from report import corpus as corpus_file
from report.architectures import Architecture

SEQUENCE_LENGTH = 128  # tokens per corpus sequence (fewer when the model has fewer positions)
BATCH_SIZE = 8
MASK_SHARE = 0.15  # masked-LM loss: share of positions masked (a fixed, seeded choice per sequence)
REPEATS = 8  # the probed token's copies in a repetition prompt
ENCODERS = {"bert", "roberta", "distilbert"}


class Skipped(Exception):
    """The forward passes cannot run on this model; the message says why."""


def load_model(folder: Path, arch: Architecture, device: str):
    """The model in eval mode on `device`, or Skipped with the reason."""
    import transformers

    masked = arch.name in ENCODERS
    auto = transformers.AutoModelForMaskedLM if masked else transformers.AutoModelForCausalLM
    if not list(folder.glob("*.safetensors")):
        raise Skipped("forward passes load safetensors checkpoints only, and this model has none")
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


def corpus_sequences(tokenizer, corpus: Path, length: int, max_tokens: int) -> np.ndarray:
    """[sequences, length] token ids: the corpus's first ≤ max_tokens tokens, cut into whole sequences."""
    wanted = max(1, max_tokens // length) * length
    ids: list[int] = []
    with corpus_file.check(corpus).open() as handle:  # decoded as the frequency counts decode it
        while len(ids) < wanted and (chunk := handle.readlines(1 << 16)):
            ids += tokenizer("".join(chunk), add_special_tokens=False)["input_ids"]
    n = min(len(ids), wanted) // length
    return np.array(ids[: n * length], dtype=np.int64).reshape(n, length)


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

    @torch.inference_mode()
    def evaluate(self, change: Intervention) -> Evaluation:
        self.passes += 1
        original = None
        if change.position_table is not None:
            original = self.position.detach().clone()
            offset = self.arch.position_offset
            rows = torch.as_tensor(change.position_table, dtype=self.position.dtype, device=self.position.device)
            self.position[offset: offset + rows.shape[0]] = rows
        table = self.embedding if change.token_table is None else self._table(change.token_table)
        losses, logit_sum, count = [], None, 0
        batches = range(0, len(self.inputs), BATCH_SIZE)
        try:
            for start in tqdm(batches, desc=f"forward pass {self.passes}", file=sys.stderr, leave=False,
                              disable=not self.show_progress):
                inputs = self.inputs[start: start + BATCH_SIZE].to(self.device)
                targets = self.targets[start: start + BATCH_SIZE].to(self.device)
                logits = self.model(inputs_embeds=table[inputs]).logits.float()
                if not self.masked:
                    logits, targets = logits[:, :-1], targets[:, 1:]
                token_loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none",
                                                               ignore_index=-100)
                counted = (targets != -100).sum(dim=1).clamp(min=1)
                losses.append((token_loss.sum(dim=1) / counted).double().cpu())
                batch_sum = logits.double().sum(dim=(0, 1))
                logit_sum = batch_sum if logit_sum is None else logit_sum + batch_sum
                count += logits.shape[0] * logits.shape[1]
        finally:
            if original is not None:
                self.position.copy_(original)
        return Evaluation(torch.cat(losses).numpy(), (logit_sum / count).cpu().numpy())

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
        for start in range(0, len(ids), 4 * BATCH_SIZE):
            batch = prompts[start: start + 4 * BATCH_SIZE].to(self.device)
            logits = self.model(input_ids=batch, **last).logits[:, -1].float()
            probability = torch.softmax(logits, dim=-1)
            out.append(probability.gather(1, ids[start: start + 4 * BATCH_SIZE, None].to(self.device))[:, 0].cpu())
        return torch.cat(out).double().numpy()
