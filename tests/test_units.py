"""The seed renderer: on the beat, seamless joins, reproducible, and a pulse-free fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgen import metrics
from musicgen.generate import GenerateOptions, Generator
from musicgen.render.units import analyse_beat, place_units
from musicgen.toymusic import click_and_chords, drifting_pad


@pytest.fixture(scope="module")
def generator(tiny_run: dict[str, Path]) -> Generator:
    return Generator.load(tiny_run["gru"])


def _render(generator: Generator, audio: np.ndarray, seconds: float, random_seed: int,
            use_prior: bool = True):
    sr = generator.sample_rate
    seed = generator.prepare_seed((sr, audio))
    steps = int(np.ceil(seconds * generator.codec.steps_per_second))
    prior = generator.step_prior if use_prior else None
    return seed, place_units(prior, generator.codec, seed, steps,
                             GenerateOptions(context_seconds=2.0),
                             np.random.default_rng(random_seed))


def test_click_seed_keeps_tempo_and_jumps_on_the_beat(generator: Generator) -> None:
    sr = generator.sample_rate
    seed, out = _render(generator, click_and_chords(8, sr, bpm=120), 12, random_seed=1)
    assert out.info["beat_mode"] in ("bar", "beat")
    assert out.info["tempo_bpm"] == pytest.approx(120, rel=0.03)
    new = out.audio[out.join_sample:]
    assert metrics.tempo(new, sr) == pytest.approx(120, rel=0.03)
    assert out.info["jumps"] >= 3
    # every segment keeps the seed's beat grid: its output/source offset is a whole number
    # of beats (of bars in bar mode) away from the seed tail's own offset
    grid = analyse_beat(seed.audio, sr, generator.codec.features.hop_length)
    period = sr * 60.0 / grid.tempo_bpm * (grid.beats_per_bar if grid.mode == "bar" else 1)
    base = out.segments[0][0] - out.segments[0][1]
    for out_start, src_start, _ in out.segments[1:]:
        phase = ((out_start - src_start - base) / period) % 1.0
        assert min(phase, 1.0 - phase) * period < 0.01 * sr  # within 10 ms


def test_joins_are_crossfaded_without_clicks(generator: Generator) -> None:
    sr = generator.sample_rate
    seed, out = _render(generator, click_and_chords(8, sr, bpm=120, seed=2), 10, random_seed=2)
    assert len(out.jumps) >= 3
    excess = metrics.splice_excess_values(out.audio, sr, out.jumps, seed.audio,
                                          out.source_pairs)
    assert np.percentile(excess, 90) <= 1.0, excess
    # a hard cut at the same places would click: the measure can tell
    hard = np.concatenate([seed.audio[s:s + n] for _, s, n in out.segments])
    hard_excess = metrics.splice_excess_values(hard, sr, out.jumps, seed.audio, out.source_pairs)
    assert np.percentile(hard_excess, 90) > np.percentile(excess, 90)
    assert np.all(np.isfinite(out.audio))


def test_same_random_seed_same_audio(generator: Generator) -> None:
    sr = generator.sample_rate
    clip = click_and_chords(8, sr, bpm=120, seed=4)
    _, a = _render(generator, clip, 6, random_seed=5)
    _, b = _render(generator, clip, 6, random_seed=5)
    _, c = _render(generator, clip, 6, random_seed=6)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert not np.array_equal(a.audio, c.audio)


def test_seed_without_pulse_falls_back_and_renders(generator: Generator) -> None:
    sr = generator.sample_rate
    seed, out = _render(generator, drifting_pad(8, sr, seed=1), 6, random_seed=3)
    assert out.info["beat_mode"] == "free"
    steps = int(np.ceil(6 * generator.codec.steps_per_second))
    assert len(out.audio) == out.join_sample + steps * generator.codec.samples_per_step
    assert np.all(np.isfinite(out.audio)) and np.abs(out.audio).max() > 0.01


def test_uniform_prior_renders_from_costs_alone(generator: Generator) -> None:
    """Without a prior the units are chosen by their costs alone (nothing to agree with); the
    renderer still jumps, on the beat, and fills the length asked for."""
    sr = generator.sample_rate
    clip = click_and_chords(8, sr, bpm=120)
    _, uniform = _render(generator, clip, 6, 1, use_prior=False)
    _, steered = _render(generator, clip, 6, 1, use_prior=True)
    assert uniform.info["prior_agreement"] is None
    assert 0.0 <= steered.info["prior_agreement"] <= 1.0
    assert len(uniform.jumps) >= 3 and len(uniform.audio) == len(steered.audio)
    new = uniform.audio[uniform.join_sample:]
    assert np.all(np.isfinite(new)) and np.abs(new).max() > 0.01
