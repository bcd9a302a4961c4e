"""Where the seed's beats are, and which jumps keep its rhythm (the seed renderer's grid).

librosa tracks the beats; a steady pulse is straightened into a least-squares grid, moved onto
the real attacks, and given a bar when one beat in 3 or 4 is clearly stronger. Seeds with no
usable pulse get the "free" grid: the renderer may jump anywhere, less often.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import librosa
import numpy as np

from musicgen.metrics.rhythm import CLEAR_PULSE, periodicity


@dataclass(frozen=True)
class BeatGrid:
    """Where the seed's beats are, and which jumps keep the rhythm."""

    mode: str  # "bar" | "beat" | "free"
    tempo_bpm: float
    beats: np.ndarray  # sample positions
    beats_per_bar: int
    downbeat: int  # index (mod beats_per_bar) of the first downbeat

    @property
    def period(self) -> float:
        return 60.0 / self.tempo_bpm if self.tempo_bpm > 0 else 0.0

    @property
    def spacing(self) -> float:
        """Mean samples between the tracked beats: the grid goes on past them at this pace."""
        return (self.beats[-1] - self.beats[0]) / (len(self.beats) - 1)

    def index_at(self, position: float, tolerance: float = 1e-9) -> int:
        """Index of the first grid beat at or after `position` (samples), extrapolated past
        the tracked beats (a beat within `tolerance` of a spacing before it counts)."""
        return math.ceil((position - self.beats[0]) / self.spacing - tolerance)

    def same_phase(self, a: int, b: int) -> bool:
        return self.mode == "beat" or (a - b) % self.beats_per_bar == 0


def align_to_onsets(audio: np.ndarray, sr: int, grid: np.ndarray,
                    search_seconds: tuple[float, float] = (-0.06, 0.02)) -> np.ndarray:
    """Shift the whole grid to where the energy actually rises.

    The tracker's beats sit on onset-strength peaks, which lag the attacks by ~20 ms; a splice
    placed "just before the beat" must be before the real attack.
    """
    frame = max(1, sr // 1000)  # 1 ms
    usable = len(audio) // frame * frame
    energy = np.sqrt(np.mean(audio[:usable].reshape(-1, frame) ** 2, axis=1) + 1e-10)
    rise = np.maximum(np.diff(20 * np.log10(energy), prepend=0.0), 0.0)
    rise = np.convolve(rise, np.ones(3) / 3, mode="same")
    shifts = np.arange(int(search_seconds[0] * 1000), int(search_seconds[1] * 1000) + 1)
    scores = []
    for shift in shifts:
        index = grid // frame + shift
        index = index[(index >= 0) & (index < len(rise))]
        scores.append(rise[index].sum() if len(index) else 0.0)
    return grid + int(shifts[int(np.argmax(scores))]) * frame


def analyse_beat(audio: np.ndarray, sr: int, hop_length: int = 512,
                 min_clarity: float = CLEAR_PULSE, max_irregularity: float = 0.12) -> BeatGrid:
    """Track beats (librosa); judge whether the pulse and the downbeats are usable."""
    envelope = librosa.onset.onset_strength(y=audio, sr=sr, hop_length=hop_length)
    tempo, frames = librosa.beat.beat_track(onset_envelope=envelope, sr=sr,
                                            hop_length=hop_length)
    tempo = float(np.atleast_1d(tempo)[0])
    beats = librosa.frames_to_samples(frames, hop_length=hop_length)
    free = BeatGrid("free", tempo, beats, 1, 0)
    if len(beats) < 4 or tempo <= 0:
        return free
    intervals = np.diff(beats)
    irregularity = float(np.std(intervals) / np.mean(intervals))
    lag = int(round(np.median(intervals) / hop_length))
    clarity = periodicity(envelope, lag - 1, lag + 1) if lag > 1 else 0.0
    if irregularity > max_irregularity or clarity < min_clarity:
        return free
    # Steady tempo: replace the tracker's jittery beats with a least-squares straight grid.
    k = np.arange(len(beats))
    slope, offset = np.polyfit(k, beats, 1)
    grid = align_to_onsets(audio, sr, np.round(offset + slope * k).astype(np.int64))
    tempo = float(60.0 * sr / slope)
    strength = envelope[np.minimum(grid // hop_length, len(envelope) - 1)]
    for per_bar in (4, 3):
        if len(grid) < 2 * per_bar:
            continue
        means = np.array([strength[p::per_bar].mean() for p in range(per_bar)])
        best = int(means.argmax())
        others = np.delete(means, best).mean()
        if others > 0 and means[best] / others >= 1.25:
            return BeatGrid("bar", tempo, grid, per_bar, best)
    return BeatGrid("beat", tempo, grid, 1, 0)
