"""What every section sees while the report runs: the weights, tokens, frequencies and earlier results."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from report.errors import ReportError
from report.load.frequency import TokenFrequency
from report.load.loader import ModelWeights
from report.load.tokens import TokenTable


def resolve_device(choice: str) -> str:
    """The torch device for --device: "auto" picks CUDA when torch sees one."""
    import torch  # heavy: only when a device is chosen

    if choice == "cuda" and not torch.cuda.is_available():
        raise ReportError("--device cuda was asked for, but torch sees no CUDA device here.")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


class UndeclaredRead(LookupError):
    """A section read a result it did not declare, or one that is missing or of another type."""


@dataclass(frozen=True)
class Reader:
    """Code outside the sections that reads their results, and what it declares it reads (as Section does)."""

    key: str
    reads: dict[str, Any]
    reads_every_earlier: bool = False


@dataclass(frozen=True)
class Options:
    """The choices that change numbers, one set for a report, a comparison and a sweep alike.

    Attributes: seed (of every random draw), device (torch device, "cpu" or "cuda"; a sweep may carry "auto",
    resolved in each worker), max_tokens (corpus tokens per forward pass of the experiments), experiments
    (run the forward passes), frequency (the token frequency source without a corpus: "proxy" or
    "token-index")."""

    seed: int = 0
    device: str = "cpu"
    max_tokens: int = 3200  # 100 sequences of 32 tokens; GPT-2 small's timing in docs/report.md "Experiments"
    experiments: bool = True  # the forward passes (False: the section says they were left out)
    frequency: str = "proxy"  # or "token-index"; a --corpus takes precedence


@dataclass(eq=False)
class RunContext:
    """Inputs of one model's report; `results` fills up section by section, in run order."""

    weights: ModelWeights
    tokens: TokenTable
    frequency: TokenFrequency
    options: Options
    results: dict[str, Any] = field(default_factory=dict)
    # The pair pass (report.run.background.BackgroundSearch), a pipeline input like the weights: begun as soon as they
    # are loaded, read by the sections that declare reads_pairs=True; None until run_sections starts it.
    pairs: Any = None
    corpus: Path | None = None  # the --corpus text, for the forward-pass experiments
    tokenizer: Any = None  # the tokenizer the token table came from (the experiments reuse it); None when cached
    reader: Any = None  # the Section (or Reader) this view is lent to; None: a context built by hand

    def for_section(self, section: Any) -> RunContext:
        """A view of this context (sharing its results) that lets `section` (a report.run.section.Section or a
        Reader) read only what it declared."""
        return replace(self, reader=section)

    def earlier(self, name: str) -> Any:
        """The result of the earlier section `name`, checked against the type the reading section declared.

        A read the section did not declare, one of a section that has not run (unless declared `T | None`),
        and a result of another type raise UndeclaredRead: they are mistakes in the code, not in the input."""
        kind = self._declared(name)
        if name not in self.results:
            if kind is not None and isinstance(None, kind):
                return None
            raise UndeclaredRead(f"{self._who()} reads section {name!r}, which has not run yet.")
        value = self.results[name]
        if kind is not None and not isinstance(value, kind):
            raise UndeclaredRead(f"{self._who()} declares section {name!r} as {kind}, but it gave a "
                                 f"{type(value).__name__}.")
        return value

    def pair_pass(self) -> Any:
        """The pair pass's result (report.run.background.Found), for a section declared reads_pairs=True; None when
        the pass was not run (a context built by hand)."""
        if self.reader is not None and not getattr(self.reader, "reads_pairs", False):
            raise UndeclaredRead(f"{self._who()} reads the pair pass without declaring reads_pairs=True.")
        return self.pairs.result() if self.pairs is not None else None

    def every_earlier(self) -> dict[str, Any]:
        """Every result so far, by section key, for a section declared `reads_every_earlier`."""
        if self.reader is not None and not self.reader.reads_every_earlier:
            raise UndeclaredRead(f"{self._who()} reads every earlier section without declaring "
                                 "reads_every_earlier=True.")
        return dict(self.results)

    def _declared(self, name: str) -> Any:
        if self.reader is None:
            return None
        if name not in self.reader.reads:
            raise UndeclaredRead(f"{self._who()} reads section {name!r} without declaring it: add "
                                 f"{name!r} to its Section(reads=...).")
        return self.reader.reads[name]

    def _who(self) -> str:
        return f"section {self.reader.key!r}" if self.reader is not None else "a context built by hand"

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
