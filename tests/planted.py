"""Tiny GPT-2 checkpoints in Hub layout with planted, known structure, written by the tests themselves.

`plant(folder, Spec(...))` trains a byte-level BPE tokenizer on generated text, appends hostile token
strings to its vocabulary, builds embeddings and LayerNorms with the structures the study describes
(position-heavy dims, a unigram dim tied to corpus frequency, a word-start direction, a large mean,
parallel pairs v = 1.6·u, a clump of near-identical short vectors) and saves config, tokenizer and
safetensors. With `structure=False` the same shapes hold only isotropic noise, so claims must fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at which but "
         "have an they you were her she there one all we their has been would more when will who also can "
         "time only new some could these two may first then do any like other people into its after over "
         "than most made where many between years through world state well much before must even back "
         "water music river stone garden market window letter summer winter number system program "
         "history country language science theory model weight matrix vector channel position token "
         "dragon forest silver mountain island harbor doctor teacher engine signal pattern").split()

HOSTILE = ("<script>alert(1)</script>", " </td></tr>", "&amp;", "\u202eevil", "zero\u200bwidth",
           "ÃÂÃÂÃÂÃÂ", "龍喚士", " 覚醒", "$x^2$", " BuyableInstoreAndOnline", "\x00\x01", "😂", " 👍", "🙂")
HOSTILE_BYTES = (b"\xe2\x80", b"\xff")  # not valid UTF-8 on their own


@dataclass(frozen=True)
class Spec:
    """What to plant. Sizes are tiny so a whole report runs in seconds."""

    d_model: int = 64
    n_positions: int = 64
    n_layers: int = 3
    vocab_target: int = 600
    structure: bool = True
    key_style: str = "hub"  # "hub" (wte.weight) or "save_pretrained" (transformer.wte.weight)
    tied: bool = True
    sharded: bool = False
    seed: int = 0
    heavy_dims: tuple[int, ...] = (3, 9, 17, 22, 31, 40, 51, 60)
    unigram_dim: int = 13
    n_pairs: int = 6
    clump_size: int = 12
    extra_rows: int = 0  # embedding rows beyond the tokenizer (padding)
    synthetic_vocab: int = 0  # > 0: skip BPE training and write a vocabulary of this size (for benchmarks)


@dataclass(frozen=True)
class Planted:
    """The checkpoint and the truth planted in it."""

    folder: Path
    corpus: Path
    spec: Spec
    vocab_size: int
    pairs: tuple[tuple[int, int], ...] = ()
    clump: tuple[int, ...] = ()
    word_start: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    log_count: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)


def _bytes_to_unicode() -> dict[int, str]:
    from report.load.tokens import byte_decoder

    return {b: c for c, b in byte_decoder().items()}


def _corpus(rng: np.random.Generator, n_sentences: int = 3000) -> str:
    ranks = np.arange(1, len(WORDS) + 1)
    p = 1 / ranks ** 1.1
    p /= p.sum()
    lines = []
    for _ in range(n_sentences):
        words = rng.choice(WORDS, size=rng.integers(4, 12), p=p)
        sentence = " ".join(words)
        lines.append(sentence[0].upper() + sentence[1:] + ".")
    return "\n".join(lines) + "\n"


def _train_tokenizer(folder: Path, text: str, spec: Spec) -> tuple[list[str], object]:
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(text.splitlines(), vocab_size=spec.vocab_target, min_frequency=2,
                            special_tokens=["<|endoftext|>"], show_progress=False)
    bpe.save_model(str(folder))
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    to_unicode = _bytes_to_unicode()
    for raw in [s.encode("utf-8") for s in HOSTILE] + list(HOSTILE_BYTES):
        vocab.setdefault("".join(to_unicode[b] for b in raw), len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "GPT2Tokenizer", "model_max_length": spec.n_positions,
        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "add_prefix_space": False}), encoding="utf-8")
    return [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])], bpe


def _synthetic_vocab(folder: Path, spec: Spec, rng: np.random.Generator) -> list[str]:
    """Byte tokens, then made-up words with and without a leading space (Ġ), then <|endoftext|>."""
    tokens = sorted(_bytes_to_unicode().values(), key=lambda c: _bytes_to_unicode_inverse()[c])
    seen = set(tokens)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    while len(tokens) < spec.synthetic_vocab - 1:
        word = "".join(rng.choice(letters, size=rng.integers(2, 10)))
        for form in ("Ġ" + word, word):
            if form not in seen and len(tokens) < spec.synthetic_vocab - 1:
                seen.add(form)
                tokens.append(form)
    tokens.append("<|endoftext|>")
    vocab = {t: i for i, t in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "GPT2Tokenizer", "model_max_length": spec.n_positions,
        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}), encoding="utf-8")
    return tokens


def _bytes_to_unicode_inverse() -> dict[str, int]:
    from report.load.tokens import byte_decoder

    return byte_decoder()


def plant(folder: Path, spec: Spec = Spec()) -> Planted:
    """Write a tiny checkpoint with known structure into `folder` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    text = _corpus(rng)
    corpus = folder / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    if spec.synthetic_vocab:
        tokens = _synthetic_vocab(folder, spec, rng)
    else:
        tokens, bpe = _train_tokenizer(folder, text, spec)
    vocab_size = len(tokens)
    rows = vocab_size + spec.extra_rows
    d = spec.d_model
    decoder = {c: b for b, c in _bytes_to_unicode().items()}
    data = [bytes(decoder.get(c, 32) for c in t) if t != "<|endoftext|>" else b"" for t in tokens]
    word_start = np.array([b.startswith(b" ") for b in data])
    if spec.synthetic_vocab:  # Zipf over merge order, with scatter, like a real BPE vocabulary
        counts = np.floor(1e7 / (1 + np.arange(vocab_size)) * np.exp(rng.normal(0, 1, vocab_size)))
    else:
        counts = np.zeros(vocab_size)
        for line in text.splitlines(keepends=True):
            np.add.at(counts, bpe.encode(line).ids, 1)
    log_count = np.log(counts + 0.5)
    z_freq = (log_count - log_count.mean()) / log_count.std()

    pairs: list[tuple[int, int]] = []
    clump: list[int] = []
    if spec.structure:
        w, p, pairs, clump = _structured(rng, spec, tokens, data, word_start, z_freq, rows)
    else:
        w = rng.normal(0, 0.1, (rows, d))
        p = rng.normal(0, 0.05, (spec.n_positions, d))
    tensors = {"wte.weight": w, "wpe.weight": p}
    for i in range(spec.n_layers):
        for name in ("ln_1", "ln_2"):
            gain = 1 + rng.normal(0, 0.05, d)
            if spec.structure and name == "ln_1" and i == 0:
                gain[list(spec.heavy_dims)] = 0.3
            if spec.structure and name == "ln_2":
                gain[spec.unigram_dim] = 4.0
            tensors[f"h.{i}.{name}.weight"] = gain
            tensors[f"h.{i}.{name}.bias"] = rng.normal(0, 0.01, d)
        tensors[f"h.{i}.attn.c_attn.weight"] = rng.normal(0, 0.02, (d, 3 * d))
        tensors[f"h.{i}.mlp.c_fc.weight"] = rng.normal(0, 0.02, (d, 4 * d))
    tensors["ln_f.weight"] = 1 + rng.normal(0, 0.05, d)
    tensors["ln_f.bias"] = rng.normal(0, 0.01, d)
    if not spec.tied:
        tensors["lm_head.weight"] = w + rng.normal(0, 0.05, w.shape)
    _save(folder, spec, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()})
    _write_config(folder, spec, rows)
    return Planted(folder, corpus, spec, vocab_size, tuple(pairs), tuple(clump), word_start, log_count)


def _structured(rng, spec: Spec, tokens, data, word_start, z_freq, rows):
    d, vocab_size = spec.d_model, len(tokens)
    heavy = list(spec.heavy_dims)
    u = spec.unigram_dim
    rarity = np.clip(-z_freq, -2, 3)
    scale = 0.1 * (1 + 0.25 * (rarity + 2))  # rarer tokens get longer vectors
    w = rng.normal(0, 1, (rows, d)) * np.concatenate([scale, np.full(rows - vocab_size, 0.1)])[:, None]
    w[:, heavy] *= 0.3
    mean = np.full(d, 0.02)
    mean[heavy] = np.where(np.arange(len(heavy)) % 2 == 0, 0.25, -0.25)
    w += mean
    w[:vocab_size, u] = 0.1 + 0.12 * np.clip(z_freq, -3, 3) + rng.normal(0, 0.02, vocab_size)
    direction = np.zeros(d)
    free = [i for i in range(d) if i not in heavy and i != u]
    direction[free] = rng.normal(0, 1, len(free))
    direction /= np.linalg.norm(direction)
    w[:vocab_size] += np.where(word_start, 0.3, -0.3)[:, None] * direction

    index = {t: i for i, t in enumerate(tokens)}
    pairs = []
    for t, i in index.items():
        if len(pairs) < spec.n_pairs and t.startswith("Ġ") and len(t) > 3 and t[1:] in index:
            pairs.append((i, index[t[1:]]))
    for a, b in pairs:
        w[b] = 1.6 * w[a]
    taken = {i for pair in pairs for i in pair} | {0, vocab_size - 1}
    rare_order = np.argsort(z_freq, kind="stable")
    late = vocab_size // 2  # under-trained tokens are late BPE merges, as in GPT-2
    clump = [int(i) for i in rare_order
             if i >= late and i not in taken and not data[i].startswith(b" ")][: spec.clump_size]
    centre = 0.3 * mean
    centre[u] = w[:vocab_size, u].min()
    w[clump] = centre + rng.normal(0, 0.002, (len(clump), d))

    positions = np.arange(spec.n_positions)[:, None]
    periods = spec.n_positions / np.resize(np.array([1, 1, 2, 2, 3, 4, 1.5, 6]), len(heavy))
    phases = rng.uniform(0, 2 * np.pi, len(heavy))
    p = rng.normal(0, 0.002, (spec.n_positions, d))
    p[:, heavy] = (0.3 * np.sin(2 * np.pi * positions / periods + phases)
                   + rng.normal(0, 0.01, (spec.n_positions, len(heavy))))
    return w, p, pairs, sorted(clump)


def _save(folder: Path, spec: Spec, tensors: dict[str, np.ndarray]) -> None:
    prefix = "transformer." if spec.key_style == "save_pretrained" else ""
    named = {(k if k.startswith("lm_head") else prefix + k): v for k, v in tensors.items()}
    if not spec.sharded:
        save_file(named, str(folder / "model.safetensors"), metadata={"format": "pt"})
        return
    keys = sorted(named)
    halves = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    weight_map = {}
    for filename, part in halves.items():
        save_file({k: named[k] for k in part}, str(folder / filename), metadata={"format": "pt"})
        weight_map.update({k: filename for k in part})
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": dict(sorted(weight_map.items()))}), encoding="utf-8")


def _write_config(folder: Path, spec: Spec, rows: int) -> None:
    config = {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": rows,
        "n_embd": spec.d_model, "n_layer": spec.n_layers, "n_head": 4, "n_positions": spec.n_positions,
        "n_ctx": spec.n_positions, "bos_token_id": 0, "eos_token_id": 0,
        "tie_word_embeddings": spec.tied,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")


def tiny_checkpoint(folder, vocab: int, d: int, n_positions: int = 8, seed: int = 0):
    """A one-layer GPT-2 folder of any size, with a byte-level vocabulary of single letters (then the same
    letters with a leading space) and no planted structure: for tests whose answer does not depend on the
    model (refusals, output folders, the cache), where its report costs about a quarter less than `Spec()`'s."""
    letters_by_byte = _bytes_to_unicode_inverse()
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    letters = [c for c in sorted(letters_by_byte, key=letters_by_byte.get) if c.isalpha()]
    tokens = (letters + ["Ġ" + c for c in letters])[: vocab - 1] + ["<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "GPT2Tokenizer", "eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>"}))
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "vocab_size": vocab, "n_embd": d,
                                                    "n_positions": n_positions, "n_layer": 1, "n_head": 1}))
    tensors = {"wte.weight": rng.normal(0, 0.1, (vocab, d)), "wpe.weight": rng.normal(0, 0.01, (n_positions, d)),
               "ln_f.weight": np.ones(d), "ln_f.bias": np.zeros(d)}
    for ln in ("ln_1", "ln_2"):
        tensors[f"h.0.{ln}.weight"] = rng.normal(1, 0.1, d)
        tensors[f"h.0.{ln}.bias"] = rng.normal(0, 0.1, d)
    save_file({k: v.astype(np.float32) for k, v in tensors.items()}, str(folder / "model.safetensors"))
    return folder
