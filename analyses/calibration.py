"""Synthetic models for calibrating the claim verdicts: null families with none of the study's structure, a
"contrast" model that has every prerequisite (a heavy-dim cluster, a standing-out unigram dim, zero-layer
exceptions, a clump, separable word starts) but each claim's own effect absent or adversarial, and planted
models with every effect at the study's size (1.0) or a fraction of it.

Each model says which claims' effects are absent (a "holds" there is a false positive) and which are present
(a "holds" there counts toward power). report.run.synthetic_run.verdicts scores a model through the report's own
sections.

Study-size effects as planted (size s scales each one; s = 0.5 is "half"):
    heavy dims   3% of d (≥ 4 dims), position std 10^(1.2 s)× the rest (1.2 decades)
    periodicity  heavy-dim curves: sinusoids of 2–8 cycles plus red noise, signal/noise variance 4 s²
    odd dims     heavy dims' token std × 0.3^s, token mean ± 1.0 s typical std (claims 3, 5)
    stripes      2% of dims offset by 1.0 s token std (claim 2)
    layer 0      LN1 gains of the heavy dims × 0.3^s (claim 8)
    unigram dim  robust z 10 s in every LN2 (claims 1, 9); token values: mean 2 s typical std, std × (1 + 0.5 s),
                 a share 0.5 s from standardised log frequency (information beyond the norm) and 0.4 s from
                 the shortness of the other dims (−z of their norm), the rest its own noise; position std
                 half the typical (claims 10–13, 18)
    norms        token scale exp(−0.12 u), u correlated ρ = 0.6 s with log frequency (claims 14, 17)
    mean         every dim offset by 0.4 s typical std (claims 15, 16)
    word starts  ± 2 s typical std along one direction (claim 19)
    pairs        1% of tokens (≥ 40), u from the longer half: v = 1.2 u (+ noise 0.05 / s); 60% s of them
                 " w" → "w", the others involve a machine-readable token 80% s of the time (claims 20–23)
    clump        0.25% of tokens (≥ 12), machine-readable strings among the rarest quarter of them, within
                 0.002 / s typical std of a point at low norm and the lowest unigram value (claim 24)
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, replace

import numpy as np

from analyses.claims import BY_NAME, REGISTRY

SIMPLE_FAMILIES = ("gaussian", "heavy-tailed", "skewed", "uniform", "low-rank", "mean-shifted")
# Nulls that look trained (a common mean off the all-ones direction, power-law singular values, norms tied to
# frequency, off-centre wide dims, smooth position curves, widely spread norms) without the claims' effects.
TRAINED_LIKE = ("random-mean", "power-law", "norm-frequency", "off-centre", "off-centre-norm-frequency",
                "smooth-positions", "wide-norms")
FAMILIES = SIMPLE_FAMILIES + TRAINED_LIKE
N_POSITIONS, N_LAYERS = 1024, 12


class ClaimNumbers(Set):
    """The numbers of the registered claims that pass `keep`, in order, read live from the claims registry: a claim
    declared next to its analysis (analyses.claims.declare) is scored with no edit here."""

    def __init__(self, keep):
        self._keep = keep

    def _numbers(self) -> tuple[int, ...]:
        return tuple(c.id for c in REGISTRY if self._keep(c))

    def __contains__(self, number) -> bool:
        return number in self._numbers()

    def __iter__(self):
        return iter(self._numbers())

    def __len__(self) -> int:
        return len(self._numbers())

    @classmethod
    def _from_iterable(cls, numbers) -> frozenset:
        return frozenset(numbers)

    def __repr__(self) -> str:
        return f"ClaimNumbers({list(self)})"


# The study's claims whose effect planted_model plants itself (named, so a claim added to the registry without a
# planted effect is reported as such by the calibration, never scored as power 0).
_PLANTED_HERE = frozenset((
    "gains_favour_standard_basis", "token_dims_striped", "few_low_spread_token_dims", "position_dims_clustered",
    "low_spread_dims_are_position_dims", "positions_centred", "positions_smooth_periodic",
    "layer0_gains_dial_down_position_dims", "unigram_dim_in_gains", "unigram_dim_high_for_short_tokens",
    "unigram_dim_high_for_early_tokens", "unigram_dim_rises_with_frequency", "unigram_dim_profile",
    "frequent_tokens_shorter", "svd0_along_mean", "svd0_one_sign", "svd0_norm_extremes", "unigram_dim_on_svd0",
    "svd12_split_word_starts", "tokens_predict_themselves", "exceptions_parallel_and_longer",
    "exceptions_drop_leading_space", "exceptions_odd_bytes_or_code", "rare_token_clump"))
CLAIMS = ClaimNumbers(lambda c: True)  # calibration tables are keyed by the claims' visible numbers
# Those planted_model plants: the study's above, and every claim whose ClaimSpec gives a `plant` function.
PLANTED_EFFECTS = ClaimNumbers(lambda c: c.name in _PLANTED_HERE or c.plant is not None)
EXPENSIVE = ClaimNumbers(  # need the zero-layer search and the clump search
    lambda c: c.decided_by in ("analyses.zero_layer", "analyses.outliers"))


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
    letters = "abcdefghijklmnopqrstuvwxyz"
    machine = ("</td>", "{x}", "http", "www.", "=\"", "#define", "_id", "::", "@media", "0x7f")
    out, seen = [], set()
    while len(out) < n:
        u = rng.random()
        if u < odd_share * 0.9:
            token = (machine[rng.integers(len(machine))] + _letters(rng, letters, rng.integers(1, 4))).encode()
        elif u < odd_share:
            token = bytes([0xff, int(rng.integers(0x80, 0xc0))]) + bytes(rng.integers(97, 123, rng.integers(0, 3)))
        else:
            word = _letters(rng, letters, rng.integers(2, 9))
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


def _letters(rng: np.random.Generator, letters: str, count: int) -> str:
    """`count` letters drawn uniformly: the draws of rng.choice(letters, count) (it takes integers(0, 26, count)),
    without its per-call cost, which dominated making a 50k-token vocabulary."""
    return "".join([letters[i] for i in rng.integers(0, len(letters), count)])


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
    """A model from one null family: per-dim scales from the family, no planted structure (or, for the
    trained-like families, see `trained_like_null`)."""
    if family in TRAINED_LIKE:
        return trained_like_null(family, d, n_tokens, seed)
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


def _ids(*names: str) -> set[int]:
    return {BY_NAME[name].id for name in names}


# Claims whose effect a trained-like null lacks unless its family says otherwise; descriptive measurements
# (SVD 0 along the mean and of one sign, self-prediction, the exceptions' geometry) are scored on none of them.
_NEUTRAL = _ids("svd0_along_mean", "svd0_one_sign", "tokens_predict_themselves", "exceptions_parallel_and_longer")
_NORM_SCALED = ("norm-frequency", "off-centre-norm-frequency", "wide-norms")


def _power_law_cloud(rng: np.random.Generator, n: int, d: int, exponent: float, sigma: float) -> np.ndarray:
    """[n, d] Gaussian tokens with singular values falling as k^-exponent in a random basis, typical std sigma."""
    spectrum = np.arange(1, d + 1, dtype=np.float64) ** -exponent
    spectrum *= np.sqrt(d / np.sum(spectrum ** 2))  # the average dim keeps variance 1
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    cloud = rng.standard_normal((n, d), dtype=np.float32) * spectrum.astype(np.float32)
    return (cloud @ basis.T.astype(np.float32)) * np.float32(sigma)


def _smooth_curves(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """[n, k] smooth curves that are not periodic: random walks, integrated random walks and squared-exponential
    Gaussian-process draws (length scale n/10 to n/3), centred and scaled to unit std."""
    t = np.arange(n)[:, None]
    out = np.empty((n, k))
    for j in range(k):
        kind = j % 3
        if kind == 0:
            curve = np.cumsum(rng.normal(size=n))
        elif kind == 1:
            curve = np.cumsum(np.cumsum(rng.normal(size=n)))
        else:
            scale = n * rng.uniform(0.1, 1 / 3)
            kernel = np.exp(-0.5 * ((t - t.T) / scale) ** 2) + 1e-6 * np.eye(n)
            curve = np.linalg.cholesky(kernel) @ rng.normal(size=n)
        out[:, j] = curve - curve.mean()
    return out / out.std(axis=0)


def trained_like_null(family: str, d: int, n_tokens: int, seed: int) -> Synthetic:
    """A null that looks trained (power-law spectrum, a common mean in a random direction, LayerNorm gains near 1,
    red-noise position curves) plus one confound of the study's effects, none of the effects themselves:

        random-mean   the common mean 0.1–2× the typical std per dim, in a random direction (not all-ones)
        power-law     singular values falling as k^-0.9 (few directions carry most of the variance)
        norm-frequency    token norms shrink with frequency (scale exp(−0.15 u), u ρ = 0.6 with log
                      frequency), no dim carrying frequency beyond the norm
        off-centre    1–3 dims off-centre (mean 2σ) and wide (std 1.5σ), unrelated to frequency, one of them
                      standing out in every LN2 gain (robust z ≈ 10) and quiet in the positions
        off-centre-norm-frequency   both of the above
        smooth-positions  a 3% cluster of position dims 16× the rest with smooth, non-periodic curves
        wide-norms    token norms spread widely (log-normal, σ = 0.35) and shrink with frequency
    """
    rng = np.random.default_rng(seed)
    sigma = 0.1
    log_freq = _frequency(rng, n_tokens)
    present, neutral = _ids("positions_centred"), set(_NEUTRAL)
    tokens = _power_law_cloud(rng, n_tokens, d, 0.9 if family == "power-law" else 0.4, sigma)
    mean_size = 10 ** rng.uniform(-1, np.log10(2)) if family == "random-mean" else 0.3
    direction = rng.normal(size=d)
    tokens += (mean_size * sigma * np.sqrt(d) * direction / np.linalg.norm(direction)).astype(np.float32)
    positions = _red_noise(rng, N_POSITIONS, d) * 10 ** rng.normal(-2, 0.15, d)
    ln1, ln2 = 1 + 0.05 * rng.normal(size=(N_LAYERS, d)), 1 + 0.05 * rng.normal(size=(N_LAYERS, d))
    if family.startswith("off-centre"):
        wide = rng.choice(d, int(rng.integers(1, 4)), replace=False)
        tokens[:, wide] = (sigma * (2 + 1.5 * rng.standard_normal((n_tokens, len(wide))))).astype(np.float32)
        ln2[:, wide[0]] = 1 + 0.05 * 1.4826 * 0.6745 * 10  # the dim a report would take for the unigram dim
        positions[:, wide] *= 0.5
        present |= _ids("unigram_dim_in_gains", "gains_favour_standard_basis")
        neutral |= _ids("token_dims_striped")  # off-centre dims are stripes: that claim's effect is there
    if family in _NORM_SCALED:
        spread = 0.35 if family == "wide-norms" else 0.15
        link = 0.6 * _z(log_freq) + 0.8 * rng.normal(size=n_tokens)
        tokens *= np.exp(-spread * link)[:, None].astype(np.float32)
        present |= _ids("frequent_tokens_shorter")
        neutral |= _ids("svd0_norm_extremes")  # a common scale puts the longest and shortest rows at SVD 0's ends
    if family == "smooth-positions":
        heavy = rng.choice(d, max(4, int(round(0.03 * d))), replace=False)
        positions[:, heavy] = _smooth_curves(rng, N_POSITIONS, len(heavy)) * 10 ** -2 * 10 ** 1.2
        present |= _ids("position_dims_clustered")
    token_bytes, flags = _vocabulary(rng, n_tokens, 0.1)
    absent = set(CLAIMS) - present - neutral
    return Synthetic(tokens, positions, ln1, ln2, 1 + 0.05 * rng.normal(size=d), log_freq, rng.random(n_tokens) < 0.5,
                     token_bytes, flags, frozenset(absent), frozenset())


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
    if contrast:
        tokens[:, unigram] = (0.4 * sigma + sigma * rng.normal(size=n_tokens)).astype(np.float32)
    else:  # tracks frequency beyond the norm, and is higher for short tokens (shortness of the other dims)
        tokens[:, unigram] = 0
        shortness = -_z(np.linalg.norm(tokens, axis=1))
        rho_f, rho_s = 0.5 * s, 0.4 * s
        own = rng.normal(size=n_tokens)
        tokens[:, unigram] = (2 * s * sigma + (1 + 0.5 * s) * sigma * (
            rho_f * z_freq + rho_s * shortness + np.sqrt(1 - rho_f ** 2 - rho_s ** 2) * own)).astype(np.float32)

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
    _plant_clump(rng, tokens, token_bytes, log_freq, unigram, sigma, s, contrast)

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
    model = Synthetic(tokens, positions, ln1, ln2, ln_f, log_freq, word_start, token_bytes, flags, frozenset(),
                      frozenset(PLANTED_EFFECTS))
    return _plant_declared(model, s, seed)


def _plant_declared(model: Synthetic, size: float, seed: int) -> Synthetic:
    """`model` with the effect of every claim whose ClaimSpec gives a `plant` function planted at `size`, each from
    its own random stream (so adding one leaves the others' models as they were)."""
    for c in REGISTRY:
        if c.plant is not None:
            model = c.plant(model, size, np.random.default_rng([seed, c.id]))
    return replace(model, present=frozenset(PLANTED_EFFECTS))


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


def _plant_clump(rng, tokens: np.ndarray, token_bytes, log_freq: np.ndarray, unigram: int, sigma: float, s: float,
                 contrast: bool) -> None:
    """Near-identical tokens: rarely seen odd strings (the rarest quarter of them) at low norm and the lowest
    unigram value, or (contrast) any tokens at the median token."""
    n, d = tokens.shape
    size = max(12, n // 400)
    odd = np.array([i for i, t in enumerate(token_bytes) if not t.isalpha() and t[:1] != b" "])
    rare_odd = odd[np.argsort(log_freq[odd], kind="stable")[: max(size, len(odd) // 4)]]
    members = rng.choice(n if contrast else rare_odd, size, replace=False)  # planted: rarely trained odd strings
    norms = np.linalg.norm(tokens, axis=1)
    if contrast:
        centre = tokens[np.argsort(norms)[n // 2]].astype(np.float64)
    else:
        centre = 0.3 * tokens.mean(axis=0, dtype=np.float64)
        centre[unigram] = float(tokens[:, unigram].min())
    tokens[members] = (centre + rng.normal(0, 0.002 / s * sigma, (size, d))).astype(np.float32)
