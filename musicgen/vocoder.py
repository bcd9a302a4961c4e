"""log-mel -> waveform for render="synth": fast Griffin-Lim from a mel pseudo-inverse.

The first frames overlap the seed, so they start from the seed's own STFT phase; the rest start
from random phase drawn from the request's generator (reproducible).
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

from musicgen.features import MelAnalyzer


@dataclass(frozen=True)
class VocoderConfig:
    iterations: int = 24
    momentum: float = 0.99


def griffin_lim(magnitude: np.ndarray, analyzer: MelAnalyzer, config: VocoderConfig,
                rng: np.random.Generator, init_phase: np.ndarray | None = None) -> np.ndarray:
    """Fast Griffin-Lim (Perraudin et al. 2013) on magnitude [bins, frames]."""
    c = analyzer.config
    bins, frames = magnitude.shape
    angles = np.exp(2j * np.pi * rng.random((bins, frames))).astype(np.complex64)
    if init_phase is not None:
        known = min(init_phase.shape[1], frames)
        angles[:, :known] = init_phase[:, :known]
    length = (frames - 1) * c.hop_length
    previous = np.zeros_like(angles)
    alpha = config.momentum / (1.0 + config.momentum)
    istft_args = dict(hop_length=c.hop_length, n_fft=c.n_fft, window=analyzer.window,
                      center=True, length=length)
    for _ in range(config.iterations):
        audio = librosa.istft(magnitude * angles, **istft_args)
        rebuilt = analyzer.stft(audio)[:, :frames]
        angles = rebuilt - alpha * previous
        previous = rebuilt
        angles = angles / (np.abs(angles) + 1e-8)
    return librosa.istft(magnitude * angles, **istft_args).astype(np.float32)
