"""One summary of a latency series for every report: percentiles plus min / max / mean, rounded."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

Summary = dict[str, float | None]


def percentiles(
    values: Iterable[float],
    qs: tuple[int, ...] = (50, 90, 99),
    *,
    digits: int = 3,
    mean: bool = True,
    low: bool = False,
    high: bool = False,
) -> Summary:
    """{"min"?, "p<q>"..., "max"?, "mean"?} of `values` rounded to `digits`; every field None when empty.

    `low` / `high` add the minimum (on a shared machine the run least disturbed by other processes) and the
    maximum; numpy's default (linear) percentile method throughout.
    """
    arr = np.asarray(list(values), float)
    keys = [*(["min"] if low else []), *(f"p{q}" for q in qs), *(["max"] if high else []), *(["mean"] if mean else [])]
    if not arr.size:
        return dict.fromkeys(keys)
    reductions = {"min": arr.min, "max": arr.max, "mean": arr.mean}
    out: Summary = {}
    for key in keys:
        value = reductions[key]() if key in reductions else np.percentile(arr, int(key[1:]))
        out[key] = round(float(value), digits)
    return out
