"""Decoding an audio file's tail to mono float32, block by block, under the caller's caps.

`musicgen.audio.load_audio` tries libsndfile first (it seeks straight to the tail) and FFmpeg
(PyAV) when libsndfile refuses the file; both mix channels down as they read, so a long or
many-channel file never sits in memory whole, and both stop at the caller's time budget.
Messages name the file by its base name only: the full path may be the server's.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from musicgen.errors import InputError

_log = logging.getLogger(__name__)

SUPPORTED = "WAV, FLAC, OGG, MP3, M4A/AAC or WebM/Opus"
# Frames per soundfile read when the length of the file is unknown.
_BLOCK_FRAMES = 1 << 16
# libsndfile reports SF_COUNT_MAX frames when it cannot tell the length.
_UNKNOWN_FRAMES = 1 << 62
# PyAV: seek this much before the tail that is kept (keyframes, duration estimates).
_SEEK_MARGIN_S = 2.0
# Scale that maps each integer sample type onto [-1, 1).
INT_SCALE = {
    np.dtype(np.int8): 2.0**7,
    np.dtype(np.int16): 2.0**15,
    np.dtype(np.int32): 2.0**31,
    np.dtype(np.int64): 2.0**63,
}


def to_float(samples: np.ndarray) -> np.ndarray:
    """Integer or float samples -> float32 in [-1, 1] (integers scaled by their range)."""
    dtype = samples.dtype
    if dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    if dtype in INT_SCALE:
        return (samples.astype(np.float64) / INT_SCALE[dtype]).astype(np.float32)
    return samples.astype(np.float32, copy=False)


class Checks:
    """The caller's caps on channels, sample rate and decoding time (None: unchecked)."""

    def __init__(self, max_channels: int | None, rate_range: tuple[int, int] | None,
                 budget_s: float | None) -> None:
        self.max_channels, self.rate_range, self.budget_s = max_channels, rate_range, budget_s
        self.deadline = None if budget_s is None else time.monotonic() + budget_s

    def format(self, rate: int, channels: int) -> None:
        """Refuse a sample rate or channel count outside the caps."""
        if self.rate_range is not None and not (
                self.rate_range[0] <= rate <= self.rate_range[1]):
            low, high = self.rate_range
            raise InputError(f"The seed's sample rate is {rate} Hz; only {low}-{high} Hz is "
                             "accepted. Re-export it at a common rate such as 44100 Hz.")
        if self.max_channels is not None and channels > self.max_channels:
            raise InputError(f"The seed has {channels} channels; at most {self.max_channels} "
                             "are accepted. Mix it down to stereo or mono.")

    def time(self) -> None:
        """Stop a decode that has run past its time budget."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise InputError(f"Decoding the seed took longer than {self.budget_s:g} s, so it "
                             "was stopped. Upload a shorter clip (only its last seconds are "
                             "used) or a WAV/FLAC file.")


def keep_frames(keep_s: float | None, rate: int) -> int | None:
    """Frames in the last `keep_s` seconds at `rate` (None: keep everything)."""
    return None if keep_s is None else math.ceil(keep_s * rate)


class TailBuffer:
    """Mono chunks holding at most the last ``keep`` samples (all when ``keep`` is None)."""

    def __init__(self, keep: int | None) -> None:
        self.keep = keep
        self.chunks: deque[np.ndarray] = deque()
        self.total = 0

    def append(self, chunk: np.ndarray) -> None:
        if chunk.size == 0:
            return
        self.chunks.append(chunk)
        self.total += chunk.size
        if self.keep is None:
            return
        while self.chunks and self.total - self.chunks[0].size >= self.keep:
            self.total -= self.chunks.popleft().size

    def array(self) -> np.ndarray:
        if not self.chunks:
            return np.zeros(0, dtype=np.float32)
        out = np.concatenate(self.chunks).astype(np.float32, copy=False)
        return out if self.keep is None else out[-self.keep :]


def read_soundfile(path: Path, keep_s: float | None, check: Checks) -> tuple[np.ndarray, int]:
    """The last `keep_s` seconds as mono with libsndfile (seeking when the file allows);
    raises `soundfile.SoundFileError` for files it cannot read, so the caller can try FFmpeg."""
    with sf.SoundFile(path) as f:
        rate = int(f.samplerate)
        check.format(rate, int(f.channels))  # before any frames x channels buffer exists
        keep = keep_frames(keep_s, rate)
        frames = int(f.frames)
        if f.seekable() and 0 < frames < _UNKNOWN_FRAMES:
            start = 0 if keep is None or frames <= keep else frames - keep
            if start:
                f.seek(start)
            mono = _read_blocks(f, None, check)
            if len(mono) >= frames - start or start == 0:
                return mono, rate
            # The header promised more frames than the file holds: read what is there.
            f.seek(0)
        return _read_blocks(f, keep, check), rate


def _read_blocks(f: sf.SoundFile, keep: int | None, check: Checks) -> np.ndarray:
    """Mono from here to the end, one block of frames x channels in memory at a time."""
    tail = TailBuffer(keep)
    while True:
        check.time()
        block = f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
        if len(block) == 0:
            break
        tail.append(block.mean(axis=1, dtype=np.float32))
        if len(block) < _BLOCK_FRAMES:
            break
    return tail.array()


def read_pyav(path: Path, keep_s: float | None, check: Checks) -> tuple[np.ndarray, int]:
    """Decode the tail with FFmpeg: seek near the end when the container knows its duration
    (an hour of AAC then costs what its last seconds cost), else stream through it keeping
    only the tail; either way within the caller's time budget."""
    not_audio = (
        f"The seed file {path.name!r} could not be read as audio: it is not an audio "
        f"file, or it is damaged (supported: {SUPPORTED})."
    )
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as err:
        raise InputError(not_audio) from err
    with container:
        if not container.streams.audio:
            raise InputError(
                f"The seed file {path.name!r} contains no audio: it is not an audio file "
                f"(supported: {SUPPORTED})."
            )
        stream = container.streams.audio[0]
        if stream.rate:  # else checked on the first frame
            check.format(int(stream.rate), int(stream.channels or 0))
        seek_s = _seek_point(container, keep_s)
        if seek_s:
            try:
                container.seek(int(seek_s * av.time_base))  # to the keyframe before it
            except (av.FFmpegError, OSError, ValueError):
                seek_s = 0.0
                container.seek(0)
        tail, rate, last_error = _decode(container, stream, keep_s, check)
        if seek_s and keep_s is not None and (tail is None or tail.total < tail.keep):
            # the duration was an estimate and the seek overshot: decode from the start
            container.seek(0)
            tail, rate, last_error = _decode(container, stream, keep_s, check)
    if tail is None or tail.total == 0:
        raise InputError(
            f"The seed file {path.name!r} could not be decoded: it is damaged or truncated."
        ) from last_error
    if last_error is not None:
        _log.warning("Parts of %s could not be decoded (%s); using the rest", path, last_error)
    return tail.array(), rate


def _seek_point(container: av.container.InputContainer, keep_s: float | None) -> float:
    """Where to start decoding so that the last `keep_s` seconds come out (0: the start)."""
    if keep_s is None or container.duration is None or container.duration <= 0:
        return 0.0
    duration_s = container.duration / av.time_base
    return max(0.0, duration_s - keep_s - _SEEK_MARGIN_S)


def _decode(container: av.container.InputContainer, stream: av.AudioStream,
            keep_s: float | None, check: Checks
            ) -> tuple[TailBuffer | None, int, Exception | None]:
    """Decode from the container's position to the end into a tail buffer."""
    tail: TailBuffer | None = None
    rate = 0
    last_error: Exception | None = None
    try:
        for packet in container.demux(stream):
            check.time()
            try:
                frames = packet.decode()
            except (av.FFmpegError, ValueError) as err:
                last_error = err  # skip a damaged packet, as FFmpeg's own tools do
                continue
            for frame in frames:
                if tail is None:
                    rate = int(frame.sample_rate)
                    check.format(rate, frame.layout.nb_channels)
                    tail = TailBuffer(keep_frames(keep_s, rate))
                    mono = _frame_to_mono(frame)
                else:
                    mono = _frame_to_mono(frame)
                    if frame.sample_rate != rate:
                        mono = soxr.resample(mono, frame.sample_rate, rate, quality="HQ")
                tail.append(mono)
    except (av.FFmpegError, ValueError) as err:
        last_error = err  # damaged or cut-off container: keep what decoded so far
    return tail, rate, last_error


def _frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    """One decoded frame -> mono float32, whatever its sample format and layout."""
    data = frame.to_ndarray()
    channels = max(1, frame.layout.nb_channels)
    if frame.format.is_planar:
        data = data.reshape(channels, -1)
    else:  # packed: one row of interleaved samples
        data = data.reshape(-1, channels).T
    return to_float(data).mean(axis=0, dtype=np.float32)
