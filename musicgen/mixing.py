"""Joins and levels shared by both renderers: equal-power crossfades, gain, peak limiting."""

from __future__ import annotations

import numpy as np


def equal_power_fades(length: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade_out, fade_in) with fade_out**2 + fade_in**2 == 1: no dip or bump at a join."""
    t = (np.arange(length, dtype=np.float32) + 0.5) / max(length, 1)
    return np.cos(0.5 * np.pi * t).astype(np.float32), np.sin(0.5 * np.pi * t).astype(np.float32)


def crossfade(head: np.ndarray, tail: np.ndarray, overlap: int) -> np.ndarray:
    """head's last `overlap` samples fade into tail's first `overlap` samples."""
    overlap = int(min(overlap, len(head), len(tail)))
    if overlap <= 0:
        return np.concatenate([head, tail]).astype(np.float32)
    fade_out, fade_in = equal_power_fades(overlap)
    middle = head[len(head) - overlap:] * fade_out + tail[:overlap] * fade_in
    return np.concatenate([head[:len(head) - overlap], middle, tail[overlap:]]).astype(np.float32)


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def match_rms(audio: np.ndarray, reference: np.ndarray, max_gain: float = 4.0) -> np.ndarray:
    """Scale `audio` to the reference's RMS, within +-12 dB so silence is not blown up."""
    level = rms(audio)
    if level < 1e-8:
        return audio.astype(np.float32)
    gain = float(np.clip(rms(reference) / level, 1.0 / max_gain, max_gain))
    return (audio * gain).astype(np.float32)


def finalize(audio: np.ndarray, peak: float = 0.98) -> np.ndarray:
    """Finite, float32, and never clipped: scale the whole file down if its peak is too high."""
    audio = np.nan_to_num(np.asarray(audio, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    if top > peak:
        audio = audio * (peak / top)
    return audio.astype(np.float32)
