"""Tests for musicgen.audio on audio the tests synthesize and encode themselves."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from musicgen import audio_decode
from musicgen.audio import load_audio, normalise_loudness, write_wav
from musicgen.errors import InputError

SR = 22050  # the rate the tests ask load_audio for
BASE_HZ = 440.0


def chord(rate: int, seconds: float = 2.0, base: float = BASE_HZ) -> np.ndarray:
    """A-major-ish chord of harmonic tones with note onsets; ``base`` dominates the spectrum."""
    t = np.arange(round(rate * seconds)) / rate
    out = np.zeros_like(t)
    for freq, amp, onset in ((base, 0.5, 0.0), (base * 1.26, 0.2, 0.5), (base * 1.5, 0.15, 1.0)):
        since = t - onset
        env = np.where(since >= 0, np.minimum(since / 0.01, 1.0) * np.exp(-np.maximum(since, 0)), 0)
        for k, h in enumerate((1.0, 0.4, 0.2), start=1):
            out += amp * h * env * np.sin(2 * np.pi * freq * k * since)
    return (0.7 * out / np.max(np.abs(out))).astype(np.float32)


def channels(mono: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """[samples, n] with per-channel gains 1 .. 0.5; also the gain of their average."""
    gains = np.linspace(1.0, 0.5, n) if n > 1 else np.ones(1)
    return (mono[:, None] * gains[None, :]).astype(np.float32), float(gains.mean())


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def best_correlation(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Largest normalised cross-correlation of a and b within +-max_lag samples."""
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    size = 2 * n
    c = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    lags = np.concatenate([c[: max_lag + 1], c[-max_lag:]])
    return float(np.max(lags) / np.sqrt(np.sum(a * a) * np.sum(b * b)))


LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}
CONTAINERS = {"libmp3lame": "mp3", "aac": "m4a", "libopus": "webm"}


def encode_pyav(path: Path, data: np.ndarray, rate: int, codec: str) -> Path:
    """Encode [samples, channels] float audio with one of FFmpeg's encoders."""
    layout = LAYOUTS[data.shape[1]]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data.T), format="fltp", layout=layout
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_file(tmp_path: Path, kind: str, data: np.ndarray, rate: int) -> Path:
    """Write [samples, channels] audio as ``kind`` (a soundfile subtype or a PyAV codec)."""
    if kind in CONTAINERS:
        return encode_pyav(tmp_path / f"seed.{CONTAINERS[kind]}", data, rate, kind)
    ext, fmt, subtype = {
        "PCM_16": ("wav", "WAV", "PCM_16"),
        "PCM_24": ("wav", "WAV", "PCM_24"),
        "FLOAT": ("wav", "WAV", "FLOAT"),
        "FLAC": ("flac", "FLAC", "PCM_16"),
        "VORBIS": ("ogg", "OGG", "VORBIS"),
        "OPUS": ("opus", "OGG", "OPUS"),
    }[kind]
    path = tmp_path / f"seed.{ext}"
    sf.write(path, data, rate, format=fmt, subtype=subtype)
    return path


@pytest.fixture(scope="module", autouse=True)
def _encoders_present() -> None:
    missing = set(CONTAINERS) - set(av.codecs_available)
    assert not missing, f"PyAV lacks encoders {missing}"


@pytest.mark.parametrize(
    ("kind", "rate", "n_channels", "lossy"),
    [
        ("PCM_16", 44100, 2, False),
        ("PCM_16", 48000, 6, False),
        ("PCM_24", 48000, 1, False),
        ("FLOAT", 8000, 2, False),
        ("FLAC", 44100, 2, False),
        ("FLAC", 8000, 1, False),
        ("VORBIS", 48000, 2, True),
        ("VORBIS", 8000, 1, True),
        ("OPUS", 48000, 2, True),
        ("libmp3lame", 44100, 2, True),
        ("libmp3lame", 8000, 1, True),
        ("aac", 48000, 2, True),
        ("aac", 44100, 6, True),
        ("libopus", 48000, 2, True),
        ("libopus", 8000, 1, True),
    ],
)
def test_formats_load(tmp_path: Path, kind: str, rate: int, n_channels: int, lossy: bool) -> None:
    data, gain = channels(chord(rate), n_channels)
    path = write_file(tmp_path, kind, data, rate)

    out = load_audio(path, SR)

    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) / SR - 2.0) < 0.1
    ref = chord(SR) * gain
    assert abs(dominant_hz(out, SR) - BASE_HZ) < 3.0
    assert 0.8 < rms(out) / rms(ref) < 1.25
    corr = best_correlation(out, ref, max_lag=int(0.1 * SR))
    assert corr > (0.9 if lossy else 0.995)
    if not lossy:  # lossless files come back sample-aligned
        assert abs(len(out) - len(ref)) <= 1
        assert float(np.corrcoef(out[: len(ref)], ref[: len(out)])[0, 1]) > 0.995


@pytest.mark.parametrize(
    ("subtype", "n_channels"), [("PCM_16", 3), ("PCM_24", 2), ("FLOAT", 1), ("PCM_U8", 2)]
)
def test_ffmpeg_fallback_sample_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, subtype: str, n_channels: int
) -> None:
    """When libsndfile refuses a file, FFmpeg's packed int/float frames decode the same."""
    data, gain = channels(chord(16000, seconds=3.0), n_channels)
    path = tmp_path / "seed.wav"
    sf.write(path, data, 16000, subtype=subtype)
    expected = load_audio(path, SR, max_seconds=2.0)

    def refuse(*_: object) -> None:
        raise sf.SoundFileError("forced")

    monkeypatch.setattr(audio_decode, "read_soundfile", refuse)
    out = load_audio(path, SR, max_seconds=2.0)

    assert len(out) == len(expected) == 2 * SR
    np.testing.assert_allclose(out, expected, atol=1e-4)
    assert 0.95 < rms(out) / rms(chord(SR, seconds=3.0)[-2 * SR :] * gain) < 1.05


@pytest.mark.parametrize("stereo", [False, True])
def test_gradio_tuple(stereo: bool) -> None:
    mono = chord(48000)
    data = np.stack([mono, 0.5 * mono], axis=1) if stereo else mono
    pcm = np.round(data * 32767).astype(np.int16)

    out = load_audio((48000, pcm), SR)

    ref = chord(SR) * (0.75 if stereo else 1.0)
    assert out.dtype == np.float32 and out.ndim == 1 and len(out) == len(ref)
    assert float(np.corrcoef(out, ref)[0, 1]) > 0.995
    assert 0.95 < rms(out) / rms(ref) < 1.05


def test_tuple_int32_and_float() -> None:
    mono = chord(SR)
    as_i32 = (SR, np.round(mono * (2**31 - 1)).astype(np.int32))
    as_f64 = (SR, mono.astype(np.float64))
    for source in (as_i32, as_f64):
        np.testing.assert_allclose(load_audio(source, SR), mono, atol=1e-4)


@pytest.mark.parametrize("kind", ["PCM_16", "libmp3lame", "aac", "libopus"])
def test_max_seconds_keeps_tail(tmp_path: Path, kind: str) -> None:
    rate = 48000
    head = chord(rate, seconds=3.0, base=330.0)
    last = chord(rate, seconds=1.0, base=660.0)
    data = np.concatenate([head, last])[:, None]
    path = write_file(tmp_path, kind, data, rate)

    out = load_audio(path, SR, max_seconds=1.0)

    assert len(out) == SR
    assert abs(dominant_hz(out, SR) - 660.0) < 3.0
    assert abs(len(load_audio(path, SR, max_seconds=None)) / SR - 4.0) < 0.1


def test_ten_minute_file_loads_tail_quickly(tmp_path: Path) -> None:
    rate = 44100
    path = tmp_path / "long.wav"
    second = (0.5 * np.sin(2 * np.pi * 441.0 * np.arange(rate) / rate)).astype(np.float32)
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        for _ in range(600):
            f.write(second)

    start = time.perf_counter()
    out = load_audio(path, SR, max_seconds=10)
    elapsed = time.perf_counter() - start

    assert elapsed < 2.0
    assert len(out) == 10 * SR
    assert abs(dominant_hz(out, SR) - 441.0) < 1.0


def test_max_seconds_longer_than_clip_keeps_all() -> None:
    out = load_audio((SR, chord(SR)), SR, max_seconds=30.0)
    assert len(out) == 2 * SR


# ----------------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_audio(tmp_path / "nope.wav", SR)


def test_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="folder"):
        load_audio(tmp_path, SR)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.touch()
    with pytest.raises(InputError, match=r"empty \(0 bytes\)"):
        load_audio(path, SR)


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("These are not the samples you are looking for.\n" * 20)
    with pytest.raises(InputError, match="not an audio file"):
        load_audio(path, SR)


def test_png_bytes(tmp_path: Path) -> None:
    # A valid 1x1 PNG (FFmpeg opens it as an image) under an audio-looking name.
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4f800"
        "00000049454e44ae426082"
    )
    path = tmp_path / "seed.mp3"
    path.write_bytes(png)
    with pytest.raises(InputError, match="not an audio file"):
        load_audio(path, SR)


@pytest.mark.parametrize("kind", ["PCM_16", "libmp3lame", "aac"])
def test_truncated_file(tmp_path: Path, kind: str) -> None:
    data, _ = channels(chord(44100), 2)
    path = write_file(tmp_path, kind, data, 44100)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(InputError, match="too short|damaged|truncated"):
        load_audio(path, SR)


def test_nan_float_wav(tmp_path: Path) -> None:
    data = chord(SR)
    data[1000:1010] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, data, SR, subtype="FLOAT")
    with pytest.raises(InputError, match="NaN or infinity"):
        load_audio(path, SR)
    with pytest.raises(InputError, match="NaN or infinity"):
        load_audio((SR, np.full(SR, np.inf, dtype=np.float32)), SR)


def test_silence(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(2 * SR, dtype=np.float32), SR, subtype="PCM_16")
    with pytest.raises(InputError, match="The seed is silent"):
        load_audio(path, SR)
    hiss = np.random.default_rng(0).uniform(-1e-5, 1e-5, 2 * SR).astype(np.float32)
    with pytest.raises(InputError, match="silent.*dBFS"):
        load_audio((SR, hiss), SR)


def test_too_short(tmp_path: Path) -> None:
    path = tmp_path / "short.flac"
    sf.write(path, chord(44100, seconds=0.2), 44100)
    with pytest.raises(InputError, match=r"too short: 0\.20 s; at least 0\.5 s"):
        load_audio(path, SR)


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ((0, np.zeros(100, np.int16)), "sample rate"),
        ((-8000, np.zeros(100, np.int16)), "sample rate"),
        ((8000.5, np.zeros(100, np.int16)), "sample rate"),
        ((8000, [1, 2, 3]), "NumPy array"),
        ((8000, np.zeros(100, dtype=np.complex64)), "unsupported type"),
        ((8000, np.zeros(100, dtype=object)), "unsupported type"),
        ((8000, np.zeros((10, 2, 2), np.int16)), "shape"),
        ((8000, np.zeros((), np.int16)), "shape"),
        ((8000,), "pair"),
        ((8000, np.zeros(0, np.int16)), "too short"),
        (None, "No seed audio"),
        (b"RIFF", "path"),
    ],
)
def test_bad_tuple_and_source(source: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_audio(source, SR)  # type: ignore[arg-type]


# ----------------------------------------------------------------- writing, loudness


def test_write_wav_round_trip(tmp_path: Path) -> None:
    audio = chord(SR)
    path = write_wav(tmp_path / "out" / "deep" / "gen.wav", audio, SR)
    assert path.exists()
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    back, rate = sf.read(path, dtype="float32")
    assert rate == SR
    np.testing.assert_allclose(back, audio, atol=1 / 32767 + 1e-6)
    np.testing.assert_allclose(load_audio(path, SR), audio, atol=1e-4)


def test_write_wav_clips_and_refuses_nan(tmp_path: Path) -> None:
    back, _ = sf.read(write_wav(tmp_path / "loud.wav", np.array([2.0, -3.0, 0.5]), SR))
    np.testing.assert_allclose(back, [1.0, -1.0, 0.5], atol=1e-4)
    with pytest.raises(ValueError, match="NaN"):
        write_wav(tmp_path / "bad.wav", np.array([0.1, np.nan]), SR)
    assert not (tmp_path / "bad.wav").exists()


def test_normalise_loudness_hits_target() -> None:
    audio = 0.01 * chord(SR)
    out = normalise_loudness(audio, target_dbfs=-20.0)
    assert out.dtype == np.float32
    assert abs(20 * np.log10(rms(out)) + 20.0) < 0.05
    assert np.max(np.abs(out)) <= 0.98 + 1e-6
    np.testing.assert_array_equal(audio, 0.01 * chord(SR))  # input untouched


def test_normalise_loudness_respects_peak_limit() -> None:
    spiky = np.zeros(SR, dtype=np.float32)
    spiky[::1000] = 0.5  # high crest factor: the RMS target would clip the peaks
    out = normalise_loudness(spiky, target_dbfs=-10.0, peak_limit=0.9)
    assert abs(float(np.max(np.abs(out))) - 0.9) < 1e-6
    assert 20 * np.log10(rms(out)) < -10.0


def test_normalise_loudness_silence_unchanged() -> None:
    silence = np.zeros(100, dtype=np.float32)
    out = normalise_loudness(silence)
    np.testing.assert_array_equal(out, silence)
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
