"""Synthesized outputs keep the seed's loudness: a prior that wanders to quiet codes over a
long output must not fade the file out (a 60 s request fell from -18 to -42 dBFS)."""

from __future__ import annotations

import numpy as np

from musicgen.config import FeatureConfig
from musicgen.features import MelAnalyzer
from musicgen.mixing import rms
from musicgen.render.synth import MAX_GAIN, level_gains
from musicgen.vocoder import FastSTFT, VocoderConfig, griffin_lim


def dbfs(audio: np.ndarray) -> float:
    return 20 * np.log10(max(rms(audio), 1e-12))


def test_a_fading_output_is_held_at_the_seed_level_within_bounds() -> None:
    analyzer = MelAnalyzer(FeatureConfig())
    sr = analyzer.config.sample_rate
    t = np.arange(20 * sr) / sr
    tone = 0.1 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    fade = np.interp(t, [0, 6, 12, 20], [1.0, 1.0, 10 ** (-20 / 20), 10 ** (-20 / 20)])
    magnitude = np.abs(FastSTFT.for_analyzer(analyzer).stft((tone * fade).astype(np.float32)))
    target = rms(tone[: 3 * sr])
    gains = level_gains(magnitude, analyzer, target)
    audio = griffin_lim(magnitude * gains[None, :], analyzer, VocoderConfig(),
                        np.random.default_rng(0))
    levels = [dbfs(audio[i:i + 2 * sr]) for i in range(0, len(audio) - 2 * sr, 2 * sr)]
    assert max(levels) - min(levels) < 2.0, levels  # was 20 dB without the gains
    assert abs(np.mean(levels) - dbfs(tone[: 3 * sr])) < 1.5
    # a true rest is not pulled up from the noise floor: the gain is bounded
    silent = level_gains(magnitude * 1e-4, analyzer, target)
    assert np.allclose(silent, MAX_GAIN)
    assert np.all(level_gains(magnitude * 0.0, analyzer, target) == 1.0)
