"""render="seed": the prior chooses among the seed's own units, played on the seed's beat.

Each generated step plays one code step's worth of the seed's real audio (a unit). Playing on
in seed order is free; a jump costs a fixed penalty, the spectral mismatch across the join and
how unlike the beat just played the beat it lands on is (chroma and log-mel,
`render.beat_change`), and units heard in the last few seconds cost extra. The prior scores
every candidate by how plausible the beat of music it would start is after what was played
(`render.steering`), and the chosen unit's codes are fed back to the prior, so the prior
always sees what is heard; its state also says whether the seed reached a candidate from music
like what was just played, and whether the output already did (a replay). Whether to jump
is drawn from the costs alone (without the beat change), where to jump from
softmax((prior term - costs) / temperature) over the jumps. Jumps land only at the same
position in the beat (in the bar when downbeats are clear), so the output keeps the seed's
pulse; seeds with no usable pulse jump anywhere, less often. Every join gets an equal-power
crossfade.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from musicgen.chooser.features import decision_features
from musicgen.codec import Codec
from musicgen.mixing import overlap_add
from musicgen.options import GenerateOptions
from musicgen.render.base import Rendering
from musicgen.render.beat_change import BeatChange
from musicgen.render.beat_grid import BeatGrid, analyse_beat
from musicgen.render.steering import (
    Lookahead,
    Steering,
    choice_probabilities,
    draw_index,
    units_ahead,
    when_by_costs_where_by_model,
)
from musicgen.sampler import SamplingOptions, StepPrior
from musicgen.seed import Seed

if TYPE_CHECKING:
    from musicgen.chooser.model import BeatChooser


@dataclass(frozen=True)
class UnitCosts:
    """Costs in nats, subtracted from the prior's term (`steering.Steering`)."""

    jump: float = 1.5
    mismatch_per_db: float = 0.25  # per dB of log-mel difference across the join
    reuse: float = 4.0  # a unit heard before costs this, decaying over `reuse_seconds`
    reuse_seconds: float = 6.0
    repeat_jump: float = 3.0  # taking the same jump (from unit, to unit) again
    long_run_per_second: float = 2.0  # continuing past `free_run_seconds` costs this much/s
    free_run_seconds: float = 2.0
    max_run_seconds: float = 3.5  # continuing is not offered past this
    crossfade_seconds: float = 0.02
    align_seconds: float = 0.005  # how far a join may slide to match waveforms
    splice_lead_seconds: float = 0.03  # splice this long before the beat: onsets stay clean
    free_min_run_seconds: float = 1.0  # no pulse: at least this between jumps
    # How unlike the beat just played the beat after a jump is (`render.beat_change`): nats
    # per unit of the seed's own rare (95th percentile) change, above `beat_change_knee`.
    # It shapes where the output jumps, not how often (see `choose`). Dev seeds (34 seeds of
    # the 17 choosing tracks, 3 random seeds; jarring / loops; the true continuation 0.179 /
    # 0), with librosa's chroma_stft (4096-point frames, hop 2048): the costs alone 0 0.233 /
    # 0.176, 5 0.159 / 0.189, 15 0.096 / 0.189, 30 0.085 / 0.230; GRU (default steering) 0
    # 0.178 / 0.162, 15 0.160 / 0.162, 30 0.132 / 0.176, 60 0.127 / 0.216, 100 0.104 / 0.216;
    # LSTM 0 0.188 / 0.162, 30 0.137 / 0.189. GRU at 30 with the steering weights halved
    # 0.123 / 0.189, without `context` and replay at 30 0.132 / 0.189: the priors trade
    # jarring for loops along the same line. With the one-frame-per-unit chroma shipped
    # (under half the time), at 30: costs alone 0.103 / 0.243, GRU 0.134 / 0.162, LSTM
    # 0.134 / 0.189; the costs alone with `Steering.recent_overlap` 12 0.130 / 0.216, 24
    # 0.136 / 0.162: a hand-set overlap cost buys the GRU's trade (loops for jarring) as well.
    beat_change: float = 30.0
    beat_change_knee: float = 0.5


def room_after_jump(grid: BeatGrid, sr: int, samples_per_step: int) -> int:
    """Samples of seed a jump must leave after its target (a beat and a step, at least two
    steps): the run it starts must reach the next beat."""
    return max(2 * samples_per_step, int(grid.period * sr) + samples_per_step)


def join_mismatch(log_mel: np.ndarray, targets: np.ndarray, position: int,
                  mel_hop: int) -> np.ndarray:
    """Mean |log-mel difference| (dB) between the frame just before `position` and the frame
    just before each target (samples): how far apart the two sides of a splice there sound."""
    def frame(at: np.ndarray | int) -> np.ndarray:
        return np.clip(np.asarray(at, np.int64) // mel_hop - 1, 0, len(log_mel) - 1)
    return np.abs(log_mel[frame(targets)] - log_mel[frame(position)]).mean(-1)


@dataclass
class SeedRender:
    audio: np.ndarray  # seed tail + continuation
    join_sample: int
    codes: np.ndarray  # codes of the units played, as fed to the prior
    sample_seconds: float
    info: dict[str, Any] = field(default_factory=dict)
    jumps: list[int] = field(default_factory=list)  # output samples where a join happens
    segments: list[tuple[int, int, int]] = field(default_factory=list)  # (out, src, length)

    @property
    def source_pairs(self) -> list[tuple[int, int]]:
        """(seed position the outgoing piece would have played on, incoming start) per join."""
        return [(src_a + len_a, src_b) for (_, src_a, len_a), (_, src_b, _)
                in zip(self.segments, self.segments[1:], strict=False)]


@dataclass
class _Decision:
    """Candidate read positions at one step and their scores."""

    targets: np.ndarray
    is_jump: np.ndarray
    splice: int = 0  # where, relative to the step's start, a jump's audio splice goes


class _UnitSampler:
    """The step loop: read pointer into the seed, jump candidates, prior scoring."""

    def __init__(self, prior: StepPrior | None, seed: Seed, samples_per_step: int,
                 frames_per_step: int, grid: BeatGrid, costs: UnitCosts, sr: int,
                 options: SamplingOptions, rng: np.random.Generator,
                 steering: Steering | None = None, chooser: BeatChooser | None = None) -> None:
        self.prior, self.seed, self.hop = prior, seed, samples_per_step
        # the beat chooser needs a pulse: seeds without one are steered by the lookahead
        self.chooser = chooser if grid.mode != "free" else None
        self.steering = steering or Steering()
        self.fps = frames_per_step
        self.grid, self.costs, self.sr = grid, costs, sr
        self.options, self.rng = options, rng
        self.length = len(seed.audio)
        self.units = len(seed.codes)
        self.steps_per_second = sr / samples_per_step
        self.mel_hop = samples_per_step // frames_per_step
        # step at which each unit was last heard (the seed's tail counts: it opens the output)
        self.last_heard = np.full(self.units, -np.inf)
        self.jumps_taken: set[tuple[int, int]] = set()
        self.step_index = 0
        self.decisions = 0
        self.agreed = 0
        self.prior_shares: list[float] = []  # the prior term's share of the score's variance
        beat_steps = grid.period * self.steps_per_second
        st = self.steering
        self.horizon = st.horizon(beat_steps)
        self.lookahead: Lookahead | None = None
        # every unit heard: the seed's, then the output's; the output opens with the seed's
        # tail, heard[tail_start:] (what the beat change compares a jump with)
        self.heard: list[int] = []
        self.tail_start = 0
        self.beat_change: BeatChange | None = None
        if costs.beat_change > 0 or self.chooser is not None:
            beat = int(round(beat_steps)) if beat_steps > 0 else self.horizon
            self.beat_change = BeatChange(seed.audio, seed.log_mel, self.units, samples_per_step,
                                          frames_per_step, sr, beat, costs.beat_change_knee)

    def unit_at(self, position: int) -> int:
        # plain ints: np.clip on a scalar costs ~25x more, and this runs per candidate
        return min(max(round(position / self.hop), 0), self.units - 1)

    def candidates(self, position: int, run_steps: int) -> _Decision | None:
        """Read positions allowed for the next step; None = simply play on."""
        c, hop = self.costs, self.hop
        tail_room = self.length - position
        min_after = room_after_jump(self.grid, self.sr, hop)
        run_s = run_steps / self.steps_per_second
        can_continue = tail_room >= min_after and run_s < c.max_run_seconds
        if self.grid.mode == "free":
            min_run = c.free_min_run_seconds * self.steps_per_second
            if can_continue and run_steps < min_run:
                return None
            # Land where the run can last `min_run` steps before the end forces another
            # jump: landing at the last place that leaves `min_after` let the end force a
            # jump at every step, and the output stuttered one unit back and forth.
            last = max(0, self.length - min_after - int(min_run) * hop)  # short: the start
            targets = np.arange(0, last + 1, hop, dtype=np.int64)
        else:
            beats = self.grid.beats
            # The grid's beat in [position - lead, position + hop), extrapolated past the
            # seed's end for the first step; a splice goes `lead` before it.
            lead = int(c.splice_lead_seconds * self.sr)
            spacing = self.grid.spacing
            index = self.grid.index_at(position - lead)
            beat_at = beats[0] + index * spacing
            on_beat = beat_at < position + hop
            min_run = max(1, int(self.grid.period * self.steps_per_second) - 1)
            if can_continue and not (on_beat and run_steps >= min_run):
                return None
            # Off the beat, play on to it when the seed lasts that long, even past the
            # tail room or the run limit: forcing the jump here broke it off the beat and
            # left a 93-186 ms shred before the next forced jump (1-3 per 15 s).
            if not on_beat and (can_continue or beat_at + hop <= self.length):
                return None
            phases = [k for k in range(len(beats)) if self.grid.same_phase(k, index)
                      and k != index]
            offset = int(round(beat_at)) - position
            targets = np.array([beats[k] - offset for k in phases], np.int64)
            targets = targets[(targets >= 0) & (targets <= self.length - min_after)]
            if len(targets) == 0:  # nowhere on the grid fits: fall back to any unit
                targets = np.arange(0, self.length - min_after + 1, hop, dtype=np.int64)
        splice = 0
        if self.grid.mode != "free" and on_beat:
            splice = int(round(beat_at)) - position - lead
        targets = targets[targets != position]
        is_jump = np.ones(len(targets), bool)
        if can_continue:
            targets = np.append(targets, position)
            is_jump = np.append(is_jump, False)
        if len(targets) == 0:
            targets, is_jump = np.array([0], np.int64), np.array([True])
        return _Decision(targets, is_jump, splice)

    def choose(self, decision: _Decision, position: int, run_steps: int) -> int:
        c, st = self.costs, self.steering
        units = np.array([self.unit_at(t) for t in decision.targets])
        mismatch = join_mismatch(self.seed.log_mel, decision.targets, position, self.mel_hop)
        steered = len(units) > 1 and self.steered_by != "costs"
        both = bool(decision.is_jump.any()) and not all(decision.is_jump)
        by_costs = steered and st.neutral_continue == "costs" and both
        prior_term = np.zeros(len(units))
        if steered:  # by_costs: playing on is drawn from the costs alone, only jumps scored
            scored = decision.is_jump if by_costs else np.ones(len(units), bool)
            prior_term[scored] = self._model_term(units[scored], mismatch[scored])
        if steered and st.neutral_continue in ("best", "mean") and both:
            # Playing on is the seed's own continuation, plausible by definition: its lookahead
            # is ~0, the best any candidate can get, so scoring it made the model play on
            # almost twice as long as a uniform choice (long verbatim runs, fewer distinct
            # outputs). "best": it ties with the best jump (the model judges where to jump;
            # the costs and the beat decide when); "mean": the jumps' log-mean-exp (jumps as
            # often as the costs alone make them).
            jumps = prior_term[decision.is_jump]
            peak = jumps.max()
            prior_term[~decision.is_jump] = (
                peak if st.neutral_continue == "best"
                else peak + np.log(np.mean(np.exp(jumps - peak))))
        ago = (self.step_index - self.last_heard[units]) / self.steps_per_second
        reused = c.reuse * np.exp(-ago / c.reuse_seconds)
        if st.recent_overlap > 0:  # replaying the next beat of what was just heard
            ahead, valid = units_ahead(units, self.horizon, self.units)
            ago_ahead = (self.step_index - self.last_heard[ahead]) / self.steps_per_second
            heard = np.exp(-ago_ahead / st.recent_seconds) * valid
            reused = reused + st.recent_overlap * heard.sum(1) / np.maximum(valid.sum(1), 1)
        here = self.unit_at(position - self.hop)
        repeated = np.array([(here, u) in self.jumps_taken for u in units])
        run_s = run_steps / self.steps_per_second
        cost = reused + np.where(
            decision.is_jump, c.jump + c.mismatch_per_db * mismatch + c.repeat_jump * repeated,
            c.long_run_per_second * max(0.0, run_s - c.free_run_seconds))
        # Whether to jump is drawn from the costs without the beat change, so that it moves
        # where the output jumps and not how often: as a cost on every jump it halved the
        # jumps, and longer runs replayed more (dev seeds, costs alone at 5: loops 0.297).
        when_cost = cost
        if self.beat_change is not None:
            last_beat = self.heard[max(self.tail_start, len(self.heard) - self.beat_change.beat):]
            cost = cost + np.where(decision.is_jump, c.beat_change * self.beat_change.cost(
                np.array(last_beat), units), 0.0)
        score = prior_term - cost
        o = self.options
        margin = st.plausible_margin if steered else 0.0
        # Unsteered, the same split: the costs alone draw when (as by_costs) and where.
        if by_costs or (both and not steered):
            probs = when_by_costs_where_by_model(score, when_cost, decision.is_jump, o.temperature,
                                                 o.top_k, o.top_p, st.max_top_probability,
                                                 margin)
        else:
            max_top = st.max_top_probability
            if steered and bool(decision.is_jump.all()):
                max_top = min(max_top, st.forced_max_top_probability)
            probs = choice_probabilities(score, o.temperature, o.top_k, o.top_p,
                                         max_top, margin)
        pick = draw_index(probs, self.rng)
        if steered:  # without a prior nothing can agree
            # where the costs alone decide whether to jump, the model is judged on the jumps
            judged = decision.is_jump if by_costs else np.ones(len(score), bool)
            total = float(np.var(score[judged]))
            self.prior_shares.append(float(np.var(prior_term[judged])) / total if total > 0
                                     else 0.0)
            if judged[pick]:
                self.decisions += 1
                favourite = np.flatnonzero(judged)[int(np.argmax(prior_term[judged]))]
                self.agreed += int(pick == favourite)
        if decision.is_jump[pick]:
            self.jumps_taken.add((here, int(units[pick])))
        return int(decision.targets[pick])

    @property
    def steered_by(self) -> str:
        """What chose where the output jumps: "beat chooser", "lookahead" or "costs"."""
        if self.chooser is not None and self.steering.chooser_weight > 0:
            return "beat chooser"
        if self.chooser is None and self.prior is not None and self.steering.prior_weight > 0:
            return "lookahead"
        return "costs"

    def _model_term(self, units: np.ndarray, mismatch: np.ndarray) -> np.ndarray:
        """The model's say per candidate (nats): the beat chooser's log-probability that the
        music goes there next, or without one (or a pulse) the prior's lookahead."""
        st = self.steering
        if self.chooser is not None and self.beat_change is not None:
            lags = self.chooser.config.lags  # only the last `lags` beats are read
            seq, scalars = decision_features(
                self.beat_change, np.asarray(self.heard[-lags * self.beat_change.beat:]), units,
                mismatch, self.units, lags)
            return st.chooser_weight * self.chooser.log_choice(seq, scalars)
        assert self.lookahead is not None
        return self.lookahead.model_term(units, self.last_heard, self.step_index,
                                         self.steps_per_second)

    def run(self, steps: int, tail_steps: int = 0) -> tuple[list[int], list[int], np.ndarray]:
        """Read positions and splice offsets (one per step), and the codes fed to the prior."""
        for i in range(min(tail_steps, self.units)):  # the tail was heard just before step 0
            self.last_heard[self.units - 1 - i] = -1 - i
        self.heard = list(range(self.units))
        self.tail_start = self.units - min(tail_steps, self.units)
        if self.prior is not None and self.chooser is None:
            self.lookahead = Lookahead(self.prior, self.seed.codes, self.steering,
                                       self.horizon)
        position, run_steps = self.length, 0  # the seed's end: the first step must jump
        starts: list[int] = []
        splices: list[int] = []
        codes = np.empty((steps, self.seed.codes.shape[1]), np.int64)
        for t in range(steps):
            decision = self.candidates(position, run_steps)
            splice = 0
            if decision is not None:
                target = self.choose(decision, position, run_steps)
                if target != position:
                    run_steps, splice = 0, decision.splice
                position = target
            starts.append(position)
            splices.append(splice)
            unit = self.unit_at(position)
            self.last_heard[unit] = t
            self.heard.append(unit)
            self.step_index = t + 1
            codes[t] = self.seed.codes[unit]
            if self.lookahead is not None:
                self.lookahead.play(codes[t])
            position += self.hop
            run_steps += 1
        return starts, splices, codes


def render_seed(prior: StepPrior | None, codec: Codec, seed: Seed, steps: int,
                options: GenerateOptions, rng: np.random.Generator,
                chooser: BeatChooser | None = None) -> Rendering:
    """Continue `seed` for `steps` steps from its own units; prior=None and chooser=None
    score by the costs alone."""
    placed = place_units(prior, codec, seed, steps, options, rng, chooser=chooser)
    return Rendering(iter([placed.audio]), placed.join_sample, placed.codes, placed.jumps,
                     placed.source_pairs, placed.info, {"sample_s": placed.sample_seconds})


def place_units(prior: StepPrior | None, codec: Codec, seed: Seed, steps: int,
                options: GenerateOptions, rng: np.random.Generator,
                costs: UnitCosts | None = None, steering: Steering | None = None,
                grid: BeatGrid | None = None, chooser: BeatChooser | None = None) -> SeedRender:
    """`render_seed` with the full record of where every piece of the seed went."""
    sampling = options.sampling
    sampling.validate()
    costs = costs or UnitCosts()
    sr = codec.features.sample_rate
    hop = codec.samples_per_step
    tic = time.perf_counter()
    grid = grid or analyse_beat(seed.audio, sr, codec.features.hop_length)
    sampler = _UnitSampler(prior, seed, hop, codec.config.frames_per_step, grid, costs, sr,
                           sampling, rng, steering, chooser)
    tail = min(len(seed.audio), int(round(options.context_seconds * sr)))
    starts, splices, codes = sampler.run(steps, tail_steps=tail // hop)
    sample_seconds = time.perf_counter() - tic

    # context 0: no tail segment; the output is new audio only, from its first sample
    segments: list[tuple[int, int, int]] = [(0, len(seed.audio) - tail, tail)] if tail else []
    for t, (start, splice) in enumerate(zip(starts, splices, strict=True)):
        out_start = tail + t * hop
        if not segments:
            segments.append((out_start, start, hop))
            continue
        last_out, last_src, last_len = segments[-1]
        if last_src + last_len == start and last_out + last_len == out_start:
            segments[-1] = (last_out, last_src, last_len + hop)
            continue
        # Move the splice to just before the beat; never past the previous splice.
        splice = max(splice, last_out + 1 - out_start, -start)
        segments[-1] = (last_out, last_src, last_len + splice)
        segments.append((out_start + splice, start + splice, hop - splice))
    fade = int(round(costs.crossfade_seconds * sr))
    audio = overlap_add(seed.audio, segments, tail + steps * hop, fade,
                        max_shift=int(costs.align_seconds * sr))
    jumps = [out_start for out_start, _, _ in segments[1:]]
    info = {
        "beat_mode": grid.mode, "tempo_bpm": round(float(grid.tempo_bpm), 1),
        "beats_per_bar": grid.beats_per_bar, "jumps": len(jumps),
        "steered_by": sampler.steered_by,
        "prior_agreement": round(sampler.agreed / sampler.decisions, 3)
        if sampler.decisions else None,
        "prior_variance_share": round(float(np.median(sampler.prior_shares)), 3)
        if sampler.prior_shares else None,
    }
    return SeedRender(audio, tail, codes, sample_seconds, info, jumps, segments)
