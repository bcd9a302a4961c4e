"""Joins and levels shared by both renderers: equal-power crossfades, placing spliced
segments (`overlap_add`) and peak limiting."""

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


def overlap_add(source: np.ndarray, segments: list[tuple[int, int, int]], total: int,
                fade: int, max_shift: int = 0) -> np.ndarray:
    """Place (out_start, src_start, length) segments of `source`, crossfading each join.

    Each join is centred on the segment boundary: the outgoing segment reads `fade // 2`
    samples past its end and the incoming one starts `fade // 2` early (reads past either end
    of `source` are silence). Every piece is read whole, so segments of any length (a zero or
    very short seed tail, a jump to sample 0) join without special cases.
    """
    out = np.zeros(total, np.float32)
    if not segments:
        return out
    half = fade // 2
    padded = np.concatenate([np.zeros(half, np.float32), source, np.zeros(half, np.float32)])

    def read(start: int, length: int) -> np.ndarray:
        return padded[start + half: start + half + length].copy()

    def piece(i: int, shift: int = 0) -> np.ndarray:
        # the first piece reads a lead too (cut off below where it would fall before 0),
        # so that even a piece shorter than the fade has a whole fade-out
        _, src, length = segments[i]
        trail = half if i < len(segments) - 1 else 0
        return read(src + shift - half, length + half + trail)

    def shifts(i: int) -> range:
        # only shifts whose reads stay inside [-half, len(source) + half): the padded source
        _, src, length = segments[i]
        trail = half if i < len(segments) - 1 else 0
        low = max(-max_shift, -src)
        high = min(max_shift, len(source) + half - src - length - trail)
        return range(low, high + 1) if low <= high else range(0, 1)

    pieces = [piece(0)]
    for i in range(1, len(segments)):
        # Waveform-similarity alignment (as in WSOLA): nudge the incoming piece by up to
        # `max_shift` samples so it lines up with what it replaces, then fade by correlation.
        outgoing = pieces[i - 1][-2 * half:]
        candidates = shifts(i)
        scores = [correlation(outgoing, read(segments[i][1] + d - half, 2 * half))
                  for d in candidates]
        best = candidates[int(np.argmax(scores))]
        pieces.append(piece(i, best))
        fade_out, fade_in = equal_power_fades(2 * half, max(scores))
        pieces[i - 1][-2 * half:] *= fade_out
        pieces[i][: 2 * half] *= fade_in
    for (out_start, _, _), placed in zip(segments, pieces, strict=True):
        a = out_start - half
        if a < 0:
            placed, a = placed[-a:], 0
        out[a: a + len(placed)] += placed[: max(0, total - a)]
    return out
