"""From each checkpoint's results.json to trajectories and emergence steps (pure; no I/O).

Emergence rules, all of the form "the first checkpoint from which X holds at every later checkpoint":
- unigram dim: the checkpoint's unigram dim stands out (the unigram analysis's own standout rule) and is the
  same dim as at the last checkpoint. Dims are tracked by identity within one run only.
- heavy dims: the position analysis finds a separated cluster of position-heavy dims.
- clump: the outlier analysis finds a clump, and it holds at least `CLUMP_OVERLAP` of the final clump's tokens.
A checkpoint that failed is left out of the rules (unknown, not false). The emergence step is a checkpoint's
step; the structure appeared after `previous_step` (the checkpoint before it) and by `step`.
"""

from __future__ import annotations

from analyses.claims import BY_ID
from report.results_json import at_path

CLUMP_OVERLAP = 0.5
METRICS = ("self_predict_fraction", "unigram_dim", "unigram_standout", "unigram_frequency_spearman",
           "heavy_dim_count", "clump_size", "clump_overlap_final", "cos_svd0_mean", "leading_space_auroc",
           "norm_frequency_spearman", "claims_holding")
RULES = {
    "unigram_dim": "first checkpoint from which the unigram dim stands out (≥ 2 pre-MLP norms with robust z ≥ 5) "
                   "at every later checkpoint and is the same dim as at the last checkpoint",
    "heavy_dims": "first checkpoint from which every later checkpoint has a separated cluster of position-heavy dims",
    "clump": f"first checkpoint from which every later checkpoint has a clump holding ≥ {CLUMP_OVERLAP:.0%} of the "
             "last checkpoint's clump tokens",
}


def norm_frequency_spearman(results: dict) -> float | None:
    for row in at_path(results, "analyses.unigram.correlations") or []:
        if {row.get("x"), row.get("y")} == {"norm", "log_frequency"}:
            return row.get("spearman")
    return None


def metrics(results: dict | None, final_clump: set[int]) -> dict:
    """The headline numbers of one checkpoint; all None for a failed one."""
    if results is None:
        return dict.fromkeys(METRICS)
    clump = set(at_path(results, "analyses.outliers.clump_token_ids") or [])
    return {
        "self_predict_fraction": at_path(results, "analyses.zero_layer.self_predict_fraction"),
        "unigram_dim": at_path(results, "analyses.unigram.dim"),
        "unigram_standout": at_path(results, "analyses.unigram.standout"),
        "unigram_frequency_spearman": at_path(results, "analyses.unigram.frequency.spearman"),
        "heavy_dim_count": at_path(results, "analyses.position.heavy_dim_count"),
        "clump_size": len(clump),
        "clump_overlap_final": len(clump & final_clump) / len(final_clump) if final_clump else None,
        "cos_svd0_mean": at_path(results, "analyses.svd.cos_svd0_mean"),
        "leading_space_auroc": at_path(results, "analyses.svd.leading_space_auroc"),
        "norm_frequency_spearman": norm_frequency_spearman(results),
        "claims_holding": sum(c.get("verdict") == "holds" for c in results.get("claims", [])),
    }


def stable_from(steps: list[int], flags: list[bool | None]) -> dict | None:
    """{step, previous_step} of the first checkpoint from which every known flag is True; None if the last
    known flag is not True."""
    known = [(s, f) for s, f in zip(steps, flags) if f is not None]
    if not known or not known[-1][1]:
        return None
    first = len(known) - 1
    while first > 0 and known[first - 1][1]:
        first -= 1
    return {"step": known[first][0], "previous_step": known[first - 1][0] if first else None}


def run_block(steps: list[int], entries: list[dict], outcomes: list[dict]) -> dict:
    """Trajectories, emergence, claims matrix and LN gains of the final unigram dim for one run.

    `entries` are the sweep.json checkpoint rows; `outcomes` the tasks' outcomes, both in step order."""
    documents = [o["results"] if o["status"] == "ok" else None for o in outcomes]
    last = next((d for d in reversed(documents) if d is not None), None)
    final_clump = set(at_path(last, "analyses.outliers.clump_token_ids") or [])
    rows = [metrics(d, final_clump) for d in documents]
    trajectories = {name: [row[name] for row in rows] for name in METRICS}
    return {
        "steps": steps,
        "checkpoints": entries,
        "trajectories": trajectories,
        "emergence": emergence(steps, documents, trajectories),
        "claims": claims_matrix(documents),
        "unigram_dim_ln_gains": unigram_ln_gains(at_path(last, "analyses.unigram.dim"), outcomes),
        "final": {name: next((v for v in reversed(trajectories[name]) if v is not None), None) for name in METRICS},
    }


def emergence(steps: list[int], documents: list[dict | None], trajectories: dict) -> dict:
    last = next((d for d in reversed(documents) if d is not None), None)
    final_dim = at_path(last, "analyses.unigram.dim") if at_path(last, "analyses.unigram.standout") else None
    unigram = stable_from(steps, [None if d is None else bool(at_path(d, "analyses.unigram.standout"))
                                  and at_path(d, "analyses.unigram.dim") == final_dim for d in documents])
    heavy = stable_from(steps, [None if d is None else bool(at_path(d, "analyses.position.has_heavy_cluster"))
                                for d in documents])
    overlap = trajectories["clump_overlap_final"]
    clump = stable_from(steps, [None if d is None else bool(size) and (share or 0) >= CLUMP_OVERLAP
                                for d, size, share in zip(documents, trajectories["clump_size"], overlap)])
    return {
        "unigram_dim": None if unigram is None else {"dim": final_dim, **unigram},
        "heavy_dims": None if heavy is None else {**heavy, "dims": at_path(last, "analyses.position.heavy_dims")},
        "clump": None if clump is None else {**clump, "size": trajectories["clump_size"][steps.index(clump["step"])]},
        "rules": RULES,
    }


def _name(claim: dict) -> str | None:
    """The registered name of a results.json claim (results written before claims had names have only the id)."""
    return BY_ID[claim["id"]].name if claim["id"] in BY_ID else claim.get("name")


def claims_matrix(documents: list[dict | None]) -> list[dict]:
    """[{id, name, statement, verdicts: [per checkpoint; None where failed]}] over every claim seen."""
    claims: dict[int, dict] = {}
    for index, document in enumerate(documents):
        for claim in (document or {}).get("claims", []):
            row = claims.setdefault(claim["id"], {"id": claim["id"], "name": _name(claim),
                                                  "statement": claim.get("statement"),
                                                  "verdicts": [None] * len(documents)})
            row["verdicts"][index] = claim.get("verdict")
    return [claims[k] for k in sorted(claims)]


def unigram_ln_gains(dim: int | None, outcomes: list[dict]) -> dict | None:
    """{dim, by_norm: {role: [[gain per checkpoint] per layer]}} for the last checkpoint's unigram dim."""
    if dim is None:
        return None
    by_norm: dict[str, list[list]] = {}
    for index, outcome in enumerate(outcomes):
        for role, layers in (outcome.get("ln_gains") or {}).items():
            series = by_norm.setdefault(role, [[None] * len(outcomes) for _ in layers])
            for layer, gains in enumerate(layers):
                if layer < len(series) and dim < len(gains):
                    series[layer][index] = gains[dim]
    return {"dim": dim, "by_norm": dict(sorted(by_norm.items()))}


def across_runs(blocks: dict[str, dict]) -> list[dict]:
    """Each run's emergence steps and final values side by side, compared by behaviour: whether a unigram
    dim emerged at all, and when, never which index it has."""
    rows = []
    for name, block in blocks.items():
        found = block["emergence"]
        rows.append({
            "run": name,
            "checkpoints": len(block["steps"]),
            "last_step": block["steps"][-1] if block["steps"] else None,
            "grows_unigram_dim": found["unigram_dim"] is not None,
            "unigram_dim_step": (found["unigram_dim"] or {}).get("step"),
            "heavy_dims_step": (found["heavy_dims"] or {}).get("step"),
            "clump_step": (found["clump"] or {}).get("step"),
            "final": block["final"],
        })
    return rows
