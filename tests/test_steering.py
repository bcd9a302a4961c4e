"""The prior's lookahead in the seed renderer: batched equals one-by-one, temperature has the
same meaning as in synth, and each Generate sounds new."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from musicgen import metrics
from musicgen.checkpoint import load_prior
from musicgen.generate import GenerateOptions, Generator
from musicgen.render.beat_grid import analyse_beat
from musicgen.render.steering import (
    BatchPrior,
    Lookahead,
    Steering,
    choice_probabilities,
    seed_reference,
    when_by_costs_where_by_model,
)
from musicgen.render.units import place_units
from musicgen.toymusic import click_and_chords

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=["gru", "lstm"])
def generator(request: pytest.FixtureRequest, tiny_run: dict[str, Path]) -> Generator:
    return Generator.load(tiny_run[request.param])


def test_batched_lookahead_equals_the_single_step_sampler(generator: Generator) -> None:
    prior = generator.step_prior
    levels = prior.config.levels
    rng = np.random.default_rng(0)
    size = generator.codec.config.codebook_size
    seed_codes = rng.integers(0, size, (40, levels))
    played = rng.integers(0, size, (5, levels))
    horizon = 6
    steering = Steering(levels=levels, relative=False, cap=False)
    look = Lookahead(prior, seed_codes, steering, horizon)
    for row in played:  # what the output played after the seed
        look.play(row)
    units = np.array([0, 7, 20, 37])  # 37: the horizon runs past the seed's end
    batched = look.score(units)
    for unit, got in zip(units, batched, strict=True):
        state, _ = prior.prime(np.concatenate([seed_codes, played]))
        h, total, n = state.h, 0.0, 0
        for k in range(horizon):
            if unit + k >= len(seed_codes):
                break
            total += float(prior.log_prob(h, seed_codes[unit + k][None])[0])
            n += 1
            h = prior.step(state, seed_codes[unit + k])
        assert got == pytest.approx(total / n, abs=1e-3)
    # the reference is the seed's own teacher-forced log-probability, step by step
    _, _, ref, _ = seed_reference(prior, seed_codes, levels, warmup=0)
    state = prior.initial_state()
    for t in (0, 1, 2):
        assert ref[t] == pytest.approx(float(prior.log_prob(state.h, seed_codes[t][None])[0]),
                                       abs=1e-3)
        prior.step(state, seed_codes[t])
    # batched steps carry the same state as separate ones
    batch = BatchPrior(prior)
    start, _ = prior.prime(seed_codes[:10])
    stacked = batch.clone(start, 2)
    h2 = batch.step(stacked, played[:2])
    one, _ = prior.prime(seed_codes[:10])
    np.testing.assert_allclose(prior.step(one, played[1]), h2[1], atol=1e-5)


def test_the_state_terms_compare_the_right_states(generator: Generator) -> None:
    """context(c) compares the prior's state after what was played with its state just before
    c in the seed; replay(c) with its state just before c was last played in the output
    (units of the seed's tail: as in the seed), scaled by recency and closeness."""
    prior = generator.step_prior
    levels = prior.config.levels
    rng = np.random.default_rng(1)
    seed_codes = rng.integers(0, generator.codec.config.codebook_size, (30, levels))
    steering = Steering(levels=levels, prior_weight=0.0, context_weight=1.0,
                        replay_weight=0.0, replay_distance=2.0, recent_seconds=1e9)
    look = Lookahead(prior, seed_codes, steering, horizon=4)
    for unit in (12, 13, 5):  # the output played these seed units, in this order
        look.play(seed_codes[unit])

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    now = prior.prime(np.concatenate([seed_codes, seed_codes[[12, 13, 5]]]))[0].h
    units = np.array([3, 13, 29])
    never = np.full(len(seed_codes), -np.inf)
    context = -look.model_term(units, never, 3, 10.0)
    for unit, got in zip(units, context, strict=True):
        before = prior.prime(seed_codes[:unit])[0].h
        assert got == pytest.approx(1.0 - cos(now, before), abs=1e-4)
    # replay: unit 13 was played at output step 1, after the seed and unit 12; unit 29 was
    # in the seed's tail (last_heard < 0): its state is the seed's own
    replay = Lookahead(prior, seed_codes, Steering(
        levels=levels, prior_weight=0.0, context_weight=0.0, replay_weight=1.0,
        replay_distance=2.0, recent_seconds=1e9), horizon=4)
    for unit in (12, 13, 5):
        replay.play(seed_codes[unit])
    last_heard = never.copy()
    last_heard[13], last_heard[29] = 1, -1
    risk = -replay.model_term(units, last_heard, 3, 10.0)
    after_12 = prior.prime(np.concatenate([seed_codes, seed_codes[[12]]]))[0].h
    assert risk[0] == 0.0  # never heard: no replay
    assert risk[1] == pytest.approx(1.0 - (1.0 - cos(now, after_12)) / 2.0, abs=1e-4)
    in_seed = prior.prime(seed_codes[:29])[0].h
    assert risk[2] == pytest.approx(1.0 - (1.0 - cos(now, in_seed)) / 2.0, abs=1e-4)


def test_temperature_divides_the_final_choice() -> None:
    score = np.array([0.0, -1.0, -3.0])
    cold = choice_probabilities(score, 0.05)
    warm = choice_probabilities(score, 1.0)
    hot = choice_probabilities(score, 5.0)
    assert cold[0] > 0.999  # low temperature: the safest choice
    np.testing.assert_allclose(warm, np.exp(score) / np.exp(score).sum())
    assert hot[2] > warm[2] and hot[0] < warm[0]  # high: adventurous
    # a bound on the top choice at T = 1, relaxing as T falls; the others keep their ratio
    capped = choice_probabilities(np.array([0.0, -6.0, -7.0]), 1.0, max_top=0.8)
    assert capped[0] == pytest.approx(0.8) and capped[1] / capped[2] == pytest.approx(np.e)
    assert choice_probabilities(np.array([0.0, -6.0]), 0.25, max_top=0.8)[0] == pytest.approx(
        0.95)


def test_plausible_margin_spreads_the_draw_over_near_best_choices_only() -> None:
    score = np.array([0.0, -0.3, -0.9, -4.0])
    spread = choice_probabilities(score, 1.0, margin=1.0)
    # the three within 1 nat of the best are drawn as equals; the fourth keeps its weight
    assert spread[0] == pytest.approx(spread[1]) == pytest.approx(spread[2])
    assert spread[3] / spread[0] == pytest.approx(np.exp(-4.0))
    # the set scales with T: at T = 0.4 only candidates within 0.4 nats remain tied
    cool = choice_probabilities(score, 0.4, margin=1.0)
    assert cool[0] == pytest.approx(cool[1]) and cool[2] < cool[1]
    # nothing near the best: the best keeps its lead
    alone = choice_probabilities(np.array([0.0, -3.0]), 1.0, margin=1.0)
    np.testing.assert_allclose(alone, choice_probabilities(np.array([0.0, -3.0]), 1.0))


def test_the_costs_decide_when_to_jump_and_the_model_where() -> None:
    cost = np.array([1.5, 2.0, 3.0, 0.5])  # three jumps, then playing on
    is_jump = np.array([True, True, True, False])
    prior = np.array([-3.0, 0.0, -0.2, 0.0])
    probs = when_by_costs_where_by_model(prior - cost, cost, is_jump, 1.0)
    assert probs.sum() == pytest.approx(1.0)
    # playing on is exactly as likely as with the costs alone (the no-prior ablation) ...
    assert probs[3] == pytest.approx(choice_probabilities(-cost, 1.0)[3])
    # ... and the jumps share the rest by prior term - costs
    np.testing.assert_allclose(probs[:3] / probs[:3].sum(),
                               choice_probabilities((prior - cost)[:3], 1.0))
    # another prior moves the jumps' targets, never the chance of jumping
    other = when_by_costs_where_by_model(np.array([0.0, -5.0, -5.0, 0.0]) - cost, cost,
                                         is_jump, 1.0)
    assert other[3] == pytest.approx(probs[3]) and other[0] > 0.9 * (1 - probs[3])
    # temperature sharpens both draws: at low T the cheapest choice (playing on) wins
    assert when_by_costs_where_by_model(prior - cost, cost, is_jump, 0.05)[3] > 0.99


@pytest.mark.parametrize("steered_by", ["beat chooser", "lookahead"])
def test_every_random_seed_sounds_new(tiny_run: dict[str, Path], steered_by: str) -> None:
    """>= 95% of pairs of random seeds differ audibly (5 s on an 8 s seed), each output keeps
    the tempo and pulse, and none loops more than the costs alone do: steered by the shipped
    GRU's beat chooser (it reads the audio, not the codes, so it serves any codec) or, without
    one, by the prior's lookahead."""
    generator = Generator.load(tiny_run["gru"])
    chooser = (load_prior(ROOT / "checkpoints" / "prior-gru").chooser
               if steered_by == "beat chooser" else None)
    sr = generator.sample_rate
    seed = generator.prepare_seed((sr, click_and_chords(8, sr, bpm=120, seed=5)))
    grid = analyse_beat(seed.audio, sr, generator.codec.features.hop_length)
    steps = int(np.ceil(5.0 * generator.codec.steps_per_second))
    options = GenerateOptions(seconds=5.0)

    def outputs(prior) -> list[np.ndarray]:
        rendered = [place_units(prior, generator.codec, seed, steps, options,
                                np.random.default_rng(r), grid=grid,
                                chooser=chooser if prior is not None else None)
                    for r in range(8)]
        assert {out.info["steered_by"] for out in rendered} == {
            steered_by if prior is not None else "costs"}
        return [out.audio[out.join_sample:] for out in rendered]

    steered = outputs(generator.step_prior)
    pairs = list(itertools.combinations(range(len(steered)), 2))
    different = [metrics.audibly_different(steered[a], steered[b], sr) for a, b in pairs]
    assert np.mean(different) >= 0.95, f"{sum(different)} of {len(pairs)} pairs differ"
    seed_pulse = metrics.pulse_clarity(seed.audio, sr)
    alone = outputs(None)
    for new in steered:
        assert metrics.tempo(new, sr) == pytest.approx(120, rel=0.03)
        assert metrics.pulse_clarity(new, sr) >= 0.9 * seed_pulse
    assert np.median([metrics.loop_share(x, sr) for x in steered]) <= np.median(
        [metrics.loop_share(x, sr) for x in alone]) + 0.05


def test_a_forced_jump_never_leaves_one_choice_certain(tiny_run: dict[str, Path]) -> None:
    """The first step after the seed's end must jump, and that choice sets the course of a
    short output: even a model that dominates every other term (its raw log-probabilities at
    weight 1000, no margin) gives its favourite at most `forced_max_top_probability`, so
    random seeds start differently, while the favourite stays the usual start; unbounded, it
    takes every random seed."""
    generator = Generator.load(tiny_run["gru"])
    sr = generator.sample_rate
    seed = generator.prepare_seed((sr, click_and_chords(8, sr, bpm=120, seed=5)))
    grid = analyse_beat(seed.audio, sr, generator.codec.features.hop_length)
    options = GenerateOptions(seconds=1.0)

    def first_sources(bound: float) -> list[int]:
        steering = Steering(prior_weight=1000.0, plausible_margin=0.0, relative=False,
                            cap=False, forced_max_top_probability=bound)
        return [place_units(generator.step_prior, generator.codec, seed, 4, options,
                            np.random.default_rng(r), steering=steering,
                            grid=grid).segments[1][1] for r in range(20)]

    assert len(set(first_sources(1.0))) == 1
    bounded = first_sources(0.8)
    favourite = max(set(bounded), key=bounded.count)
    assert len(set(bounded)) >= 2 and bounded.count(favourite) >= 12  # ~80% of 20


def test_the_bound_caps_every_choice_and_shares_by_score() -> None:
    """The top-probability bound holds for every candidate (ties included, at a high
    temperature), shares the rest by the others' own scores even when their weights
    underflow, never revives a filtered candidate, and always sums to 1."""
    tied = choice_probabilities(np.array([0.0, 0.0, -100.0, -100.0]), 3.0, max_top=0.8,
                                margin=1.0)
    bound = 1.0 - 0.2 * 3.0
    assert tied.sum() == pytest.approx(1.0) and tied.max() <= bound + 1e-12
    assert tied[0] == pytest.approx(tied[1])
    far = choice_probabilities(np.array([0.0, -800.0, -2000.0]), 1.0, max_top=0.8)
    assert far[0] == pytest.approx(0.8) and far[1] == pytest.approx(0.2) and far[2] < 1e-12
    kept = choice_probabilities(np.array([5.0, 0.0, -1.0, -2.0]), 1.0, top_k=2, max_top=0.6)
    assert kept[2] == 0.0 and kept[3] == 0.0 and kept[:2] == pytest.approx([0.6, 0.4])
    free = choice_probabilities(np.array([0.0, -1.0]), 1.0)  # no bound: a plain softmax
    assert free == pytest.approx([1 / (1 + np.exp(-1.0)), 1 - 1 / (1 + np.exp(-1.0))])
