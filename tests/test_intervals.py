"""Paired intervals over seeds: the mean ratio of two rows rendered on the same seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musicgen.intervals import (
    add_jarring_intervals,
    jarring_interval_lines,
    paired_ratio,
    per_seed_means,
)


def test_per_seed_means_group_each_seeds_renders() -> None:
    means = per_seed_means([0.1, 0.3, math.nan, math.nan, 0.2, math.nan], seeds=3)
    assert means[0] == pytest.approx(0.2) and math.isnan(means[1])
    assert means[2] == pytest.approx(0.2)  # an undefined render leaves the others' mean
    with pytest.raises(ValueError, match="5 values do not split into 2 seeds"):
        per_seed_means([0.1] * 5, seeds=2)


def test_pairing_cancels_how_hard_each_seed_is() -> None:
    """Seeds differ fourfold in difficulty, the row 1.3x the other on each: the paired
    interval is tight around 1.3; resampling the rows apart would span most of 0.9-1.8."""
    rng = np.random.default_rng(5)
    hard = rng.uniform(0.05, 0.4, 20)
    a = 1.3 * hard * rng.uniform(0.95, 1.05, 20)
    pair = paired_ratio(a, hard)
    assert pair is not None and pair["seeds"] == 20
    assert pair["low"] < pair["ratio"] < pair["high"]
    assert 1.25 < pair["ratio"] < 1.35 and pair["low"] > 1.2 and pair["high"] < 1.4
    unpaired = a[rng.integers(0, 20, (2000, 20))].mean(1) / \
        hard[rng.integers(0, 20, (2000, 20))].mean(1)
    assert np.percentile(unpaired, 95) - np.percentile(unpaired, 5) > 3 * (
        pair["high"] - pair["low"])


def test_same_rows_and_too_little_data() -> None:
    same = paired_ratio(np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2, 0.3]))
    assert same == {"ratio": 1.0, "low": 1.0, "high": 1.0, "seeds": 3}
    assert paired_ratio(np.array([0.1, math.nan]), np.array([0.1, 0.2])) is None
    assert paired_ratio(np.array([0.1, 0.2]), np.zeros(2)) is None
    # seeds either row leaves undefined are left out of both
    pair = paired_ratio(np.array([0.2, math.nan, 0.4]), np.array([0.1, 0.3, 0.2]))
    assert pair is not None and pair["seeds"] == 2 and pair["ratio"] == pytest.approx(2.0)


def test_every_seed_renderer_row_is_compared_with_uniform_and_truth() -> None:
    def shares(values: list[float]) -> list[dict[str, float]]:
        return [{"jarring_share": v, "loop_share": 0.0} for v in values]
    rows = {"synth": shares([0.5, 0.5, 0.5, 0.5]),  # two seeds x two renders
            "seed": shares([0.2, 0.4, 0.1, 0.1]),
            "seed, uniform prior": shares([0.2, 0.2, 0.2, 0.2]),
            "true continuation": shares([0.1, 0.2])}  # once per seed
    report: dict[str, dict] = {name: {} for name in rows}
    add_jarring_intervals(report, rows, seeds=2)
    assert report["seed"]["jarring_mean"] == pytest.approx(0.2)
    assert report["seed"]["jarring_vs_uniform"]["ratio"] == pytest.approx(1.0)
    assert report["seed"]["jarring_vs_true"]["ratio"] == pytest.approx(0.2 / 0.15, abs=1e-3)
    assert report["seed, uniform prior"]["jarring_vs_true"]["ratio"] == pytest.approx(
        0.2 / 0.15, abs=1e-3)
    assert "jarring_vs_uniform" not in report["seed, uniform prior"]
    assert report["synth"] == {} and report["true continuation"] == {}
    lines = jarring_interval_lines(report)
    assert lines[0].startswith("seed ") and "÷ uniform 1.000 [0.500, 1.500]" in lines[0]
    assert "÷ true 1.333" in lines[0] and len(lines) == 3  # seed, uniform, the legend
