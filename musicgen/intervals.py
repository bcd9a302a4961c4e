"""Whether two generation rows differ by more than their seeds do.

A median over a few dozen 15 s renders moves in steps of one transition in thirty, and from
one set of seeds to another it swung by a quarter (issue 15), so a target such as "jarring at
most 1.15x the true continuation's" can be met or missed by the seeds drawn. Here two rows
rendered on the same seeds are compared as the ratio of their means, with an interval from
resampling the seeds (both rows together: the pairing cancels how hard each seed is).
`evaluate` adds these for the jarring share of every seed-renderer row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

LEVEL = 0.9  # the interval's coverage
DRAWS = 2000  # bootstrap resamples


def per_seed_means(values: Sequence[float], seeds: int) -> np.ndarray:
    """Mean per seed of `values` ordered seed by seed (each seed's renders together); a seed
    whose renders are all undefined is nan."""
    array = np.asarray(values, float)
    if seeds < 1 or len(array) % seeds:
        raise ValueError(f"{len(array)} values do not split into {seeds} seeds")
    grouped = array.reshape(seeds, -1)
    finite = np.isfinite(grouped)
    counts = finite.sum(1)
    sums = np.where(finite, grouped, 0.0).sum(1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def paired_ratio(a: np.ndarray, b: np.ndarray, level: float = LEVEL, draws: int = DRAWS,
                 random_seed: int = 0) -> dict[str, float] | None:
    """mean(a) / mean(b) over the seeds both define, with a percentile-bootstrap interval
    (seeds resampled with replacement, the same draw for both); None with fewer than two such
    seeds or a zero mean for `b`."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 2 or b.mean() <= 0:
        return None
    rng = np.random.default_rng(random_seed)
    picks = rng.integers(0, len(a), (draws, len(a)))
    bottoms = b[picks].mean(1)
    ratios = a[picks].mean(1) / np.where(bottoms > 0, bottoms, np.nan)
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(ratios, [tail, 100 - tail])
    return {"ratio": round(float(a.mean() / b.mean()), 3), "low": round(float(low), 3),
            "high": round(float(high), 3), "seeds": int(len(a))}


# rows each seed-renderer row's mean jarring is compared with, on the same seeds
JARRING_REFERENCES = {"uniform": "seed, uniform prior", "true": "true continuation"}


def add_jarring_intervals(report: dict[str, dict[str, Any]],
                          rows: dict[str, list[dict[str, float]]], seeds: int) -> None:
    """Per seed-renderer row: its mean jarring share and, as `jarring_vs_<reference>`, the
    ratio to each reference row's mean with a 90% interval over the seeds (`intervals`): the
    medians alone cannot say whether a ratio near a target differs from it."""
    means = {name: per_seed_means([r["jarring_share"] for r in values], seeds)
             for name, values in rows.items() if len(values)}
    for name, seed_means in means.items():
        if not name.startswith("seed"):
            continue
        report[name]["jarring_mean"] = round(float(np.nanmean(seed_means)), 3) \
            if np.isfinite(seed_means).any() else math.nan
        for short, reference in JARRING_REFERENCES.items():
            if reference != name and reference in means:
                report[name][f"jarring_vs_{short}"] = paired_ratio(seed_means, means[reference])


def jarring_interval_lines(generation: dict[str, dict[str, Any]]) -> list[str]:
    """The mean jarring share of each seed-renderer row and its ratios with intervals."""
    lines = []
    for name, row in generation.items():
        if "jarring_mean" not in row:
            continue
        cells = [f"{name:24s}mean {row['jarring_mean']:.3f}"]
        for short in JARRING_REFERENCES:
            pair = row.get(f"jarring_vs_{short}")
            if pair:
                cells.append(f"÷ {short} {pair['ratio']:.3f} [{pair['low']:.3f}, "
                             f"{pair['high']:.3f}]")
        lines.append("   ".join(cells))
    if lines:
        lines.append("jarring: mean share over every render, ÷ another row's mean on the same "
                     "seeds, [90% interval from resampling the seeds]")
    return lines
