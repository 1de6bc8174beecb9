"""What every section sees while the report runs: the weights, tokens, frequencies and earlier results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from report.frequency import TokenFrequency
from report.loader import ModelWeights
from report.tokens import TokenTable


@dataclass(frozen=True)
class Options:
    """Choices that change numbers: the seed of every random draw, the torch device, and the token budget of
    the forward-pass experiments."""

    seed: int = 0
    device: str = "cpu"
    max_tokens: int = 1536  # ≤ 10 min for GPT-2 small on 2 busy shared CPU cores (README "Experiments")


@dataclass(eq=False)
class RunContext:
    """Inputs of one model's report; `results` fills up section by section, in run order."""

    weights: ModelWeights
    tokens: TokenTable
    frequency: TokenFrequency
    options: Options
    results: dict[str, Any] = field(default_factory=dict)
    started: dict[str, Any] = field(default_factory=dict)  # work begun in the background, by section key
    corpus: Path | None = None  # the --corpus text, for the forward-pass experiments

    @property
    def n_tokens(self) -> int:
        """Rows that have a token; rows past the tokenizer's vocabulary are padding."""
        return self.tokens.n_tokens

    @property
    def embeddings(self) -> np.ndarray:
        """[tokens, d] the token embedding rows that belong to real tokens."""
        return self.weights.token_embeddings[: self.n_tokens]

    @property
    def word_start(self) -> np.ndarray:
        return self.tokens.word_start[: self.n_tokens]

    @property
    def log_frequency(self) -> np.ndarray:
        return self.frequency.log_frequency[: self.n_tokens]

    def token(self, token_id: int) -> dict:
        """A token as the templates and results.json show it."""
        return {"id": int(token_id), "text": self.tokens.display[token_id],
                "bytes": self.tokens.data[token_id].hex()}
