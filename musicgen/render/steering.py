"""How the prior steers the seed renderer: a teacher-forced lookahead per candidate.

At a decision (about one per beat) a candidate read position c would play the seed's units
c, c+1, ..., c+H-1 next: jumps are at least a beat apart, so that is what would be heard. The
prior, cloned once per candidate and run batched, scores that future on its coarsest levels
(the finer ones are near uniform and only add noise):

    LA(c)  = log p(levels < m of unit c+k | what was played, units c..c+k-1), k < H
    REF(c) = log p(levels < m of unit c+k | the seed's own units before c+k)
    E(c)   = mean over k of min(0, LA - REF)      nats per step, <= 0
    score(c) = prior_weight * E(c) - costs(c)

REF (one teacher-forced pass over the seed per request) takes out how predictable a passage
is in itself (sustained chords are always "likely"), so E judges the *transition*: how much
less plausible the segment becomes after what was played than where it sits in the seed. The
cap at 0 matters: repeating material makes the prior confident, and rewarding that pulled the
output into loops. Scoring one next step at weight 0.25 (the first design) let hand-set costs
decide; this lookahead is what lets the model's knowledge of what follows change the choice.

The prior's state is its memory of the last seconds, and two more terms read it. With S(t) the
state after what was played, S_seed(c) the state it had just before unit c in the seed (the
same pass), and S_out(c) its state before c was last played in the output:

    context(c) = 1 - cos(S(t), S_seed(c))           the seed reached c after music like this
    replay(c)  = recency(c) * max(0, 1 - (1 - cos(S(t), S_out(c))) / replay_distance)
    model term = prior_weight * E(c) - context_weight * context(c) - replay_weight * replay(c)

A jump whose target the seed reached from a passage like the one just played joins as the seed
itself would (less jarring); but when the output already played that target after much the
same passage, taking it again replays a window heard before (a loop), which `replay` prices.
The costs alone (the no-prior ablation) see neither: they know the audio only either side of
the join.

When playing on is possible, the costs alone decide whether to jump (exactly as the no-prior
ablation would) and softmax(score / temperature) over the jumps decides where to: the model
changes where the output goes, not how often it jumps. Otherwise the choice is
softmax(score / temperature). Either way, as in synth, low temperature = the safest choice,
high = adventurous. The top choice's probability can be bounded
(`max_top_probability`, off by default: see its note) so that pressing Generate again always
gives a new continuation; as the temperature falls the bound relaxes towards 1. Where a jump
is forced the bound is on (`forced_max_top_probability`): there one choice sets the course.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicgen.sampler import PriorState, StepPrior, filter_logits


@dataclass(frozen=True)
class Steering:
    """How the lookahead enters the choice (nats per step, next to the costs in nats)."""

    # nats of cost per nat/step of lookahead log-probability (among the jumps, see
    # `neutral_continue`): 1.5 was tuned for the first design, where the model also decided
    # when to jump; once the costs decide that, a strong weight lets the model pick the target
    prior_weight: float = 10.0
    levels: int = 2  # score the coarsest levels only
    horizon_beats: float = 1.0  # H = this many beats of steps, clamped to the two below
    min_horizon: int = 4
    max_horizon: int = 16
    relative: bool = True  # subtract the seed's own teacher-forced log-prob (REF)
    cap: bool = True  # per step min(LA - REF, 0): never reward more confidence than the seed
    warmup_steps: int = 16  # the seed's first steps have too little context for a fair REF
    # Replaying what was just heard: this many nats for a candidate whose next H units were
    # all heard within `recent_seconds` (in proportion to the share heard, decaying with age).
    # The model's favourite jump is often back by a bar (the most plausible transition in
    # repetitive music), which replays what was just heard: see `neutral_continue`.
    # 15 s (the output's length in `evaluate`) rather than 6: on the training clips, jarring
    # 0.197 -> 0.185, pulse x seed 0.98 -> 1.01, tempo kept 0.86 -> 0.93, loops unchanged.
    recent_overlap: float = 4.0
    recent_seconds: float = 15.0
    # At temperature T the top choice gets at most 1 - (1 - this) * T (1.0 = no bound).
    # Training-track seeds (8 clips x 3 random seeds, GRU, T = 1; jarring / loops / share of
    # random-seed pairs that differ): no bound 0.177 / 0.365 / 0.84; 0.9 0.242 / 0.324 / 0.93;
    # 0.85 + overlap 1.0 0.222 / 0.284 / 0.98; 0.8 + overlap 2.0 0.226 / 0.297 / 0.99; the
    # first scoring 0.167 / 0.392 / 0.72, uniform 0.211 / 0.270 / 0.99. Every bound made the
    # transitions jar about as much as a uniform choice, so by default there is none: the
    # model's choice wins (random seeds differ through the margin below and the bound where a
    # jump is forced, `forced_max_top_probability`).
    max_top_probability: float = 1.0
    # Candidates within this many nats (x T) of the best are drawn as equals: the prior
    # filters out implausible transitions and the random seed picks among the plausible ones.
    # (Steered choices only: the no-prior ablation stays a softmax over the costs.)
    # 6 with the weight of 10 below (1 with the earlier weight of 1.5): the same E within ~0.6
    # nats/step of the best; at 3, 0.91 of random-seed pairs differed on training clips.
    plausible_margin: float = 6.0
    # The prior term given to playing on (see units.choose): "off" (its own lookahead),
    # "best" (the best jump's) or "mean" (the jumps' log-mean-exp); "costs": whether to play
    # on is drawn as the costs alone would draw it, and the model chooses among the jumps.
    # Training-track seeds, v1 GRU, 8 clips x 3 random seeds (jarring / loops / distinct
    # pairs / pulse x seed); costs alone 0.211 / 0.270 / 0.99 / 0.99: "off", no margin 0.177 /
    # 0.365 / 0.84 / 0.95; "best" 0.191 / 0.351 / 0.94 / 0.95; "best" + margin 1 0.183 / 0.365
    # / 0.97 / 0.99 (default); "mean" 0.204 / 0.284 / 0.98 / 0.98; margin 1 alone 0.177 /
    # 0.351 / 0.86; margin 2 alone 0.194 / 0.351 / 0.92. No setting has both fewer loops than
    # the costs alone and clearly less jarring: the model keeps what it judges plausible, and
    # in an 8 s seed that is often the same passage.
    # v2 codes and GRU, 24 training-track clips x 3 random seeds (jarring / pulse x seed /
    # loops / tempo kept); costs alone 0.288 / 0.990 / 0.203 / 0.912, the true continuation
    # 0.143 / 1.055 / 0 / 0.895: "best", weight 1.5 0.184 / 1.022 / 0.267 / 0.842 (the model
    # plays on longer, and fewer joins leave more replayed windows); weight 3 0.172 / 0.997 /
    # 0.270; "costs" with weight 1.5 0.234 / 1.004 / 0.219 / 0.895, 6 0.200 / 1.010 / 0.230 /
    # 0.912, 10 0.171 / 1.010 / 0.270 / 0.877, 10 + recent_overlap 2 0.186 / 1.007 / 0.243 /
    # 0.860, 10 + recent_overlap 4 0.194 / 1.003 / 0.216 / 0.895, the same with margin 6
    # 0.197 / 0.979 / 0.189 / 0.860 and 0.94 of random-seed pairs distinct (default); the costs
    # alone with recent_overlap 4 0.283 / 1.004 / 0.135 / 0.842, 0.97 distinct. Horizon 2
    # beats: similar figures at 1.5x the time. The stronger the model's say over targets, the
    # less the output jars and the more it loops: in repetitive music the most plausible jump
    # is often back by a bar. The overlap cost buys loops back for both.
    neutral_continue: str = "costs"
    # The same bound where a jump is forced (no playing on: the first step after the seed's
    # end, a run's limit). The first jump decides most of a short output, and with few
    # candidates (a bar grid over an 8 s seed gives three) the model's favourite took every
    # random seed: 0/15 pairs of random seeds differed on such a seed. At 0.8 (with the free
    # mode's landing fix in units.candidates), training clips (GRU; jarring / pulse x seed /
    # loops / distinct pairs): 0.200 / 1.007 / 0.216 / 0.964, without it 0.200 / 1.011 /
    # 0.216 / 0.914; the LSTM 0.203 / 0.966 / 0.189 / 0.972; the costs alone 0.317 / 1.008 /
    # 0.149 / 0.958.
    forced_max_top_probability: float = 0.8
    # The state terms (module docstring). Dev seeds (34 seeds of the 17 tracks that choose
    # the priors' weights and train neither them nor the codec; 3 random seeds; jarring /
    # loops, the costs alone 0.233 / 0.176): lookahead only (above) GRU 0.185 / 0.189, LSTM
    # 0.206 / 0.162; + context 30: 0.169 / 0.230, 0.184 / 0.189; context 100: 0.146 / 0.243,
    # 0.173 / 0.216 (smooth joins, but onto what was played before: loops); 100 with
    # recent_overlap 12: 0.179 / 0.216, 0.209 / 0.189; context 100 + replay 20 (distance 0.3):
    # 0.188 / 0.216, 0.212 / 0.189; replay 50 (0.5): 0.184 / 0.189, 0.183 / 0.162; replay 100
    # (0.5): 0.178 / 0.162, 0.188 / 0.162 (default); context 200 + replay 100: 0.196 / 0.189,
    # 0.185 / 0.189. Context alone, no lookahead: 0.195 / 0.243, 0.180 / 0.189.
    context_weight: float = 100.0
    replay_weight: float = 100.0
    replay_distance: float = 0.5
    # The beat chooser's say (`musicgen.chooser`), nats of score per nat of its log-probability
    # that the music goes to a candidate next; where a checkpoint has a chooser it is the
    # model term in place of the lookahead above (which still steers seeds with no pulse).
    # Dev seeds, GRU chooser (median jarring / loops / pulse x seed; the costs alone 0.103 /
    # 0.243 / 1.037, the lookahead 0.134 / 0.162 / 1.018): weight 3 0.114 / 0.216 / 1.031;
    # 10 0.096 / 0.243 / 1.057; 30 0.086 / 0.270 / 1.057. The stronger its say, the less the
    # output jars and the more it replays (the music it learnt from repeats by the bar); a
    # stronger overlap cost with it (8 for 4) did not buy the loops back: weight 30 0.110 /
    # 0.284, weight 10 0.111 / 0.257. By means (another 34 dev seeds x 3; GRU mean jarring
    # / the costs alone's with its 90% interval, mean loops; the costs alone 0.273): 3 1.11
    # [1.00, 1.24] / 0.240; 10 1.06 [0.95, 1.19] / 0.251; 30 0.97 [0.84, 1.12] / 0.291.
    chooser_weight: float = 10.0

    def horizon(self, beat_steps: float) -> int:
        """H, the lookahead's steps, for a beat of `beat_steps` steps."""
        return int(np.clip(round(self.horizon_beats * beat_steps), self.min_horizon,
                           self.max_horizon))

    def __post_init__(self) -> None:
        for name in ("max_top_probability", "forced_max_top_probability"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if not 0.0 < self.replay_distance <= 2.0:
            raise ValueError(f"replay_distance must be in (0, 2], got {self.replay_distance}")
        if self.neutral_continue not in ("off", "best", "mean", "costs"):
            raise ValueError(f"neutral_continue must be off, best, mean or costs, got "
                             f"{self.neutral_continue!r}")


class BatchPrior:
    """`StepPrior` run on N cloned states at once (the same maths, batched)."""

    def __init__(self, prior: StepPrior) -> None:
        self.prior = prior
        self.levels = np.arange(prior.config.levels)

    def clone(self, state: PriorState, n: int) -> PriorState:
        """N copies of `state`, stacked on a new first axis."""
        return PriorState([np.repeat(b[None], n, 0) for b in state.buffers],
                          list(state.positions), np.repeat(state.h[None], n, 0),
                          None if state.c is None else np.repeat(state.c[None], n, 0))

    def step(self, state: PriorState, codes: np.ndarray) -> np.ndarray:
        """Feed codes [N, L] to the batched `state` (in place); return h [N, U]."""
        p = self.prior
        x = p.embed[self.levels[None, :], codes].sum(1)
        for i, (kernel, bias, dilation) in enumerate(p.convs):
            buf = state.buffers[i]
            size = buf.shape[1]
            pos = (state.positions[i] + 1) % size
            buf[:, pos] = x
            state.positions[i] = pos
            taps = [(pos - (kernel.shape[0] - 1 - j) * dilation) % size
                    for j in range(kernel.shape[0])]
            x = np.maximum(buf[:, taps].reshape(len(x), -1) @ p._flat_convs[i] + bias, 0.0)
        units, h = p.config.rnn_units, state.h
        if p.config.arch == "lstm":
            z = x @ p.rnn_kernel + h @ p.rnn_recurrent + p.rnn_bias
            gate = 0.5 * (np.tanh(0.5 * z) + 1.0)
            state.c = gate[:, units:2 * units] * state.c + gate[:, :units] * np.tanh(
                z[:, 2 * units:3 * units])
            state.h = (gate[:, 3 * units:] * np.tanh(state.c)).astype(np.float32)
        else:
            xz = x @ p.rnn_kernel + p.rnn_bias[0]
            hz = h @ p.rnn_recurrent + p.rnn_bias[1]
            zr = 0.5 * (np.tanh(0.5 * (xz[:, :2 * units] + hz[:, :2 * units])) + 1.0)
            cand = np.tanh(xz[:, 2 * units:] + zr[:, units:] * hz[:, 2 * units:])
            state.h = (zr[:, :units] * h + (1.0 - zr[:, :units]) * cand).astype(np.float32)
        return state.h

    def log_prob(self, h: np.ndarray, codes: np.ndarray, levels: int) -> np.ndarray:
        """log p of codes [N, L] given hidden vectors h [N, U], summed over levels < `levels`."""
        p = self.prior
        total = np.zeros(len(h))
        lower = np.zeros_like(h)
        rows = np.arange(len(h))
        for level in range(levels):
            logits = p.level_logits(h, lower, level)
            peak = logits.max(-1)
            log_norm = peak + np.log(np.exp(logits - peak[:, None]).sum(-1))
            total += logits[rows, codes[:, level]] - log_norm
            lower = lower + p.condition[level, codes[:, level]]
        return total


def seed_reference(prior: StepPrior, codes: np.ndarray, levels: int, warmup: int
                   ) -> tuple[PriorState, np.ndarray, np.ndarray, np.ndarray]:
    """Prime on the seed: (state, h, ref, hs) with ref[t] = log p(codes[t] | codes[:t]) and
    hs[t] the hidden state just before step t (what predicted it).

    The first `warmup` steps take the median of the rest: with a cold state their REF is low,
    which made every jump to the seed's start look good.
    """
    codes = np.asarray(codes, np.int64)
    state = prior.initial_state()
    hs = np.empty((len(codes), prior.config.rnn_units), np.float32)
    h = state.h
    for t, row in enumerate(codes):
        hs[t] = h
        h = prior.step(state, row)
    ref = BatchPrior(prior).log_prob(hs, codes, levels)
    if len(ref) > warmup:
        ref[:warmup] = np.median(ref[warmup:])
    return state, h, ref, hs


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine similarity is then a dot product)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def units_ahead(units: np.ndarray, horizon: int, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """The seed units [N, H] each candidate would play next (clipped), and which exist."""
    index = units[:, None] + np.arange(horizon)[None, :]
    return np.minimum(index, n_units - 1), index < n_units


class Lookahead:
    """E(c) for a decision's candidates, from the prior's state after what was played."""

    def __init__(self, prior: StepPrior, seed_codes: np.ndarray, steering: Steering,
                 horizon: int) -> None:
        self.steering, self.horizon = steering, horizon
        self.codes = np.asarray(seed_codes, np.int64)
        self.prior = prior
        self.batch = BatchPrior(prior)
        self.state, _, self.ref, states = seed_reference(prior, self.codes, steering.levels,
                                                         steering.warmup_steps)
        self.seed_states = _unit_rows(states)  # S_seed(c), unit length
        # S before each output step (the step replaces state.h, never writes into it)
        self.played_states: list[np.ndarray] = []

    def play(self, codes: np.ndarray) -> None:
        """Feed one output step's codes, remembering the state that preceded it."""
        self.played_states.append(self.state.h)
        self.prior.step(self.state, codes)

    def model_term(self, units: np.ndarray, last_heard: np.ndarray, step: int,
                   steps_per_second: float) -> np.ndarray:
        """prior_weight * E - context_weight * context - replay_weight * replay (nats).

        `last_heard[u]`: the output step unit u was last played at (negative: in the seed's
        tail, heard in seed order; -inf: never, so its recency is 0).
        """
        st = self.steering
        now = _unit_rows(self.state.h)
        before = self.seed_states[units]
        term = st.prior_weight * self.score(units) - st.context_weight * (1.0 - before @ now)
        last = last_heard[units]
        played = np.flatnonzero(last >= 0)  # the tail's units were reached as in the seed
        if played.size:  # (`before` is already a copy: fancy indexing)
            before[played] = _unit_rows(np.stack(
                [self.played_states[int(last[j])] for j in played]))
        closeness = np.maximum(0.0, 1.0 - (1.0 - before @ now) / st.replay_distance)
        recency = np.exp(-(step - last) / steps_per_second / st.recent_seconds)
        return term - st.replay_weight * recency * closeness

    def score(self, units: np.ndarray) -> np.ndarray:
        """Nats per step (<= 0 when relative and capped), one per candidate unit."""
        st, horizon = self.steering, self.horizon
        index, valid = units_ahead(units, horizon, len(self.codes))
        future = self.codes[index]  # [N, H, L]
        batched = self.batch.clone(self.state, len(units))
        hs = np.empty((horizon, len(units), self.state.h.shape[-1]), np.float32)
        hs[0] = self.state.h  # after what was played: predicts the candidate's first unit
        for k in range(horizon - 1):
            hs[k + 1] = self.batch.step(batched, future[:, k])
        log_prob = self.batch.log_prob(hs.reshape(-1, hs.shape[-1]),
                                       future.transpose(1, 0, 2).reshape(-1, future.shape[-1]),
                                       st.levels).reshape(horizon, -1).T  # [N, H]
        if st.relative:
            log_prob = log_prob - self.ref[index]
            if st.cap:
                log_prob = np.minimum(log_prob, 0.0)
        return (log_prob * valid).sum(1) / np.maximum(valid.sum(1), 1)


def choice_probabilities(score: np.ndarray, temperature: float, top_k: int = 0,
                         top_p: float = 1.0, max_top: float = 1.0,
                         margin: float = 0.0) -> np.ndarray:
    """softmax(score / T) after top-k/top-p.

    `margin`: candidates within margin x T nats of the best count as equally good (the model
    judged them all plausible, so the draw spreads over them; candidates below keep their
    softmax weight). At low T the set shrinks to the best choice. `max_top` bounds the top
    probability by 1 - (1 - max_top) * T, sharing the rest in proportion among the others.
    """
    scores = np.asarray(score, np.float64) / temperature
    if margin > 0 and scores.size:
        best = scores.max()
        scores = np.where(scores >= best - margin, best, scores)
    scores = filter_logits(scores, top_k, top_p)
    allowed = np.isfinite(scores)
    probs = _softmax(scores, allowed)
    bound = max(1.0 - (1.0 - max_top) * temperature, 1.0 / np.count_nonzero(allowed))
    capped = np.zeros(len(probs), bool)
    # Water-filling: cap every candidate above the bound and share the rest among the others
    # by their own softmax (not by rescaling probabilities that may have underflowed to 0),
    # until none is above it; tied favourites are capped alike.
    while True:
        over = allowed & ~capped & (probs > bound)
        free = allowed & ~capped & ~over
        if not over.any() or not free.any():
            break
        capped |= over
        probs = np.where(capped, bound, 0.0)
        probs[free] = (1.0 - bound * capped.sum()) * _softmax(scores, free)[free]
    return probs


def _softmax(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """softmax over the entries in `mask` (the rest 0), stable for any finite scores."""
    out = np.zeros(len(scores))
    if mask.any():
        z = np.exp(scores[mask] - scores[mask].max())
        out[mask] = z / z.sum()
    return out


def when_by_costs_where_by_model(score: np.ndarray, cost: np.ndarray, is_jump: np.ndarray,
                                 temperature: float, top_k: int = 0, top_p: float = 1.0,
                                 max_top: float = 1.0, margin: float = 0.0) -> np.ndarray:
    """Choice probabilities when playing on competes with jumps: whether to jump is drawn as
    the costs alone (the no-prior ablation) would draw it, and the jump's target by `score`
    (prior term - costs) among the jumps only. The model then changes where the output goes,
    not how often it jumps, so it cannot buy plausibility with long verbatim runs (fewer
    jumps also mean more replayed windows, i.e. loops)."""
    is_jump = np.asarray(is_jump, bool)
    stay = float(choice_probabilities(-np.asarray(cost, np.float64), temperature, top_k,
                                      top_p)[~is_jump].sum())
    probs = np.zeros(len(score))
    probs[~is_jump] = stay / max(int((~is_jump).sum()), 1)
    probs[is_jump] = (1.0 - stay) * choice_probabilities(
        np.asarray(score)[is_jump], temperature, top_k, top_p, max_top, margin)
    return probs


def draw_index(probs: np.ndarray, rng: np.random.Generator) -> int:
    """One index by inverting the CDF with one uniform number (as `sampler.draw`)."""
    cdf = np.cumsum(probs)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(cdf) - 1))
