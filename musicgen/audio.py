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
the wall-clock time a decode may take (`musicgen.options.Limits` holds the numbers). The
decoders themselves live in :mod:`musicgen.audio_decode`.
"""

from __future__ import annotations

import io
import logging
import math
import os
import stat
import wave
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from musicgen import audio_decode
from musicgen.audio_decode import INT_SCALE, Checks, keep_frames, to_float
from musicgen.errors import InputError

__all__ = ["load_audio", "normalise_loudness", "to_int16", "wav_bytes", "write_wav"]

_log = logging.getLogger(__name__)

# Peak below this (-80 dBFS) counts as silence: there is nothing to continue from.
_SILENCE_PEAK = 1e-4
# Extra seconds kept before the tail so the resampler's start-up transient is cut off.
_RESAMPLE_MARGIN_S = 0.1


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
    check = Checks(max_channels, rate_range, decode_budget_s)
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


def _from_tuple(source: tuple | list, keep_s: float | None,
                check: Checks) -> tuple[np.ndarray, int]:
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
    if samples.dtype != np.uint8 and samples.dtype not in INT_SCALE and not (
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
    keep = keep_frames(keep_s, rate)
    if keep is not None:
        samples = samples[-keep:]
    data = to_float(samples)
    mono = data if data.ndim == 1 else data.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32), rate


def _from_file(path: Path, keep_s: float | None, check: Checks) -> tuple[np.ndarray, int]:
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
        return audio_decode.read_soundfile(path, keep_s, check)
    except sf.SoundFileError as err:
        # libsndfile does not read MP4/WebM and rejects some files FFmpeg can decode.
        _log.debug("libsndfile could not read %s (%s); trying FFmpeg", path, err)
    return audio_decode.read_pyav(path, keep_s, check)


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
