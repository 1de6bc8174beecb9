"""Synthetic models for calibrating the claim verdicts: null families with none of the study's structure, a
"contrast" model that has every prerequisite (a heavy-dim cluster, a standing-out unigram dim, zero-layer
exceptions, a clump, separable word starts) but each claim's own effect absent or adversarial, and planted
models with every effect at the study's size (1.0) or a fraction of it.

Each model says which claims' effects are absent (a "holds" there is a false positive) and which are present
(a "holds" there counts toward power). `verdicts` runs every analysis the report runs and applies the same
degeneracy guard.

Study-size effects as planted (size s scales each one; s = 0.5 is "half"):
    heavy dims   3% of d (≥ 4 dims), position std 10^(1.2 s)× the rest (1.2 decades)
    periodicity  heavy-dim curves: sinusoids of 2–8 cycles plus red noise, signal/noise variance 4 s²
    odd dims     heavy dims' token std × 0.3^s, token mean ± 1.0 s typical std (claims 3, 5)
    stripes      2% of dims offset by 1.0 s token std (claim 2)
    layer 0      LN1 gains of the heavy dims × 0.3^s (claim 8)
    unigram dim  robust z 10 s in every LN2 (claims 1, 9); token values ρ = 0.6 s with log frequency, mean
                 2 s typical std, std × (1 + 0.5 s), ρ = −0.6 s with the norm of the other dims (so, through
                 the token scale, with frequency and index), position std half the typical (claims 10–13, 18)
    norms        token scale exp(−0.12 u), u correlated ρ = 0.6 s with log frequency (claims 14, 17)
    mean         every dim offset by 0.4 s typical std (claims 15, 16)
    word starts  ± 2 s typical std along one direction (claim 19)
    pairs        1% of tokens (≥ 40), u from the longer half: v = 1.2 u (+ noise 0.05 / s); 60% s of them
                 " w" → "w", the others involve a machine-readable token 80% s of the time (claims 20–23)
    clump        0.25% of tokens (≥ 12), machine-readable strings, within 0.002 / s typical std of a point at
                 low norm and the lowest unigram value (claim 24)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyses.claims import BY_NAME, REGISTRY, degeneracy, guard
from analyses.correlations import analyse_correlations
from analyses.layernorm_basis import analyse_layernorm_basis
from analyses.ln_gains import analyse_ln_gains
from analyses.outliers import analyse_outliers, crowding_scale
from analyses.position import analyse_position
from analyses.svd import analyse_svd
from analyses.token_pairs import scan_pairs
from analyses.unigram import analyse_unigram
from analyses.zero_layer import analyse_zero_layer

FAMILIES = ("gaussian", "heavy-tailed", "skewed", "uniform", "low-rank", "mean-shifted")
N_POSITIONS, N_LAYERS = 1024, 12
CLAIMS = tuple(c.id for c in REGISTRY)  # calibration tables are keyed by the claims' visible numbers
DESCRIPTIVE = frozenset(BY_NAME[name].id for name in (  # exact measurements: absent only where the family lacks it
    "positions_centred", "svd0_along_mean", "svd0_one_sign", "tokens_predict_themselves",
    "exceptions_parallel_and_longer"))
EXPENSIVE = frozenset(c.id for c in REGISTRY  # need the zero-layer search and the clump search
                      if c.decided_by in ("analyses.zero_layer", "analyses.outliers"))


@dataclass(frozen=True, eq=False)
class Synthetic:
    """One synthetic model and the truth about it.

    Attributes:
        tokens: [V, d] token embeddings (float32); positions: [N_POSITIONS, d].
        ln1, ln2: [N_LAYERS, d] LayerNorm gains; ln_f: [d].
        log_frequency, word_start: [V] per token.
        token_bytes, unprintable: [V] token strings and their unprintable flags.
        absent, present: claims whose effect is absent / present in this model.
    """

    tokens: np.ndarray
    positions: np.ndarray
    ln1: np.ndarray
    ln2: np.ndarray
    ln_f: np.ndarray
    log_frequency: np.ndarray
    word_start: np.ndarray
    token_bytes: tuple[bytes, ...]
    unprintable: np.ndarray
    absent: frozenset
    present: frozenset


def _vocabulary(rng: np.random.Generator, n: int, odd_share: float):
    """Made-up words, half with a leading space (a fifth of them with a space-less twin), a share of
    machine-readable strings and a few invalid bytes."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    machine = ("</td>", "{x}", "http", "www.", "=\"", "#define", "_id", "::", "@media", "0x7f")
    out, seen = [], set()
    while len(out) < n:
        u = rng.random()
        if u < odd_share * 0.9:
            token = (machine[rng.integers(len(machine))] + "".join(rng.choice(letters, rng.integers(1, 4)))).encode()
        elif u < odd_share:
            token = bytes([0xff, int(rng.integers(0x80, 0xc0))]) + bytes(rng.integers(97, 123, rng.integers(0, 3)))
        else:
            word = "".join(rng.choice(letters, rng.integers(2, 9)))
            token = (" " + word if rng.random() < 0.5 else word).encode()
            if token.startswith(b" ") and rng.random() < 0.2 and token[1:] not in seen and len(out) < n - 1:
                out.append(token)
                seen.add(token)
                token = token[1:]
        if token not in seen:
            out.append(token)
            seen.add(token)
    flags = np.array([t[:1] == b"\xff" for t in out], dtype=bool)
    return tuple(out), flags


def _frequency(rng: np.random.Generator, n: int) -> np.ndarray:
    """Zipf-like log frequency falling with token index (BPE merge order), with scatter."""
    return -np.log1p(np.arange(n)) + rng.normal(0, 1.0, n)


def _z(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std()


def _red_noise(rng: np.random.Generator, n: int, d: int, phi: float = 0.99, heavy: bool = False) -> np.ndarray:
    from scipy import signal

    shocks = rng.standard_t(3, (n, d)) / np.sqrt(3) if heavy else rng.standard_normal((n, d))
    curves = signal.lfilter([1.0], [1.0, -phi], shocks, axis=0)
    curves -= curves.mean(axis=0)
    return curves / curves.std(axis=0)


def null_model(family: str, d: int, n_tokens: int, seed: int) -> Synthetic:
    """A model from one null family: per-dim scales from the family, no planted structure."""
    rng = np.random.default_rng(seed)
    if family == "heavy-tailed":
        log_scale = -1 + 0.1 * rng.standard_t(3, d)
    elif family == "skewed":
        log_scale = -1 + 0.25 * (rng.gamma(2.0, 1.0, d) - 2) / np.sqrt(2)
    elif family == "uniform":
        log_scale = rng.uniform(-1.5, -0.5, d)
    else:
        log_scale = rng.normal(-1, 0.25, d)
    scale = (10 ** log_scale).astype(np.float32)
    if family == "heavy-tailed":
        tokens = rng.standard_t(3, (n_tokens, d)).astype(np.float32) / np.float32(np.sqrt(3))
    elif family == "uniform":
        tokens = rng.uniform(-np.sqrt(3), np.sqrt(3), (n_tokens, d)).astype(np.float32)
    elif family == "low-rank":
        tokens = (rng.standard_normal((n_tokens, 8), dtype=np.float32) @ rng.standard_normal((8, d), dtype=np.float32)
                  / np.float32(np.sqrt(8)) + np.float32(0.05) * rng.standard_normal((n_tokens, d), dtype=np.float32))
    else:
        tokens = rng.standard_normal((n_tokens, d), dtype=np.float32)
    tokens *= scale
    pos_scale = 10 ** (log_scale - 1 + rng.normal(0, 0.05, d))
    positions = _red_noise(rng, N_POSITIONS, d, heavy=family == "heavy-tailed") * pos_scale
    gains = {"gaussian": lambda shape: 1 + 0.05 * rng.normal(size=shape),
             "heavy-tailed": lambda shape: 1 + 0.05 * rng.standard_t(3, shape),
             "skewed": lambda shape: 1 + 0.05 * (rng.gamma(2.0, 1.0, shape) - 2) / np.sqrt(2),
             "uniform": lambda shape: rng.uniform(0.9, 1.1, shape),
             "low-rank": lambda shape: 1 + 0.05 * rng.normal(size=shape),
             "mean-shifted": lambda shape: 1.5 + 0.05 * rng.normal(size=shape)}[family]
    if family == "mean-shifted":
        tokens += np.float32(2 * np.median(scale))
        positions += 2 * np.median(pos_scale)
    token_bytes, flags = _vocabulary(rng, n_tokens, 0.1)
    present = {15, 16} if family == "mean-shifted" else {6}
    absent = set(CLAIMS) - present
    if family != "low-rank":
        absent.discard(20)  # full-rank random vectors (shifted or not) predict themselves: the property is there
    absent.discard(21)  # descriptive of the exceptions: random matrices whose spread sits in few dims (low-rank,
    # skewed scales) really have nearly parallel exceptions; its null is the contrast model's
    return Synthetic(tokens, positions, gains((N_LAYERS, d)), gains((N_LAYERS, d)), gains(d), _frequency(rng, n_tokens),
                     rng.random(n_tokens) < 0.5, token_bytes, flags, frozenset(absent), frozenset())


def planted_model(size: float, d: int, n_tokens: int, seed: int, contrast: bool = False) -> Synthetic:
    """Every effect of the study at `size` (1 = the study's), or with `contrast` every prerequisite at the
    study's size and each claim's own effect absent or adversarial (see the module docstring)."""
    rng = np.random.default_rng(seed)
    s = 1.0 if contrast else float(size)
    log_freq = _frequency(rng, n_tokens)
    z_freq = _z(log_freq)
    n_heavy = max(4, int(round(0.03 * d)))
    dims = rng.permutation(d)
    heavy, unigram = dims[:n_heavy], int(dims[n_heavy])
    other_a, other_b = dims[n_heavy + 1: 2 * n_heavy + 1], dims[2 * n_heavy + 1: 3 * n_heavy + 1]
    stripes = dims[3 * n_heavy + 1: 3 * n_heavy + 1 + max(2, int(round(0.02 * d)))]
    sigma = 0.1

    # token scale: frequency-linked (claims 14, 17), none in the contrast
    rho_norm = 0.6 * s
    link = rho_norm * z_freq + np.sqrt(1 - rho_norm ** 2) * rng.normal(size=n_tokens)
    scale = np.exp(-0.12 * link) if not contrast else np.ones(n_tokens)
    tokens = rng.standard_normal((n_tokens, d), dtype=np.float32) * np.float32(sigma)
    column_scale = np.ones(d)
    low_std_dims, mean_dims = (other_a, other_b) if contrast else (heavy, heavy)
    column_scale[low_std_dims] = 0.3 ** s
    tokens *= column_scale.astype(np.float32)
    mean = np.full(d, 0.4 * s * sigma)
    signs = np.where(np.arange(len(mean_dims)) % 2 == 0, 1.0, -1.0)
    mean[mean_dims] += signs * 1.0 * sigma * (s if not contrast else 1)
    if not contrast:
        mean[stripes] += 1.0 * s * sigma
    tokens += mean.astype(np.float32)
    tokens *= scale[:, None].astype(np.float32)

    # unigram dim: values tied to frequency, off-centre, wide (claims 10–13, 18); independent in the contrast
    rho_u = 0.6 * s
    if contrast:
        tokens[:, unigram] = (0.4 * sigma + sigma * rng.normal(size=n_tokens)).astype(np.float32)
    else:  # higher for short tokens, and through them for frequent and early ones
        tokens[:, unigram] = 0
        own = rng.normal(size=n_tokens)
        for _ in range(3):  # the dim is part of the norm it follows: settle to a fixed point
            shortness = -_z(np.linalg.norm(tokens, axis=1))
            tokens[:, unigram] = (2 * s * sigma + (1 + 0.5 * s) * sigma
                                  * (rho_u * shortness + np.sqrt(1 - rho_u ** 2) * own)).astype(np.float32)

    # word starts: a shift along one direction (two clusters); in the contrast, a sign cut of a wide unimodal cloud
    direction = rng.normal(size=d)
    direction[np.r_[heavy, unigram]] = 0
    direction /= np.linalg.norm(direction)
    if contrast:
        along = 3 * sigma * rng.normal(size=n_tokens)
        word_start = along > 0
    else:
        word_start = rng.random(n_tokens) < 0.5
        along = np.where(word_start, 2 * s * sigma, -2 * s * sigma)
    tokens += (along[:, None] * direction[None, :]).astype(np.float32)

    token_bytes, flags = _vocabulary(rng, n_tokens, 0.45 if contrast else 0.1)
    _plant_pairs(rng, tokens, token_bytes, s, contrast)
    _plant_clump(rng, tokens, token_bytes, unigram, sigma, s, contrast)

    positions = _red_noise(rng, N_POSITIONS, d) * 10 ** rng.normal(-2, 0.15, d)
    t = np.arange(N_POSITIONS)[:, None]
    bump = 10 ** (1.2 * (1.0 if contrast else s))
    typical = 10 ** -2
    if contrast:  # random walks: smooth, not periodic
        walks = np.cumsum(rng.normal(size=(N_POSITIONS, n_heavy)), axis=0)
        walks -= walks.mean(axis=0)
        positions[:, heavy] = walks / walks.std(axis=0) * typical * bump
    else:
        cycles = rng.integers(2, 9, n_heavy)
        wave = np.sqrt(2) * np.sin(2 * np.pi * cycles * t / N_POSITIONS + rng.uniform(0, 2 * np.pi, n_heavy))
        noise = _red_noise(rng, N_POSITIONS, n_heavy, phi=0.9)
        snr = 4 * s ** 2
        positions[:, heavy] = (np.sqrt(snr) * wave + noise) / np.sqrt(1 + snr) * typical * bump
    positions[:, unigram] *= 0.5  # the unigram dim is quiet in the position embeddings

    ln1 = 1 + 0.05 * rng.normal(size=(N_LAYERS, d))
    ln2 = 1 + 0.05 * rng.normal(size=(N_LAYERS, d))
    ln_f = 1 + 0.05 * rng.normal(size=d)
    if not contrast:
        ln1[0, heavy] *= 0.3 ** s
    ln2[:, unigram] = 1 + 0.05 * 1.4826 * 0.6745 * 10 * s  # robust z ≈ 10 s (MAD of N(0, σ) = 0.6745 σ)
    if contrast:
        absent = frozenset({3, 5, 7, 8, 10, 11, 12, 13, 14, 18, 19, 21, 22, 23, 24})
        return Synthetic(tokens, positions, ln1, ln2, ln_f, log_freq, word_start, token_bytes, flags, absent,
                         frozenset())
    return Synthetic(tokens, positions, ln1, ln2, ln_f, log_freq, word_start, token_bytes, flags, frozenset(),
                     frozenset(CLAIMS))


def _plant_pairs(rng, tokens: np.ndarray, token_bytes: tuple[bytes, ...], s: float, contrast: bool) -> None:
    """Zero-layer exceptions u → v. Planted: v = 1.2 u (nearly parallel), a share of them " w" → "w", the
    others involving machine-readable tokens. Contrast: random pairs whose cosine only just clears the bound
    |u|/|v| that u·v > |u|² forces."""
    n = len(tokens)
    count = max(40, n // 100)
    index = {t: i for i, t in enumerate(token_bytes)}
    twins = [(i, index[t[1:]]) for i, t in enumerate(token_bytes) if t[:1] == b" " and t[1:] in index]
    machine = [i for i, t in enumerate(token_bytes) if t[:1] not in (b" ", b"\xff") and not t.isalpha()]
    plain = [i for i, t in enumerate(token_bytes) if t.isalpha()]
    rng.shuffle(twins)
    norms = np.linalg.norm(tokens, axis=1)
    long_half = norms >= np.median(norms)
    if not contrast:
        twins = [(u, v) for u, v in twins if long_half[u]]
    used: set[int] = set()
    pairs = []
    n_space = 0 if contrast else int(round(0.6 * s * count))
    for u, v in twins[:n_space]:
        pairs.append((u, v))
        used |= {u, v}
    pools = {odd: np.array([i for i in (machine if odd else plain) if long_half[i]]) for odd in (False, True)}
    while len(pairs) < count:  # planted: as in gpt2, the v of a pair is among the longest vectors, so u is long
        odd = not contrast and rng.random() < 0.8 * s
        u = int(rng.integers(n)) if contrast else int(pools[odd][rng.integers(len(pools[odd]))])
        v = int(rng.integers(n))
        if u != v and u not in used and v not in used:
            pairs.append((u, v))
            used |= {u, v}
    for u, v in pairs:
        if contrast:  # |v|/|u| = 1.15 and cos 30% of the way from the forced bound to 1
            ratio = 1.15
            cos = 1 / ratio + 0.3 * (1 - 1 / ratio)
            other = rng.normal(size=tokens.shape[1])
            unit = tokens[u] / np.linalg.norm(tokens[u])
            other -= other @ unit * unit
            other /= np.linalg.norm(other)
            direction = cos * unit + np.sqrt(1 - cos ** 2) * other
            tokens[v] = (ratio * np.linalg.norm(tokens[u]) * direction).astype(np.float32)
        else:
            noise = rng.normal(0, 0.05 / s, tokens.shape[1]) * np.linalg.norm(tokens[u]) / np.sqrt(tokens.shape[1])
            tokens[v] = (1.2 * tokens[u] + noise).astype(np.float32)


def _plant_clump(rng, tokens: np.ndarray, token_bytes, unigram: int, sigma: float, s: float, contrast: bool) -> None:
    """Near-identical tokens: odd strings at low norm and the lowest unigram value, or (contrast) any tokens at
    the median token."""
    n, d = tokens.shape
    size = max(12, n // 400)
    odd = [i for i, t in enumerate(token_bytes) if not t.isalpha() and t[:1] != b" "]
    members = rng.choice(n if contrast else odd, size, replace=False)  # planted: rarely trained odd strings
    norms = np.linalg.norm(tokens, axis=1)
    if contrast:
        centre = tokens[np.argsort(norms)[n // 2]].astype(np.float64)
    else:
        centre = 0.3 * tokens.mean(axis=0, dtype=np.float64)
        centre[unigram] = float(tokens[:, unigram].min())
    tokens[members] = (centre + rng.normal(0, 0.002 / s * sigma, (size, d))).astype(np.float32)


def verdicts(model: Synthetic, seed: int, expensive: bool = True,
             n_resamples: int = 1000) -> dict[int, tuple[str, str]]:
    """Every claim's (verdict, detail) on `model`, computed as the report computes it (claims 20–24 only if
    `expensive`)."""
    w = model.tokens
    layers = list(range(N_LAYERS))
    gains = np.vstack([np.stack([model.ln1[i], model.ln2[i]]) for i in layers] + [model.ln_f[None, :]])
    labels = [(role, i) for i in layers for role in ("ln_1", "ln_2")] + [("ln_f", -1)]
    position = analyse_position(w, model.positions, seed)
    found = list(position.claims)
    found += analyse_layernorm_basis(labels, gains, w, model.positions, seed,
                                     n_rotations=200, n_permutations=200).claims
    found += analyse_ln_gains(layers, model.ln1, model.ln2, position.position_std, position.heavy_dims).claims
    unigram = analyse_unigram(layers, model.ln2, w, position.position_std, position.heavy_dims, model.log_frequency)
    found += unigram.claims
    svd = analyse_svd(w, model.word_start, unigram.dim, seed, unigram_standout=unigram.standout)
    found += svd.claims
    variables = {"unigram_dim": w[:, unigram.dim].astype(np.float64), "norm": svd.norms, "svd0": svd.coordinates[:, 0],
                 "log_frequency": model.log_frequency, "token_index": np.arange(len(w), dtype=np.float64)}
    found += analyse_correlations(variables, unigram.dim, unigram.standout, True, seed, n_resamples,
                                  token_embeddings=w).claims
    if expensive:  # one pair pass for both, with the exception targets, as the report runs them
        crowding = crowding_scale(w, seed)
        pairs = scan_pairs(w, threshold=crowding.threshold)
        zero_layer = analyse_zero_layer(w, model.token_bytes, model.unprintable, found=pairs)
        found += zero_layer.claims
        found += analyse_outliers(w, unigram.dim if unigram.standout else None, zero_layer.targets, seed,
                                  found=(crowding, pairs)).claims
    checked = guard(tuple(found), degeneracy(w, model.positions, gains))
    return {c.id: (c.verdict, c.detail) for c in checked}
