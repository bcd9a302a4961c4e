"""Does the prior know where music goes next? A teacher-forced test on held-out seeds.

The seed renderer's jumps choose which of the seed's beats plays next. The generation table
judges the result (jarring, loops, pulse); this asks the choice itself, where the answer is
known: follow the true continuation beat by beat and, after each beat of it (the prior fed
the seed and the true continuation so far, as it would have been fed had the renderer played
them), ask which of the seed's beats at the same place in the bar (in the beat, when the seed
has no clear bar; with the renderer's room after a target) sounds most like the beat the
music actually played next. "Sounds most like" is the beat change's distance
(`render.beat_change`: beat-mean chroma and log-mel, each against the seed's own 95th
percentile of beat-to-beat change, the larger ratio). The costs' beat change uses the same
distance (to the beat just played, not the next), so the ruler is theirs: a prior that
judged by other features could be right and still not score.

Each chooser ranks the same candidates; a tie shares the credit. The share of beats where
its top choice is the answer is reported beside chance (one over the number of candidates):

- prior: the steering's model term (`Steering`: lookahead E and context);
- costs: the join costs (mismatch across the join and the beat change, `UnitCosts`);
- prior + costs: model term - join costs;
- latest in seed: the candidate latest in the seed (the bar the seed ended on: music
  repeats by the bar).

What depends on the output's own history is left out, since here the history is the true
continuation: the replay term, the reuse, recent-overlap and repeated-jump costs (all of
which would also charge the seed's last seconds, heard just before the continuation), and
the renderer's draw among near-best jumps (`plausible_margin`). So "costs" and "prior +
costs" are the part of the renderer's score that judges the transition itself, not its
whole score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from musicgen.generate import Generator
from musicgen.render.beat_change import BeatChange
from musicgen.render.beat_grid import analyse_beat
from musicgen.render.steering import Lookahead, Steering
from musicgen.render.units import UnitCosts, join_mismatch, room_after_jump

CHOOSERS = ("chance", "prior", "costs", "prior + costs", "latest in seed")
MIN_CANDIDATES = 3  # with two, a coin guesses half of them


def _top_share(score: np.ndarray, answers: np.ndarray) -> float:
    """The share of the k best-scored candidates (ties: a draw among them) that are answers;
    a score that is not a number counts as the worst."""
    score = np.where(np.isnan(score), -np.inf, score)
    top = np.flatnonzero(score >= score.max() - 1e-9) if np.isfinite(score.max()) else \
        np.arange(len(score))
    return float(np.isin(top, answers).sum()) / len(top)


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
    beat_steps = grid.period * codec.steps_per_second
    beat = int(round(beat_steps))  # the renderer's beat in units (`_UnitSampler`)
    if grid.mode == "free" or len(grid.beats) < 2 or beat < 2:
        return out
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
        return out
    # The prior hears the seed as the renderer's does (its codes encoded alone: the encoder
    # looks ahead, so the seed's last codes from `whole` would have heard the continuation),
    # then the continuation's codes.
    lookahead = Lookahead(generator.step_prior, seed.codes, steering,
                          steering.horizon(beat_steps))
    never = np.full(n, -np.inf)  # no output history (see the module's docstring)
    # jump targets: the seed's beats, with the room after them that the renderer leaves
    room = len(seed.audio) - room_after_jump(grid, sr, hop)
    played = n_seed
    # the grid extrapolated past the seed's end as the renderer does
    first = grid.index_at(len(seed.audio), tolerance=1e-3)
    for index in range(first, first + beats):
        now = int(round((grid.beats[0] + index * spacing) / hop))
        if now + beat > n:
            break
        while played < now:
            lookahead.play(whole.codes[played])
            played += 1
        phase = [k for k in range(len(grid.beats))
                 if grid.same_phase(k, index) and 0 <= grid.beats[k] <= room]
        candidates = np.round(grid.beats[phase] / hop).astype(np.int64)
        if len(candidates) < MIN_CANDIDATES:
            continue
        like_truth = change.ratio_to_beat(candidates, now)
        if np.ptp(like_truth) == 0:
            continue
        answers = np.flatnonzero(like_truth <= like_truth.min() + 1e-9)
        mismatch = join_mismatch(whole.log_mel, candidates * hop, now * hop, hop // fps)
        cost = (costs.mismatch_per_db * mismatch
                + costs.beat_change * change.cost(np.arange(now - beat, now), candidates))
        model = lookahead.model_term(candidates, never, 0, codec.steps_per_second)
        scores = {"chance": np.zeros(len(candidates)), "prior": model, "costs": -cost,
                  "prior + costs": model - cost, "latest in seed": candidates.astype(float)}
        for name, score in scores.items():
            out[name].append(_top_share(score, answers))
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
