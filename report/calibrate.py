"""`python -m report.calibrate` (`make calibrate`): every claim's verdict on null and planted synthetic models
(analyses.calibration), at several sizes; writes the false-positive rate and power per claim and size to
report/calibration.json and to README.md between the calibration markers, and prints the table.

Targets: false-positive rate ≤ 5% for every claim at every size, power ≥ 90% at the study's effect size.
Rates come with 95% Wilson intervals; with few replicates at the big sizes the intervals are wide, and the
table says so. The plan runs many null models where a model is cheap (small d) and fewer where it is not;
claims 20–24 need the zero-layer and clump searches, whose cost grows with V (one replicate at V = 50k).
Models run in a pool of worker processes (`--jobs`, default all cores); the table does not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from analyses.calibration import CLAIMS, EXPENSIVE, FAMILIES, null_model, planted_model, verdicts
from report.calibration_table import DATA, MAX_FPR, MIN_POWER, load, wilson  # noqa: F401 (load: re-exported)

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- calibration:start -->", "<!-- calibration:end -->"
# (d, tokens, null replicates, planted replicates, replicates with claims 20–24). A null replicate is the six null
# families and the contrast model; a planted replicate is the study-size and the half-size model; the first
# replicates of each kind also run the zero-layer and clump searches (claims 20–24). One model's claims 1–19 cost
# (one core, measured) ~0.4 s at d = 64, 2.3 s at 768 and 6 s at 1600 for V = 4k, 3–16 s at V = 50k: two d×d
# eigendecompositions and d rank transforms. Claims 20–24 cost ~1 s per model at V = 4k and 15–30 s at V = 50k,
# so they run on one replicate there. The whole plan took 2,332 s on two shared cores.
PLAN = ((64, 4000, 15, 15, 15), (768, 4000, 10, 15, 5), (1600, 4000, 10, 15, 3),
        (64, 50000, 4, 2, 1), (768, 50000, 2, 1, 1), (1600, 50000, 1, 1, 1))
SMALL_PLAN = ((32, 600, 1, 1, 1),)


PLANTED = ("study", "half")
# Why a claim may miss a target for a reason the calibration itself found (stated beside the miss, never hiding it).
KNOWN_CAUSES = {
    17: "at d = 64 the planted unigram dim, which claims 10 and 18 need at the study's size (higher for short "
        "tokens, |loading| ≥ 3/√d on component 0), carries ~18% of component 0 and pulls the longest tokens "
        "toward its middle (mean percentile ~0.75); flattening that one dim puts them at 0.95–0.97 with both "
        "p at the floor. The three study-size effects cannot all be planted at d = 64; a miss there is a "
        "lost hit on a model that has the effect, not a false claim",
}
# Why claims 20–23 miss at d = 64, V = 50k (measured in the full run).
LOW_WIDTH = ("at d = 64, V = 50k the planted model has ~2,000 exceptions, ~1,500 of them chance pairs made by the "
             "±9% random norm spread of 64-dim vectors (a Gaussian null of that shape has ~37k); they are not "
             "the study's effect, and they dilute it; a miss there is a lost hit on a model that has the "
             "effect, not a false claim")
KNOWN_CAUSES |= {20: LOW_WIDTH, 21: LOW_WIDTH, 22: LOW_WIDTH, 23: LOW_WIDTH}
MODEL_NAMES = (*FAMILIES, "contrast", *PLANTED)


def _model(d: int, n: int, rep: int, name: str):
    base = 1000 * rep + d + n
    if name in FAMILIES:
        return null_model(name, d, n, base + FAMILIES.index(name))
    size, offset = {"contrast": (1.0, 10), "study": (1.0, 11), "half": (0.5, 12)}[name]
    return planted_model(size, d, n, base + offset, contrast=name == "contrast")


def _task(task: tuple) -> tuple:
    """One model's verdicts (in a worker process): (name, absent, present, {claim: (verdict, detail)})."""
    d, n, rep, name, expensive, seed, n_resamples = task
    model = _model(d, n, rep, name)
    return name, model.absent, model.present, verdicts(model, seed, expensive=expensive, n_resamples=n_resamples)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # one core per worker: the pool, not each model, uses the machine's cores


def _results(tasks: list, jobs: int):
    """Each task's result in task order (so the table does not depend on the number of workers)."""
    if jobs <= 1 or len(tasks) <= 1:
        yield from map(_task, tasks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})  # fresh (spawned) workers start single-threaded
    try:
        pool = ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker)
        futures = [pool.submit(_task, task) for task in tasks]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    with pool:
        for future in futures:
            yield future.result()


def limit_searches(plan, max_tokens: int):
    """The plan with claims 20–24 left out at sizes with more than `max_tokens` tokens."""
    return tuple((d, n, reps, planted, expensive if n <= max_tokens else 0) for d, n, reps, planted, expensive in plan)


def run(plan=PLAN, seed: int = 0, n_resamples: int = 1000, log=print, jobs: int = 1) -> dict:
    """Run the plan; {"sizes": [...], "claims": {id: {size: counts}}} with the reasons behind misses."""
    sizes, table = [], {c: {} for c in CLAIMS}
    for d, n, null_reps, planted_reps, expensive_reps in plan:
        size = f"d={d}, V={n // 1000}k" if n >= 1000 else f"d={d}, V={n}"
        sizes.append({"size": size, "d": d, "tokens": n, "replicates": null_reps, "planted_replicates": planted_reps,
                      "zero_layer_and_clump": expensive_reps})
        counts = {c: {"fp": 0, "null": 0, "study": 0, "study_n": 0, "half": 0, "half_n": 0, "why": Counter()}
                  for c in CLAIMS}
        started = time.perf_counter()
        # every model runs claims 1–19; the first `expensive_reps` replicates of each kind also run claims 20–24
        tasks = [(d, n, rep, name, rep < expensive_reps, seed, n_resamples)
                 for rep in range(max(null_reps, planted_reps)) for name in MODEL_NAMES
                 if rep < (planted_reps if name in PLANTED else null_reps)]
        for name, absent, present, found in _results(tasks, jobs):
            for c in CLAIMS:
                if c not in found:
                    continue
                verdict, detail = found[c]
                row = counts[c]
                if c in absent:
                    row["null"] += 1
                    row["fp"] += verdict == "holds"
                    if verdict == "holds":
                        row["why"][f"false positive on {name}: {detail}"[:160]] += 1
                if c in present and name in ("study", "half"):
                    row[f"{name}_n"] += 1
                    row[name] += verdict == "holds"
                    if verdict != "holds" and name == "study":
                        row["why"][f"missed at study size ({verdict}): {detail}"[:160]] += 1
        log(f"  {size}: {null_reps} null and {planted_reps} planted replicate(s), {expensive_reps} with claims 20–24: "
            f"{len(tasks)} models in {time.perf_counter() - started:.0f} s")
        for c in CLAIMS:
            row = counts[c]
            if row["fp"] or row["study"] < row["study_n"]:
                log(f"    claim {c}: {row['fp']}/{row['null']} false positives, {row['study']}/{row['study_n']} "
                    f"at study size; {'; '.join(text for text, _ in row['why'].most_common(1))}")
        for c in CLAIMS:
            row = counts[c]
            table[c][size] = {"fp": row["fp"], "null": row["null"], "study": row["study"], "study_n": row["study_n"],
                              "half": row["half"], "half_n": row["half_n"],
                              "why": [text for text, _ in row["why"].most_common(2)]}
    return {"sizes": sizes, "claims": {str(c): table[c] for c in CLAIMS}}


def summarise(data: dict) -> dict:
    """Per claim: worst false-positive rate and worst study-size power over sizes, and whether targets are met."""
    out = {}
    for c, by_size in data["claims"].items():
        fprs = [(v["fp"] / v["null"], v["fp"], v["null"], size) for size, v in by_size.items() if v["null"]]
        powers = [(v["study"] / v["study_n"], v["study"], v["study_n"], size)
                  for size, v in by_size.items() if v["study_n"]]
        # ties (e.g. no false positive anywhere) go to the cell with the widest interval: the least measured one
        worst_fpr = max(fprs, key=lambda f: (f[0], wilson(f[1], f[2])[1])) if fprs else None
        worst_power = min(powers, key=lambda p: (p[0], wilson(p[1], p[2])[0])) if powers else None
        misses = []
        if worst_fpr and worst_fpr[0] > MAX_FPR:
            misses.append(f"false-positive rate {worst_fpr[0]:.0%} at {worst_fpr[3]}")
        if worst_power and worst_power[0] < MIN_POWER:
            misses.append(f"power {worst_power[0]:.0%} at {worst_power[3]}")
        if int(c) in EXPENSIVE:
            skipped = [s["size"] for s in data["sizes"] if not s["zero_layer_and_clump"]]
            if skipped:
                misses.append("not run at " + "; ".join(skipped)
                              + " (the zero-layer and clump searches were left out there)")
        weak = [size for size, v in by_size.items() if v["study_n"] and v["study"] / v["study_n"] < MIN_POWER]
        if weak and int(c) in KNOWN_CAUSES and not (worst_fpr and worst_fpr[0] > MAX_FPR) \
                and all(size.startswith("d=64,") for size in weak):  # the cause found applies to d = 64 only
            misses.append("why: " + KNOWN_CAUSES[int(c)])
        why = sorted({w for v in by_size.values() for w in v["why"]})[:2]
        unshown = [] if misses else unshown_targets(by_size)
        out[c] = {"fpr": worst_fpr[0] if worst_fpr else None,
                  "fpr_ci": wilson(worst_fpr[1], worst_fpr[2]) if worst_fpr else None,
                  "fpr_at": worst_fpr[3] if worst_fpr else None,
                  "power": worst_power[0] if worst_power else None,
                  "power_ci": wilson(worst_power[1], worst_power[2]) if worst_power else None,
                  "power_at": worst_power[3] if worst_power else None,
                  "status": "missed" if misses else "not shown" if unshown else "shown",
                  "meets_targets": not misses and not unshown, "misses": misses, "unshown": unshown,
                  "why": why if misses else []}
    return out


def needed_replicates(target: float, all_hits: bool) -> int:
    """Fewest models for which a perfect count (no false positive, or every planted model a hit) has its 95%
    Wilson bound on the right side of `target`: 73 null models for 5%, 35 planted models for 90%."""
    def shown(n: int) -> bool:
        return wilson(n, n)[0] >= target if all_hits else wilson(0, n)[1] <= target

    return next(n for n in range(1, 10_000) if shown(n))


def unshown_targets(by_size: dict) -> list[str]:
    """Why targets that the point estimates meet are not shown at 95% confidence: the cell with the highest
    false-positive upper bound and the one with the lowest power lower bound, where they cross the target."""
    out = []
    nulls = [(wilson(v["fp"], v["null"])[1], v["fp"], v["null"], size) for size, v in by_size.items() if v["null"]]
    planted = [(wilson(v["study"], v["study_n"])[0], v["study"], v["study_n"], size)
               for size, v in by_size.items() if v["study_n"]]
    if nulls and (worst := max(nulls, key=lambda cell: cell[0]))[0] > MAX_FPR:
        out.append(f"false-positive rate up to {worst[0]:.0%} at {worst[3]} ({worst[1]} of {worst[2]} null models; "
                   f"{needed_replicates(MAX_FPR, all_hits=False)} without a false positive would show ≤ {MAX_FPR:.0%})")
    if planted and (worst := min(planted, key=lambda cell: cell[0]))[0] < MIN_POWER:
        out.append(f"power as low as {worst[0]:.0%} at {worst[3]} ({worst[1]} of {worst[2]} planted models; "
                   f"{needed_replicates(MIN_POWER, all_hits=True)} hits of as many would show ≥ {MIN_POWER:.0%})")
    return out


def _cell(k: int, n: int) -> str:
    if n == 0:
        return "—"
    lo, hi = wilson(k, n)
    return f"{k}/{n} ({lo:.0%}–{hi:.0%})"


def _replicates(size: dict) -> str:
    planted = size.get("planted_replicates", size["replicates"])
    return (f"{size['size']} null ×{size['replicates']}, planted ×{planted}, claims 20–24 on the first "
            f"{int(size['zero_layer_and_clump'])} of each")


def _verdict_cell(summary: dict) -> str:
    if summary.get("status", "missed" if summary["misses"] else "shown") == "shown":
        return "met (shown at 95%)"
    if summary["misses"]:
        return "**missed**: " + "; ".join(summary["misses"])
    return "met by the counts, not shown at 95%: " + "; ".join(summary["unshown"])


def markdown(data: dict) -> str:
    """The README table: per claim and size, false positives / null models and hits / study-size models."""
    sizes = [s["size"] for s in data["sizes"]]
    lines = [f"Targets: false-positive rate ≤ {MAX_FPR:.0%} at every size, power ≥ {MIN_POWER:.0%} at the study's "
             "effect size, each shown at 95% confidence (the Wilson bound, not the point estimate, must meet it: "
             "\"met (shown at 95%)\"; counts that meet a target only as point estimates say \"not shown\" and how "
             "many models would show it). Each cell: false positives / null models · hits at study size / planted "
             "models · hits at half size, with 95% Wilson intervals for the first two. Replicates per size: "
             + "; ".join(_replicates(s) for s in data["sizes"]) + f". A null replicate is the {len(FAMILIES)} null "
             "families and the contrast model, a planted one the study-size and half-size models.",
             "", "| claim | " + " | ".join(sizes) + " | targets |", "|---" * (len(sizes) + 2) + "|"]
    for c, by_size in sorted(data["claims"].items(), key=lambda item: int(item[0])):  # JSON keys sort as text
        cells = []
        for size in sizes:
            v = by_size[size]
            cells.append(f"FP {_cell(v['fp'], v['null'])} · power {_cell(v['study'], v['study_n'])} · half "
                         f"{v['half']}/{v['half_n']}" if v["null"] or v["study_n"] else "not run")
        s = data["summary"][c]
        cells.append(_verdict_cell(s))
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write(data: dict, data_path: Path = DATA, readme: Path | None = README) -> None:
    data_path.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    if readme is None or not readme.exists():
        return
    text = readme.read_text(encoding="utf-8")
    block = f"{START}\n{markdown(data)}\n{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n## Calibration of the verdicts (`make calibrate`)\n\n" + block + "\n"
    readme.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m report.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes, one replicate (checks the machinery)")
    parser.add_argument("--out", type=Path, default=DATA, help="where to write the JSON table")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument("--max-search-tokens", type=int, default=None, metavar="V",
                        help="run claims 20–24 (zero-layer and clump searches) only at sizes with at most V tokens; "
                             "the table then says where they did not run")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    args = parser.parse_args(argv)
    plan = SMALL_PLAN if args.small else PLAN
    if args.max_search_tokens is not None:
        plan = limit_searches(plan, args.max_search_tokens)
    started = time.perf_counter()
    print(f"calibrating {len(CLAIMS)} claims on {len(FAMILIES)} null families, a contrast model and planted effects")
    data = run(plan, n_resamples=200 if args.small else 1000, jobs=max(1, args.jobs))
    data["summary"] = summarise(data)
    data["targets"] = {"max_false_positive_rate": MAX_FPR, "min_power_at_study_size": MIN_POWER}
    write(data, args.out, None if args.no_readme else README)
    print(markdown(data))
    status = Counter(s["status"] for s in data["summary"].values())
    for c, s in data["summary"].items():
        if s["misses"]:
            example = f" — e.g. {s['why'][0]}" if s["why"] else ""
            print(f"claim {c} misses its targets: {'; '.join(s['misses'])}" + example)
    print(f"of {len(CLAIMS)} claims, {status['shown']} meet both targets at 95% confidence, {status['not shown']} meet "
          f"them only as point estimates, {status['missed']} miss; {time.perf_counter() - started:.0f} s; "
          f"table in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
