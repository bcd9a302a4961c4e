"""Decisions along a true continuation, where the answer is known.

Follow what the music really played after a seed, beat by beat: after each beat, which of the
seed's beats at the same place in the bar (in the beat, when the seed has no clear bar; with
the renderer's room after a target) sounds most like the beat the music played next? "Sounds
most like" is the beat change's distance (`render.beat_change`). The next-beat evaluation asks
each chooser this on held-out seeds; the beat chooser is trained on it over training tracks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from musicgen.chooser.features import LAGS, decision_features
from musicgen.generate import Generator
from musicgen.render.beat_change import BeatChange
from musicgen.render.beat_grid import analyse_beat
from musicgen.render.units import UnitCosts, join_mismatch, room_after_jump
from musicgen.seed import Seed

MIN_CANDIDATES = 3  # with two, a coin guesses half of them


@dataclass
class TrueStep:
    """One judged beat: the seed units a jump could land on, and which sound like the truth."""

    now: int  # the unit (of the seed + continuation) where the next beat starts
    candidates: np.ndarray  # seed units
    answers: np.ndarray  # indices into candidates: the nearest to the true next beat
    mismatch_db: np.ndarray  # the join's log-mel mismatch per candidate
    cost: np.ndarray  # the transition's join costs (mismatch + beat change)


@dataclass
class TrueWalk:
    """A seed, its true continuation and the judged beats along it."""

    seed: Seed  # the seed alone, as the renderer has it
    whole: Seed  # seed and continuation prepared together
    change: BeatChange  # over `whole`, the limits the seed's own
    beat_steps: float
    steps: list[TrueStep] = field(default_factory=list)


def first_choice_share(score: np.ndarray, answers: np.ndarray) -> float:
    """How right a chooser's first choice is at one decision: the share of the k best-scored
    candidates (ties: a draw among them) that are answers (indices into the candidates); a
    score that is not a number counts as the worst."""
    score = np.where(np.isnan(score), -np.inf, score)
    top = np.flatnonzero(score >= score.max() - 1e-9) if np.isfinite(score.max()) else \
        np.arange(len(score))
    return float(np.isin(top, answers).sum()) / len(top)


def walk_true_continuation(generator: Generator, seed_audio: np.ndarray, truth: np.ndarray,
                           costs: UnitCosts | None = None, beats: int = 16) -> TrueWalk | None:
    """The first `beats` judged beats after the seed; None when the seed has no usable pulse
    (its jumps land anywhere) or no measurable change."""
    costs = costs or UnitCosts()
    codec, sr = generator.codec, generator.sample_rate
    hop, fps = codec.samples_per_step, codec.config.frames_per_step
    seed = generator.prepare_seed((sr, seed_audio))
    grid = analyse_beat(seed.audio, sr, codec.features.hop_length)
    beat_steps = grid.period * codec.steps_per_second
    beat = int(round(beat_steps))  # the renderer's beat in units (`_UnitSampler`)
    if grid.mode == "free" or len(grid.beats) < 2 or beat < 2:
        return None
    n_seed = len(seed.codes)
    # Seed and continuation prepared together, so that both have one loudness (each prepared
    # alone is normalised to its own) and, with whole steps of continuation after the
    # prepared seed's samples, the units and the grid stay where the seed's were.
    spacing = grid.spacing
    steps = min(len(truth), int((beats + 2) * spacing)) // hop
    together = np.concatenate([np.asarray(seed_audio, np.float32)[
        len(seed_audio) - len(seed.audio):], truth[: steps * hop]])
    whole = generator.prepare_seed((sr, together), max_seconds=len(together) / sr + 1.0)
    if len(whole.audio) != len(seed.audio) + steps * hop:
        raise ValueError("the seed and continuation did not stay on the seed's steps")
    n = len(whole.codes)
    # features of seed and continuation alike; the limits are the seed's own
    change = BeatChange(whole.audio, whole.log_mel, n, hop, fps, sr, beat,
                        costs.beat_change_knee, limit_units=n_seed)
    if not np.isfinite(change.limits[0]):
        return None
    walk = TrueWalk(seed, whole, change, beat_steps)
    room = len(seed.audio) - room_after_jump(grid, sr, hop)
    first = grid.index_at(len(seed.audio), tolerance=1e-3)  # extrapolated as the renderer does
    for index in range(first, first + beats):
        now = int(round((grid.beats[0] + index * spacing) / hop))
        if now + beat > n:
            break
        phase = [k for k in range(len(grid.beats))
                 if grid.same_phase(k, index) and 0 <= grid.beats[k] <= room]
        candidates = np.round(grid.beats[phase] / hop).astype(np.int64)
        if len(candidates) < MIN_CANDIDATES:
            continue
        like_truth = change.ratio_to_beat(candidates, now)
        if np.ptp(like_truth) == 0:
            continue
        mismatch = join_mismatch(whole.log_mel, candidates * hop, now * hop, hop // fps)
        cost = (costs.mismatch_per_db * mismatch
                + costs.beat_change * change.cost(np.arange(now - beat, now), candidates))
        walk.steps.append(TrueStep(now, candidates,
                                   np.flatnonzero(like_truth <= like_truth.min() + 1e-9),
                                   mismatch, cost))
    return walk


def walk_features(walk: TrueWalk, lags: int = LAGS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per judged beat, the chooser's (sequence, scalars): what was heard is the seed and the
    true continuation up to the beat."""
    n_seed = len(walk.seed.codes)
    return [decision_features(walk.change, np.arange(step.now), step.candidates,
                              step.mismatch_db, n_seed, lags) for step in walk.steps]
