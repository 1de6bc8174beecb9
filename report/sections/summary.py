"""Section: the summary page — the findings that matter most for this model, and alerts.

Composes the other sections' results; it computes nothing new, so it lives in the report layer.
Each finding links to its section and carries the verdict of the claim it rests on, so a reader sees at
once where this model follows GPT-2-small and where it departs from it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from analyses.claims import BY_ID, FAILS, HOLDS, INCONCLUSIVE, NOT_APPLICABLE, VERDICTS, findings, spec
from analyses.outliers import OutliersResult
from analyses.position import PositionResult
from analyses.svd import SvdResult
from analyses.unigram import UnigramResult
from analyses.zero_layer import ZeroLayerResult
from report.calibration_table import family_wise
from report.calibration_table import load as load_calibration
from report.run.context import RunContext
from report.run.section import Section
from report.write.wording import fmt_number, fmt_percent, norm_label

ROGUE_SHARE = 0.25  # a dim standing out in at least this share of pre-MLP norms is worth an alert
# Counts the architecture makes large: far below these, the input was likely misread (a tokenizer's
# encoding, a checkpoint's layout), so the report says so before anyone reads the numbers.
WORD_START_FLOOR = 0.02  # share of tokens that begin a word in a leading-space (BPE, SentencePiece) vocabulary
MIN_TOKENS_FOR_SHARES = 50

# Every read may be missing: the summary composes whatever ran (in a report all have; tests and tools
# build contexts with a few results), leaving out the findings and alerts of sections that did not run.
READS = {"unigram": UnigramResult | None, "position": PositionResult | None, "svd": SvdResult | None,
         "zero_layer": ZeroLayerResult | None, "outliers": OutliersResult | None,
         "claims": tuple | None}  # of Claim


@dataclass(frozen=True)
class Finding:
    """One headline: a short title, one sentence with the numbers, the section it links to, a verdict."""

    title: str
    text: str
    section: str
    verdict: str


@dataclass(frozen=True)
class Alert:
    """Something a reader should not miss: its kind, one sentence, and the section that explains it."""

    kind: str
    text: str
    section: str


@dataclass(frozen=True)
class ClaimGroup:
    """One independent finding of the study: a claim and the claims tested on its finding (its parts).

    Attributes:
        id: the number of the claim the finding is.
        statement: that claim's statement.
        verdict: its verdict ("not-applicable" where it was not tested); the finding's verdict.
        parts: (number, verdict) of each dependent claim that was tested, in order.
    """

    id: int
    statement: str
    verdict: str
    parts: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Summary:
    """The summary page.

    Attributes:
        findings: the headlines (Finding).
        alerts: what a reader should not miss (Alert).
        counts: {verdict: number of claims with it}, every verdict of analyses.claims.VERDICTS.
        groups: the tested claims as independent findings with their parts (ClaimGroup), in claim order.
        group_counts: {verdict: number of independent findings with it}.
        family_wise: how often a null model gets at least one false "holds" over all null families
            (report.calibration_table.family_wise: null_models, with_false_holds, rate, ci, by_family); None where
            the calibration has not measured it.
    """

    findings: tuple[Finding, ...]
    alerts: tuple[Alert, ...]
    counts: dict
    groups: tuple[ClaimGroup, ...] = ()
    group_counts: dict | None = None
    family_wise: dict | None = None


def _verdict(ctx: RunContext, name: str) -> str:
    spec(name)  # an unknown name is an error, not a silent "not-applicable"
    return next((c.verdict for c in ctx.earlier("claims") or () if c.name == name), NOT_APPLICABLE)


def _unigram(ctx: RunContext) -> Finding | None:
    r = ctx.earlier("unigram")
    if r is None:
        return None
    layers = len(r.layers)
    if r.standout:
        text = (f"Dim {r.dim} stands out in the {norm_label(ctx)} gains of {len(r.layers_standing_out)} "
                f"of {layers} layers; "
                f"its Spearman correlation with log frequency is {fmt_number(r.frequency_spearman, 2)} "
                f"(n = {fmt_number(r.frequency_n)}).")
    else:
        text = (f"No channel dim stands out in the {norm_label(ctx)} gains across layers; "
                f"the best candidate, dim {r.dim}, "
                "is used where a unigram dim is needed.")
    return Finding(f"Unigram dim: {r.dim}" if r.standout else "No clear unigram dim", text, "unigram",
                   _verdict(ctx, "unigram_dim_in_gains"))


def _position(ctx: RunContext) -> Finding | None:
    r = ctx.earlier("position")
    if r is None or not r.has_positions:
        return None
    if r.cluster.has_cluster:
        cluster = r.cluster
        text = (f"{len(r.heavy_dims)} of {len(r.profile.token_std)} channel dims carry the position embeddings "
                f"(Ashman's D = {fmt_number(cluster.ashman_d, 2)}); token embeddings there have "
                f"{fmt_number(cluster.token_std_ratio, 2)}× the spread and "
                f"{fmt_number(cluster.token_abs_mean_ratio, 2)}× the offset of other dims.")
        title = f"{len(r.heavy_dims)} position-heavy dims"
    else:
        text = "The position embeddings spread over the channel dims without a distinct cluster."
        title = "No position-heavy cluster"
    return Finding(title, text, "position", _verdict(ctx, "position_dims_clustered"))


def _svd(ctx: RunContext) -> Finding | None:
    r = ctx.earlier("svd")
    if r is None:
        return None
    text = (f"SVD component 0 lies along the mean embedding (|cos| = {r.cos_svd0_mean:.3f}); "
            f"components 1–2 separate word-start tokens with AUROC {fmt_number(r.word_start_auroc)}.")
    verdicts = (_verdict(ctx, "svd0_along_mean"), _verdict(ctx, "svd12_split_word_starts"))
    return Finding("Mean direction and word starts", text, "svd", _both(verdicts))


def _both(verdicts: tuple[str, ...]) -> str:
    """The verdict on claims that must all hold: a miss outweighs an inconclusive, which outweighs a hold."""
    return next((v for v in (FAILS, INCONCLUSIVE, NOT_APPLICABLE) if v in verdicts), HOLDS)


def _zero_layer(ctx: RunContext) -> Finding | None:
    r = ctx.earlier("zero_layer")
    if r is None:
        return None
    spaces = sum(1 for e in r.exceptions if e.category == "leading-space removal")
    logits = "the unembedding against the embedding (untied)" if r.direct else "W Wᵀ"
    text = (f"Under {logits}, {fmt_percent(r.self_predict_fraction, 2)} of tokens predict themselves; "
            f"{fmt_number(len(r.exceptions))} do not, {fmt_number(spaces)} of them by dropping a leading space.")
    return Finding("Zero-layer model", text, "zero_layer", _verdict(ctx, "tokens_predict_themselves"))


def _outliers(ctx: RunContext) -> Finding | None:
    r = ctx.earlier("outliers")
    if r is None:
        return None
    members = len(r.clump_token_ids)
    if members:
        text = (f"{members} tokens sit in {len(r.clumps)} crowded clump(s) of nearly identical embeddings — "
                "the signature of tokens the model hardly saw in training.")
        title = f"Under-trained clump of {members}"
    else:
        text = "No crowded clump of near-identical embeddings was found by the density rule."
        title = "No under-trained clump"
    return Finding(title, text, "outliers", _verdict(ctx, "rare_token_clump"))


def _alerts(ctx: RunContext) -> tuple[Alert, ...]:
    alerts = []
    unigram = ctx.earlier("unigram")
    if unigram is not None and len(unigram.layers):
        rogue = [int(d) for d in (unigram.standout_counts >= max(2, ROGUE_SHARE * len(unigram.layers))).nonzero()[0]]
        if rogue:
            names = f"Dim {rogue[0]} stands" if len(rogue) == 1 else f"Dims {', '.join(map(str, rogue))} stand"
            alerts.append(Alert("rogue dims", f"{names} out in the {norm_label(ctx)} gains "
                                f"of at least {ROGUE_SHARE:.0%} of layers.", "unigram"))
    outliers = ctx.earlier("outliers")
    if outliers is not None and outliers.clump_token_ids:
        alerts.append(Alert("under-trained tokens", f"{len(outliers.clump_token_ids)} tokens form a crowded clump; "
                            "prompts containing them may behave erratically.", "outliers"))
    position = ctx.earlier("position")
    if position is not None and position.cluster.has_cluster:
        alerts.append(Alert("heavy-dim cluster", f"{len(position.heavy_dims)} channel dims are shared between token "
                            "and position embeddings; analyses by channel dim should keep them apart.", "position"))
    alerts += _unexpected_zeros(ctx)
    padding = ctx.weights.vocab_rows - ctx.n_tokens
    if padding:
        alerts.append(Alert("padding rows", f"{padding} embedding rows have no token and are left out of the "
                            "statistics.", "model_card"))
    return tuple(alerts)


def _unexpected_zeros(ctx: RunContext) -> list[Alert]:
    """Counts that this architecture makes large but that came out zero or nearly so."""
    alerts = []
    n, starts = ctx.n_tokens, int(ctx.word_start.sum())
    scheme = getattr(ctx.tokens, "scheme", "")
    if (ctx.weights.word_start_rule == "leading-space" and n >= MIN_TOKENS_FOR_SHARES
            and starts < WORD_START_FLOOR * n):
        alerts.append(Alert("word starts missing", f"Only {starts} of {n} tokens begin a word, where a "
                            f"{scheme or 'leading-space'} vocabulary has a large share of them; the tokenizer's "
                            "encoding may be misread, so word-start results are not to be trusted.", "model_card"))
    position = ctx.earlier("position")
    if position is not None and position.has_positions and not position.heavy_dims:
        alerts.append(Alert("no position-heavy dims", "The model learns its position embeddings, yet no channel "
                            "dim carries them; in trained GPT-style models several do. Check that the right "
                            "tensor was read, or whether the model was trained long.", "position"))
    return alerts


def claim_groups(claims) -> tuple[ClaimGroup, ...]:
    """The tested claims as the study's independent findings (analyses.claims.findings) with their parts; a finding
    none of whose claims was tested is left out."""
    verdicts = {c.id: c.verdict for c in claims}
    return tuple(ClaimGroup(root, BY_ID[root].statement, verdicts.get(root, NOT_APPLICABLE),
                            tuple((p, verdicts[p]) for p in parts if p in verdicts))
                 for root, parts in findings().items() if root in verdicts or any(p in verdicts for p in parts))


def _count(verdicts) -> dict:
    counts = Counter(verdicts)
    return {k: counts.get(k, 0) for k in VERDICTS}


def run(ctx: RunContext) -> Summary:
    builders = (_unigram, _position, _svd, _zero_layer, _outliers)
    headlines = tuple(f for f in (build(ctx) for build in builders) if f is not None)[:5]
    claims = ctx.earlier("claims") or ()
    groups = claim_groups(claims)
    return Summary(headlines, _alerts(ctx), _count(c.verdict for c in claims), groups,
                   _count(g.verdict for g in groups), family_wise(load_calibration()))


def to_json(summary: Summary, ctx: RunContext) -> dict:
    return {"findings": [{"title": f.title, "text": f.text, "section": f.section, "verdict": f.verdict}
                         for f in summary.findings],
            "alerts": [{"kind": a.kind, "text": a.text, "section": a.section} for a in summary.alerts],
            "claim_findings": [{"id": g.id, "verdict": g.verdict,
                                "parts": [{"id": p, "verdict": v} for p, v in g.parts]} for g in summary.groups],
            "verdicts": summary.counts, "finding_verdicts": summary.group_counts,
            "family_wise": summary.family_wise}


def figures(summary: Summary, ctx: RunContext) -> list:
    return []


def context(summary: Summary, ctx: RunContext) -> dict:
    """The fragment (`j`) and each finding's statement (the claims registry's words)."""
    return {"j": to_json(summary, ctx), "statements": {g.id: g.statement for g in summary.groups}}


SECTION = Section("summary", "Summary", run, to_json, figures, context,
                  result=Summary, reads=READS)
