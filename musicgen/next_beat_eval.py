"""Does the prior know where music goes next? A teacher-forced test on held-out seeds.

The seed renderer's jumps choose which of the seed's beats plays next. The generation table
judges the result (jarring, loops, pulse); this asks the choice itself, where the answer is
known: follow the true continuation beat by beat and, after each beat of it (the prior fed
the seed and the true continuation so far, as it would have been fed had the renderer played
them), ask which of the seed's beats at the same place in the bar (in the beat, when the seed
has no clear bar) sounds most like the beat the music actually played next. "Sounds most
like" is the beat change's distance (`render.beat_change`: beat-mean chroma and log-mel, each
against the seed's own 95th percentile of beat-to-beat change, the larger ratio).

Each chooser ranks the same candidates; a tie shares the credit. The share of beats where
its top choice is that answer is reported beside chance (one over the number of candidates):

- prior: the steering's model term among jumps (`Steering`: lookahead E and context; no
  replay, since no output has been played);
- costs: the renderer's hand-set costs of a jump (mismatch across the join and the beat
  change, `UnitCosts`), what the no-prior ablation chooses by;
- prior + costs: the renderer's score for a jump (model term - costs);
- latest in seed: the candidate latest in the seed (the bar the seed ended on: music
  repeats by the bar).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from musicgen.generate import Generator
from musicgen.render.beat_change import BeatChange
from musicgen.render.beat_grid import analyse_beat
from musicgen.render.steering import Lookahead, Steering
from musicgen.render.units import UnitCosts

CHOOSERS = ("chance", "prior", "costs", "prior + costs", "latest in seed")
MIN_CANDIDATES = 3  # with two, a coin guesses half of them


def _top_share(score: np.ndarray, answer: int) -> float:
    """1/k when the answer is among the k best-scored candidates, else 0."""
    top = np.flatnonzero(score >= score.max() - 1e-9)
    return float(answer in top) / len(top)


def clip_choices(generator: Generator, seed_audio: np.ndarray, truth: np.ndarray,
                 steering: Steering | None = None, costs: UnitCosts | None = None,
                 beats: int = 16) -> dict[str, list[float]]:
    """Per chooser, one credit per judged beat of the first `beats` of the continuation
    (none when the seed has no usable pulse: its jumps land anywhere)."""
    steering, costs = steering or Steering(), costs or UnitCosts()
    codec, sr = generator.codec, generator.sample_rate
    hop, fps = codec.samples_per_step, codec.config.frames_per_step
    seed = generator.prepare_seed((sr, seed_audio))
    grid = analyse_beat(seed.audio, sr, codec.features.hop_length)
    out: dict[str, list[float]] = {name: [] for name in CHOOSERS}
    if grid.mode == "free" or len(grid.beats) < 2:
        return out
    # the grid's own beat positions, extrapolated past the seed's end as the renderer does
    # (whole units of a beat would drift off the beat within a few bars)
    spacing = (grid.beats[-1] - grid.beats[0]) / (len(grid.beats) - 1)
    beat = int(round(spacing / hop))
    if beat < 2:
        return out
    n_seed = len(seed.codes)
    # seed and continuation prepared together, so that both have one loudness (each prepared
    # alone is normalised to its own) and, with whole steps of continuation after the
    # prepared seed's samples, the units and the grid stay where the seed's were
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
        return out
    seed_units = np.round(grid.beats / hop).astype(np.int64)
    horizon = int(np.clip(beat, steering.min_horizon, steering.max_horizon))
    lookahead = Lookahead(generator.step_prior, whole.codes[:n_seed], steering, horizon)
    never = np.full(n, -np.inf)  # nothing replayed: the output is the true continuation
    frame = np.arange(n) * fps - 1  # the log-mel frame just before each unit
    played = n_seed
    first = int(np.ceil((len(seed.audio) - grid.beats[0]) / spacing - 1e-3))
    for index in range(first, first + beats):
        now = int(round((grid.beats[0] + index * spacing) / hop))
        if now + beat > n:
            break
        while played < now:
            lookahead.play(whole.codes[played])
            played += 1
        phase = [k for k in range(len(grid.beats)) if grid.same_phase(k, index)]
        candidates = seed_units[phase]
        candidates = candidates[(candidates >= 0) & (candidates + beat <= n_seed)]
        if len(candidates) < MIN_CANDIDATES:
            continue
        like_truth = change.ratio_to_beat(candidates, now)
        if np.ptp(like_truth) == 0:
            continue
        answer = int(np.argmin(like_truth))
        before = whole.log_mel[max(frame[now], 0)]
        mismatch = np.abs(whole.log_mel[np.maximum(frame[candidates], 0)] - before).mean(1)
        cost = (costs.mismatch_per_db * mismatch + costs.beat_change * np.maximum(
            change.ratio_to_beat(candidates, now - beat) - costs.beat_change_knee, 0.0))
        model = lookahead.model_term(candidates, never, 0, codec.steps_per_second)
        scores = {"chance": np.zeros(len(candidates)), "prior": model, "costs": -cost,
                  "prior + costs": model - cost, "latest in seed": candidates.astype(float)}
        for name, score in scores.items():
            out[name].append(_top_share(score, answer))
    return out


def next_beat_report(generators: dict[str, Generator], clips: Sequence[Any],
                     steering: Steering | None = None) -> dict[str, dict[str, float]]:
    """Per prior: the share of judged beats each chooser got right, and how many were judged.

    `clips`: objects with `.seed` and `.truth` audio at the generators' sample rate."""
    report = {}
    for name, generator in generators.items():
        credit: dict[str, list[float]] = {chooser: [] for chooser in CHOOSERS}
        for clip in clips:
            for chooser, values in clip_choices(generator, clip.seed, clip.truth,
                                                steering).items():
                credit[chooser].extend(values)
        beats = len(credit["chance"])
        report[name] = {"beats": beats, **{
            chooser: round(float(np.mean(values)), 3) if values else float("nan")
            for chooser, values in credit.items()}}
    return report
