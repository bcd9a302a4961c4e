"""Log-mel analysis: the representation the codec compresses and the vocoder inverts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import librosa
import numpy as np

from musicgen.config import FeatureConfig


@dataclass
class MelAnalyzer:
    """Holds the mel filterbank (and its pseudo-inverse) for one FeatureConfig.

    Built once per loaded model so that analysis and inversion never recompute the basis.
    """

    config: FeatureConfig
    basis: np.ndarray = field(init=False, repr=False)
    inverse: np.ndarray = field(init=False, repr=False)
    window: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        c = self.config
        self.basis = librosa.filters.mel(
            sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax
        ).astype(np.float32)
        # Least-squares inverse of the filterbank: one matmul instead of librosa's NNLS solve.
        self.inverse = np.linalg.pinv(self.basis).astype(np.float32)
        self.window = librosa.filters.get_window("hann", c.n_fft, fftbins=True).astype(np.float32)

    def stft(self, audio: np.ndarray) -> np.ndarray:
        c = self.config
        return librosa.stft(audio.astype(np.float32), n_fft=c.n_fft, hop_length=c.hop_length,
                            window=self.window, center=True)

    def log_mel(self, audio: np.ndarray) -> np.ndarray:
        """Log-mel power in dB, [frames, n_mels], floored at config.floor_db."""
        power = np.abs(self.stft(audio)) ** 2
        return self.power_to_log_mel(power)

    def power_to_log_mel(self, power: np.ndarray) -> np.ndarray:
        mel = self.basis @ power
        db = 10.0 * np.log10(np.maximum(mel, 1e-10))
        return np.maximum(db, self.config.floor_db).T.astype(np.float32)

    def log_mel_to_magnitude(self, log_mel: np.ndarray) -> np.ndarray:
        """Linear STFT magnitude [bins, frames] from log-mel dB [frames, n_mels]."""
        power = 10.0 ** (np.asarray(log_mel, np.float32).T / 10.0)
        linear = np.maximum(self.inverse @ power, 0.0)
        return np.sqrt(linear).astype(np.float32)


def model_scale_db(config: FeatureConfig) -> float:
    """dB per model-scale unit: dB in [floor, 0] maps to [-1, 1] as (dB + half) / half."""
    return -config.floor_db / 2.0


def to_model_scale(log_mel_db: Any, config: FeatureConfig) -> Any:
    """Map dB in [floor, 0] to about [-1, 1], the range the codec trains on. Takes NumPy
    arrays (returned as float32) and float32 tensors (inside a tf.data pipeline) alike."""
    half = model_scale_db(config)
    if isinstance(log_mel_db, (np.ndarray, np.generic, list, tuple)):
        log_mel_db = np.asarray(log_mel_db, np.float32)
    return (log_mel_db + half) / half


# A full-scale sine measures about +33 dB in this log-mel (the STFT is not normalised), and
# the loudest cells of loudness-normalised music +10 to +25 dB; above this is overshoot.
CEILING_DB = 60.0


def from_model_scale(scaled: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Inverse of `to_model_scale`, floored at `config.floor_db` and capped at CEILING_DB.

    Not capped at 0 dB: v1 did, which flattened every cell above it (5% of cells, the
    harmonics and onsets of each frame's peak) and made decoded audio sound smeared.
    """
    half = model_scale_db(config)
    db = np.asarray(scaled, np.float32) * half - half
    return np.clip(db, config.floor_db, CEILING_DB).astype(np.float32)


def pad_frames(frames: np.ndarray, multiple: int) -> np.ndarray:
    """Pad [frames, bins] at the end (edge values) to a multiple of the codec's step."""
    extra = (-frames.shape[0]) % multiple
    if extra == 0:
        return frames
    return np.concatenate([frames, np.repeat(frames[-1:], extra, axis=0)], axis=0)
