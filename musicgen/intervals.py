"""Whether two generation rows differ by more than their seeds do.

A median over a few dozen 15 s renders moves in steps of one transition in thirty, and from
one set of seeds to another it swung by a quarter (issue 15), so a target such as "jarring at
most 1.15x the true continuation's" can be met or missed by the seeds drawn. Here two rows
rendered on the same seeds are compared as the ratio of their means, with an interval from
resampling the seeds (both rows together: the pairing cancels how hard each seed is).
`evaluate` adds these for every seed-renderer row and the figures its targets divide.
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


def _resampled_seeds(seeds: int, draws: int, random_seed: int) -> np.ndarray:
    """[draws, seeds] seed indices drawn with replacement (one draw serves both rows)."""
    return np.random.default_rng(random_seed).integers(0, seeds, (draws, seeds))


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return round(float(low), 3), round(float(high), 3)


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
    picks = _resampled_seeds(len(a), draws, random_seed)
    bottoms = b[picks].mean(1)
    low, high = _percentiles(a[picks].mean(1) / np.where(bottoms > 0, bottoms, np.nan), level)
    return {"ratio": round(float(a.mean() / b.mean()), 3), "low": low, "high": high,
            "seeds": int(len(a))}


def paired_difference(a: np.ndarray, b: np.ndarray, counts: np.ndarray, level: float = LEVEL,
                      draws: int = DRAWS, random_seed: int = 0) -> dict[str, float] | None:
    """(sum a - sum b) / sum counts: a pooled share's difference, from per-seed sums of credit
    (`a`, `b`) over `counts` judged items per seed, with a percentile-bootstrap interval
    (seeds resampled, the same draw for both); None with fewer than two seeds that count."""
    a, b, counts = (np.asarray(x, float) for x in (a, b, counts))
    keep = counts > 0
    a, b, counts = a[keep], b[keep], counts[keep]
    if len(a) < 2:
        return None
    picks = _resampled_seeds(len(a), draws, random_seed)
    low, high = _percentiles((a[picks].sum(1) - b[picks].sum(1)) / counts[picks].sum(1), level)
    return {"difference": round(float((a.sum() - b.sum()) / counts.sum()), 3), "low": low,
            "high": high, "seeds": int(len(a))}


def format_ratio(pair: dict[str, float] | None) -> str:
    """`paired_ratio`'s result as "1.156 [0.996, 1.333]" ("–" for none)."""
    return "–" if not pair else f"{pair['ratio']:.3f} [{pair['low']:.3f}, {pair['high']:.3f}]"


def format_lead(pair: dict[str, float] | None) -> str:
    """`paired_difference`'s result in signed percentage points, "+5.4 [+1.5, +10.1]"."""
    if not pair:
        return "–"
    return (f"{100 * pair['difference']:+.1f} [{100 * pair['low']:+.1f}, "
            f"{100 * pair['high']:+.1f}]")


# The rows each seed-renderer row is compared with, and the figures compared (the targets'
# ratios, issue 15): figure key -> (its name in tables, the references it is divided by).
REFERENCES = {"uniform": "seed, uniform prior", "true": "true continuation"}
PAIRED_FIGURES = {"jarring_share": ("jarring", ("uniform", "true")),
                  "pulse_ratio": ("pulse", ("uniform",)),
                  "loop_share": ("loops", ("uniform",)),
                  "tempo_kept": ("tempo kept", ("uniform",))}


def add_paired_ratios(report: dict[str, dict[str, Any]],
                      rows: dict[str, list[dict[str, float]]], seeds: int) -> None:
    """Per seed-renderer row, `report[row]["paired"][figure]`: the figure's mean over the
    renders and its ratio to each reference row's (`PAIRED_FIGURES`) with a 90% interval over
    the seeds. The medians alone cannot say whether a ratio near a target differs from it."""
    for key, (_, references) in PAIRED_FIGURES.items():
        means = {name: per_seed_means([r[key] for r in values], seeds)
                 for name, values in rows.items() if values}
        for name, seed_means in means.items():
            if not name.startswith("seed"):
                continue
            finite = np.isfinite(seed_means)
            block: dict[str, Any] = {"mean": round(float(seed_means[finite].mean()), 3)
                                     if finite.any() else math.nan}
            for short in references:
                reference = REFERENCES[short]
                if reference != name and reference in means:
                    block[short] = paired_ratio(seed_means, means[reference])
            report[name].setdefault("paired", {})[key] = block


def paired_lines(generation: dict[str, dict[str, Any]]) -> list[str]:
    """`add_paired_ratios`' figures as a table for the terminal."""
    lines = []
    for name, row in generation.items():
        for key, block in row.get("paired", {}).items():
            label = PAIRED_FIGURES[key][0]
            lines.append(f"{name:24s}{label:>11s}{block['mean']:>8.3f}" + "".join(
                f"{format_ratio(block.get(short)):>26s}" for short in REFERENCES))
    if lines:
        lines.insert(0, f"{'paired (means)':24s}{'figure':>11s}{'mean':>8s}" + "".join(
            f"{'÷ ' + short + ' [90%]':>26s}" for short in REFERENCES))
        lines.append("paired: mean over every render, ÷ another row's mean on the same seeds "
                     "[90% interval from resampling the seeds]")
    return lines
