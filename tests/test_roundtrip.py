"""`python -m musicgen codec`: audio through the codec by the synth renderer's own functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musicgen.audio import load_audio, normalise_loudness
from musicgen.checkpoint import load_codec
from musicgen.cli import main
from musicgen.mixing import rms
from musicgen.roundtrip import RoundTrip, round_trip_mel
from musicgen.toymusic import arpeggio
from musicgen.vocoder import VocoderConfig, griffin_lim


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quiet stereo 44.1 kHz FLAC: the command must resample, mix down and keep its level."""
    sr = 44100
    mono = 0.05 * arpeggio(5, sr, bpm=110, root=57, seed=7)
    stereo = np.stack([mono, 0.5 * mono], axis=1)
    path = tmp_path_factory.mktemp("codec_in") / "in.flac"
    sf.write(path, stereo, sr)
    return path


def _synth_chain(codec, audio: np.ndarray, levels: int | None, seed: int) -> np.ndarray:
    """The synth renderer's calls, written out: encode_mel, decode, magnitude, Griffin-Lim."""
    mel = codec.analyzer.log_mel(normalise_loudness(audio, codec.features.loudness_dbfs))
    decoded = codec.decode(codec.encode_mel(mel), levels=levels)[: len(mel)]
    return griffin_lim(codec.analyzer.log_mel_to_magnitude(decoded), codec.analyzer,
                       VocoderConfig(), np.random.default_rng(seed))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def test_codec_command_is_the_synth_chain(tiny_run: dict[str, Path], clip: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    codec = load_codec(tiny_run["codec"])
    sr = codec.features.sample_rate
    audio = load_audio(clip, sr, max_seconds=None)
    outputs = {}
    for name, folder, extra in (("all", tiny_run["codec"], []),
                                ("prior", tiny_run["gru"], []),
                                ("first", tiny_run["codec"], ["--levels", "1"]),
                                ("raw", tiny_run["lstm"], ["--no-quantize"])):
        out = tmp_path / f"{name}.wav"
        assert main(["codec", "--checkpoint", str(folder), "--input", str(clip),
                     "--out", str(out), *extra]) == 0
        assert "RMSE" in capsys.readouterr().out
        outputs[name], rate = sf.read(out, dtype="float32")
        assert rate == sr
        assert abs(len(outputs[name]) - len(audio)) <= codec.features.hop_length
        # the input's level is kept (within 1 dB), however loud the codec heard it
        assert abs(20 * np.log10(rms(outputs[name]) / rms(audio))) < 1.0
    # a prior folder means its codec: the same file
    np.testing.assert_allclose(outputs["prior"], outputs["all"], atol=1e-6)
    # same samples (up to the level) as the synth renderer's functions would make
    assert _correlation(outputs["all"], _synth_chain(codec, audio, None, 0)) > 0.999
    assert _correlation(outputs["first"], _synth_chain(codec, audio, 1, 0)) > 0.999
    assert _correlation(outputs["first"], outputs["all"]) < 0.99
    assert _correlation(outputs["raw"], outputs["all"]) < 0.99


def test_round_trip_mel_variants(tiny_run: dict[str, Path]) -> None:
    codec = load_codec(tiny_run["codec"])
    audio = arpeggio(3, codec.features.sample_rate, bpm=100, root=60, seed=1)
    mel = codec.analyzer.log_mel(normalise_loudness(audio, codec.features.loudness_dbfs))
    full = round_trip_mel(codec, mel)
    assert full.shape == mel.shape
    np.testing.assert_array_equal(full, codec.decode(codec.encode_mel(mel))[: len(mel)])
    raw = round_trip_mel(codec, mel, RoundTrip(quantized=False))
    np.testing.assert_allclose(raw, codec.decode_latents(codec.latents(mel))[: len(mel)])
    first = round_trip_mel(codec, mel, RoundTrip(levels=1))
    assert not np.allclose(first, full)


def test_codec_command_bad_input_is_one_line(tiny_run: dict[str, Path], clip: Path,
                                             tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.wav"
    notes = tmp_path / "notes.wav"
    notes.write_text("this is not audio")
    cases = [
        (["--input", str(tmp_path / "none.wav")], "not found"),
        (["--input", str(notes)], "audio"),
        (["--input", str(clip), "--levels", "99"], "levels"),
        (["--input", str(clip), "--levels", "1", "--no-quantize"], "no-quantize"),
    ]
    for extra, words in cases:
        assert main(["codec", "--checkpoint", str(tiny_run["codec"]), "--out", str(out),
                     *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert err.startswith("musicgen codec: error:") and words in err, err
    assert main(["codec", "--checkpoint", str(tmp_path), "--input", str(clip),
                 "--out", str(out)]) == 2
    assert "not a musicgen checkpoint" in capsys.readouterr().err
    assert not out.exists()
