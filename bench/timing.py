"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import resource
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def timed(fn, repeats: int, warmups: int = 1) -> list[float]:
    for _ in range(warmups):
        fn()
    out = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        out.append(time.perf_counter() - tic)
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
