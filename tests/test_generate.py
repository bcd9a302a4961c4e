"""The public entry point: both renderers, joins, levels, reproducibility, bad options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgen.errors import InputError
from musicgen.generate import GenerateOptions, Generator


@pytest.fixture(scope="module")
def generator(tiny_run: dict[str, Path]) -> Generator:
    return Generator.load(tiny_run["lstm"])


@pytest.mark.parametrize("render", ["synth", "seed"])
def test_output_is_seed_tail_plus_new_audio(generator: Generator, seed_wav: Path,
                                            render: str) -> None:
    result = generator.generate(seed_wav, GenerateOptions(seconds=5, render=render,
                                                          random_seed=1))
    sr = result.sample_rate
    assert result.join_seconds == pytest.approx(3.0, abs=1.0 / sr)
    assert len(result.new_audio) / sr == pytest.approx(5.0, abs=0.07)
    assert np.all(np.isfinite(result.audio))
    assert np.abs(result.audio).max() <= 0.98 + 1e-6
    assert np.abs(result.new_audio).max() > 0.01  # not silent
    assert result.info["render"] == render and result.info["random_seed"] == 1
    assert result.codes.shape[1] == generator.bundle.config.levels
    # the first splice is at the join (synth) or up to a splice lead before it (seed)
    assert result.joins and 0 <= result.join_seconds * sr - result.joins[0] <= 0.05 * sr


def test_synth_join_has_no_click(generator: Generator, seed_wav: Path) -> None:
    result = generator.generate(seed_wav, GenerateOptions(seconds=3, render="synth",
                                                          random_seed=2))
    sr, join = result.sample_rate, result.joins[0]
    around = np.abs(np.diff(result.audio[join - sr // 20: join + sr // 20]))
    typical = np.abs(np.diff(result.audio[: join - sr // 10]))
    assert around.max() <= 4 * np.percentile(typical, 99.9)


@pytest.mark.parametrize("render", ["synth", "seed"])
def test_random_seed_reproduces_the_file(generator: Generator, seed_wav: Path,
                                         render: str) -> None:
    options = GenerateOptions(seconds=3, render=render, random_seed=11)
    a = generator.generate(seed_wav, options).audio
    b = generator.generate(seed_wav, options).audio
    np.testing.assert_array_equal(a, b)
    drawn = generator.generate(seed_wav, GenerateOptions(seconds=1, render=render))
    assert drawn.random_seed >= 0


def test_adaptation_changes_the_prior_not_the_shipped_model(generator: Generator,
                                                            seed_wav: Path) -> None:
    before = [w.copy() for w in generator.bundle.model.get_weights()]
    plain = generator.generate(seed_wav, GenerateOptions(seconds=3, render="synth",
                                                         random_seed=4))
    adapted = generator.generate(seed_wav, GenerateOptions(seconds=3, render="synth",
                                                           random_seed=4, adapt_steps=5))
    assert "adapt_s" in adapted.info["timings"]
    assert not np.array_equal(plain.codes, adapted.codes)
    for old, new in zip(before, generator.bundle.model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("options, message", [
    (GenerateOptions(seconds=0), "seconds"),
    (GenerateOptions(seconds=1e9), "seconds"),
    (GenerateOptions(render="midi"), "render"),
    (GenerateOptions(top_p=1.5), "top_p"),
    (GenerateOptions(random_seed=-5), "random_seed"),
])
def test_bad_options_are_refused(generator: Generator, seed_wav: Path,
                                 options: GenerateOptions, message: str) -> None:
    with pytest.raises(InputError, match=message):
        generator.generate(seed_wav, options)


def test_short_or_silent_seed_is_refused(generator: Generator) -> None:
    sr = generator.sample_rate
    with pytest.raises(InputError, match="too short"):
        generator.generate((sr, np.random.default_rng(0).normal(0, 0.1, sr // 5)),
                           GenerateOptions(seconds=1))
    with pytest.raises(InputError, match="silent"):
        generator.generate((sr, np.zeros(sr * 2)), GenerateOptions(seconds=1))
