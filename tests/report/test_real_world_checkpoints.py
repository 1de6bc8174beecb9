"""Real-world checkpoints: fine-tuned vocabularies, edited tokenizers, long tokens, odd corpora."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from report.cli import main
from report.load.frequency import from_corpus
from report.load.tokens import load_tokenizer, load_tokens
from report.run.pipeline import Request, analyse, results_document
from report.run.progress import Progress
from report.write import results_json
from report.write.render import fmt_token
from tests.planted import Spec, plant, tiny_checkpoint

SMALL = Spec(d_model=32, n_positions=32, n_layers=2, heavy_dims=(1, 5, 9, 14), unigram_dim=7)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return plant(tmp_path_factory.mktemp("rw") / "ckpt", SMALL)


def fine_tuned(small, folder):
    """The small checkpoint with tokens added the way fine-tunes add them (chat markers, words, a pad)."""
    shutil.copytree(small.folder, folder)
    tokenizer = load_tokenizer(folder)
    tokenizer.add_tokens(["<|im_start|>", "<|im_end|>", " domainword", "naïve"])
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        (folder / name).unlink()
    tokenizer.save_pretrained(str(folder))
    return folder, len(tokenizer)


def test_added_tokens_keep_the_byte_level_encoding(small, tmp_path):
    folder, size = fine_tuned(small, tmp_path / "ft")
    table = load_tokens(load_tokenizer(folder), size, "leading-space")
    assert table.scheme == "byte-level" and table.byte_level
    base = load_tokens(load_tokenizer(small.folder), small.vocab_size, "leading-space")
    n = small.vocab_size
    assert table.display[:n] == base.display and np.array_equal(table.word_start[:n], base.word_start)
    added = {table.display[i]: bool(table.word_start[i]) for i in range(n, size) if table.added[i]}
    assert added == {"<|im_start|>": False, "<|im_end|>": False, "␣domainword": True, "naïve": False}
    assert int(table.added.sum()) == 4 and table.special[size - 1]


def test_fine_tuned_report_keeps_word_starts_and_says_so(small, tmp_path):
    folder, size = fine_tuned(small, tmp_path / "ft")
    from safetensors.numpy import load_file, save_file
    tensors = load_file(str(folder / "model.safetensors"))
    extra = size - tensors["wte.weight"].shape[0]
    rng = np.random.default_rng(0)
    tensors["wte.weight"] = np.concatenate([tensors["wte.weight"],
                                            rng.normal(0, 0.02, (extra, SMALL.d_model)).astype(np.float32)])
    save_file(tensors, str(folder / "model.safetensors"))
    config = json.loads((folder / "config.json").read_text())
    config["vocab_size"] = size
    (folder / "config.json").write_text(json.dumps(config))
    # What it checks is in results.json: the report's own analysis path, without figures or PDF.
    ctx, _ = analyse(Request(model=str(folder)), Progress("ft", 0, enabled=False))
    results = json.loads(results_json.dumps(results_document(ctx)))
    card = results["analyses"]["model_card"]
    assert card["token_encoding"] == "byte-level" and card["added_tokens"] == 4
    assert card["word_start_tokens"] == int(small.word_start.sum()) + 1  # + " domainword"
    kinds = {a["kind"] for a in results["analyses"]["summary"]["alerts"]}
    assert "word starts missing" not in kinds


def test_alert_when_word_starts_vanish(small, tmp_path):
    """A BPE vocabulary written as plain text (a converter that lost the byte map) has no word starts."""
    from report.load.frequency import from_token_index
    from report.load.hub import resolve
    from report.load.loader import load_weights
    from report.load.tokens import build_table
    from report.run.context import Options, RunContext
    from report.sections import summary

    weights = load_weights(resolve(str(small.folder)))
    raw = [f"tok{i}" for i in range(weights.vocab_rows)]
    tokens = build_table(raw, set(), weights.vocab_rows, "leading-space", scheme="plain")
    ctx = RunContext(weights, tokens, from_token_index(weights.vocab_rows), Options())
    kinds = [a.kind for a in summary.run(ctx.for_section(summary.SECTION)).alerts]  # no other section ran
    assert "word starts missing" in kinds


def test_edited_tokenizer_is_not_served_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("WEIGHTS_REPORT_NO_CACHE", raising=False)
    monkeypatch.setenv("WEIGHTS_REPORT_CACHE", str(tmp_path / "cache"))
    folder = tiny_checkpoint(tmp_path / "m", vocab=320, d=8)  # what is cached does not depend on the weights
    out = tmp_path / "out"
    assert main(["--model", str(folder), "--out", str(out), "--quiet"]) == 0
    before = json.loads((out / "m" / "results.json").read_text())["analyses"]["model_card"]["tokenizer_sha256"]
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    first, second = sorted(vocab, key=vocab.get)[300:302]
    vocab[first], vocab[second] = vocab[second], vocab[first]  # same weights, two strings swapped
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    assert main(["--model", str(folder), "--out", str(out), "--quiet"]) == 0
    after = json.loads((out / "m" / "results.json").read_text())["analyses"]["model_card"]["tokenizer_sha256"]
    assert after != before


def test_corpus_without_newlines_is_streamed(small, tmp_path, monkeypatch):
    """One 3 MB line is tokenized in pieces (never whole), and counts stay those of whole-text tokenizing."""
    from report.load import frequency

    text = small.corpus.read_text(encoding="utf-8").replace("\n", " ")
    line = (text * (3_000_000 // len(text) + 1))[:3_000_000]
    path = tmp_path / "one-line.txt"
    path.write_text(line, encoding="utf-8")
    tokenizer = load_tokenizer(small.folder)
    longest = []
    real = frequency._encode
    monkeypatch.setattr(frequency, "_encode", lambda tok, texts: longest.append(max(map(len, texts), default=0))
                        or real(tok, texts))
    counts = from_corpus(tokenizer, path, small.vocab_size).counts
    assert max(longest) <= 2 * frequency.CORPUS_CHUNK_CHARS
    whole = np.bincount(tokenizer.backend_tokenizer.encode(line[:200_000]).ids, minlength=small.vocab_size)
    monkeypatch.setattr(frequency, "CORPUS_CHUNK_CHARS", 10_000)
    short = tmp_path / "short.txt"
    short.write_text(line[:200_000], encoding="utf-8")
    pieces = from_corpus(tokenizer, short, small.vocab_size).counts
    assert np.abs(pieces - whole).sum() <= 0.001 * whole.sum()
    assert counts.sum() > 0


def test_long_tokens_are_shortened_for_display():
    token = {"id": 7, "text": "a" * 3000, "bytes": ("61" * 3000)}
    html = str(fmt_token(token))
    assert len(html) < 600 and "…" in html and "3,000" in html


def test_alert_when_learned_positions_carry_no_heavy_dims(planted_ctx):
    from dataclasses import replace

    from report.run.context import RunContext
    from report.sections import summary

    def kinds(ctx):
        return [a.kind for a in summary.run(ctx.for_section(summary.SECTION)).alerts]

    assert planted_ctx.results["position"].heavy_dims and "no position-heavy dims" not in kinds(planted_ctx)
    flat = RunContext(planted_ctx.weights, planted_ctx.tokens, planted_ctx.frequency, planted_ctx.options,
                      {**planted_ctx.results, "position": replace(planted_ctx.results["position"], heavy_dims=())})
    assert "no position-heavy dims" in kinds(flat)
    assert "word starts missing" not in kinds(planted_ctx)
