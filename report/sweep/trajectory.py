"""From each checkpoint's results.json to trajectories and emergence intervals (pure; no I/O).

Emergence: each condition's verdict at every checkpoint, fitted with one change point (report/sweep/emergence.py),
so an isolated miss or a flip at the last checkpoint neither delays nor erases it:
- unigram dim: the checkpoint's unigram dim stands out (the unigram analysis's own standout rule) and is the
  final dim: the one standing out most often over the last `FINAL_WINDOW` known checkpoints (ties: the later).
  Dims are tracked by identity within one run only.
- heavy dims: the position analysis finds a separated cluster of position-heavy dims.
- clump: the outlier analysis finds a clump holding at least `CLUMP_OVERLAP` of the final clump's tokens (the
  last clump found).
A checkpoint that failed is unknown, not false; inside an emergence interval it is named as a gap. The conditions
read the analyses' findings, never the checklist's verdicts, so an "inconclusive" verdict is neither a hold nor a miss
here; `claims_holding` counts "holds" only.
"""

from __future__ import annotations

from analyses.claims import BY_ID
from report.sweep.emergence import RULE, change_point, spread
from report.write import digest as schema

CLUMP_OVERLAP = 0.5
FINAL_WINDOW = 3
# sweep.json's trajectory names, each read through the declared headline of report/write/digest.py it names
# (clump_overlap_final is the sweep's own: it needs the final clump).
HEADLINE_OF = {"self_predict_fraction": "self_predict_fraction", "unigram_dim": "unigram_dim",
               "unigram_standout": "unigram_standout", "unigram_frequency_spearman": "unigram_frequency_spearman",
               "heavy_dim_count": "heavy_dim_count", "clump_size": "clump_size", "clump_overlap_final": None,
               "cos_svd0_mean": "cos_svd0_mean", "leading_space_auroc": "leading_space_auroc",
               "norm_frequency_spearman": "norm_frequency_spearman",
               "claims_holding": "holds_count"}  # "holds" only, not inconclusive
METRICS = tuple(HEADLINE_OF)
CONDITIONS = {
    "unigram_dim": f"the unigram dim stands out (≥ 2 pre-MLP norms with robust z ≥ 5) and is the dim standing out "
                   f"most often over the last {FINAL_WINDOW} checkpoints",
    "heavy_dims": "there is a separated cluster of position-heavy dims",
    "clump": f"there is a clump holding ≥ {CLUMP_OVERLAP:.0%} of the last clump found's tokens",
}
RULES = {key: f"{condition}; emergence: {RULE}" for key, condition in CONDITIONS.items()}


def metrics(digest: schema.Digest | None, reference_clump: set[int]) -> dict:
    """The headline numbers of one checkpoint; all None for a failed one. `reference_clump`: the final clump."""
    if digest is None:
        return dict.fromkeys(METRICS)
    clump = set(digest["clump_token_ids"])
    row = {name: digest[headline] for name, headline in HEADLINE_OF.items() if headline is not None}
    row["clump_overlap_final"] = len(clump & reference_clump) / len(reference_clump) if reference_clump else None
    return {name: row[name] for name in METRICS}


def run_block(steps: list[int], entries: list[dict], outcomes: list[dict]) -> dict:
    """Trajectories, emergence, claims matrix and LN gains of the final unigram dim for one run.

    `entries` are the sweep.json checkpoint rows; `outcomes` the tasks' outcomes, both in step order."""
    digests = [schema.read(o["results"]) if o["status"] == "ok" else None for o in outcomes]
    last = next((d for d in reversed(digests) if d is not None), None)
    reference_clump = final_clump(digests)
    rows = [metrics(d, reference_clump) for d in digests]
    trajectories = {name: [row[name] for row in rows] for name in METRICS}
    return {
        "steps": steps,
        "checkpoints": entries,
        "trajectories": trajectories,
        "emergence": emergence(steps, digests, trajectories),
        "claims": claims_matrix([None if d is None else d["claims"] for d in digests]),
        "unigram_dim_ln_gains": unigram_ln_gains(_first_set(final_unigram_dim(digests),
                                                            None if last is None else last["unigram_dim"]), outcomes),
        "final": {name: next((v for v in reversed(trajectories[name]) if v is not None), None) for name in METRICS},
    }


def _first_set(*values):
    return next((v for v in values if v is not None), None)


def final_clump(digests: list[schema.Digest | None]) -> set[int]:
    """The last clump found: a last checkpoint without one (a flip) does not erase the clump's history."""
    clumps = (d["clump_token_ids"] for d in reversed(digests) if d is not None)
    return set(next((c for c in clumps if c), []))


def final_unigram_dim(digests: list[schema.Digest | None]) -> int | None:
    """The dim standing out most often over the last FINAL_WINDOW known checkpoints (ties: the later one)."""
    window = [d for d in digests if d is not None][-FINAL_WINDOW:]
    dims = [d["unigram_dim"] for d in window if d["unigram_standout"]]
    return max(reversed(dims), key=dims.count) if dims else None


def emergence(steps: list[int], digests: list[schema.Digest | None], trajectories: dict) -> dict:
    """{condition: its change point (report/sweep/emergence.py) with `rule` and what it found | None, rules}."""
    final_dim = final_unigram_dim(digests)
    unigram = change_point(steps, [None if d is None else d["unigram_standout"] and d["unigram_dim"] == final_dim
                                   for d in digests])
    heavy_flags = [None if d is None else d["has_heavy_cluster"] for d in digests]
    heavy = change_point(steps, heavy_flags)
    last_heavy = next((d for d, flag in zip(reversed(digests), reversed(heavy_flags)) if flag), None)
    sizes, shares = trajectories["clump_size"], trajectories["clump_overlap_final"]
    clump = change_point(steps, [None if d is None else bool(size) and (share or 0) >= CLUMP_OVERLAP
                                 for d, size, share in zip(digests, sizes, shares)])
    return {
        "unigram_dim": None if unigram is None else {"dim": final_dim, **unigram, "rule": RULES["unigram_dim"]},
        "heavy_dims": None if heavy is None else {**heavy, "rule": RULES["heavy_dims"],
                                                  "dims": None if last_heavy is None else last_heavy["heavy_dims"]},
        "clump": None if clump is None else {**clump, "rule": RULES["clump"],
                                             "size": sizes[steps.index(clump["step"])]},
        "rules": RULES,  # each condition's whole rule; the same text as its entry's `rule`
        "conditions": CONDITIONS, "rule": RULE,  # the parts: what holds at a checkpoint, and the change point
    }


def _name(claim: dict) -> str | None:
    """The registered name of a results.json claim (results written before claims had names have only the id)."""
    return BY_ID[claim["id"]].name if claim["id"] in BY_ID else claim.get("name")


def claims_matrix(claim_lists: list[list[dict] | None]) -> list[dict]:
    """[{id, name, statement, verdicts: [per checkpoint; None where failed]}] over every claim seen, from each
    checkpoint's results.json `claims` (None for a failed checkpoint)."""
    claims: dict[int, dict] = {}
    for index, listed in enumerate(claim_lists):
        for claim in listed or []:
            row = claims.setdefault(claim["id"], {"id": claim["id"], "name": _name(claim),
                                                  "statement": claim.get("statement"),
                                                  "verdicts": [None] * len(claim_lists)})
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


def emergence_spread(blocks: dict[str, dict]) -> dict:
    """{condition: {runs, emerged, never, min, median, max}} of the emergence steps over runs (seeds)."""
    return {key: spread({name: block["emergence"][key] for name, block in blocks.items()}) for key in CONDITIONS}
