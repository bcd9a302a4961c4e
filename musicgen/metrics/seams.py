"""Joins: does a splice click, compared with the seed where it simply plays on?"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.signal

from musicgen.metrics.frames import _mono

_HIGHBAND_FLOOR = 1e-10  # -100 dBFS: keeps dB finite for band-limited audio


def _highband_db(
    audio: np.ndarray, sr: int, centres: Sequence[int], window_ms: float, cutoff_hz: float
) -> np.ndarray:
    """High-band (above cutoff) mean power in dBFS of a window centred at each sample index."""
    y = _mono(audio).astype(np.float64)
    if not 0 < cutoff_hz < sr / 2:
        raise ValueError(f"cutoff_hz must be in (0, {sr / 2}), got {cutoff_hz}")
    if window_ms <= 0:
        raise ValueError(f"window_ms must be positive, got {window_ms}")
    centres = np.asarray(centres, dtype=np.int64).reshape(-1)
    if y.size == 0:
        raise ValueError("audio is empty")
    if np.any((centres < 0) | (centres > y.size)):
        raise ValueError("a join/boundary lies outside the audio")
    # 4th-order Butterworth, run forwards and backwards: zero phase, so a click stays where
    # it happened instead of being smeared past the window.
    sos = scipy.signal.butter(4, cutoff_hz, btype="highpass", fs=sr, output="sos")
    try:
        hp = scipy.signal.sosfiltfilt(sos, y)
    except ValueError:  # shorter than the filter's padding
        hp = scipy.signal.sosfilt(sos, y)
    half = max(1, round(window_ms * 1e-3 * sr / 2))
    out = np.empty(centres.size)
    for i, c in enumerate(centres):
        seg = hp[max(0, c - half) : min(y.size, c + half)]
        out[i] = np.mean(seg**2) if seg.size else 0.0
    return 10.0 * np.log10(out + _HIGHBAND_FLOOR)


def splice_excess_values(
    audio: np.ndarray,
    sr: int,
    join_samples: Sequence[int],
    source: np.ndarray,
    source_pairs: Sequence[tuple[int, int]],
    window_ms: float = 10.0,
    cutoff_hz: float = 4000.0,
) -> np.ndarray:
    """Per-join high-band energy (dB) above the seed's own at the two places the join connects.

    Why: a join of two pieces of the seed should sound like the seed does where it simply
    plays on (its natural unit boundaries). For each join, the reference is the seed's own
    high-band power (mean of the two) at the outgoing piece's end and the incoming piece's
    start, so a join that lands in a loud, bright passage is not blamed for the passage.
    """
    if len(join_samples) != len(source_pairs):
        raise ValueError("need one (outgoing, incoming) source pair per join")
    if len(join_samples) == 0:
        return np.zeros(0)
    out = _highband_db(audio, sr, join_samples, window_ms, cutoff_hz)
    last = len(source) - 1  # a piece may end exactly at the seed's end
    outgoing = _highband_db(source, sr, [min(p[0], last) for p in source_pairs], window_ms,
                            cutoff_hz)
    incoming = _highband_db(source, sr, [min(p[1], last) for p in source_pairs], window_ms,
                            cutoff_hz)
    reference = 10.0 * np.log10((10 ** (outgoing / 10) + 10 ** (incoming / 10)) / 2)
    return out - reference
