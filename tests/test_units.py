"""The seed renderer: on the beat, seamless joins, reproducible, and a pulse-free fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgen import metrics
from musicgen.generate import GenerateOptions, Generator
from musicgen.mixing import overlap_add
from musicgen.render.beat_grid import analyse_beat
from musicgen.render.units import UnitCosts, place_units
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


def test_runs_last_at_least_to_the_next_beat(generator: Generator) -> None:
    """Near the seed's end the renderer plays on to the beat before it must jump: a forced
    jump off the beat left shreds of one or two 93 ms steps between two joins."""
    sr = generator.sample_rate
    seed = generator.prepare_seed((sr, click_and_chords(8, sr, bpm=120, seed=3)))
    steps = int(np.ceil(10 * generator.codec.steps_per_second))
    costs = UnitCosts(max_run_seconds=0.75)  # the run limit falls between two beats
    for random_seed in range(3):
        for prior in (generator.step_prior, None):
            out = place_units(prior, generator.codec, seed, steps,
                              GenerateOptions(context_seconds=2.0),
                              np.random.default_rng(random_seed), costs=costs)
            assert out.info["beat_mode"] in ("bar", "beat")
            lengths = [length for _, _, length in out.segments[1:-1]]
            assert min(lengths) >= 0.4 * sr * 60.0 / out.info["tempo_bpm"], lengths
            # playing on to the beat never reads past the seed's end
            assert all(src + length <= len(seed.audio) for _, src, length in out.segments)


def test_joins_are_crossfaded_without_clicks(generator: Generator) -> None:
    """Seam p90 <= 1 dB, as the median over 8 random seeds: one 10 s render of this clip has
    only ~11 joins, so its p90 is about its second-worst join and moves by +-0.2 dB with the
    choices (1.31 dB at one seed of the first scoring too); a click is tens of dB."""
    sr = generator.sample_rate
    seed = generator.prepare_seed((sr, click_and_chords(8, sr, bpm=120, seed=2)))
    grid = analyse_beat(seed.audio, sr, generator.codec.features.hop_length)
    steps = int(np.ceil(10 * generator.codec.steps_per_second))
    p90, hard_p90 = [], []
    for random_seed in range(8):
        out = place_units(generator.step_prior, generator.codec, seed, steps,
                          GenerateOptions(context_seconds=2.0),
                          np.random.default_rng(random_seed), grid=grid)
        assert len(out.jumps) >= 3
        assert np.all(np.isfinite(out.audio))
        excess = metrics.splice_excess_values(out.audio, sr, out.jumps, seed.audio,
                                              out.source_pairs)
        p90.append(np.percentile(excess, 90))
        # a hard cut at the same places would click: the measure can tell
        hard = np.concatenate([seed.audio[s:s + n] for _, s, n in out.segments])
        hard_p90.append(np.percentile(metrics.splice_excess_values(
            hard, sr, out.jumps, seed.audio, out.source_pairs), 90))
    assert np.median(p90) <= 1.0, np.round(p90, 2)
    assert np.median(hard_p90) > np.median(p90) + 3.0, (hard_p90, p90)


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
    # Every landing leaves room for a run of free_min_run_seconds: landing next to the end
    # forced a jump at every step (a stutter of one unit back and forth).
    for random_seed in range(4):
        for use_prior in (True, False):
            out_seed, out = _render(generator, drifting_pad(8, sr, seed=1), 6, random_seed,
                                    use_prior)
            runs = np.diff(np.asarray(out.jumps)) / sr
            assert all(src + length <= len(out_seed.audio) for _, src, length in out.segments)
            assert len(runs) and runs.min() >= UnitCosts().free_min_run_seconds - 0.1


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


@pytest.mark.parametrize("render", ["seed", "synth"])
@pytest.mark.parametrize("context", [0.0, 0.005])
def test_context_from_zero_gives_new_audio(generator: Generator, render: str,
                                           context: float) -> None:
    """context_seconds=0: only new audio, in both renderers (the seed one used to crash)."""
    sr = generator.sample_rate
    seed_audio = click_and_chords(6, sr, bpm=120, seed=4)
    result = generator.generate((sr, seed_audio), GenerateOptions(
        seconds=3, render=render, random_seed=5, context_seconds=context))
    steps = int(np.ceil(3 * generator.codec.steps_per_second))
    tail = int(round(context * sr)) if render == "seed" else int(context * sr)
    assert len(result.audio) == tail + steps * generator.codec.samples_per_step
    assert result.join_seconds == pytest.approx(tail / sr)
    assert np.all(np.isfinite(result.audio))
    assert np.abs(result.audio[: sr // 2]).max() > 0.01  # sound from the start


def test_overlap_add_reads_stay_inside_the_source() -> None:
    """A jump to sample 0 with alignment allowed to slide earlier (free beat mode, uniform
    prior) used to read before the source and crash; pieces are placed exactly."""
    rng = np.random.default_rng(0)
    source = rng.standard_normal(4000).astype(np.float32)
    source[:200] = 0.0  # a seed that starts silent: every alignment scores 0, the first wins
    fade, shift = 40, 30
    segments = [(0, 3000, 500), (500, 0, 600), (1100, 3380, 620)]  # the last ends at the end
    out = overlap_add(source, segments, 1720, fade, max_shift=shift)
    assert out.shape == (1720,) and np.all(np.isfinite(out))
    # away from the joins every sample is the source's own
    np.testing.assert_array_equal(out[:480], source[3000:3480])
    np.testing.assert_array_equal(out[520:1080], source[20:580])  # no shift into nothing
    # and a zero-length or very short first segment joins too
    for first in (0, 1, 10):
        segs = [(0, 4000 - first, first), (first, 100, 700)] if first else [(0, 100, 700)]
        out = overlap_add(source, segs, first + 700, fade, max_shift=shift)
        assert np.all(np.isfinite(out)) and np.abs(out[first + 100:first + 600]).max() > 0.5
