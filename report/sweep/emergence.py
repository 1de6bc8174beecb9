"""When a structure emerges over a run, as an interval of steps (pure; no I/O).

A verdict per checkpoint (holds, does not hold, or None where the checkpoint failed) is fitted with one step
from "does not hold" to "holds": the change point that disagrees with the fewest known verdicts. Unlike "the
first checkpoint from which it holds at every later one", an isolated miss after emergence, or a flip at the
last checkpoint, costs the fit one disagreement instead of moving emergence to the end of the run or erasing
it. Several change points can fit equally well (a miss right after the onset); the interval spans them all.
"""

from __future__ import annotations

from statistics import median_low

HOLD_SHARE = 0.8  # from the change point on, the verdict must hold at this share of known checkpoints
RULE = ("a step from not holding to holding, fitted to the verdicts of the checkpoints (the change point with "
        "the fewest disagreeing checkpoints; ties span the interval), provided the verdict holds at "
        f"≥ {HOLD_SHARE:.0%} of the known checkpoints from it on and never emerging does not fit as well; failed "
        "checkpoints are unknown")


def change_point(steps: list[int], flags: list[bool | None]) -> dict | None:
    """{step, previous_step, interval, gaps, exceptions}, or None when the verdict has not emerged.

    interval: [last step without, first step for good] (the first None when it holds from the first known
    checkpoint); gaps: failed checkpoints inside the interval, which would have narrowed it; exceptions:
    steps whose verdict disagrees with the fit (held before the interval, or missed after it)."""
    known = [i for i, flag in enumerate(flags) if flag is not None]
    costs, held_before, missed_after = [], 0, sum(not flags[i] for i in known)
    for i in known + [None]:  # costs[c]: the step at known[c]; costs[-1]: it never happens
        costs.append(held_before + missed_after)
        if i is not None:
            held_before += bool(flags[i])
            missed_after -= not flags[i]
    best = min(costs)
    if costs[-1] == best:
        return None
    ties = [c for c, cost in enumerate(costs[:-1]) if cost == best]
    first, last = ties[0], ties[-1]
    after = [flags[i] for i in known[last:]]
    if sum(after) < HOLD_SHARE * len(after):
        return None
    start = known[first - 1] if first else -1  # index of the last checkpoint without (or before the first)
    end = known[last]
    interval = [steps[start] if first else None, steps[end]]
    return {"step": interval[1], "previous_step": interval[0], "interval": interval,
            "gaps": [steps[i] for i in range(start + 1, end) if flags[i] is None],
            "exceptions": [steps[i] for c, i in enumerate(known)
                           if (c < first and flags[i]) or (c >= last and not flags[i])]}


def spread(found_by_run: dict[str, dict | None]) -> dict:
    """{runs, emerged, never, min, median, max} of one condition's emergence step (the first step for good)
    over runs; the median is the lower middle for an even count, so it is always one run's step."""
    steps = sorted(found["step"] for found in found_by_run.values() if found is not None)
    return {"runs": len(found_by_run), "emerged": len(steps),
            "never": [run for run, found in found_by_run.items() if found is None],
            "min": steps[0] if steps else None, "median": median_low(steps) if steps else None,
            "max": steps[-1] if steps else None}
