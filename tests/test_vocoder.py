"""The synth vocoder: librosa-exact STFT/ISTFT, Griffin-Lim quality, blocks, reproducibility."""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np
import pytest

from musicgen.config import FeatureConfig, preset
from musicgen.features import MelAnalyzer
from musicgen.toymusic import arpeggio
from musicgen.vocoder import (
    FastSTFT,
    VocoderConfig,
    block_bounds,
    griffin_lim,
    griffin_lim_blocks,
    magnitude_rms,
    spectral_convergence,
)

CONFIGS = {"small": FeatureConfig(), "tiny": preset("tiny").features}
# Measured on the arpeggio below with 24 iterations: 0.070-0.082 at both rates and several
# random seeds (random phase alone: ~0.52). The bound leaves about 2x margin.
MAX_CONVERGENCE = 0.15


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def analyzer(request) -> MelAnalyzer:
    return MelAnalyzer(CONFIGS[request.param])


@pytest.fixture(scope="module")
def music(analyzer: MelAnalyzer) -> np.ndarray:
    return arpeggio(6, analyzer.config.sample_rate, bpm=110, seed=1)


def true_magnitude(analyzer: MelAnalyzer, audio: np.ndarray) -> np.ndarray:
    return np.abs(FastSTFT.for_analyzer(analyzer).stft(audio))


@pytest.mark.filterwarnings("ignore:n_fft=.*is too large")
@pytest.mark.parametrize("length", [0, 100, 511, 512, 513, 4097, 22050])
def test_stft_matches_librosa(analyzer: MelAnalyzer, length: int) -> None:
    c = analyzer.config
    audio = np.random.default_rng(length).standard_normal(length).astype(np.float32)
    if length < c.n_fft // 2 + 1:  # librosa refuses (center padding needs n_fft // 2)
        audio = np.concatenate([audio, np.zeros(c.n_fft, np.float32)])
    stft = FastSTFT.for_analyzer(analyzer)
    ours = stft.stft(audio)
    theirs = librosa.stft(audio, n_fft=c.n_fft, hop_length=c.hop_length, window=analyzer.window,
                          center=True)
    assert ours.shape == theirs.shape and ours.dtype == np.complex64
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * np.abs(theirs).max())
    for out_len in (None, len(audio)):
        back = stft.istft(theirs, out_len)
        ref = librosa.istft(theirs, n_fft=c.n_fft, hop_length=c.hop_length,
                            window=analyzer.window, center=True, length=out_len)
        assert back.shape == ref.shape and back.dtype == np.float32
        np.testing.assert_allclose(back, ref, rtol=0, atol=1e-5)


def test_griffin_lim_converges_on_music(analyzer: MelAnalyzer, music: np.ndarray) -> None:
    magnitude = true_magnitude(analyzer, music)
    out = griffin_lim(magnitude, analyzer, VocoderConfig(), np.random.default_rng(0))
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    assert len(out) == (magnitude.shape[1] - 1) * analyzer.config.hop_length
    start = griffin_lim(magnitude, analyzer, VocoderConfig(iterations=0),
                        np.random.default_rng(0))
    assert spectral_convergence(magnitude, start, analyzer) > 0.4  # random phase
    assert spectral_convergence(magnitude, out, analyzer) < MAX_CONVERGENCE
    # the level follows from the magnitude (Parseval), which the renderer relies on
    level = float(np.sqrt(np.mean(out.astype(np.float64) ** 2)))
    assert magnitude_rms(magnitude, analyzer) == pytest.approx(level, rel=0.1)


def test_griffin_lim_is_reproducible(analyzer: MelAnalyzer, music: np.ndarray) -> None:
    magnitude = true_magnitude(analyzer, music)
    a = griffin_lim(magnitude, analyzer, VocoderConfig(), np.random.default_rng(7))
    b = griffin_lim(magnitude, analyzer, VocoderConfig(), np.random.default_rng(7))
    c = griffin_lim(magnitude, analyzer, VocoderConfig(), np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_blocks_concatenate_to_griffin_lim_without_seams(analyzer: MelAnalyzer,
                                                         music: np.ndarray) -> None:
    magnitude = true_magnitude(analyzer, music)
    config = VocoderConfig()
    pieces = list(griffin_lim_blocks(magnitude, analyzer, config, np.random.default_rng(3)))
    whole = griffin_lim(magnitude, analyzer, config, np.random.default_rng(3))
    assert len(pieces) > 3  # 6 s in 2 s blocks, plus the joins
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    one_block = griffin_lim(magnitude, analyzer, dataclasses.replace(config, block_seconds=0),
                            np.random.default_rng(3))
    assert abs(spectral_convergence(magnitude, whole, analyzer)
               - spectral_convergence(magnitude, one_block, analyzer)) < 0.03
    # no clicks where blocks meet: the waveform's steps there are like those elsewhere
    hop = analyzer.config.hop_length
    block = int(round(config.block_seconds * analyzer.config.sample_rate / hop))
    steps = np.abs(np.diff(whole))
    near = np.zeros(len(steps), bool)
    for start, _ in block_bounds(magnitude.shape[1], block)[1:]:
        near[start * hop - 2 * hop: start * hop + 2 * hop] = True
    assert steps[near].max() <= 1.5 * np.percentile(steps[~near], 99.9)


def test_initial_phase_is_used(analyzer: MelAnalyzer, music: np.ndarray) -> None:
    """With the true phase given and no iterations, the blocks rebuild the signal."""
    spectrum = FastSTFT.for_analyzer(analyzer).stft(music)
    phase = spectrum / (np.abs(spectrum) + 1e-8)
    out = griffin_lim(np.abs(spectrum), analyzer, VocoderConfig(iterations=0),
                      np.random.default_rng(0), phase)
    np.testing.assert_allclose(out, music[: len(out)], atol=0.01 * np.abs(music).max())


def test_short_inputs_and_block_bounds(analyzer: MelAnalyzer) -> None:
    bins = analyzer.config.n_fft // 2 + 1
    for frames in (0, 1, 2, 3):
        out = griffin_lim(np.ones((bins, frames), np.float32), analyzer, VocoderConfig(),
                          np.random.default_rng(0))
        assert len(out) == max(0, frames - 1) * analyzer.config.hop_length
    assert block_bounds(10, 0) == [(0, 10)]
    assert block_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert block_bounds(9, 4, min_last=2) == [(0, 4), (4, 9)]  # a 1-frame tail is merged
