"""Several models side by side: headline numbers, the claims matrix, overlays, shared outlier tokens,
and what moved between two checkpoints of one architecture.

Each model contributes a `ModelDigest`: the typed digest of its results.json (report/write/digest.py) and a few
small arrays (LayerNorm gains, token norms, token strings). `Gathered` takes them from each model while its
report is built (`pipeline.build(on_written=...)`), so no model is loaded a second time: the token norms
are the SVD result's, and the one thing that needs two embedding matrices, the row cosines between two
checkpoints of one shape, is computed as soon as the second is in memory. Until then the first waits in a
memory-mapped temporary file, so a comparison of large models holds one matrix in memory at a time. The
functions that turn digests into the comparison document are pure; `build_comparison` writes
OUT/comparison/ atomically (a temporary folder renamed into place).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from functools import partial
from itertools import combinations, zip_longest
from pathlib import Path

import numpy as np

from analyses.claims import BY_ID, finding_of, in_finding_order
from analyses.stats import spearman
from analyses.vectors import row_cosines
from report.errors import ReportError
from report.load.tokens import tokenizer_sha256
from report.run.cache import Cache
from report.run.context import RunContext
from report.run.pipeline import provenance, render_document
from report.run.progress import Progress
from report.sections import FigureSpec
from report.write import digest as schema
from report.write import output_folder, results_json
from report.write.plots import compare as plots

TOP = 10  # rows in each "moved most" list
MOVED = 1e-6  # changes below this (log norm ratio, 1 − cos, |Δ gain|) count as no change


@dataclass(frozen=True, eq=False)
class ModelDigest:
    """What the comparison needs from one model.

    Attributes:
        label: a short name, unique among the compared models (column headings, legends).
        folder: the model's own report folder, or None.
        results: the typed digest of its results.json (report/write/digest.py).
        gains: (role, layer, [d] gains) for every LayerNorm, in model order.
        token_norms: [tokens] L2 norm of each input embedding row that has a token.
        token_text: [tokens] display string of each token.
        tokenizer_sha256: identity of the vocabulary (same hash = same token ids and strings).
        shared_norm: each block has one norm feeding attention and the MLP (Phi-1/2, GPT-J, …): its LN1 gains
            are its LN2 gains too.
    """

    label: str
    folder: Path | None
    results: schema.Digest
    gains: tuple[tuple[str, int, np.ndarray], ...]
    token_norms: np.ndarray
    token_text: tuple[str, ...]
    tokenizer_sha256: str
    shared_norm: bool = False

    @property
    def n_layers(self) -> int:
        return self.results["n_layers"]


@dataclass(frozen=True, eq=False)
class ModelParts:
    """The arrays a ModelDigest takes from a model in memory (attributes as in ModelDigest)."""

    gains: tuple[tuple[str, int, np.ndarray], ...]
    token_norms: np.ndarray
    token_text: tuple[str, ...]
    tokenizer_sha256: str
    shared_norm: bool = False

    @classmethod
    def of(cls, ctx: RunContext) -> ModelParts:
        gains = tuple((ln.role, ln.layer, np.asarray(ln.weight, dtype=np.float64)) for ln in ctx.weights.layer_norms)
        return cls(gains, ctx.results["svd"].norms, tuple(ctx.tokens.display[:ctx.n_tokens]),
                   tokenizer_sha256(ctx.tokens), ctx.weights.shared_norm)


class Gathered:
    """The comparison's inputs, taken from each model while its report is built: `add` is the `on_written`
    of `pipeline.build`. Row cosines between consecutive models of one shape are computed when the second
    is added; the last matrix of each shape waits for the next in a memory-mapped temporary file."""

    def __init__(self):
        self.entries: list[tuple[Path, ModelParts]] = []
        self.cosines: list[tuple[int, int, np.ndarray]] = []  # (index a, index b, [tokens] cos of rows)
        self._kept: dict[tuple[int, int], tuple[int, Path]] = {}  # shape -> (index, file of its matrix)
        self._spill = tempfile.TemporaryDirectory(prefix="weights-report-comparison-")

    def add(self, ctx: RunContext, folder: Path) -> None:
        index = len(self.entries)
        matrix = ctx.embeddings
        shape = (ctx.weights.vocab_rows, ctx.weights.d_model)
        if shape in self._kept:
            previous, path = self._kept[shape]
            kept = np.load(path, mmap_mode="r")
            n = min(len(kept), len(matrix))
            self.cosines.append((previous, index, row_cosines(np.asarray(kept[:n]), matrix[:n])))
            del kept
        path = Path(self._spill.name) / f"{index}.npy"
        np.save(path, matrix)
        if shape in self._kept:
            self._kept[shape][1].unlink()
        self._kept[shape] = (index, path)
        self.entries.append((folder, ModelParts.of(ctx)))

    def close(self) -> None:
        self._spill.cleanup()

    @property
    def folders(self) -> list[Path]:
        return [folder for folder, _ in self.entries]

    def digests(self) -> tuple[list[ModelDigest], list[dict]]:
        """Digests of every added model (read from the results.json each report wrote), and the diffs of
        consecutive models of one shape."""
        results = [schema.read(_read_results(folder)) for folder in self.folders]
        labels = short_labels([r["model_id"] for r in results])
        digests = [ModelDigest(label, folder, r, parts.gains, parts.token_norms, parts.token_text,
                               parts.tokenizer_sha256, parts.shared_norm)
                   for label, r, (folder, parts) in zip(labels, results, self.entries)]
        return digests, [pair_diff(digests[a], digests[b], cos) for a, b, cos in self.cosines]


def headline(digests: list[ModelDigest]) -> list[dict]:
    """Rows of the declared headlines the comparison shows: each model's value, and whether it applies
    (position numbers need learned positions)."""
    has_positions = [m.results["has_positions"] for m in digests]
    return [{"key": h.path, "label": h.label, "kind": h.format, "values": [m.results[h.name] for m in digests],
             "applies": has_positions if h.needs_positions else [True] * len(digests)}
            for h in schema.SHOWN]


def claims_matrix(digests: list[ModelDigest]) -> list[dict]:
    """One row per claim any model tested, each finding's parts right after it (`part_of`: the claim whose finding
    it is, else None): per model its verdict and value (None where absent)."""
    by_model = [{c["id"]: c for c in m.results["claims"]} for m in digests]
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
        heavy, unigram = m.results["heavy_dims"], m.results["unigram_dim"]
        rows.append({"label": m.label, "d_model": m.results["d_model"], "unigram_dim": unigram,
                     "heavy_dims": heavy, "heavy_dim_count": len(heavy), "has_positions": m.results["has_positions"],
                     "unigram_in_heavy": unigram in heavy})
    return rows


def token_lists(m: ModelDigest) -> dict[str, list[int]]:
    """Lists of notable token ids in a model's results: the clump, and the norm extremes (longest, shortest)."""
    lists = {"clump": m.results["clump_token_ids"]}
    extremes = m.results["norm_extreme_ids"]
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


def pair_diff(a: ModelDigest, b: ModelDigest, cosines: np.ndarray) -> dict:
    """What moved from checkpoint `a` to checkpoint `b` of one shape: LayerNorm gains per dim, token
    norms and directions per token. `cosines`: [rows] cosine between each input embedding row of `a` and
    the same row of `b` (`row_cosines`), over the rows both have."""
    n = min(len(a.token_norms), len(b.token_norms), len(cosines))
    log_ratio = np.log(np.maximum(b.token_norms[:n], 1e-12) / np.maximum(a.token_norms[:n], 1e-12))
    cos = np.asarray(cosines[:n])
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
        model = m.results
        models.append({"label": m.label, "id": model["model_id"], "revision": model["revision"],
                       "architecture": model["architecture"], "d_model": model["d_model"],
                       "n_layers": model["n_layers"], "vocab_size": model["vocab_size"],
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


def _read_results(folder: Path) -> dict:
    try:
        return json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"Cannot read {folder / 'results.json'} for the comparison: {exc}.") from exc


def build_comparison(gathered: Gathered, out_root: Path, show_progress: bool = True,
                     cache: Cache | None = None) -> Path:
    """Write OUT/comparison/ (report.html, report.pdf, comparison.json, figures/) for the models `gathered`
    holds, and return the folder. With a cache, the same reports (byte for byte) and the same code give back
    the stored comparison."""
    progress = Progress("comparison", total=5, enabled=show_progress)
    try:
        key = comparison_key(gathered.folders)
        destination = output_folder.destination_folder(out_root, output_folder.COMPARISON_FOLDER)

        def write(staging: Path) -> None:
            if cache is None or not cache.restore_outputs(key, staging):
                digests, diffs = gathered.digests()
                write_comparison(digests, diffs, staging, progress)
                if cache is not None:
                    cache.store_outputs(key, staging)

        output_folder.write_atomically(destination, write, kind="comparison")
    finally:
        progress.close()
        gathered.close()
    return destination


def comparison_key(folders: list[Path]) -> str:
    """Cache key of a comparison: every report's results.json (which names the model, its revision and its
    tensors' sha256), in order, and the code that compares and renders."""
    digests = []
    for folder in folders:
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

    def context(drawn) -> dict:
        shown = [figure for job in drawn() for figure in job]
        figures = {f["name"]: f | {"number": number} for number, f in enumerate(shown, start=1)}
        pairs = [{**pair, "figure": plots.pair_figure_name(pair),
                  "rows": list(zip_longest(pair["tokens"]["grew_most"], pair["tokens"]["shrank_most"],
                                           pair["tokens"]["turned_most"]))} for pair in document["pairs"]]
        return {"doc": document, "pairs": pairs, "figures": figures,
                "no_positions": [m.label for m in digests if not m.results["has_positions"]]}

    jobs = [partial(_drawn, name, draw, caption) for name, draw, caption in plots.all_figures(digests, diffs)]
    return render_document("comparison.html.j2", context, jobs, folder, progress=progress)


def _drawn(name: str, draw, caption: str) -> list[FigureSpec]:
    return [FigureSpec(name, draw(), caption)]
