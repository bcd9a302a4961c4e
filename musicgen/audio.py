"""Seed-audio loading and WAV writing (to a file, or to bytes for the live player).

Users upload or record seed clips in whatever format their device produces, so
:func:`load_audio` accepts any common audio file (or Gradio's ``(rate, samples)``
tuple) and turns it into the one thing the model needs: a mono float32 waveform
at the model's sample rate.  Every problem with the user's file becomes an
:class:`~musicgen.errors.InputError` whose message says what is wrong, so the UI
can show it as is, naming the file by its base name only (never a server path).  Long files
are never decoded in full: only the last ``max_seconds`` are decoded (soundfile seeks; PyAV
seeks near the end when the container knows its duration, else keeps a ring buffer), channels
are mixed down block by block, and a caller may cap the channels, the sample-rate range and
the wall-clock time a decode may take (`musicgen.options.Limits` holds the numbers).
"""

from __future__ import annotations

import io
import logging
import math
import os
import stat
import time
import wave
from collections import deque
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from musicgen.errors import InputError

__all__ = ["load_audio", "normalise_loudness", "to_int16", "wav_bytes", "write_wav"]

_log = logging.getLogger(__name__)

_SUPPORTED = "WAV, FLAC, OGG, MP3, M4A/AAC or WebM/Opus"
# Peak below this (-80 dBFS) counts as silence: there is nothing to continue from.
_SILENCE_PEAK = 1e-4
# Extra seconds kept before the tail so the resampler's start-up transient is cut off.
_RESAMPLE_MARGIN_S = 0.1
# Frames per soundfile read when the length of the file is unknown.
_BLOCK_FRAMES = 1 << 16
# libsndfile reports SF_COUNT_MAX frames when it cannot tell the length.
_UNKNOWN_FRAMES = 1 << 62
# PyAV: seek this much before the tail that is kept (keyframes, duration estimates).
_SEEK_MARGIN_S = 2.0
# Scale that maps each integer sample type onto [-1, 1).
_INT_SCALE = {
    np.dtype(np.int8): 2.0**7,
    np.dtype(np.int16): 2.0**15,
    np.dtype(np.int32): 2.0**31,
    np.dtype(np.int64): 2.0**63,
}


def load_audio(
    source: str | os.PathLike | tuple[int, np.ndarray],
    sample_rate: int,
    *,
    max_seconds: float | None = 30.0,
    min_seconds: float = 0.5,
    max_channels: int | None = None,
    rate_range: tuple[int, int] | None = None,
    decode_budget_s: float | None = None,
) -> np.ndarray:
    """Load a seed clip as mono float32 at ``sample_rate``, keeping only its last seconds.

    ``source`` is a path to an audio file (WAV, FLAC, OGG, MP3, M4A/AAC, WebM/Opus, any
    rate and channel count) or a ``(rate, samples)`` tuple as ``gr.Audio(type="numpy")``
    gives it.  Channels are averaged to mono.  Only the last ``max_seconds`` are kept
    (``None`` keeps all) because the model continues from the end of the seed; long
    files are never held in memory in full.  ``max_channels``, ``rate_range`` (lowest,
    highest Hz) and ``decode_budget_s`` (wall-clock seconds) are checked before the work
    they bound; None leaves each unchecked.

    Raises:
        InputError: the source is missing, empty, not audio, damaged, contains NaN or
            infinite samples, is silent, is shorter than ``min_seconds``, has more than
            ``max_channels`` channels or a rate outside ``rate_range``, or takes longer than
            ``decode_budget_s`` to decode.
        ValueError: ``sample_rate``, ``max_seconds`` or ``min_seconds`` is invalid
            (a programming error, not a user one; TypeError if ``sample_rate`` is no int).
    """
    sample_rate = _check_rate(sample_rate)
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive or None, got {max_seconds!r}")
    if not min_seconds >= 0:
        raise ValueError(f"min_seconds must be >= 0, got {min_seconds!r}")
    if max_seconds is not None and max_seconds < min_seconds:
        raise ValueError(f"max_seconds ({max_seconds}) is below min_seconds ({min_seconds})")

    keep_s = None if max_seconds is None else max_seconds + _RESAMPLE_MARGIN_S
    check = _Checks(max_channels, rate_range, decode_budget_s)
    if source is None or (isinstance(source, str) and not source.strip()):
        raise InputError("No seed audio was given; upload or record a clip.")
    if isinstance(source, (tuple, list)):
        mono, rate = _from_tuple(source, keep_s, check)
    elif isinstance(source, (str, os.PathLike)):
        mono, rate = _from_file(Path(source), keep_s, check)
    else:
        raise InputError(
            f"The seed must be an audio file path or a (rate, samples) pair, "
            f"not {type(source).__name__}."
        )
    return _finish(mono, rate, sample_rate, max_seconds, min_seconds)


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> Path:
    """Write ``audio`` as a 16-bit PCM WAV file, creating parent folders; return the path.

    16-bit PCM is what every player opens.  ``audio`` is ``[n]`` or ``[n, channels]``
    float; samples outside [-1, 1] are clipped rather than wrapped.

    Raises:
        ValueError: the audio contains NaN or infinity, has a bad shape, or the
            sample rate is not positive.
    """
    sample_rate = _check_rate(sample_rate)
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim not in (1, 2) or data.size == 0:
        raise ValueError(f"audio must be a non-empty [n] or [n, channels] array, got {data.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError("audio contains NaN or infinite samples; refusing to write it")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, np.clip(data, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return out


def normalise_loudness(
    audio: np.ndarray, target_dbfs: float = -20.0, peak_limit: float = 0.98
) -> np.ndarray:
    """Scale ``audio`` to ``target_dbfs`` RMS, but never let its peak exceed ``peak_limit``.

    Makes seeds and outputs comparably loud without clipping.  Pure: returns a new
    float32 array.  Silence is returned unchanged (there is no level to scale).

    Raises:
        ValueError: the audio contains NaN or infinity, or ``peak_limit`` is not positive.
    """
    if not peak_limit > 0:
        raise ValueError(f"peak_limit must be positive, got {peak_limit!r}")
    data = np.array(audio, dtype=np.float32, copy=True)
    if data.size == 0:
        return data
    if not np.all(np.isfinite(data)):
        raise ValueError("audio contains NaN or infinite samples")
    peak = float(np.max(np.abs(data)))
    rms = float(np.sqrt(np.mean(np.square(data, dtype=np.float64))))
    if peak <= 1e-9 or rms <= 0.0:
        return data
    gain = 10.0 ** (target_dbfs / 20.0) / rms
    gain = min(gain, peak_limit / peak)
    return (data * np.float32(gain)).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- helpers


def _check_rate(sample_rate: int) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise TypeError(f"sample_rate must be an int, got {sample_rate!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    return int(sample_rate)


def _to_float(samples: np.ndarray) -> np.ndarray:
    """Integer or float samples -> float32 in [-1, 1] (integers scaled by their range)."""
    dtype = samples.dtype
    if dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    if dtype in _INT_SCALE:
        return (samples.astype(np.float64) / _INT_SCALE[dtype]).astype(np.float32)
    return samples.astype(np.float32, copy=False)


class _Checks:
    """The caller's caps on channels, sample rate and decoding time (None: unchecked)."""

    def __init__(self, max_channels: int | None, rate_range: tuple[int, int] | None,
                 budget_s: float | None) -> None:
        self.max_channels, self.rate_range, self.budget_s = max_channels, rate_range, budget_s
        self.deadline = None if budget_s is None else time.monotonic() + budget_s

    def format(self, rate: int, channels: int) -> None:
        if self.rate_range is not None and not (
                self.rate_range[0] <= rate <= self.rate_range[1]):
            low, high = self.rate_range
            raise InputError(f"The seed's sample rate is {rate} Hz; only {low}-{high} Hz is "
                             "accepted. Re-export it at a common rate such as 44100 Hz.")
        if self.max_channels is not None and channels > self.max_channels:
            raise InputError(f"The seed has {channels} channels; at most {self.max_channels} "
                             "are accepted. Mix it down to stereo or mono.")

    def time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise InputError(f"Decoding the seed took longer than {self.budget_s:g} s, so it "
                             "was stopped. Upload a shorter clip (only its last seconds are "
                             "used) or a WAV/FLAC file.")


def _keep_frames(keep_s: float | None, rate: int) -> int | None:
    return None if keep_s is None else math.ceil(keep_s * rate)


class _TailBuffer:
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


def _from_tuple(source: tuple | list, keep_s: float | None,
                check: _Checks) -> tuple[np.ndarray, int]:
    """Validate Gradio's ``(rate, samples)`` and mix it to mono float32."""
    if len(source) != 2:
        raise InputError("The seed audio must be a (sample rate, samples) pair.")
    rate, samples = source
    if (
        isinstance(rate, bool)
        or not isinstance(rate, (int, float, np.integer, np.floating))
        or not math.isfinite(rate)
        or rate <= 0
        or rate != int(rate)
    ):
        raise InputError(f"The seed audio's sample rate must be a positive integer, not {rate!r}.")
    if not isinstance(samples, np.ndarray):
        raise InputError(
            f"The seed audio's samples must be a NumPy array, not {type(samples).__name__}."
        )
    if samples.dtype != np.uint8 and samples.dtype not in _INT_SCALE and not (
        np.issubdtype(samples.dtype, np.floating)
    ):
        raise InputError(
            f"The seed audio's samples have an unsupported type ({samples.dtype}); "
            "use int16, int32 or float."
        )
    if samples.ndim == 2 and 0 < samples.shape[0] < samples.shape[1] and samples.shape[0] <= 16:
        samples = samples.T  # channels-first; Gradio gives [n, channels]
    if samples.ndim not in (1, 2) or (samples.ndim == 2 and samples.shape[1] == 0):
        raise InputError(
            f"The seed audio must have shape [samples] or [samples, channels], "
            f"not {list(samples.shape)}."
        )
    rate = int(rate)
    check.format(rate, 1 if samples.ndim == 1 else samples.shape[1])
    keep = _keep_frames(keep_s, rate)
    if keep is not None:
        samples = samples[-keep:]
    data = _to_float(samples)
    mono = data if data.ndim == 1 else data.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32), rate


def _from_file(path: Path, keep_s: float | None, check: _Checks) -> tuple[np.ndarray, int]:
    """Decode the tail of an audio file: libsndfile first, PyAV (FFmpeg) when it refuses.
    Messages name the file by its base name: the full path may be the server's."""
    try:
        info = path.stat()
    except FileNotFoundError as err:
        raise InputError(f"The seed file {path.name!r} does not exist.") from err
    except OSError as err:
        raise InputError(f"The seed file {path.name!r} cannot be accessed "
                         f"({err.strerror}).") from err
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"The seed {path.name!r} is a folder, not an audio file.")
    if info.st_size == 0:
        raise InputError(f"The seed file is empty (0 bytes): {path.name}.")
    try:
        return _read_soundfile(path, keep_s, check)
    except sf.SoundFileError as err:
        # libsndfile does not read MP4/WebM and rejects some files FFmpeg can decode.
        _log.debug("libsndfile could not read %s (%s); trying FFmpeg", path, err)
    return _read_pyav(path, keep_s, check)


def _read_soundfile(path: Path, keep_s: float | None, check: _Checks) -> tuple[np.ndarray, int]:
    with sf.SoundFile(path) as f:
        rate = int(f.samplerate)
        check.format(rate, int(f.channels))  # before any frames x channels buffer exists
        keep = _keep_frames(keep_s, rate)
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


def _read_blocks(f: sf.SoundFile, keep: int | None, check: _Checks) -> np.ndarray:
    """Mono from here to the end, one block of frames x channels in memory at a time."""
    tail = _TailBuffer(keep)
    while True:
        check.time()
        block = f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
        if len(block) == 0:
            break
        tail.append(block.mean(axis=1, dtype=np.float32))
        if len(block) < _BLOCK_FRAMES:
            break
    return tail.array()


def _read_pyav(path: Path, keep_s: float | None, check: _Checks) -> tuple[np.ndarray, int]:
    """Decode the tail with FFmpeg: seek near the end when the container knows its duration
    (an hour of AAC then costs what its last seconds cost), else stream through it keeping
    only the tail; either way within the caller's time budget."""
    not_audio = (
        f"The seed file {path.name!r} could not be read as audio: it is not an audio "
        f"file, or it is damaged (supported: {_SUPPORTED})."
    )
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as err:
        raise InputError(not_audio) from err
    with container:
        if not container.streams.audio:
            raise InputError(
                f"The seed file {path.name!r} contains no audio: it is not an audio file "
                f"(supported: {_SUPPORTED})."
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
            keep_s: float | None, check: _Checks
            ) -> tuple[_TailBuffer | None, int, Exception | None]:
    """Decode from the container's position to the end into a tail buffer."""
    tail: _TailBuffer | None = None
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
                    tail = _TailBuffer(_keep_frames(keep_s, rate))
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
    return _to_float(data).mean(axis=0, dtype=np.float32)


def _finish(
    mono: np.ndarray,
    rate: int,
    sample_rate: int,
    max_seconds: float | None,
    min_seconds: float,
) -> np.ndarray:
    """Check the decoded tail, resample it and cut it to exactly ``max_seconds``."""
    if mono.size and not np.all(np.isfinite(mono)):
        raise InputError(
            "The seed contains invalid samples (NaN or infinity); re-export or re-record it."
        )
    if rate != sample_rate and mono.size:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ").astype(np.float32)
    if max_seconds is not None:
        mono = mono[-max(1, round(max_seconds * sample_rate)) :]
    mono = np.ascontiguousarray(mono, dtype=np.float32)

    seconds = mono.size / sample_rate
    if seconds < min_seconds:
        raise InputError(
            f"The seed is too short: {seconds:.2f} s; at least {min_seconds:g} s is needed."
        )
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    if peak < _SILENCE_PEAK:
        level = "it contains only digital silence" if peak == 0 else (
            f"its loudest sample is {20 * math.log10(peak):.0f} dBFS, below -80 dBFS"
        )
        where = "" if max_seconds is None else f" (in the last {max_seconds:g} s, which is used)"
        raise InputError(
            f"The seed is silent: {level}{where}; pick or record a clip with audible sound."
        )
    return mono


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float samples as 16-bit PCM (clipped to [-1, 1], NaN as 0)."""
    return (np.clip(np.nan_to_num(audio), -1.0, 1.0) * 32767.0).round().astype(np.int16)


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """A streamed chunk as a complete 16-bit mono WAV: what a streaming gr.Audio output takes
    (Gradio reads such bytes with the standard library and never rescales them)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(int(sample_rate))
        writer.writeframes(to_int16(audio).tobytes())
    return buffer.getvalue()
