"""Section: the open questions, tested — what the blocks read from the unigram dim, the dim and the logits
(weights only, always), and interventions measured by forward passes (on --corpus, else the built-in corpus of
report/load/sequences.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import ticker

from analyses.experiments import ExperimentsResult, Model, run_experiments
from analyses.mlp_read import TOP_K, MlpReadResult, analyse_mlp_read
from analyses.outliers import OutliersResult
from analyses.position import PositionResult
from analyses.unigram import UnigramResult
from report.load.architectures import MATRIX_ROLES
from report.load.forward import REPEATS, Runner, Skipped, load_model
from report.load.sequences import NoText, corpus_sequences
from report.load.tokens import load_tokenizer
from report.run.context import RunContext
from report.run.section import FigureSpec, Section
from report.write.plots import style

N_PROBE_OUTLIERS = 10  # longest-vector outliers probed beside the clump tokens
MAX_PROBED_CLUMP = 40  # clump tokens probed (the first, by id)
N_PROBE_UNDER_TRAINED = 20  # top under-trained candidates (analyses.under_trained) probed beside them
N_NEIGHBOURS = 3
# Rows made unit-norm at once for the neighbour tables (not a 2 GB copy at 128k × 4,096); a power of two, so
# that the matrix-vector kernels group rows as they do over the whole matrix (the same float32 sums).
UNIT_BLOCK = 16384
ROLE_LABELS = {"mlp_in": "MLP input (reads)", "mlp_out": "MLP output (writes)",
               "attn_value": "attention value (reads)", "attn_out": "attention output (writes)"}


@dataclass(frozen=True, eq=False)
class OpenQuestions:
    """Both halves of the section, each with the reason it was skipped (None when it ran).

    Attributes:
        mlp: the weights-only analysis; missing_roles: {role: why it is left out}.
        experiments: the forward-pass interventions; corpus: what they ran on, {name, sha256, tokens, sequences,
            documents, unit, encoding} (the encoding as report/load/corpus.py found it; None for the built-in text).
        probe_ids: clump, outlier and top under-trained tokens probed; neighbours: {id: ((input neighbours),
            (output neighbours))} as (id, cosine) pairs.
    """

    mlp: MlpReadResult | None
    mlp_skipped: str | None
    missing_roles: dict
    experiments: ExperimentsResult | None
    experiments_skipped: str | None
    corpus: dict | None
    probe_ids: tuple[int, ...]
    clump_ids: tuple[int, ...]
    neighbours: dict


def _read_gains(ctx: RunContext, role: str) -> np.ndarray | None:
    """[L, d] gain of the norm whose output the role reads (pre-LN: the block's own; post-LN: the previous one);
    None where no norm sits in front of the read (OLMo-2): the weights alone then say what is read."""
    w = ctx.weights
    if role == "mlp_in":
        norms = w.norms_with_role(w.mlp_norm_role)
    elif w.mlp_norm_role == "ln_2" or w.shared_norm:  # pre-LN; or one norm in front of both sublayers
        norms = w.norms_with_role("ln_1")
    else:
        norms = (list(w.norms_with_role("ln_emb")[:1]) + list(w.norms_with_role("ln_2")))[: w.n_layers]
    return np.array([ln.weight for ln in norms]) if len(norms) == w.n_layers else None


def _fetched_only(weights) -> str:
    """Why a Hub model read by ranged requests lacks its block matrices, and what to do about it."""
    if not getattr(weights, "fetch", None):
        return ""
    return ("; this Hub model was read by ranged requests, which fetch only the embeddings and norms: download "
            "it whole (huggingface-cli download) to answer these questions")


def _mlp_read(ctx: RunContext) -> tuple[MlpReadResult | None, str | None, dict]:
    w, tensors = ctx.weights, ctx.weights.tensors
    if tensors is None:
        return None, "these weights were not loaded from a checkpoint, so no block matrices can be read", {}
    norms, gains, missing = {}, {}, {}
    for role in MATRIX_ROLES:
        absent = tensors.missing(role)
        if absent:
            more = f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""
            missing[role] = f"the checkpoint has no {absent[0]}{more}"
            continue
        if quantized := tensors.not_weights(role):
            missing[role] = quantized
            continue
        side = "in" if role in ("mlp_in", "attn_value") else "out"
        values = np.array([tensors.feature_norms(role, i, side) for i in range(w.n_layers)])
        if values.shape != (w.n_layers, w.d_model):
            missing[role] = f"its matrices have {values.shape[1]} features on the residual side, not {w.d_model}"
            continue
        norms[role] = values
        if side == "in":
            gains[role] = _read_gains(ctx, role)
    if "mlp_in" not in norms:
        return None, f"the MLP input weights cannot be read: {missing.get('mlp_in')}{_fetched_only(w)}", missing
    final = w.norms_with_role("ln_f")
    head = (w.token_embeddings if w.tied else w.unembedding)[: ctx.n_tokens]
    frequency = ctx.log_frequency if ctx.frequency.kind != "token-index" else None
    result = analyse_mlp_read(np.arange(w.n_layers), norms, gains, ctx.earlier("unigram").dim, head,
                              final[0].weight if final else None, tensors.arch.norm != "rmsnorm", frequency,
                              ctx.options.seed)
    return result, None, missing


def _neighbours(matrix: np.ndarray, ids) -> dict:
    """{id: ((neighbour id, cosine), …)} by cosine over all rows, the token itself left out."""
    # float32 throughout (not analyses.vectors.row_norms): the ranking is of float32 products, and a float64
    # copy of the whole matrix for a handful of probed tokens would only cost memory
    ids = [int(i) for i in ids]
    cos = {i: np.empty(len(matrix), dtype=np.float32) for i in ids}
    probes = {i: _unit_rows(matrix[i:i + 1])[0] for i in ids}
    for a in range(0, len(matrix), UNIT_BLOCK):  # unit rows a block at a time: no unit-norm copy of the matrix
        unit = _unit_rows(matrix[a:a + UNIT_BLOCK])
        for i in ids:
            cos[i][a:a + UNIT_BLOCK] = unit @ probes[i]
    found = {}
    for i in ids:
        cos[i][i] = -np.inf
        top = np.argsort(-cos[i], kind="stable")[:N_NEIGHBOURS]
        found[i] = tuple((int(j), float(cos[i][j])) for j in top)
    return found


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _experiments(ctx: RunContext, probe: tuple[int, ...]) -> tuple[ExperimentsResult | None, str | None, dict | None]:
    w = ctx.weights
    if not ctx.options.experiments:
        return None, "they were left out (--no-experiments; a sweep runs them only with --corpus)", None
    if w.tensors is None:
        return None, "these weights were not loaded from a checkpoint folder", None
    try:
        model, masked = load_model(w.tensors.folder, w.tensors.arch, ctx.options.device)
    except Skipped as why:
        return None, f"{why}{_fetched_only(w)}", None
    tokenizer = ctx.tokenizer if ctx.tokenizer is not None else load_tokenizer(w.tensors.folder)
    try:
        text = corpus_sequences(tokenizer, ctx.corpus, ctx.options.max_tokens, w.n_positions)
    except NoText as why:
        return None, str(why), None
    if len(text.ids) < 2 or len(set(text.clusters.tolist())) < 2:
        return None, (f"the corpus gives {len(text.ids)} sequence(s) of {text.ids.shape[1]} tokens in "
                      f"{text.documents} {text.unit}(s), too few for an interval"), None
    if masked and tokenizer.mask_token_id is None:
        return None, "this encoder's tokenizer has no mask token for its masked-LM head", None
    bos = w.config.get("bos_token_id", (w.config.get("text_config") or {}).get("bos_token_id"))  # containers
    bos = bos[0] if isinstance(bos, list) and bos else bos  # a few configs list several
    runner = Runner(model, masked, w.tensors.arch, text.ids, ctx.options.device, ctx.options.seed,
                    tokenizer.mask_token_id, bos if isinstance(bos, int) else None)
    heavy = ctx.earlier("position").heavy_dims if w.position_embeddings is not None else ()
    frequency = ctx.log_frequency if ctx.frequency.kind != "token-index" else None
    passes = Model(runner.baseline, runner.evaluate, runner.repeat_probability, text.clusters)
    result = run_experiments(passes, ctx.embeddings, w.position_embeddings, heavy, ctx.earlier("unigram").dim,
                             frequency, probe, ctx.options.seed)
    used = {"name": text.name, "sha256": text.sha256, "tokens": int(text.ids.size), "sequences": len(text.ids),
            "sequence_length": int(text.ids.shape[1]), "positions": [0, int(text.ids.shape[1]) - 1],
            "documents": text.documents, "unit": text.unit,
            "clusters": result.n_clusters, "encoding": text.encoding, "built_in": ctx.corpus is None}
    return result, None, used


def run(ctx: RunContext) -> OpenQuestions:
    mlp, mlp_skipped, missing = _mlp_read(ctx)
    outliers = ctx.earlier("outliers")
    clump = tuple(int(i) for i in outliers.clump_token_ids[:MAX_PROBED_CLUMP])
    scored = outliers.under_trained.ranked[:N_PROBE_UNDER_TRAINED] if outliers.under_trained is not None else ()
    probe = tuple(dict.fromkeys(clump + tuple(int(i) for i in outliers.longest[:N_PROBE_OUTLIERS])
                                + tuple(int(i) for i in scored)))
    head = ctx.weights.token_embeddings if ctx.weights.tied else ctx.weights.unembedding
    neighbours = {i: (a, b) for (i, a), b in zip(_neighbours(ctx.embeddings, probe).items(),
                                                 _neighbours(head[: ctx.n_tokens], probe).values())}
    experiments, skipped, used = _experiments(ctx, probe)
    return OpenQuestions(mlp, mlp_skipped, missing, experiments, skipped, used, probe, clump, neighbours)


def _ci(delta) -> dict:
    return {"delta_loss": delta.delta_loss, "ci95": list(delta.ci95)}


def to_json(r: OpenQuestions, ctx: RunContext) -> dict:
    """analyses.mlp_read."""
    if r.mlp is None:
        return {"skipped": r.mlp_skipped, "missing_roles": r.missing_roles, "probes": _probes_json(r, ctx)}
    m = r.mlp
    roles = {}
    for p in m.profiles:
        rows = [{"layer": int(layer), "percentile": float(a), "weight_only_percentile": float(b),
                 "dim_strength": float(s[m.dim]), "median_strength": float(np.median(s)), "strongest_dim": int(top)}
                for layer, a, b, s, top in zip(m.layers, p.dim_percentile, p.weight_only_percentile, p.strength,
                                               p.strongest_dim)]
        roles[p.role] = {"side": p.side, "median_percentile": p.median_percentile, "top_k": TOP_K,
                         "layers_in_top_k": list(p.top_layers), "per_layer": rows,
                         "weight_only_median_percentile": float(np.median(p.weight_only_percentile))}
    f = m.logit_frequency
    return {
        "dim": m.dim, "dims": int(m.profiles[0].strength.shape[1]), "roles": roles, "missing_roles": r.missing_roles,
        "rule": "read strength of dim j: ‖row j of diag(gain)·W_in‖ (W_in as [d_model, hidden]); write strength: "
                f"‖column j of W_out‖; percentile = share of dims with a lower strength; top-k with k={TOP_K}",
        "logits": {"rule": "logit change per unit step along the dim at the final norm's input: g_f[u]·U[t,u] "
                           "(less the mean over dims where the norm centres)",
                   "spearman_log_frequency": f.spearman if f else None, "ci95": list(f.spearman_ci95) if f else None,
                   "n": f.n if f else 0, "frequency_kind": ctx.frequency.kind},
        "probes": _probes_json(r, ctx),
    }


def _probes_json(r: OpenQuestions, ctx: RunContext) -> list[dict]:
    """The probed tokens: kind (clump, outlier or under-trained candidate) and their nearest tokens by cosine
    in the input embeddings and in the output matrix."""
    longest = set(ctx.earlier("outliers").longest[:N_PROBE_OUTLIERS])
    near = lambda pairs: [ctx.token(j) | {"cosine": float(c)} for j, c in pairs]  # noqa: E731
    return [ctx.token(i) | {"kind": "clump" if i in r.clump_ids else "outlier" if i in longest else "candidate",
                            "in_clump": i in r.clump_ids, "input_neighbours": near(r.neighbours[i][0]),
                            "output_neighbours": near(r.neighbours[i][1])} for i in r.probe_ids]


def _unigram_json(u, ctx: RunContext) -> dict:
    return _ci(u.delta) | {
        "dim": u.dim, "dims": u.null_size + 1, "null_size": u.null_size, "rank": u.rank, "p_value": u.p_value,
        "smallest_p": 1 / (u.null_size + 1),
        "null": "every other dim of the token embeddings; exact ablation for the listed dims, the estimate "
                "(gradient and Gauss–Newton curvature along the change) for the rest",
        "variance_share": float(u.variance_share[u.dim]),
        "effect_per_variance": {"value": u.effect_per_variance, "ci95": list(u.effect_per_variance_ci95),
                                "unit": "nats per token per unit share of the token table's variance removed"},
        "exact": [{"dim": int(d), "delta_loss": float(x), "estimate": float(u.estimate[d]),
                   "variance_share": float(u.variance_share[d])} for d, x in zip(u.exact_dims, u.exact_deltas)],
        "estimate_exact_spearman": u.estimate_spearman,
        "null_median_estimate": float(np.median(np.delete(u.estimate, u.dim)))}


def top_level(r: OpenQuestions, ctx: RunContext) -> dict:
    """The top-level `experiments` entry of results.json."""
    e = r.experiments
    if e is None:
        return {"experiments": {"skipped": r.experiments_skipped}}
    spearman = lambda c: c.spearman if c is not None else None  # noqa: E731
    return {"experiments": {
        "baseline_loss": e.baseline_loss, "baseline_ci95": list(e.baseline_ci95), "sequences": e.n_sequences,
        "interval": f"95% cluster-robust t-interval over {e.n_clusters} {r.corpus['unit']}s",
        "position_smoothing": [{"cutoff": p.cutoff, "kept_fraction": p.kept_fraction,
                                "variance_removed": p.variance_removed, "loss": p.loss} | _ci(p.delta)
                               for p in e.smoothing],
        "position_dims_dropped": {k: _ci(v) for k, v in e.dims_dropped.items()},
        "unigram_ablation": _unigram_json(e.unigram, ctx) | {
            "logit_frequency_spearman_before": spearman(e.logit_frequency_before),
            "logit_frequency_spearman_after": spearman(e.logit_frequency_after)},
        "token_repetition": [
            ctx.token(i) | {"probability": float(p), "percentile": float(q), "p_value": float(pv),
                            "q_value": float(qv), "confirmed": i in e.cannot_repeat, "in_clump": i in r.clump_ids,
                            "cannot_repeat": i in e.cannot_repeat}
            for i, p, q, pv, qv in zip(e.repetition_ids, e.repetition_probability, e.repetition_percentile,
                                       e.repetition_p, e.repetition_q)],
        "repetition_fdr": {"level": e.repetition_fdr, "method": "Benjamini-Hochberg",
                           "p_value": "(1 + ordinary tokens with a probability ≤ the probe's) / (1 + ordinary tokens)"},
        "ordinary_tokens": {"n": len(e.ordinary_ids),
                            "median_probability": float(np.median(e.ordinary_probability))},
        "corpus": r.corpus,
    }}


def figures(r: OpenQuestions, ctx: RunContext) -> list[FigureSpec]:
    specs = []
    if r.mlp is not None:
        specs.append(FigureSpec(
            "open_mlp_read", mlp_read(r.mlp),
            f"Left: read strength of every channel dim by each layer's MLP input weights after the pre-MLP gain "
            f"(grey: all dims; black star: the unigram dim {r.mlp.dim}). Right: the unigram dim's percentile "
            "among all dims per layer, for what MLPs and attention read from it and write into it."))
        if r.mlp.logit_frequency is not None:
            specs.append(FigureSpec(
                "open_logits", logits(r.mlp, ctx.log_frequency),
                f"Logit change per unit step along dim {r.mlp.dim} at the final norm, per token, against log "
                f"frequency ({ctx.frequency.kind})."))
    e = r.experiments
    if e is not None:
        if e.smoothing:
            specs.append(FigureSpec(
                "open_smoothing", smoothing(e),
                f"Change in the loss (nats per token, 95% CI over {e.n_clusters} {r.corpus['unit']}s) when each "
                "position dim is low-passed, "
                "against the share of the position table's variance the filter removes."))
        positions = ("the non-heavy and heavy position dims (left), and " if e.dims_dropped else
                     "(left: empty, as the model has no learned position table or no position-heavy dims) ")
        specs.append(FigureSpec(
            "open_ablations", ablations(e),
            f"Loss change when dims are replaced by their mean: {positions}every token-embedding dim (right): "
            f"grey, the estimate (gradient and curvature) of all {e.unigram.null_size + 1}; black, the exact "
            "ablations; star, "
            f"the unigram dim {e.unigram.dim} (rank {e.unigram.rank}, p = {e.unigram.p_value:.3g})."))
        specs.append(FigureSpec(
            "open_repetition", repetition(e, r.clump_ids),
            "Probability the model gives a token repeated in context, for the clump, outlier and top under-trained "
            f"tokens against a random sample of {len(e.ordinary_ids)} ordinary tokens (log scale); black rings: "
            f"probes confirmed as unrepeatable (Benjamini–Hochberg q ≤ {e.repetition_fdr:g})."))
    return specs


def context(r: OpenQuestions, ctx: RunContext) -> dict:
    """The fragment (`j`), results.json's top-level experiments entry (`e`), the probed tokens' table rows drawn
    from both, and presentation constants."""
    j, e = to_json(r, ctx), top_level(r, ctx)["experiments"]
    return {"j": j, "e": e, "tokens": _token_rows(j["probes"], e), "top_k": TOP_K, "role_labels": ROLE_LABELS,
            "repeats": REPEATS, "max_tokens": ctx.options.max_tokens}


def _token_rows(probes: list[dict], experiments: dict) -> list[dict]:
    """Each probed token with its neighbours in words and, where the experiments ran, its repetition test."""
    repetition = {t["id"]: t for t in experiments.get("token_repetition", ())}
    shown = ("probability", "percentile", "p_value", "q_value", "cannot_repeat")
    return [probe | {"input": ", ".join(t["text"] for t in probe["input_neighbours"]),
                     "output": ", ".join(t["text"] for t in probe["output_neighbours"])}
            | {key: repetition[probe["id"]][key] for key in shown if probe["id"] in repetition}
            for probe in probes]


# Figures of the open-questions section.
ROLE_STYLE = {"mlp_in": ("MLP in (read)", style.CYCLE[0], "o", "-"),
              "mlp_out": ("MLP out (write)", style.CYCLE[1], "s", "--"),
              "attn_value": ("attn value (read)", style.CYCLE[2], "^", ":"),
              "attn_out": ("attn out (write)", style.CYCLE[3], "D", "-.")}


def mlp_read(m: MlpReadResult) -> "style.Figure":
    fig = style.figure(height=2.6)
    left, right = fig.subplots(1, 2)
    p = m.profile("mlp_in")
    layers = np.asarray(m.layers)
    d = p.strength.shape[1]
    xs = np.repeat(layers, d) + np.tile(np.linspace(-0.3, 0.3, d), len(layers))
    left.scatter(xs, p.strength.ravel(), **style.cloud(xs.size), color=style.OKABE_ITO["sky"], label="all dims")
    left.scatter(layers, p.strength[:, m.dim], marker="*", s=40, color="black", label=f"dim {m.dim}", zorder=3)
    left.set(xlabel="layer", ylabel="read strength ‖gain·W_in row‖", title="what each MLP reads", yscale="log")
    for ax in (left, right):
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    left.legend(loc="best")
    for q in m.profiles:
        label, colour, marker, line = ROLE_STYLE[q.role]
        right.plot(layers, q.dim_percentile, marker=marker, linestyle=line, color=colour, markersize=3, label=label)
    right.axhline(1 - 5 / d, color="grey", linestyle=":", linewidth=0.8)
    right.set(xlabel="layer", ylabel=f"percentile of dim {m.dim}", ylim=(-0.02, 1.02), title="the unigram dim's rank")
    right.legend(loc="best", fontsize=6)
    return fig


def logits(m: MlpReadResult, log_frequency: np.ndarray) -> "style.Figure":
    fig = style.figure(width=style.HALF_WIDTH * 1.3, height=2.6)
    ax = fig.add_subplot()
    n = len(m.logit_effect)
    known = np.isfinite(log_frequency[:n])
    ax.scatter(log_frequency[:n][known], m.logit_effect[known], **style.cloud(int(known.sum())), color=style.TOKEN)
    f = m.logit_frequency
    ax.set(xlabel="log frequency", ylabel="logit change per unit of the dim",
           title=f"dim {m.dim}: Spearman ρ = {f.spearman:.2f} [{f.spearman_ci95[0]:.2f}, {f.spearman_ci95[1]:.2f}]")
    return fig


def _errorbar(ax, x, delta, **kwargs) -> None:
    lo, hi = delta.ci95
    ax.errorbar([x], [delta.delta_loss], yerr=[[delta.delta_loss - lo], [hi - delta.delta_loss]], capsize=2, **kwargs)


def smoothing(e: ExperimentsResult) -> "style.Figure":
    fig = style.figure(width=style.HALF_WIDTH * 1.3, height=2.6)
    ax = fig.add_subplot()
    points = sorted(e.smoothing, key=lambda p: p.variance_removed)
    ax.plot([0] + [p.variance_removed for p in points], [0] + [p.delta.delta_loss for p in points],
            color=style.POSITION, linewidth=0.6, linestyle="--")
    for k, point in enumerate(points):
        _errorbar(ax, point.variance_removed, point.delta, marker="o", color=style.POSITION, markersize=3)
        ax.annotate(f"{point.cutoff}", (point.variance_removed, point.delta.delta_loss), fontsize=6,
                    xytext=(4, 6 if k % 2 else -9), textcoords="offset points")  # alternate: close points
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set(xlabel="share of position variance removed", ylabel="Δ loss (nats/token)",
           title="low-passed position embeddings (labels: frequencies kept)")
    return fig


def ablations(e: ExperimentsResult) -> "style.Figure":
    fig = style.figure(height=2.5)
    left, right = fig.subplots(1, 2)
    for x, (name, delta) in enumerate(sorted(e.dims_dropped.items(), reverse=True)):
        _errorbar(left, x, delta, marker="o", color=style.HEAVY if name == "heavy" else style.NORMAL)
    left.set_xticks(range(len(e.dims_dropped)), [n.replace("_", "-") for n in sorted(e.dims_dropped, reverse=True)])
    left.axhline(0, color="grey", linewidth=0.6)
    left.set(xlim=(-0.6, 1.6), ylabel="Δ loss (nats/token)", title="position dims set to their mean")
    u = e.unigram
    order = np.argsort(u.estimate, kind="stable")
    right.scatter(np.arange(len(order)), u.estimate[order], s=3, color=style.OKABE_ITO["sky"],
                  label="estimate, every dim")
    where = {int(d): k for k, d in enumerate(order)}
    others = [d for d in u.exact_dims if d != u.dim]
    right.scatter([where[d] for d in others], [u.effect[d] for d in others], s=12, color="black", marker="o",
                  label="exact")
    _errorbar(right, where[u.dim], u.delta, marker="*", markersize=7, color="black")
    right.axhline(0, color="grey", linewidth=0.6)
    right.set(xlabel="dims, by estimated Δ loss", ylabel="Δ loss (nats/token)",
              title=f"token dim {u.dim} at its mean: rank {u.rank} of {u.null_size + 1}, p = {u.p_value:.3g}")
    right.legend(loc="best", fontsize=6)
    return fig


def repetition(e: ExperimentsResult, clump_ids) -> "style.Figure":
    fig = style.figure(height=2.6)
    ax = fig.add_subplot()
    floor = 1e-12
    probes = list(zip(e.repetition_ids, e.repetition_probability))
    groups = (("ordinary", [(None, p) for p in e.ordinary_probability], style.NORMAL, "o"),
              ("clump", [(i, p) for i, p in probes if i in clump_ids], style.OKABE_ITO["vermillion"], "^"),
              ("outliers, candidates", [(i, p) for i, p in probes if i not in clump_ids], style.OKABE_ITO["green"],
               "s"))
    marked_x, marked_y = [], []
    for x, (label, members, colour, marker) in enumerate(groups):
        values = np.maximum(np.array([p for _, p in members], dtype=float), floor)
        xs = x + np.linspace(-0.25, 0.25, max(len(values), 1))[: len(values)]
        ax.scatter(xs, values, s=8, color=colour, marker=marker, label=f"{label} ({len(values)})")
        for (i, _), px, py in zip(members, xs, values):
            if i is not None and i in e.cannot_repeat:
                marked_x.append(px)
                marked_y.append(py)
    if marked_x:
        ax.scatter(marked_x, marked_y, s=20, facecolors="none", edgecolors="black", linewidths=0.8,
                   label=f"confirmed ({len(marked_x)}, q ≤ {e.repetition_fdr:g})")
    ax.set_xticks(range(3), [g[0] for g in groups])
    ax.set(yscale="log", ylabel="P(token | token repeated)", title="can the model repeat the token?")
    ax.legend(loc="best")
    return fig


SECTION = Section("open_questions", "The open questions, tested", run, to_json, figures, context,
                  json_key="mlp_read", top_level=top_level,
                  result=OpenQuestions,
                  reads={"position": PositionResult, "unigram": UnigramResult, "outliers": OutliersResult})
