"""Paired intervals over seeds: the mean ratio of two rows rendered on the same seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musicgen.intervals import (
    add_paired_ratios,
    paired_difference,
    paired_lines,
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
    def figures(jarring: list[float], pulse: float = 1.0) -> list[dict[str, float]]:
        return [{"jarring_share": v, "pulse_ratio": pulse, "loop_share": 0.1,
                 "tempo_kept": math.nan} for v in jarring]
    rows = {"synth": figures([0.5, 0.5, 0.5, 0.5]),  # two seeds x two renders
            "seed": figures([0.2, 0.4, 0.1, 0.1], pulse=0.9),
            "seed, uniform prior": figures([0.2, 0.2, 0.2, 0.2]),
            "true continuation": figures([0.1, 0.2])}  # once per seed
    report: dict[str, dict] = {name: {} for name in rows}
    add_paired_ratios(report, rows, seeds=2)
    jarring = report["seed"]["paired"]["jarring_share"]
    assert jarring["mean"] == pytest.approx(0.2)
    assert jarring["uniform"]["ratio"] == pytest.approx(1.0)
    assert jarring["true"]["ratio"] == pytest.approx(0.2 / 0.15, abs=1e-3)
    assert report["seed"]["paired"]["pulse_ratio"]["uniform"]["ratio"] == pytest.approx(0.9)
    assert "true" not in report["seed"]["paired"]["pulse_ratio"]  # only what targets divide
    assert report["seed"]["paired"]["tempo_kept"]["uniform"] is None  # no clear beat
    uniform = report["seed, uniform prior"]["paired"]["jarring_share"]
    assert uniform["true"]["ratio"] == pytest.approx(0.2 / 0.15, abs=1e-3)
    assert "uniform" not in uniform
    assert report["synth"] == {} and report["true continuation"] == {}
    lines = paired_lines(report)
    assert lines[1].startswith("seed ") and "jarring" in lines[1]
    assert "1.000 [0.500, 1.500]" in lines[1] and "1.333 [0.500, 3.000]" in lines[1]
    assert len(lines) == 2 + 4 + 4  # header, the two rows' four figures, the legend


def test_a_pooled_share_difference_weighs_seeds_by_their_count() -> None:
    """Credits summed per seed: 8 of 10 against 5 of 10, then 0 of 2 against 2 of 2, is
    (8 - 7) / 12 pooled (an average of the seeds' own differences would say -0.35)."""
    pair = paired_difference(np.array([8.0, 0.0]), np.array([5.0, 2.0]), np.array([10, 2]))
    assert pair is not None and pair["difference"] == pytest.approx(1 / 12, abs=1e-3)
    assert pair["low"] <= pair["difference"] <= pair["high"] and pair["seeds"] == 2
    # a lead on every seed gives an interval above zero; seeds with nothing judged drop out
    rng = np.random.default_rng(2)
    counts = rng.integers(5, 15, 20).astype(float)
    costs = np.round(0.5 * counts)
    model = costs + np.round(0.1 * counts) + 1
    lead = paired_difference(np.append(model, 0), np.append(costs, 0), np.append(counts, 0))
    assert lead is not None and lead["seeds"] == 20 and lead["low"] > 0
    assert paired_difference(np.array([1.0]), np.array([0.0]), np.array([3])) is None
