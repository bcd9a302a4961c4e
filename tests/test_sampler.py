"""The NumPy step sampler against the Keras prior, and the sampling helpers."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.config import PriorConfig
from musicgen.errors import InputError
from musicgen.prior import build_prior
from musicgen.sampler import (
    SamplingOptions,
    StepPrior,
    filter_logits,
    generate_codes,
    sample_logits,
)


def _random_prior(arch: str, seed: int = 0) -> tuple[PriorConfig, object]:
    config = PriorConfig(arch=arch, levels=3, codebook_size=16, embed_dim=8, conv_channels=8,
                         conv_dilations=(1, 2), rnn_units=12, head_units=8, dropout=0.1)
    model = build_prior(config)
    rng = np.random.default_rng(seed)
    for weight in model.weights:  # larger than the initialisers' scale: a sharper check
        weight.assign(rng.normal(0, 0.4, weight.shape).astype("float32"))
    return config, model


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_step_logits_match_keras(arch: str) -> None:
    config, model = _random_prior(arch)
    codes = np.random.default_rng(1).integers(0, 16, (1, 30, 3))
    expected = np.asarray(model([codes[:, :-1], codes[:, 1:]], training=False))[0]
    prior = StepPrior.from_model(model, config)
    state = prior.initial_state()
    worst = 0.0
    for t in range(codes.shape[1] - 1):
        h = prior.step(state, codes[0, t])
        lower = np.zeros_like(h)
        for level in range(3):
            got = prior.level_logits(h, lower, level)
            worst = max(worst, float(np.abs(got - expected[t, level]).max()))
            lower = lower + prior.condition[level, codes[0, t + 1, level]]
    assert worst < 1e-4


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_log_prob_matches_level_by_level(arch: str) -> None:
    config, model = _random_prior(arch, seed=2)
    prior = StepPrior.from_model(model, config)
    _, h = prior.prime(np.random.default_rng(3).integers(0, 16, (5, 3)))
    candidates = np.random.default_rng(4).integers(0, 16, (6, 3))
    batched = prior.log_prob(h, candidates)
    for row, value in zip(candidates, batched, strict=True):
        lower, total = np.zeros_like(h), 0.0
        for level in range(3):
            logits = prior.level_logits(h, lower, level).astype(np.float64)
            total += logits[row[level]] - np.log(np.exp(logits - logits.max()).sum()) \
                - logits.max()
            lower = lower + prior.condition[level, row[level]]
        assert value == pytest.approx(total, abs=1e-4)


def test_generation_is_reproducible_and_seed_dependent() -> None:
    config, model = _random_prior("gru")
    prior = StepPrior.from_model(model, config)
    seed_codes = np.random.default_rng(5).integers(0, 16, (12, 3))
    options = SamplingOptions(temperature=1.0)
    a = generate_codes(prior, seed_codes, 40, options, np.random.default_rng(7))
    b = generate_codes(prior, seed_codes, 40, options, np.random.default_rng(7))
    c = generate_codes(prior, seed_codes, 40, options, np.random.default_rng(8))
    assert a.shape == (40, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() < 16


def test_top_k_one_is_greedy() -> None:
    logits = np.array([0.1, 2.0, 1.9, -1.0])
    rng = np.random.default_rng(0)
    picks = {sample_logits(logits, SamplingOptions(top_k=1), rng) for _ in range(50)}
    assert picks == {1}


def test_top_p_keeps_the_smallest_sufficient_set() -> None:
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    kept = np.isfinite(filter_logits(np.log(probs), top_p=0.75))
    np.testing.assert_array_equal(kept, [True, True, False, False])
    assert np.isfinite(filter_logits(np.log(probs), top_p=0.01)).sum() == 1


def test_low_temperature_concentrates_samples() -> None:
    logits = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    rng = np.random.default_rng(0)
    cold = [sample_logits(logits, SamplingOptions(temperature=0.05), rng) for _ in range(200)]
    warm = [sample_logits(logits, SamplingOptions(temperature=1.0), rng) for _ in range(200)]
    assert np.mean(np.array(cold) == 0) > 0.95
    assert 0.25 < np.mean(np.array(warm) == 0) < 0.55


def test_level_scales_sharpen_only_the_coarsest_levels() -> None:
    config, model = _random_prior("gru", seed=6)
    prior = StepPrior.from_model(model, config)
    _, h = prior.prime(np.random.default_rng(9).integers(0, 16, (8, 3)))
    favourite = int(np.argmax(prior.level_logits(h, np.zeros_like(h), 0)))

    def draws(scales: tuple[float, ...]) -> np.ndarray:
        rng = np.random.default_rng(0)
        options = SamplingOptions(temperature=1.0, level_scales=scales)
        return np.array([prior.sample_step(h, options, rng) for _ in range(300)])

    sharp, plain = draws((0.02,)), draws(())
    assert np.mean(sharp[:, 0] == favourite) > 0.98  # level 0 at T = 0.02: its favourite
    assert np.mean(plain[:, 0] == favourite) < 0.9  # at T = 1 it spreads
    assert len(np.unique(sharp[:, 2])) > 3  # the last level is still drawn at T = 1
    assert SamplingOptions(temperature=0.5, level_scales=(0.6,)).temperature_at(0) == 0.3
    assert SamplingOptions(temperature=0.5, level_scales=(0.6,)).temperature_at(1) == 0.5


@pytest.mark.parametrize("options", [SamplingOptions(temperature=0.0),
                                     SamplingOptions(top_k=-1), SamplingOptions(top_p=0.0),
                                     SamplingOptions(temperature=float("nan")),
                                     SamplingOptions(level_scales=(0.0,)),
                                     SamplingOptions(level_scales=(1.5,))])
def test_bad_sampling_options_are_refused(options: SamplingOptions) -> None:
    with pytest.raises(InputError):
        options.validate()
