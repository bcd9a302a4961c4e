"""Joins and levels shared by both renderers: equal-power crossfades and peak limiting."""

from __future__ import annotations

import numpy as np


def equal_power_fades(length: int, correlation: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(fade_out, fade_in) that keep the power constant across a join.

    For uncorrelated signals this is the sine/cosine law (out**2 + in**2 == 1); for signals
    with correlation r it solves out**2 + in**2 + 2*r*out*in == 1 (Bristow-Johnson), so two
    similar pieces joined at the same beat position do not bulge by up to 3 dB mid-fade.
    """
    r = float(np.clip(correlation, 0.0, 0.99))
    t = (np.arange(length, dtype=np.float64) + 0.5) / max(length, 1)
    odd = 0.5 * np.sin(np.pi * (t - 0.5))
    even = np.sqrt((1.0 - 2.0 * odd**2 * (1.0 - r)) / (2.0 * (1.0 + r)))
    return (even - odd).astype(np.float32), (even + odd).astype(np.float32)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised zero-lag correlation of two equal-length pieces (0 for silence)."""
    denom = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b)) / denom if denom > 1e-12 else 0.0


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


PEAK = 0.98  # the loudest sample an output may have


def _finite(audio: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(audio, np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def finalize(audio: np.ndarray, peak: float = PEAK) -> np.ndarray:
    """Finite, float32, and never clipped: scale the whole file down if its peak is too high."""
    audio = _finite(audio)
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    if top > peak:
        audio = audio * (peak / top)
    return audio.astype(np.float32)


def clip_peak(piece: np.ndarray, peak: float = PEAK) -> np.ndarray:
    """A streamed piece made safe without seeing the rest: finite, float32, clipped at `peak`
    (where `finalize` would instead scale the whole file, which a stream cannot)."""
    piece = _finite(piece)
    if piece.size and float(np.max(np.abs(piece))) > peak:
        piece = np.clip(piece, -peak, peak)
    return piece.astype(np.float32, copy=False)
