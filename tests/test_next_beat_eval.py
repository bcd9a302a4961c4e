"""The next-beat test: which of the seed's beats does the true continuation sound like next?"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from musicgen.card import NEXT_BEAT_COLUMNS
from musicgen.generate import Generator
from musicgen.next_beat_eval import CHOOSERS, OVER_COSTS, clip_choices, next_beat_report
from musicgen.render.steering import Steering
from musicgen.toymusic import click_and_chords


@pytest.fixture(scope="module")
def generator(tiny_run: dict[str, Path]) -> Generator:
    return Generator.load(tiny_run["gru"])


@pytest.fixture(scope="module")
def latest(generator: Generator, place_chooser) -> Generator:
    """The same prior with a beat chooser that always takes the seed's latest candidate."""
    return Generator(dataclasses.replace(generator.bundle, chooser=place_chooser(1.0)))


@pytest.fixture(scope="module")
def song(generator: Generator) -> tuple[np.ndarray, np.ndarray]:
    """16 s of a four-bar chord cycle with a different melody note on each beat of the bar:
    the seed is one cycle, the true continuation the next, so the right answer is always the
    seed's beat at the same place in the cycle."""
    sr = generator.sample_rate
    audio = click_and_chords(16.0, sr)
    return audio[: 8 * sr], audio[8 * sr:]


def test_the_answer_is_found_by_the_audio_and_not_by_chance(
        generator: Generator, song: tuple[np.ndarray, np.ndarray]) -> None:
    """Within a bar the chord carries on, so the costs (a beat like the one just played) find
    the answer at most beats; at the bar lines the chord changes and they cannot. The seed's
    latest candidate is the answer exactly where it is the same beat of the same cycle: the
    first three beats of the continuation's last bar (the seed's last bar), and the last beat
    of the bar before it (the seed's very last beat leaves no room for a run after a jump, so
    there the latest candidate is a bar earlier). A check of the answer, of the renderer's
    room rule and of the beat alignment, which whole units of a beat would lose within a few
    bars."""
    seed, truth = song
    credit = clip_choices(generator, seed, truth)
    beats = len(credit["chance"])
    assert beats == 16, beats
    assert set(credit) == set(CHOOSERS)
    for name, values in credit.items():  # a checkpoint without a beat chooser: none of its
        assert len(values) == (0 if name.startswith("chooser") else beats), name
    assert NEXT_BEAT_COLUMNS == CHOOSERS  # the card's columns, in this order
    assert credit["latest in seed"] == [float(k in (11, 12, 13, 14)) for k in range(16)], \
        credit["latest in seed"]
    chance = float(np.mean(credit["chance"]))
    assert 0.25 <= chance <= 0.34, chance  # three or four candidates a beat
    costs = float(np.mean(credit["costs"]))
    assert costs > 2 * chance and costs > 0.25, (costs, chance)


def test_the_same_music_at_another_level_is_judged_alike(
        generator: Generator, song: tuple[np.ndarray, np.ndarray]) -> None:
    """Seed and continuation share one loudness normalisation: at a tenth of the level every
    answer and choice is the same (had the continuation kept its own level beside the
    normalised seed, its beats would be compared with seed beats at another gain)."""
    seed, truth = song
    assert clip_choices(generator, 0.1 * seed, 0.1 * truth) == clip_choices(
        generator, seed, truth)


def test_the_prior_chooser_reads_the_model(generator: Generator,
                                           song: tuple[np.ndarray, np.ndarray]) -> None:
    """With every model weight at 0 the prior ranks nothing, so it is exactly chance; with the
    trained weights it ranks (its credit differs from chance somewhere)."""
    seed, truth = song
    silent = Steering(prior_weight=0.0, context_weight=0.0)
    flat = clip_choices(generator, seed, truth, silent)
    assert flat["prior"] == flat["chance"]
    trained = clip_choices(generator, seed, truth)
    assert trained["prior"] != trained["chance"]


def test_the_chooser_column_reads_the_checkpoints_chooser(
        latest: Generator, song: tuple[np.ndarray, np.ndarray]) -> None:
    """A chooser that takes the latest candidate scores exactly as "latest in seed"; with the
    costs added its choice is still its own (its weight dwarfs the costs)."""
    seed, truth = song
    credit = clip_choices(latest, seed, truth)
    assert credit["chooser"] == credit["latest in seed"]
    assert credit["chooser + costs"] == credit["latest in seed"]
    assert credit["chooser"] != credit["costs"]


def test_the_report_pools_the_beats_of_every_clip(latest: Generator,
                                                  song: tuple[np.ndarray, np.ndarray]) -> None:
    seed, truth = song
    clip = SimpleNamespace(seed=seed, truth=truth)
    one = clip_choices(latest, seed, truth)
    report = next_beat_report({"prior-gru": latest}, [clip, clip])["prior-gru"]
    assert report["beats"] == 2 * len(one["chance"])
    for chooser in CHOOSERS:
        assert report[chooser] == round(float(np.mean(one[chooser])), 3)
    # each model term's lead over the costs; two copies of one clip leave no spread
    assert set(report["over_costs"]) == set(OVER_COSTS)
    lead = report["over_costs"]["chooser"]
    assert lead["difference"] == pytest.approx(np.mean(one["chooser"]) - np.mean(one["costs"]),
                                               abs=1e-3)
    assert lead["low"] == lead["high"] == lead["difference"] and lead["seeds"] == 2


def test_a_seed_without_a_pulse_is_not_judged(generator: Generator) -> None:
    """Free-pulse seeds jump anywhere, so there is no 'same place in the bar' to ask about."""
    from musicgen.toymusic import drifting_pad

    sr = generator.sample_rate
    pad = drifting_pad(16.0, sr)
    credit = clip_choices(generator, pad[: 8 * sr], pad[8 * sr:])
    assert all(len(v) == 0 for v in credit.values())
