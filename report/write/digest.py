"""The values the comparison and the sweep read from a results.json document, declared once.

Each `Headline` names a value, where it sits in results.json, its type, and how the comparison shows it. `read`
turns a document into a `Digest` of every declared value, checked against its declaration: a key missing from a
document of this schema version, or a value of another type, raises `SchemaMismatch` (a renamed key is a bug to
find, not a "—" to print). A document of an older schema version reads as None only the keys declared as added
since then (`Headline.since`).

Derived values (the share of position-heavy dims, the clump's size, the claims holding, …) are computed from the
declared ones, so they cannot read a path of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

from analyses.claims import HOLDS, INCONCLUSIVE, NOT_APPLICABLE, finding_of
from report.write.results_json import SCHEMA_VERSION, MissingKey, value_at

DERIVED = "derived."  # the path prefix of a value computed from the others


class SchemaMismatch(LookupError):
    """A results.json document lacks a declared key, or holds a value of another type there: the document and
    the declarations in report/write/digest.py disagree."""


@dataclass(frozen=True)
class Headline:
    """One value read from results.json (or derived from such values), declared once for compare and sweep.

    Attributes:
        name: the value's name in a Digest (unique).
        path: dotted path into results.json; "derived.<name>" for a value computed by `derive`.
        type: the type the value has once read from JSON (a float also accepts an int).
        items: the type of each item when `type` is list; None leaves items unchecked.
        nullable: a document of this schema version may hold null here, or null at a parent on the path
            (floats become null when they are NaN; `model_card.unembedding` is null for tied embeddings).
        since: the schema version that added the key; a document older than that reads it as None.
        label: the row's name in the comparison's headline table; None for a value the table does not show.
        format: how the comparison shows it: "num", "pct" or "text" (the template's filters).
        needs_positions: the value means something only for models with learned position embeddings.
        derive: for a derived value, a function of the Digest's declared values (by name) that computes it.
    """

    name: str
    path: str
    type: type
    items: type | None = None
    nullable: bool = False
    since: int = 1
    label: str | None = None
    format: str = "num"
    needs_positions: bool = False
    derive: Callable[[Mapping[str, Any]], Any] | None = None


def _heavy_dim_share(v: Mapping[str, Any]) -> float | None:
    return v["heavy_dim_count"] / v["d_model"] if v["d_model"] else None


def _svd0_energy(v: Mapping[str, Any]) -> float | None:
    s = v["singular_values"]
    return float(s[0] ** 2 / sum(x * x for x in s)) if s and None not in s and any(s) else None


def _norm_frequency_spearman(v: Mapping[str, Any]) -> float | None:
    for row in v["correlations"]:
        if {row.get("x"), row.get("y")} == {"norm", "log_frequency"}:
            return row.get("spearman")
    return None


def holding(claims: list[dict]) -> str | None:
    """"holding / tested" over the applicable claims, with the inconclusive ones (tested, not holding) named."""
    tested = [c for c in claims if c.get("verdict") != NOT_APPLICABLE]
    inconclusive = sum(c.get("verdict") == INCONCLUSIVE for c in tested)
    held = f"{sum(c.get('verdict') == HOLDS for c in tested)} / {len(tested)}"
    return None if not claims else f"{held} ({inconclusive} inconclusive)" if inconclusive else held


def _findings_holding(v: Mapping[str, Any]) -> str | None:
    """A finding's verdict is that of its own claim; its parts do not count again."""
    return holding([c for c in v["claims"] if finding_of(c["id"]) == c["id"]])


def _derived(name: str, kind: type, derive: Callable, **shown) -> Headline:
    return Headline(name, DERIVED + name, kind, nullable=True, derive=derive, **shown)


# The comparison's headline table shows the labelled values in this order.
HEADLINES = (
    Headline("architecture", "model.architecture", str, label="architecture", format="text"),
    Headline("d_model", "model.d_model", int, label="channel dims d"),
    Headline("n_layers", "model.n_layers", int, label="layers"),
    Headline("vocab_size", "model.vocab_size", int, label="embedding rows"),
    Headline("n_positions", "model.n_positions", int, label="learned positions"),
    Headline("tied_embeddings", "model.tied_embeddings", bool, label="tied input/output embeddings"),
    Headline("frequency_kind", "frequency_source.kind", str, label="frequency source", format="text"),
    Headline("unigram_dim", "analyses.unigram.dim", int, label="unigram dim"),
    Headline("heavy_dim_count", "analyses.position.heavy_dim_count", int, label="position-heavy dims",
             needs_positions=True),
    _derived("heavy_dim_share", float, _heavy_dim_share, label="position-heavy dims / d", format="pct",
             needs_positions=True),
    Headline("cos_svd0_mean", "analyses.svd.cos_svd0_mean", float, nullable=True,
             label="|cos| SVD 0 vs mean embedding"),
    Headline("svd0_same_sign_fraction", "analyses.svd.svd0_same_sign_fraction", float, nullable=True,
             label="tokens with the sign of SVD 0", format="pct"),
    _derived("svd0_energy", float, _svd0_energy, label="share of Σ W² in SVD 0", format="pct"),
    Headline("leading_space_auroc", "analyses.svd.leading_space_auroc", float, nullable=True,
             label="word-start AUROC on SVD 1–2"),
    Headline("self_predict_fraction", "analyses.zero_layer.self_predict_fraction", float, nullable=True,
             label="zero-layer self-prediction", format="pct"),
    Headline("unembedding_row_cos_median", "analyses.model_card.unembedding.row_cos_median", float, nullable=True,
             label="output vs input row: median cos"),
    Headline("unembedding_norm_spearman", "analyses.model_card.unembedding.norm_spearman", float, nullable=True,
             label="output vs input norms: Spearman"),
    _derived("clump_size", int, lambda v: len(v["clump_token_ids"]), label="wastebasket clump size"),
    _derived("claims_holding", str, lambda v: holding(v["claims"]), label="claims holding / tested", format="text"),
    _derived("findings_holding", str, _findings_holding, label="independent findings holding / tested",
             format="text"),
    # read by the comparison's other tables and figures, and by the sweep
    Headline("model_id", "model.id", str),
    Headline("revision", "model.revision", str, nullable=True),
    Headline("tokenizer_sha256", "analyses.model_card.tokenizer_sha256", str),
    Headline("has_positions", "analyses.position.has_position_embeddings", bool),
    Headline("heavy_dims", "analyses.position.heavy_dims", list, items=int),
    Headline("has_heavy_cluster", "analyses.position.has_heavy_cluster", bool),
    Headline("position_std", "analyses.position.per_dim.position_std", list, items=float),
    Headline("unigram_standout", "analyses.unigram.standout", bool),
    Headline("unigram_frequency_spearman", "analyses.unigram.frequency.spearman", float, nullable=True),
    Headline("correlations", "analyses.unigram.correlations", list, items=dict),
    Headline("singular_values", "analyses.svd.singular_values", list, items=float),
    Headline("norm_extreme_ids", "analyses.svd.norm_extremes.token_ids", list, items=int),
    Headline("clump_token_ids", "analyses.outliers.clump_token_ids", list, items=int),
    Headline("claims", "claims", list, items=dict),
    _derived("norm_frequency_spearman", float, _norm_frequency_spearman),
    _derived("holds_count", int, lambda v: sum(c.get("verdict") == HOLDS for c in v["claims"])),  # not inconclusive
)
BY_NAME = MappingProxyType({h.name: h for h in HEADLINES})
SHOWN = tuple(h for h in HEADLINES if h.label is not None)  # the comparison's headline rows, in order

@dataclass(frozen=True)
class Digest:
    """Every declared value of one results.json document, checked against its declaration.

    Attributes:
        values: {headline name: its value, or None where null (or absent from an older document)}.
        schema_version: the document's schema version.
    """

    values: Mapping[str, Any]
    schema_version: int

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def read(document: dict) -> Digest:
    """The Digest of a results.json document; raises SchemaMismatch where it disagrees with HEADLINES."""
    version = document.get("schema_version", SCHEMA_VERSION)  # none given: read as strictly as a current one
    values = {h.name: _read_one(h, document, version) for h in HEADLINES if h.derive is None}
    for h in HEADLINES:
        if h.derive is not None:
            values[h.name] = h.derive(values)
    return Digest(MappingProxyType(values), version)


def _read_one(headline: Headline, document: dict, version: int) -> Any:
    try:
        value = value_at(document, headline.path)
    except MissingKey as exc:
        if version < headline.since:
            return None
        raise SchemaMismatch(f"results.json (schema version {version}) has no {headline.path!r} "
                             f"({exc}), declared for {headline.name!r} in report/write/digest.py") from None
    if value is None:
        if headline.nullable:
            return None
        raise SchemaMismatch(f"results.json holds null at {headline.path!r}, declared non-null in "
                             "report/write/digest.py")
    _check_type(headline, value)
    return value


def _check_type(headline: Headline, value: Any) -> None:
    if not _is(value, headline.type) or (headline.items is not None
                                         and not all(_is(v, headline.items) for v in value)):
        raise SchemaMismatch(f"results.json holds {type(value).__name__} at {headline.path!r}; report/write/digest.py "
                             f"declares {headline.type.__name__}"
                             + (f" of {headline.items.__name__}" if headline.items else ""))


def _is(value: Any, kind: type) -> bool:
    """JSON's types as Python reads them: bool is not an int, an int is a float, null is a missing float (NaN)."""
    if kind is float:
        return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)
