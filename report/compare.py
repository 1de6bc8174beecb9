"""Several models side by side: headline numbers, the claims matrix, overlays, shared outlier tokens,
and what moved between two checkpoints of one architecture.

Each model contributes a `ModelDigest`: its results.json and a few small arrays (LayerNorm gains,
token norms, token strings). Digests are made one model at a time; a model's full embedding matrix
stays in memory only until the next model of the same shape has been compared with it, so a
comparison of large models holds at most two matrices of one shape at once. The functions that turn
digests into the comparison document are pure; `build_comparison` does the I/O and writes
OUT/comparison/ atomically (a temporary folder renamed into place).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import partial
from itertools import combinations, zip_longest
from pathlib import Path

import numpy as np

from analyses.claims import BY_ID, HOLDS, INCONCLUSIVE, NOT_APPLICABLE, finding_of, in_finding_order
from analyses.stats import spearman
from analyses.vectors import row_cosines, row_norms
from report import output_folder, render, results_json
from report.cache import Cache
from report.errors import ReportError
from report.figures_io import FigureWriter
from report.pipeline import load_model, provenance
from report.plots import compare as plots
from report.progress import Progress
from report.sections import FigureSpec
from report.tokens import tokenizer_sha256

TOP = 10  # rows in each "moved most" list
MOVED = 1e-6  # changes below this (log norm ratio, 1 − cos, |Δ gain|) count as no change

# (results.json path, label, how to show it). Paths that a model's results.json lacks show as "—".
HEADLINE = (
    ("model.architecture", "architecture", "text"),
    ("model.d_model", "channel dims d", "num"),
    ("model.n_layers", "layers", "num"),
    ("model.vocab_size", "embedding rows", "num"),
    ("model.n_positions", "learned positions", "num"),
    ("model.tied_embeddings", "tied input/output embeddings", "num"),
    ("frequency_source.kind", "frequency source", "text"),
    ("analyses.unigram.dim", "unigram dim", "num"),
    ("analyses.position.heavy_dim_count", "position-heavy dims", "num"),
    ("derived.heavy_dim_share", "position-heavy dims / d", "pct"),
    ("analyses.svd.cos_svd0_mean", "|cos| SVD 0 vs mean embedding", "num"),
    ("analyses.svd.svd0_same_sign_fraction", "tokens with the sign of SVD 0", "pct"),
    ("derived.svd0_energy", "share of Σ W² in SVD 0", "pct"),
    ("analyses.svd.leading_space_auroc", "word-start AUROC on SVD 1–2", "num"),
    ("analyses.zero_layer.self_predict_fraction", "zero-layer self-prediction", "pct"),
    ("analyses.model_card.unembedding.row_cos_median", "output vs input row: median cos", "num"),
    ("analyses.model_card.unembedding.norm_spearman", "output vs input norms: Spearman", "num"),
    ("derived.clump_size", "wastebasket clump size", "num"),
    ("derived.claims_holding", "claims holding / tested", "text"),
    ("derived.findings_holding", "independent findings holding / tested", "text"),
)


@dataclass(frozen=True, eq=False)
class ModelDigest:
    """What the comparison needs from one model.

    Attributes:
        label: a short name, unique among the compared models (column headings, legends).
        folder: the model's own report folder, or None.
        results: its results.json document.
        gains: (role, layer, [d] gains) for every LayerNorm, in model order.
        token_norms: [tokens] L2 norm of each input embedding row that has a token.
        token_text: [tokens] display string of each token.
        tokenizer_sha256: identity of the vocabulary (same hash = same token ids and strings).
    """

    label: str
    folder: Path | None
    results: dict
    gains: tuple[tuple[str, int, np.ndarray], ...]
    token_norms: np.ndarray
    token_text: tuple[str, ...]
    tokenizer_sha256: str

    @property
    def n_layers(self) -> int:
        return int(self.results["model"]["n_layers"])


def make_digest(weights, tokens, results: dict, label: str, folder: Path | None = None) -> ModelDigest:
    """A digest from loaded weights (ModelWeights), their TokenTable and the written results."""
    n = int(tokens.has_token.sum())
    norms = row_norms(weights.token_embeddings[:n])
    gains = tuple((ln.role, ln.layer, np.asarray(ln.weight, dtype=np.float64)) for ln in weights.layer_norms)
    return ModelDigest(label, folder, results, gains, norms, tuple(tokens.display[:n]), tokenizer_sha256(tokens))


def lookup(results: dict, path: str):
    """The value at a dotted path of results.json, a derived headline number, or None when absent."""
    if path.startswith("derived."):
        return _derived(results, path.split(".", 1)[1])
    return results_json.at_path(results, path)


def _derived(results: dict, name: str):
    if name == "heavy_dim_share":
        count, d = lookup(results, "analyses.position.heavy_dim_count"), lookup(results, "model.d_model")
        return None if count is None or not d else count / d
    if name == "svd0_energy":
        s = lookup(results, "analyses.svd.singular_values")
        return None if not s else float(s[0] ** 2 / sum(v * v for v in s))
    if name == "clump_size":
        ids = lookup(results, "analyses.outliers.clump_token_ids")
        return None if ids is None else len(ids)
    if name == "claims_holding":
        return _holding(results.get("claims") or [])
    if name == "findings_holding":  # a finding's verdict is that of its own claim; its parts do not count again
        return _holding([c for c in results.get("claims") or [] if finding_of(c["id"]) == c["id"]])
    raise KeyError(name)


def _holding(claims: list[dict]) -> str | None:
    """"holding / tested" over the applicable claims, with the inconclusive ones (tested, not holding) named."""
    tested = [c for c in claims if c.get("verdict") != NOT_APPLICABLE]
    inconclusive = sum(c.get("verdict") == INCONCLUSIVE for c in tested)
    holding = f"{sum(c.get('verdict') == HOLDS for c in tested)} / {len(tested)}"
    return None if not claims else f"{holding} ({inconclusive} inconclusive)" if inconclusive else holding


def headline(digests: list[ModelDigest]) -> list[dict]:
    """Rows of HEADLINE: each model's value, and whether it applies (position numbers need learned positions)."""
    has_positions = [bool(lookup(m.results, "analyses.position.has_position_embeddings")) for m in digests]
    return [{"key": path, "label": label, "kind": kind, "values": [lookup(m.results, path) for m in digests],
             "applies": has_positions if "heavy_dim" in path else [True] * len(digests)}
            for path, label, kind in HEADLINE]


def claims_matrix(digests: list[ModelDigest]) -> list[dict]:
    """One row per claim any model tested, each finding's parts right after it (`part_of`: the claim whose finding
    it is, else None): per model its verdict and value (None where absent)."""
    by_model = [{c["id"]: c for c in m.results.get("claims") or []} for m in digests]
    ids = [c["id"] for c in in_finding_order([{"id": i} for i in {i for claims in by_model for i in claims}])]
    return [{"id": i, "name": BY_ID[i].name if i in BY_ID else None,
             "part_of": finding_of(i) if finding_of(i) != i else None,
             "statement": BY_ID[i].statement if i in BY_ID else next(c[i]["statement"] for c in by_model if i in c),
             "cells": [None if i not in c else {"verdict": c[i]["verdict"], "value": c[i].get("value")}
                       for c in by_model]}
            for i in ids]


def dims_table(digests: list[ModelDigest]) -> list[dict]:
    rows = []
    for m in digests:
        heavy = lookup(m.results, "analyses.position.heavy_dims")
        unigram = lookup(m.results, "analyses.unigram.dim")
        rows.append({"label": m.label, "d_model": lookup(m.results, "model.d_model"), "unigram_dim": unigram,
                     "heavy_dims": heavy, "heavy_dim_count": None if heavy is None else len(heavy),
                     "has_positions": bool(lookup(m.results, "analyses.position.has_position_embeddings")),
                     "unigram_in_heavy": None if unigram is None or heavy is None else unigram in heavy})
    return rows


def token_lists(m: ModelDigest) -> dict[str, list[int]]:
    """Lists of notable token ids in a model's results: the clump(s) and other outlier lists, norm extremes."""
    lists = {}
    outliers = lookup(m.results, "analyses.outliers") or {}
    for key in sorted(outliers):
        value = outliers[key]
        if key.endswith("token_ids") and isinstance(value, list) and all(isinstance(v, int) for v in value):
            lists[key.removesuffix("_token_ids").replace("_", " ") or "outliers"] = value
    extremes = lookup(m.results, "analyses.svd.norm_extremes.token_ids")
    if extremes:
        half = len(extremes) // 2
        lists["longest vectors"], lists["shortest vectors"] = extremes[:half], extremes[half:]
    return lists


def overlaps(digests: list[ModelDigest]) -> list[dict]:
    """For every pair of models and every token list both have: shared tokens by id (same tokenizer
    only) and by string."""
    rows = []
    for a, b in combinations(digests, 2):
        same = a.tokenizer_sha256 == b.tokenizer_sha256
        lists_a, lists_b = token_lists(a), token_lists(b)
        for name in [n for n in lists_a if n in lists_b and (lists_a[n] or lists_b[n])]:
            ids_a = [i for i in lists_a[name] if i < len(a.token_text)]
            ids_b = [i for i in lists_b[name] if i < len(b.token_text)]
            strings_a, strings_b = {a.token_text[i] for i in ids_a}, {b.token_text[i] for i in ids_b}
            shared_strings = sorted(strings_a & strings_b)
            row = {"a": a.label, "b": b.label, "list": name, "shared_tokenizer": same,
                   "n_a": len(ids_a), "n_b": len(ids_b),
                   "by_string": {"shared": len(shared_strings), "jaccard": _jaccard(strings_a, strings_b),
                                 "examples": shared_strings[:12]}}
            if same:
                shared_ids = sorted(set(ids_a) & set(ids_b))
                row["by_id"] = {"shared": len(shared_ids), "jaccard": _jaccard(set(ids_a), set(ids_b)),
                                "ids": shared_ids}
            else:
                row["by_id"] = None
            rows.append(row)
    return rows


def _jaccard(a: set, b: set) -> float | None:
    return len(a & b) / len(a | b) if a or b else None


def pair_diff(a: ModelDigest, b: ModelDigest, matrix_a: np.ndarray, matrix_b: np.ndarray) -> dict:
    """What moved from checkpoint `a` to checkpoint `b` of one shape: LayerNorm gains per dim, token
    norms and directions per token. Matrices are [rows, d] input embeddings."""
    n = min(len(a.token_norms), len(b.token_norms))
    log_ratio = np.log(np.maximum(b.token_norms[:n], 1e-12) / np.maximum(a.token_norms[:n], 1e-12))
    cos = row_cosines(matrix_a[:n], matrix_b[:n])
    order = np.argsort(log_ratio, kind="stable")
    grew = [i for i in order[::-1][:TOP] if log_ratio[i] > MOVED]
    shrank = [i for i in order[:TOP] if log_ratio[i] < -MOVED]
    turned = [i for i in np.argsort(cos, kind="stable")[:TOP] if cos[i] < 1 - MOVED]
    token = lambda i: {"id": int(i), "text_a": a.token_text[i], "text_b": b.token_text[i],  # noqa: E731
                       "norm_a": float(a.token_norms[i]), "norm_b": float(b.token_norms[i]),
                       "norm_ratio": float(np.exp(log_ratio[i])), "cos": float(cos[i])}
    tokens = {
        "compared": n, "same_tokenizer": a.tokenizer_sha256 == b.tokenizer_sha256,
        "norm_ratio_median": float(np.exp(np.median(log_ratio))),
        "norm_spearman": spearman(a.token_norms[:n], b.token_norms[:n]),
        "cos_median": float(np.median(cos)), "cos_p05": float(np.quantile(cos, 0.05)),
        "grew_most": [token(i) for i in grew],
        "shrank_most": [token(i) for i in shrank],
        "turned_most": [token(i) for i in turned],
    }
    layout_a = [(role, layer) for role, layer, _ in a.gains]
    layout_b = [(role, layer) for role, layer, _ in b.gains]
    gains = None
    if layout_a == layout_b and len(a.gains) and a.gains[0][2].shape == b.gains[0][2].shape:
        delta = np.stack([gb - ga for (_, _, ga), (_, _, gb) in zip(a.gains, b.gains)])  # [norms, d]
        per_dim = np.abs(delta).max(axis=0)
        where = np.abs(delta).argmax(axis=0)
        names = [_norm_name(role, layer) for role, layer in layout_a]
        top = [k for k in np.argsort(per_dim, kind="stable")[::-1][:TOP] if per_dim[k] > MOVED]
        gains = {"max_abs_change_per_dim": per_dim, "mean_abs_change": float(np.abs(delta).mean()),
                 "dims_moved_most": [{"dim": int(k), "max_abs_change": float(per_dim[k]),
                                      "in": names[where[k]], "from": float(a.gains[where[k]][2][k]),
                                      "to": float(b.gains[where[k]][2][k])} for k in top]}
    return {"a": a.label, "b": b.label, "tokens": tokens, "ln_gains": gains,
            "_log_norm_a": np.log(np.maximum(a.token_norms[:n], 1e-12)), "_log_ratio": log_ratio}


def _norm_name(role: str, layer: int) -> str:
    return {"ln_f": "final norm", "ln_emb": "embedding norm"}.get(role, f"layer {layer} {role.replace('ln_', 'LN')}")


def comparison_document(digests: list[ModelDigest], diffs: list[dict]) -> dict:
    """Everything the comparison shows, as plain data (arrays stay out: they are in the figures)."""
    models = []
    for m in digests:
        model = m.results["model"]
        models.append({"label": m.label, "id": model.get("id"), "revision": model.get("revision"),
                       "architecture": model.get("architecture"), "d_model": model.get("d_model"),
                       "n_layers": model.get("n_layers"), "vocab_size": model.get("vocab_size"),
                       "tokenizer_sha256": m.tokenizer_sha256,
                       "report": None if m.folder is None else f"../{m.folder.name}/report.html"})
    return {
        "schema_version": results_json.SCHEMA_VERSION,
        "models": models,
        "headline": headline(digests),
        "claims": claims_matrix(digests),
        "dims": dims_table(digests),
        "overlaps": overlaps(digests),
        "pairs": [{k: v for k, v in d.items() if not k.startswith("_")} for d in diffs],
        "provenance": provenance(),
    }


def short_labels(model_ids: list[str]) -> list[str]:
    """Column names: the last part of each id (`openai-community/gpt2-medium` -> gpt2-medium), made unique."""
    short = [Path(i.rstrip("/")).name or i for i in model_ids]
    return [s if short.count(s) == 1 else i for s, i in zip(short, model_ids)]


def gather(entries: list[tuple], progress: Progress) -> tuple[list[ModelDigest], list[dict]]:
    """Digests of (Request, report folder) pairs, and diffs of consecutive models of the same shape."""
    results = [_read_results(folder) for _, folder in entries]
    labels = short_labels([r["model"]["id"] for r in results])
    shapes = [(r["model"]["vocab_size"], r["model"]["d_model"]) for r in results]
    digests, diffs, kept = [], [], {}
    for index, ((request, folder), result) in enumerate(zip(entries, results)):
        with progress.step(f"reload {labels[index]}"):
            weights, tokens = load_model(request)
        digest = make_digest(weights, tokens, result, labels[index], folder)
        shape = shapes[index]
        if shape in kept:
            previous, matrix = kept.pop(shape)
            with progress.step(f"diff {previous.label} → {digest.label}"):
                diffs.append(pair_diff(previous, digest, matrix, weights.token_embeddings))
        if shape in shapes[index + 1:]:  # keep the matrix only while a later model will need it
            kept[shape] = (digest, weights.token_embeddings)
        digests.append(digest)
        del weights
    return digests, diffs


def _read_results(folder: Path) -> dict:
    try:
        return json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"Cannot read {folder / 'results.json'} for the comparison: {exc}.") from exc


def build_comparison(entries: list[tuple], out_root: Path, show_progress: bool = True,
                     cache: Cache | None = None) -> Path:
    """Write OUT/comparison/ (report.html, report.pdf, comparison.json, figures/) for the models in
    `entries`, pairs of (Request, its written report folder); return the folder. With a cache, the same
    reports (byte for byte) and the same code give back the stored comparison without reloading a model."""
    progress = Progress("comparison", total=2 * len(entries) + 4, enabled=show_progress)
    try:
        key = comparison_key(entries)
        destination = output_folder.destination_folder(out_root, output_folder.COMPARISON_FOLDER)

        def write(staging: Path) -> None:
            if cache is None or not cache.restore_outputs(key, staging):
                digests, diffs = gather(entries, progress)
                write_comparison(digests, diffs, staging, progress)
                if cache is not None:
                    cache.store_outputs(key, staging)

        output_folder.write_atomically(destination, write, kind="comparison")
    finally:
        progress.close()
    return destination


def comparison_key(entries: list[tuple]) -> str:
    """Cache key of a comparison: every report's results.json (which names the model, its revision and its
    tensors' sha256), in order, and the code that compares and renders."""
    digests = []
    for _, folder in entries:
        try:
            digests.append(hashlib.sha256((folder / "results.json").read_bytes()).hexdigest())
        except OSError as exc:
            raise ReportError(f"Cannot read {folder / 'results.json'} for the comparison: {exc}.") from exc
    return Cache.render_key(Cache.analysis_key({"comparison": digests}))


def write_comparison(digests: list[ModelDigest], diffs: list[dict], folder: Path, progress: Progress) -> list[str]:
    """comparison.json, figures, HTML and PDF into `folder`; returns PDF warnings."""
    document = comparison_document(digests, diffs)
    with progress.step("comparison.json"):
        results_json.write(folder / "comparison.json", document)
    figures_dir = folder / "figures"
    figures_dir.mkdir()
    planned = plots.all_figures(digests, diffs)
    jobs = [partial(_drawn, name, draw, caption) for name, draw, caption in planned]
    with FigureWriter(jobs, figures_dir) as writer:  # PNGs go on in the background during HTML and PDF
        with progress.step("figures"):
            shown = [figure for job in writer.vectors() for figure in job]
        figures = {f["name"]: f | {"number": number} for number, f in enumerate(shown, start=1)}
        pairs = [{**pair, "figure": plots.pair_figure_name(pair),
                  "rows": list(zip_longest(pair["tokens"]["grew_most"], pair["tokens"]["shrank_most"],
                                           pair["tokens"]["turned_most"]))} for pair in document["pairs"]]
        with progress.step("html"):
            html = render.render_html("comparison.html.j2", doc=document, pairs=pairs, figures=figures,
                                      no_positions=[m.label for m in digests if not _has_positions(m)])
            (folder / "report.html").write_text(html, encoding="utf-8")
        with progress.step("pdf"):
            warnings = render.write_pdf(html, folder / "report.pdf")
        writer.wait()
    return warnings


def _drawn(name: str, draw, caption: str) -> list[FigureSpec]:
    return [FigureSpec(name, draw(), caption)]


def _has_positions(m: ModelDigest) -> bool:
    return bool(lookup(m.results, "analyses.position.has_position_embeddings"))
