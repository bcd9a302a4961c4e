"""The beat-change join cost: a jump should not land on a beat unlike the one just played."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgen.generate import GenerateOptions, Generator
from musicgen.render.beat_change import BeatChange
from musicgen.render.beat_grid import analyse_beat
from musicgen.render.units import UnitCosts, place_units
from musicgen.seed import Seed
from musicgen.toymusic import two_chords


@pytest.fixture(scope="module")
def generator(tiny_run: dict[str, Path]) -> Generator:
    return Generator.load(tiny_run["gru"])


def _beat_change(generator: Generator, seed: Seed, beat: int) -> BeatChange:
    codec = generator.codec
    return BeatChange(seed.audio, seed.log_mel, len(seed.codes), codec.samples_per_step,
                      codec.config.frames_per_step, generator.sample_rate, beat)


def test_the_same_chord_costs_less_than_another(generator: Generator) -> None:
    """From a beat of C major, another beat of C major costs nothing (the seed changes like
    that all the time) and a beat of F# major costs (the seed changes chord only at bars)."""
    sr = generator.sample_rate
    hop = generator.codec.samples_per_step
    seed = generator.prepare_seed((sr, two_chords(8, sr)))
    beat_units = 0.5 * sr / hop
    change = _beat_change(generator, seed, round(beat_units))
    assert all(np.isfinite(change.limits)) and min(change.limits) > 0

    def beat(k: int) -> int:  # the first whole unit of beat k (the seed starts on a beat)
        return int(np.ceil(k * beat_units + 0.3))

    played = np.arange(beat(1), beat(2) - 1)  # bar 0: C major
    same_chord, other_chord = change.cost(played, np.array([beat(2), beat(5)]))
    assert same_chord == 0.0 and other_chord > 0.3, (same_chord, other_chord)
    # each half sees the change on its own (a huge limit switches the other half off)
    chroma_limit, mel_limit = change.limits
    for limits in ((chroma_limit, 1e9), (1e9, mel_limit)):
        change.limits = limits
        same_chord, other_chord = change.cost(played, np.array([beat(2), beat(5)]))
        assert same_chord == 0.0 and other_chord > 0.1, (limits, same_chord, other_chord)
    # the chroma names the chords: C E G, then F# A# C#
    top = np.argsort(change.features[:, :12], axis=1)[:, -3:]
    assert set(top[beat(1) + 1]) == {0, 4, 7} and set(top[beat(5) + 1]) == {6, 10, 1}
    assert np.all(change.cost(played[:0], np.array([beat(2)])) == 0)  # nothing played yet


def _join_costs(change: BeatChange, segments: list[tuple[int, int, int]], hop: int
                ) -> list[float]:
    """The beat change at each join of a render: the last beat the output played before it
    (the end of the outgoing piece) against the beat the incoming piece starts."""
    costs = []
    for (_, src_a, len_a), (_, src_b, _) in zip(segments, segments[1:], strict=False):
        end = int(round((src_a + len_a) / hop))
        played = np.arange(max(end - change.beat, 0), end)
        costs.append(float(change.cost(played, np.array([int(round(src_b / hop))]))[0]))
    return costs


@pytest.mark.parametrize("use_prior", [False, True])
def test_jumps_land_where_the_beat_changes_least(generator: Generator, use_prior: bool) -> None:
    """With the cost on, the beats either side of the joins differ less than with it off,
    while how often the output jumps stays the costs' decision (the same within 25%: charged
    on every jump, the cost halved the jumps)."""
    sr = generator.sample_rate
    codec = generator.codec
    seed = generator.prepare_seed((sr, two_chords(8, sr)))
    grid = analyse_beat(seed.audio, sr, codec.features.hop_length)
    assert grid.mode in ("bar", "beat")
    steps = int(np.ceil(12 * codec.steps_per_second))
    change = _beat_change(generator, seed, round(grid.period * codec.steps_per_second))
    prior = generator.step_prior if use_prior else None
    measured: dict[float, tuple[list[float], int]] = {}
    for weight in (0.0, 30.0):
        join_costs, jumps = [], 0
        for random_seed in range(6):
            out = place_units(prior, codec, seed, steps, GenerateOptions(context_seconds=2.0),
                              np.random.default_rng(random_seed), grid=grid,
                              costs=UnitCosts(beat_change=weight))
            join_costs += _join_costs(change, out.segments, codec.samples_per_step)
            jumps += len(out.jumps)
        measured[weight] = (join_costs, jumps)
    (off, jumps_off), (on, jumps_on) = measured[0.0], measured[30.0]
    assert np.mean(on) < 0.7 * np.mean(off), (np.mean(on), np.mean(off))
    assert abs(jumps_on - jumps_off) <= 0.25 * jumps_off, (jumps_on, jumps_off)
