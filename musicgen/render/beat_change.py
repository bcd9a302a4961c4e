"""How much a jump would change the music from one beat to the next, judged on the seed's audio.

The seed renderer's join costs compare the audio either side of the splice (one mel frame).
A jump can join cleanly and still land on another chord or another texture a moment later:
what a listener hears as a splice is the beat after the join sounding unlike the beat before.
`BeatChange` compares the beat just played (the last `beat` units of the output) with the beat
a candidate would play (the seed's units c .. c + beat - 1): the cosine distance of their mean
chroma and the mean |difference| of their mean log-mel, each divided by the seed's own 95th
percentile of that change between consecutive beats, so busy and calm seeds are judged alike.
The larger of the two ratios above `knee` is the cost (0 for changes the seed itself makes
routinely). It reads only the seed's audio, so it is one of the hand-set costs: the no-prior
ablation uses it too.
"""

from __future__ import annotations

import librosa
import numpy as np

from musicgen.metrics.transitions import cosine_distance

PERCENTILE = 95.0  # a change this rare in the seed counts as a full unit of cost


class BeatChange:
    """Per-unit chroma and log-mel of the seed, and the seed's own beat-to-beat changes."""

    def __init__(self, audio: np.ndarray, log_mel: np.ndarray, units: int,
                 samples_per_step: int, frames_per_step: int, sr: int, beat: int,
                 knee: float = 0.5, limit_units: int | None = None) -> None:
        """`limit_units`: the seed's own changes are measured over its first this many units
        (default all; the next-beat evaluation appends the true continuation after them)."""
        self.beat, self.knee, self.units = max(2, beat), knee, units
        # One chroma frame per unit from the unit's own samples (no overlap, no padding): a
        # few ms per request. A prepared seed has exactly `units` steps of audio and log-mel;
        # other input is cut to what both cover and its last row repeated.
        whole = max(1, min(units, len(audio) // samples_per_step,
                           len(log_mel) // frames_per_step))
        frames = audio[: whole * samples_per_step].reshape(whole, samples_per_step)
        power = np.abs(np.fft.rfft(frames * np.hanning(samples_per_step), axis=1)) ** 2
        bank = librosa.filters.chroma(sr=sr, n_fft=samples_per_step, tuning=0.0)
        chroma = power @ bank.T
        chroma /= np.maximum(chroma.max(1, keepdims=True), 1e-12)
        mel = log_mel[: whole * frames_per_step].reshape(whole, frames_per_step, -1).mean(1)
        if whole < units:
            chroma = np.concatenate([chroma, np.repeat(chroma[-1:], units - whole, 0)])
            mel = np.concatenate([mel, np.repeat(mel[-1:], units - whole, 0)])
        # [chroma | log-mel] per unit, and its cumulative sum for the mean of any window
        self.features = np.concatenate([chroma, mel], axis=1)
        self._sum = np.concatenate([np.zeros((1, self.features.shape[1])),
                                    np.cumsum(self.features, 0)])
        self._chroma = chroma.shape[1]
        self.limits = self._seed_limits(units if limit_units is None else limit_units)

    def window_means(self, start: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Mean features of units [start, start + length), one row per start."""
        return (self._sum[start + length] - self._sum[start]) / np.maximum(length, 1)[:, None]

    def _changes(self, after: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(chroma cosine distance, mean |log-mel difference|) row by row (broadcasting);
        the distance is 1 where either chroma is silent."""
        k = self._chroma
        return (cosine_distance(after[..., :k], before[..., :k]),
                np.abs(after[..., k:] - before[..., k:]).mean(-1))

    def ratios(self, after: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(chroma ratio, log-mel ratio) between rows of mean features (broadcasting): each
        change over the seed's own 95th percentile of it."""
        chroma, mel = self._changes(after, before)
        return chroma / self.limits[0], mel / self.limits[1]

    def _seed_limits(self, units: int) -> tuple[float, float]:
        """95th percentiles of the seed's chroma and log-mel change between adjacent beats
        (every start, not only the grid's: the seed is short); inf when under three beats."""
        b = self.beat
        start = np.arange(max(min(units, self.units) - 2 * b + 1, 0))
        if len(start) < 3:
            return np.inf, np.inf
        length = np.full(len(start), b)
        chroma, mel = self._changes(self.window_means(start, length),
                                    self.window_means(start + b, length))
        return (max(float(np.percentile(chroma, PERCENTILE)), 1e-6),
                max(float(np.percentile(mel, PERCENTILE)), 1e-6))

    def cost(self, played: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """max(chroma ratio, log-mel ratio) - knee, floored at 0, per candidate unit.

        `played`: the units of the output's last beat (any number >= 1); `candidates`: the
        seed units a jump would start at (each plays on up to a beat, clipped at the end).
        """
        candidates = np.asarray(candidates, np.int64)
        if not np.isfinite(self.limits[0]) or len(played) == 0:
            return np.zeros(len(candidates))
        ratio = self._ratio(candidates, self.features[played].mean(0))
        return np.maximum(ratio - self.knee, 0.0)

    def ratio_to_beat(self, candidates: np.ndarray, start: int) -> np.ndarray:
        """max(chroma ratio, log-mel ratio) between each candidate's beat and the beat of
        units [start, start + beat): no knee (how alike, not what a jump costs)."""
        reference = self.beat_means(np.array([int(start)]))[0]
        return self._ratio(np.asarray(candidates, np.int64), reference)

    def _ratio(self, candidates: np.ndarray, reference: np.ndarray) -> np.ndarray:
        return np.maximum(*self.ratios(self.beat_means(candidates), reference))

    def beat_means(self, starts: np.ndarray) -> np.ndarray:
        """Mean features of the beat each start would play (clipped at the end)."""
        starts = np.clip(np.asarray(starts, np.int64), 0, self.units - 1)
        return self.window_means(starts, np.minimum(starts + self.beat, self.units) - starts)
