"""Does the model know where music goes next? A teacher-forced test on held-out seeds.

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

- prior: the code prior's lookahead term (`Steering`: lookahead E and context);
- chooser: the checkpoint's beat chooser (`musicgen.chooser`), the renderer's model term
  where there is one: trained on exactly this question over training tracks, so here it is
  asked on tracks it never saw;
- costs: the join costs (mismatch across the join and the beat change, `UnitCosts`);
- prior + costs, chooser + costs: the model term - join costs, as the renderer scores a jump;
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

from musicgen.chooser.walk import first_choice_share, walk_features, walk_true_continuation
from musicgen.generate import Generator
from musicgen.intervals import paired_difference
from musicgen.render.steering import Lookahead, Steering
from musicgen.render.units import UnitCosts

CHOOSERS = ("chance", "prior", "chooser", "costs", "prior + costs", "chooser + costs",
            "latest in seed")
OVER_COSTS = ("prior", "chooser", "prior + costs", "chooser + costs")  # the model terms


def clip_choices(generator: Generator, seed_audio: np.ndarray, truth: np.ndarray,
                 steering: Steering | None = None, costs: UnitCosts | None = None,
                 beats: int = 16) -> dict[str, list[float]]:
    """Per chooser, one credit per judged beat of the first `beats` of the continuation
    (none when the seed has no usable pulse: its jumps land anywhere)."""
    steering, costs = steering or Steering(), costs or UnitCosts()
    codec = generator.codec
    out: dict[str, list[float]] = {name: [] for name in CHOOSERS}
    walk = walk_true_continuation(generator, seed_audio, truth, costs, beats)
    if walk is None:
        return out
    # The prior hears the seed as the renderer's does (its codes encoded alone: the encoder
    # looks ahead, so the seed's last codes from `whole` would have heard the continuation),
    # then the continuation's codes.
    lookahead = Lookahead(generator.step_prior, walk.seed.codes, steering,
                          steering.horizon(walk.beat_steps))
    never = np.full(len(walk.whole.codes), -np.inf)  # no output history (module docstring)
    chooser = generator.bundle.chooser
    played = len(walk.seed.codes)
    features = (walk_features(walk, chooser.config.lags) if chooser is not None
                else [(None, None)] * len(walk.steps))
    for step, (seq, scalars) in zip(walk.steps, features, strict=True):
        while played < step.now:
            lookahead.play(walk.whole.codes[played])
            played += 1
        model = lookahead.model_term(step.candidates, never, 0, codec.steps_per_second)
        chosen = (steering.chooser_weight * chooser.log_choice(seq, scalars)
                  if chooser is not None else np.full(len(step.candidates), np.nan))
        scores = {"chance": np.zeros(len(step.candidates)), "prior": model,
                  "prior + costs": model - step.cost, "chooser": chosen,
                  "chooser + costs": chosen - step.cost, "costs": -step.cost,
                  "latest in seed": step.candidates.astype(float)}
        for name, score in scores.items():
            if name.startswith("chooser") and chooser is None:
                continue
            out[name].append(first_choice_share(score, step.answers))
    return out


def next_beat_report(generators: dict[str, Generator], clips: Sequence[Any],
                     steering: Steering | None = None) -> dict[str, dict[str, float]]:
    """Per prior: the share of judged beats each chooser got right, how many were judged, and
    (`over_costs`) each model term's difference from the costs' share with its interval.

    `clips`: objects with `.seed` and `.truth` audio at the generators' sample rate."""
    report = {}
    for name, generator in generators.items():
        credit: dict[str, list[float]] = {chooser: [] for chooser in CHOOSERS}
        sums: dict[str, list[float]] = {chooser: [] for chooser in CHOOSERS}  # per clip
        judged: list[int] = []  # beats judged per clip
        for clip in clips:
            choices = clip_choices(generator, clip.seed, clip.truth, steering)
            judged.append(len(choices["chance"]))
            for chooser, values in choices.items():
                credit[chooser].extend(values)
                sums[chooser].append(sum(values))
        beats = len(credit["chance"])
        report[name] = {"beats": beats, **{
            chooser: round(float(np.mean(values)), 3) if values else float("nan")
            for chooser, values in credit.items()}}
        # each model term's lead over the costs alone (share of the judged beats), with a 90%
        # interval over the seeds (`intervals`): is the model's say worth having?
        report[name]["over_costs"] = {
            chooser: paired_difference(np.array(sums[chooser]), np.array(sums["costs"]),
                                       np.array(judged))
            for chooser in OVER_COSTS if beats and len(credit[chooser]) == beats}
    return report
