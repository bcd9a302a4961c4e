"""log-mel -> waveform for render="synth": fast Griffin-Lim from a mel pseudo-inverse.

The first frames overlap the seed, so they start from the seed's own STFT phase; the rest start
from random phase drawn from the request's generator (reproducible).

Speed: the STFT and its inverse are batched real FFTs (scipy.fft) over a strided frame view,
float32/complex64 throughout, and they equal librosa.stft / librosa.istft (center=True, zero
padding) to float32 rounding. The signal is vocoded in blocks of `block_seconds` with
`context_frames` of overlap on each side: each block starts from the phase the previous one
reached over the overlap, and neighbouring blocks are joined by a short correlation-aware
equal-power crossfade. Blocks are what lets the app stream audio as it is made; the
concatenated blocks are the same samples whether they are streamed or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.fft

from musicgen.features import MelAnalyzer
from musicgen.mixing import correlation, equal_power_fades


@dataclass(frozen=True)
class VocoderConfig:
    iterations: int = 24
    momentum: float = 0.99
    block_seconds: float = 2.0  # <= 0: the whole signal as one block
    context_frames: int = 8  # overlap each side of a block, in STFT frames
    crossfade_frames: int = 2  # length of the join between blocks, in STFT frames


class FastSTFT:
    """librosa-compatible STFT/ISTFT (center=True, zero padding) on [frames, bins] arrays.

    Frames are the rows here (the FFT runs along contiguous memory); `stft`/`istft` take and
    return librosa's [bins, frames] layout.
    """

    def __init__(self, n_fft: int, hop_length: int, window: np.ndarray) -> None:
        if n_fft % hop_length:
            raise ValueError(f"n_fft ({n_fft}) must be a multiple of hop_length ({hop_length})")
        self.n_fft, self.hop = n_fft, hop_length
        self.ratio = n_fft // hop_length
        self.window = np.asarray(window, np.float32)
        self._inverse_norm: dict[int, np.ndarray] = {}

    @classmethod
    def for_analyzer(cls, analyzer: MelAnalyzer) -> FastSTFT:
        cached = getattr(analyzer, "_fast_stft", None)
        if cached is None:
            c = analyzer.config
            cached = cls(c.n_fft, c.hop_length, analyzer.window)
            analyzer._fast_stft = cached  # one per analyzer: the ISTFT normalisers are reused
        return cached

    def padded_length(self, frames: int) -> int:
        return (frames + self.ratio - 1) * self.hop

    def frames_of(self, padded: np.ndarray) -> np.ndarray:
        """Analysis of an already zero-padded float32 signal -> complex64 [frames, bins].

        Frame i is hop-rows i .. i + r - 1 of the signal, so the windowed frames are built
        with r contiguous multiplies instead of a strided view."""
        hop, r = self.hop, self.ratio
        rows = padded[: len(padded) // hop * hop].reshape(-1, hop)
        frames = 1 + (len(padded) - self.n_fft) // hop
        windowed = np.empty((frames, self.n_fft), np.float32)
        for j in range(r):
            np.multiply(rows[j:j + frames], self.window[j * hop:(j + 1) * hop],
                        out=windowed[:, j * hop:(j + 1) * hop])
        return scipy.fft.rfft(windowed, axis=-1, overwrite_x=True)

    def forward(self, audio: np.ndarray) -> np.ndarray:
        """audio -> complex64 [1 + len // hop, bins] (librosa.stft transposed)."""
        half = self.n_fft // 2
        frames = 1 + len(audio) // self.hop
        padded = np.zeros(max(self.padded_length(frames), len(audio) + 2 * half), np.float32)
        padded[half:half + len(audio)] = audio
        return self.frames_of(padded)

    def _norm(self, frames: int) -> np.ndarray:
        """1 / (sum of squared windows) over the padded signal, 0 where that sum is ~0."""
        norm = self._inverse_norm.get(frames)
        if norm is None:
            total = np.zeros(self.padded_length(frames), np.float64)
            square = self.window.astype(np.float64) ** 2
            for i in range(frames):
                total[i * self.hop: i * self.hop + self.n_fft] += square
            tiny = np.finfo(np.float32).tiny
            norm = np.where(total > tiny, 1.0 / np.maximum(total, tiny), 0.0).astype(np.float32)
            if len(self._inverse_norm) > 64:
                self._inverse_norm.clear()
            self._inverse_norm[frames] = norm
        return norm

    def overlap_add(self, spectrum: np.ndarray) -> np.ndarray:
        """complex [frames, bins] -> the normalised padded signal ((frames + r - 1) * hop)."""
        frames = spectrum.shape[0]
        pieces = scipy.fft.irfft(spectrum, n=self.n_fft, axis=-1)
        pieces *= self.window
        out = np.zeros(self.padded_length(frames), np.float32)
        rows = out.reshape(-1, self.hop)
        parts = pieces.reshape(frames, self.ratio, self.hop)
        for j in range(self.ratio):
            rows[j:j + frames] += parts[:, j]
        out *= self._norm(frames)
        return out

    def inverse(self, spectrum: np.ndarray, length: int | None = None) -> np.ndarray:
        """complex [frames, bins] -> audio (librosa.istft transposed; default length
        (frames - 1) * hop)."""
        frames = spectrum.shape[0]
        length = (frames - 1) * self.hop if length is None else length
        half = self.n_fft // 2
        audio = self.overlap_add(spectrum)[half:half + length]
        if len(audio) < length:
            audio = np.concatenate([audio, np.zeros(length - len(audio), np.float32)])
        return audio

    def stft(self, audio: np.ndarray) -> np.ndarray:
        """librosa.stft layout: complex64 [bins, frames]."""
        return self.forward(np.asarray(audio, np.float32)).T

    def istft(self, spectrum: np.ndarray, length: int | None = None) -> np.ndarray:
        """librosa.istft of a [bins, frames] spectrum."""
        return self.inverse(np.ascontiguousarray(np.asarray(spectrum).T), length)


def _fgla(stft: FastSTFT, magnitude: np.ndarray, angles: np.ndarray, iterations: int,
          momentum: float) -> tuple[np.ndarray, np.ndarray]:
    """Fast Griffin-Lim on [frames, bins]; returns (audio of (frames - 1) * hop, final phase).

    Each round trip stays in the padded signal domain: the ISTFT's padded output with its
    `n_fft // 2` ends zeroed is exactly the zero-padded signal the next STFT analyses.
    """
    frames = magnitude.shape[0]
    half = stft.n_fft // 2
    alpha = np.float32(momentum / (1.0 + momentum))
    eps = np.float32(1e-8)
    spectrum = magnitude * angles
    previous = None
    for _ in range(iterations):
        padded = stft.overlap_add(spectrum)
        padded[:half] = 0.0
        padded[len(padded) - half:] = 0.0
        rebuilt = stft.frames_of(padded)
        if previous is None:  # the first step has no momentum term
            accelerated = rebuilt.copy()
        else:
            np.multiply(previous, -alpha, out=previous)
            previous += rebuilt
            accelerated = previous
        previous = rebuilt
        # magnitude * accelerated / |accelerated| in one complex-by-real multiply
        scale = np.abs(accelerated)
        scale += eps
        np.divide(magnitude, scale, out=scale)
        np.multiply(accelerated, scale, out=spectrum)
    audio = stft.overlap_add(spectrum)[half:half + (frames - 1) * stft.hop]
    phase = spectrum / (np.abs(spectrum) + eps)
    return audio, phase.astype(np.complex64, copy=False)


def _initial_angles(rng: np.random.Generator, magnitude: np.ndarray,
                    init_phase: np.ndarray | None) -> np.ndarray:
    """Random phase for every frame ([frames, bins]), the seed's phase where it is known."""
    bins, frames = magnitude.shape
    angles = np.exp(2j * np.pi * rng.random((bins, frames))).astype(np.complex64).T.copy()
    if init_phase is not None:
        known = min(init_phase.shape[1], frames)
        angles[:known] = np.asarray(init_phase[:, :known]).T
    return angles


def block_bounds(frames: int, block_frames: int, min_last: int = 1) -> list[tuple[int, int]]:
    """Core frame ranges [start, end) of the blocks covering `frames`; a last block shorter
    than `min_last` joins the one before it."""
    if block_frames <= 0 or block_frames >= frames:
        return [(0, frames)]
    bounds = [(s, min(frames, s + block_frames)) for s in range(0, frames, block_frames)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_last:
        bounds[-2:] = [(bounds[-2][0], frames)]
    return bounds


def griffin_lim_blocks(magnitude: np.ndarray, analyzer: MelAnalyzer, config: VocoderConfig,
                       rng: np.random.Generator, init_phase: np.ndarray | None = None
                       ) -> Iterator[np.ndarray]:
    """Fast Griffin-Lim on magnitude [bins, frames], yielded block by block as float32 audio.

    The pieces concatenate to (frames - 1) * hop samples. Block k covers its core frames plus
    `context_frames` each side, starts from block k-1's final phase over their overlap, and
    is crossfaded into block k-1 over `crossfade_frames` centred on the block boundary.
    """
    stft = FastSTFT.for_analyzer(analyzer)
    hop = stft.hop
    magnitude = np.ascontiguousarray(np.asarray(magnitude, np.float32).T)  # [frames, bins]
    frames = magnitude.shape[0]
    if frames < 2:
        yield np.zeros(max(0, frames - 1) * hop, np.float32)
        return
    angles = _initial_angles(rng, magnitude.T, init_phase)
    block = int(round(config.block_seconds * analyzer.config.sample_rate / hop))
    context = max(2, int(config.context_frames))
    half_fade = max(1, min(int(config.crossfade_frames), context)) * hop // 2
    bounds = block_bounds(frames, max(block, 2 * context) if block > 0 else 0,
                          min_last=context)
    done = 0  # output samples already yielded
    pending: np.ndarray | None = None  # previous block's audio over the coming join
    for k, (start, end) in enumerate(bounds):
        lo, hi = max(0, start - context), min(frames, end + context)
        audio, phase = _fgla(stft, magnitude[lo:hi], angles[lo:hi].copy(), config.iterations,
                             config.momentum)
        angles[lo:hi] = phase  # the next block starts from this over the overlap
        offset = lo * hop  # global sample index of audio[0]
        stop = (frames - 1) * hop if k == len(bounds) - 1 else end * hop - half_fade
        if pending is not None:
            incoming = audio[done - offset: done - offset + len(pending)]
            fade_out, fade_in = equal_power_fades(len(pending), correlation(pending, incoming))
            yield (pending * fade_out + incoming * fade_in).astype(np.float32)
            done += len(pending)
        yield audio[done - offset: stop - offset]
        done = stop
        if k < len(bounds) - 1:
            pending = audio[stop - offset: stop - offset + 2 * half_fade].copy()


def griffin_lim(magnitude: np.ndarray, analyzer: MelAnalyzer, config: VocoderConfig,
                rng: np.random.Generator, init_phase: np.ndarray | None = None) -> np.ndarray:
    """Fast Griffin-Lim (Perraudin et al. 2013) on magnitude [bins, frames].

    Returns (frames - 1) * hop samples: the blocks of `griffin_lim_blocks`, joined.
    """
    pieces = list(griffin_lim_blocks(magnitude, analyzer, config, rng, init_phase))
    return np.concatenate(pieces).astype(np.float32, copy=False)


def spectral_convergence(magnitude: np.ndarray, audio: np.ndarray,
                         analyzer: MelAnalyzer) -> float:
    """||S - |STFT(audio)||| / ||S|| for a target magnitude S [bins, frames] (lower is better)."""
    rebuilt = np.abs(FastSTFT.for_analyzer(analyzer).stft(audio))
    frames = min(rebuilt.shape[1], magnitude.shape[1])
    target = np.asarray(magnitude, np.float64)[:, :frames]
    return float(np.linalg.norm(target - rebuilt[:, :frames]) / max(np.linalg.norm(target),
                                                                    1e-12))


def frame_power(magnitude: np.ndarray, analyzer: MelAnalyzer) -> np.ndarray:
    """Per frame, the mean square a signal with STFT magnitude [bins, frames] has there
    (Parseval): what `magnitude_rms` averages, kept frame by frame."""
    c = analyzer.config
    power = np.square(np.asarray(magnitude, np.float64))
    full = 2.0 * power.sum(axis=0) - power[0] - (power[-1] if c.n_fft % 2 == 0 else 0.0)
    window_energy = float(np.sum(np.square(analyzer.window, dtype=np.float64)))
    return full / (c.n_fft * window_energy)


def magnitude_rms(magnitude: np.ndarray, analyzer: MelAnalyzer) -> float:
    """The RMS a signal with STFT magnitude [bins, frames] has (Parseval), without vocoding."""
    power = frame_power(magnitude, analyzer)
    return float(np.sqrt(power.mean())) if power.size else 0.0
