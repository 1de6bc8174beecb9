"""Whole tiny language models for the forward-pass tests: a planted checkpoint completed into a GPT-2 that
transformers loads without missing tensors, and a GPT-2 trained for a few seconds on part of its vocabulary."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file


def complete_checkpoint(planted_folder: Path, folder: Path, seed: int = 0) -> Path:
    """`folder`: the planted model's config, tokenizer and corpus, and a GPT-2 with every tensor, the planted
    ones copied in (so the report finds the same structure) and the rest drawn at GPT-2's initial scale."""
    from transformers import GPT2Config, GPT2LMHeadModel

    folder.mkdir(parents=True, exist_ok=True)
    for path in planted_folder.iterdir():
        if path.suffix != ".safetensors":
            shutil.copy(path, folder / path.name)
    torch.manual_seed(seed)
    config = GPT2Config.from_pretrained(str(planted_folder))
    model = GPT2LMHeadModel(config).eval()
    planted = load_file(str(planted_folder / "model.safetensors"))
    state = model.state_dict()
    with torch.no_grad():
        for key, value in planted.items():
            state["transformer." + key].copy_(torch.from_numpy(value))
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder


def train_tiny_gpt2(vocab: int = 64, trained: int = 48, steps: int = 100, seed: int = 0):
    """A 2-layer GPT-2 with untied embeddings trained on runs of repeated tokens (a a a a b b b b …) drawn from
    tokens 0..trained-1 only: tokens ≥ `trained` never occur, so only the softmax ever touches their rows."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=32, bos_token_id=0,
                        eos_token_id=0, tie_word_embeddings=False)
    model = GPT2LMHeadModel(config)
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ops this small spend more time syncing threads than computing
    try:
        for _ in range(steps):
            batch = torch.as_tensor(np.repeat(rng.integers(0, trained, size=(16, 4)), 4, axis=1))
            loss = model(input_ids=batch, labels=batch).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval(), config
