"""One model's report from start to finish: load, analyse, draw, render, and move into place.

Everything is written into a hidden temporary folder next to the destination and renamed into place
only when complete (report/write/output_folder.py), so an interrupted or failed run never leaves a half-written
report. A comparison takes each model's context from `build` (`on_written`): no model is loaded twice.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
from contextlib import closing, nullcontext
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Callable

from report import __version__
from report.load.frequency import TokenFrequency, from_corpus, from_token_index, from_wordfreq
from report.load.hub import ModelSource, resolve
from report.load.loader import ModelWeights, check_minimum_size, load_weights
from report.load.tokens import TokenTable, load_tokenizer, load_tokens
from report.run.background import start_pair_pass
from report.run.cache import Cache, file_hash, folder_hash
from report.run.context import Options, RunContext
from report.run.progress import Progress
from report.sections import all_sections, display_rank
from report.write import output_folder, render, results_json, search_index
from report.write.figures_io import FigureWriter

# Progress steps around the sections' own (one each); `analyse` and `write_report` take them in this order.
STEPS_BEFORE = ("resolve", "load weights", "tokenizer", "frequency")
STEPS_AFTER = ("results.json", "figures", "html", "pdf", "png figures")
LIBRARIES = ("numpy", "scipy", "torch", "transformers", "tokenizers", "safetensors", "matplotlib",
             "jinja2", "weasyprint", "wordfreq")


@dataclass(frozen=True)
class Request:
    """One model to report on: where its files are, the corpus, and the Options that change its numbers."""

    model: str
    revision: str | None = None
    corpus: Path | None = None
    allow_pickle: bool = False
    options: Options = Options()

    @property
    def frequency(self) -> str:
        """The frequency source without a corpus; it lives in `options`, with every choice that changes numbers."""
        return self.options.frequency


def label(request: Request) -> str:
    """The model as the report names it: a local folder as given, a Hub id with its asked-for revision."""
    local = Path(request.model).expanduser().is_dir()
    return request.model.rstrip("/") + (f"@{request.revision}" if request.revision and not local else "")


def protected_folders(request: Request) -> list[Path]:
    """Folders a report must never be written into or over: the model's own."""
    path = Path(request.model).expanduser()
    return [path.resolve()] if path.is_dir() else []


def provenance() -> dict:
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    return {"tool_version": __version__, "python": platform.python_version(), "libraries": versions}


def load_source(request: Request, progress: Progress | None = None) -> tuple[ModelSource, ModelWeights]:
    """Find the model's files (Hub or local) and read its weights (two steps of `progress`, if given)."""
    step = progress.step if progress is not None else _no_step
    with step("resolve"):
        source = resolve(request.model, request.revision, request.allow_pickle)
    with step("load weights"):
        weights = load_weights(source, request.allow_pickle)
    return source, weights


def _no_step(name: str) -> nullcontext:
    return nullcontext()


def load_token_table(source: ModelSource, weights: ModelWeights):
    """The model's tokenizer and its TokenTable for the weights' rows; refuses a model too small to study."""
    tokenizer = load_tokenizer(source.path)
    tokens = load_tokens(tokenizer, weights.vocab_rows, weights.word_start_rule)
    check_minimum_size(weights.model_id, tokens.n_tokens, weights.d_model)
    return tokenizer, tokens


def analyse(request: Request, progress: Progress, cache: Cache | None = None) -> tuple[RunContext, str]:
    """Load the model and run every section's analysis (or take them from the cache).

    Returns the context and the analysis cache key."""
    source, weights = load_source(request, progress)
    key = Cache.analysis_key({  # everything a section reads: weights, tokenizer and config files, corpus, options
        "weights": weights.tensors_sha256, "model": weights.model_id, "revision": weights.revision,
        "files": folder_hash(source.path), "options": dataclasses.asdict(request.options),
        "frequency": request.frequency, "libraries": provenance()["libraries"],
        "corpus": file_hash(request.corpus) if request.corpus is not None else None,
        "python": platform.python_version(),  # without --corpus the experiments read Python's own documentation
        "max_tokens": request.options.max_tokens,  # the experiments (on by default) read every weight file:
        # remembered per file in the cache, so a cache hit reads no weight file twice (no cache: no key needed)
        "model_files": cache.files_sha256(weights.tensors.files()) if cache is not None and weights.tensors else None,
    })
    cached = cache.load(key, (TokenTable, TokenFrequency, dict)) if cache is not None else None
    if cached is not None:
        tokens, frequency, results = cached
        return RunContext(weights, tokens, frequency, request.options, results), key
    sections = all_sections()
    pairs = start_pair_pass(weights, weights.vocab_rows, request.options) if _reads_pairs(sections) else None
    try:
        with progress.step("tokenizer"):
            tokenizer, tokens = load_token_table(source, weights)
        if pairs is not None and tokens.n_tokens != weights.vocab_rows:  # padding rows must not take part
            pairs.cancel()
            pairs = start_pair_pass(weights, tokens.n_tokens, request.options)
        with progress.step("frequency"):
            if request.corpus is not None:
                frequency = from_corpus(tokenizer, request.corpus, weights.vocab_rows)
            elif request.frequency == "token-index":
                frequency = from_token_index(weights.vocab_rows)
            else:
                frequency = from_wordfreq(tokenizer, weights.vocab_rows)
    except BaseException:
        if pairs is not None:
            pairs.cancel()
        raise
    ctx = RunContext(weights, tokens, frequency, request.options, pairs=pairs, corpus=request.corpus,
                     tokenizer=tokenizer)
    run_sections(ctx, sections, progress)
    if cache is not None:
        cache.store(key, (tokens, frequency, ctx.results))
    return ctx, key


def run_section(section, ctx: RunContext):
    """Run one section on a view of `ctx` that lets it read only the earlier results it declared."""
    result = section.run(ctx.for_section(section))
    if not isinstance(result, section.result):
        raise TypeError(f"section {section.key!r} declares result={section.result}, but its run gave a "
                        f"{type(result).__name__}")
    return result


def run_sections(ctx: RunContext, sections, progress: Progress | None = None) -> None:
    """Run `sections` in order into `ctx.results`: the one way sections run, for a report and for the
    calibration's synthetic models alike. The pair pass, their one background input, starts first unless it
    already has (`ctx.pairs`) and some section reads it; it is joined or cancelled before this returns."""
    if ctx.pairs is None and _reads_pairs(sections):
        ctx.pairs = start_pair_pass(ctx.weights, ctx.n_tokens, ctx.options)
    try:
        for section in sections:
            with progress.step(section.key) if progress is not None else nullcontext():
                ctx.results[section.key] = run_section(section, ctx)
    except BaseException:
        if ctx.pairs is not None:
            ctx.pairs.cancel()
        raise
    finally:
        if progress is not None and ctx.pairs is not None:
            progress.background.append(("pair pass", ctx.pairs.seconds))
        ctx.pairs = None


def _reads_pairs(sections) -> bool:
    return any(section.reads_pairs for section in sections)


def results_document(ctx: RunContext) -> dict:
    w = ctx.weights
    analyses, top = {}, {}
    for section in all_sections():
        fragment = section.to_json(*_own(section, ctx))
        analyses.setdefault(section.json_key or section.key, {}).update(fragment)
        if section.top_level is not None:
            top.update(section.top_level(*_own(section, ctx)))
    return {
        "schema_version": results_json.SCHEMA_VERSION,
        "model": {
            "id": w.model_id, "revision": w.revision, "architecture": w.architecture,
            "vocab_size": w.vocab_rows, "d_model": w.d_model, "n_positions": w.n_positions,
            "n_layers": w.n_layers, "tied_embeddings": w.tied, "tensors_sha256": w.tensors_sha256,
            "tensor_sha256": w.tensor_sha256,
        },
        "frequency_source": {"kind": ctx.frequency.kind, "detail": ctx.frequency.detail,
                             "known_tokens": ctx.frequency.known},
        "options": {"seed": ctx.options.seed},
        "provenance": provenance(),
        "analyses": analyses,
        "claims": [results_json.plain(c) for c in ctx.results["claims"]],
        **top,
    }


def _own(section, ctx: RunContext) -> tuple:
    """A section's result, and the view of `ctx` through which it may read the earlier results it declared."""
    return ctx.results[section.key], ctx.for_section(section)


def _draw(section, ctx: RunContext) -> list:
    return section.figures(*_own(section, ctx))


def write_report(ctx: RunContext, folder: Path, progress: Progress) -> list[str]:
    """results.json, figures, HTML and PDF into `folder`; returns PDF warnings."""
    folder.mkdir(parents=True, exist_ok=True)
    with progress.step("results.json"):
        document = results_document(ctx)
        results_json.write(folder / "results.json", document)

    def context(drawn) -> dict:
        search = search_index.build(ctx.for_section(search_index.READER))  # while the figures are drawn
        sections = [{"key": section.key, "title": section.title, "template": section.template,
                     "ctx": section.context(*_own(section, ctx))} for section in all_sections()]
        for section, figures in zip(sections, drawn()):
            section["figures"] = figures
        ordered = sorted(sections, key=lambda s: display_rank(s["key"]))
        for number, figure in enumerate((f for s in ordered for f in s["figures"]), start=1):
            figure["number"] = number  # numbered in reading order, not run order
        return {"sections": ordered, "results": document, "search": search}

    jobs = [partial(_draw, section, ctx) for section in all_sections()]
    return render_document("report.html.j2", context, jobs, folder, progress=progress)


def render_document(template: str, document: Callable[[Callable[[], list[list[dict]]]], dict], figures: list,
                    folder: Path, name: str = "report", progress: Progress | None = None,
                    workers: int | None = None) -> list[str]:
    """Figures, HTML, PDF and PNGs into `folder`, the one way a report, a comparison and a sweep are rendered.

    `figures` are jobs (each returns a list of FigureSpec) drawn by up to `workers` processes into
    folder/figures/. `document(drawn)` gives the template's context; `drawn()` returns each job's drawn figures
    (dicts with name, caption and the SVG to inline), so work that needs no figure can run while they are
    drawn. The template becomes folder/<name>.html and folder/<name>.pdf while the PNGs are written in the
    background. Returns the PDF's warnings."""
    step = progress.step if progress is not None else _no_step
    figures_dir = folder / "figures"
    figures_dir.mkdir(parents=True)
    with FigureWriter(figures, figures_dir, workers) as writer:
        with step("figures"):
            context = document(writer.vectors)
        with step("html"):
            html = render.render_html(template, **context)
            (folder / f"{name}.html").write_text(html, encoding="utf-8")
        with step("pdf"):
            warnings = render.write_pdf(html, folder / f"{name}.pdf")
        with step("png figures"):
            writer.wait()
    return warnings


def build(request: Request, out_root: Path, show_progress: bool = True, cache: Cache | None = None,
          name: str | None = None, on_written: Callable[[RunContext, Path], None] | None = None) -> Path:
    """Write one model's report into out_root/<name>/ (by default named after the model) and return that
    folder. Refused before any work if that folder holds anything this tool did not write, or is (or
    holds, or lies in) the model's own folder. `on_written(ctx, folder)` is called once the report is in
    place, while the model is still in memory (the comparison takes what it needs from it)."""
    name = name or output_folder.folder_name(label(request))
    output_folder.check_destination(out_root / name, protected_folders(request), kind="report")
    destination = output_folder.destination_folder(out_root, name)
    progress = Progress(request.model, total=len(STEPS_BEFORE) + len(all_sections()) + len(STEPS_AFTER),
                        enabled=show_progress)
    # The folder is claimed for the whole run, not only the write: two runs at once cannot both succeed.
    with closing(progress), output_folder.claim(destination):
        ctx, key = analyse(request, progress, cache)
        render_key = Cache.render_key(key)

        def write(staging: Path) -> None:
            if cache is None or not cache.restore_outputs(render_key, staging):
                write_report(ctx, staging, progress)
                if cache is not None:
                    cache.store_outputs(render_key, staging)

        output_folder.write_atomically(destination, write, ctx.weights.model_id, kind="report")
        if on_written is not None:
            on_written(ctx, destination)
    if show_progress:
        print(progress.summary(), file=sys.stderr)
    return destination
