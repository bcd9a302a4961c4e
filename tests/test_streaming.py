"""Generator.stream: chunks as they are made, adding up to exactly what generate returns."""

from __future__ import annotations

import io
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from musicgen.audio import wav_bytes
from musicgen.errors import InputError
from musicgen.generate import GenerateOptions, Generator, StreamChunk
from musicgen.mixing import PEAK
from musicgen.render import synth as synth_module
from musicgen.webui import ResultFiles, live_updates


@pytest.fixture(scope="module")
def generator(tiny_run: dict[str, Path]) -> Generator:
    return Generator.load(tiny_run["gru"])


def collect(generator: Generator, seed: Path, options: GenerateOptions,
            chunk_seconds: float = 2.0) -> list[StreamChunk]:
    return list(generator.stream(seed, options, chunk_seconds))


@pytest.mark.parametrize("render", ["synth", "seed"])
def test_chunks_add_up_to_generate(generator: Generator, seed_wav: Path, render: str) -> None:
    options = GenerateOptions(seconds=7, render=render, random_seed=5)
    expected = generator.generate(seed_wav, options)
    chunks = collect(generator, seed_wav, options)
    assert len(chunks) >= 3
    assert all(c.result is None for c in chunks[:-1]) and chunks[-1].result is not None
    streamed = np.concatenate([c.audio for c in chunks])
    result = chunks[-1].result
    np.testing.assert_array_equal(result.audio, streamed)
    if np.max(np.abs(streamed)) < PEAK:
        np.testing.assert_array_equal(streamed, expected.audio)  # exact, not just close
    else:  # documented: generate scales a too-loud file down, a stream clips what it sent
        kept = np.abs(streamed) < PEAK
        scale = np.max(np.abs(expected.audio)) and float(
            np.dot(expected.audio[kept], streamed[kept]) / np.dot(streamed[kept], streamed[kept]))
        assert 0 < scale < 1
        np.testing.assert_allclose(expected.audio[kept], streamed[kept] * scale, atol=2e-6)
        assert np.max(np.abs(streamed)) == pytest.approx(PEAK)
    assert result.join_seconds == expected.join_seconds
    assert result.random_seed == 5 and result.info["render"] == render
    np.testing.assert_array_equal(result.codes, expected.codes)
    # offsets, sample rate, and the first chunk: the seed's tail plus the first new audio
    starts = np.cumsum([0] + [len(c.audio) for c in chunks[:-1]])
    assert [c.start for c in chunks] == list(starts)
    assert all(c.sample_rate == generator.sample_rate and c.audio.dtype == np.float32
               for c in chunks)
    join = int(round(result.join_seconds * generator.sample_rate))
    assert join < len(chunks[0].audio) <= join + 2 * generator.sample_rate
    assert all(len(c.audio) == 2 * generator.sample_rate for c in chunks[1:-1])
    assert "first_chunk_s" in result.info["timings"]
    assert np.abs(streamed).max() <= 0.98 + 1e-6


def test_chunk_size_does_not_change_the_audio(generator: Generator, seed_wav: Path) -> None:
    options = GenerateOptions(seconds=5, render="synth", random_seed=9)
    small = collect(generator, seed_wav, options, chunk_seconds=0.5)
    large = collect(generator, seed_wav, options, chunk_seconds=10.0)
    assert len(small) > len(large)
    np.testing.assert_array_equal(np.concatenate([c.audio for c in small]),
                                  np.concatenate([c.audio for c in large]))


def test_first_chunk_comes_before_the_end(generator: Generator, seed_wav: Path,
                                          monkeypatch) -> None:
    """The first chunk leaves while the vocoder is still early in a 40 s request: it does not
    wait for the whole synthesis."""
    made: list[int] = []  # vocoder blocks finished, counted as they are handed on
    blocks = synth_module.griffin_lim_blocks

    def counted(*args, **kwargs):
        for block in blocks(*args, **kwargs):
            made.append(len(block))
            yield block

    monkeypatch.setattr(synth_module, "griffin_lim_blocks", counted)
    stream = generator.stream(seed_wav, GenerateOptions(seconds=40, render="synth",
                                                        random_seed=1))
    next(stream)
    blocks_at_first_chunk = len(made)
    rest = list(stream)
    result = rest[-1].result
    assert result is not None and len(made) >= 10  # 40 s come in many blocks ...
    assert blocks_at_first_chunk <= 2  # ... and the first chunk needed only the first
    timings = result.info["timings"]  # one clock, started with the request
    assert timings["first_chunk_s"] < 0.75 * timings["total_s"]


def test_bad_chunk_size_and_options_are_refused(generator: Generator, seed_wav: Path) -> None:
    with pytest.raises(InputError, match="chunk_seconds"):
        next(generator.stream(seed_wav, GenerateOptions(seconds=1), chunk_seconds=0))
    with pytest.raises(InputError, match="seconds"):
        next(generator.stream(seed_wav, GenerateOptions(seconds=0)))


def test_live_updates_for_the_page(generator: Generator, seed_wav: Path,
                                   tmp_path: Path) -> None:
    options = GenerateOptions(seconds=5, render="synth", random_seed=2)
    updates = list(live_updates(generator, seed_wav, options, ResultFiles(tmp_path)))
    assert all(final is None for _, final in updates[:-1])
    wav_path, png_path, info = updates[-1][1]
    samples, rate = sf.read(wav_path, dtype="int16")
    assert rate == generator.sample_rate and Path(wav_path).parent == tmp_path
    with Image.open(png_path) as image:
        assert info["random_seed"] == 2 and image.width > image.height
    pcm = []
    for live, _ in updates:
        if live is not None:
            with wave.open(io.BytesIO(live)) as reader:
                assert reader.getframerate() == rate and reader.getsampwidth() == 2
                pcm.append(np.frombuffer(reader.readframes(reader.getnframes()), np.int16))
    np.testing.assert_array_equal(np.concatenate(pcm), samples)  # the live player = the file


def test_wav_bytes_roundtrip() -> None:
    audio = np.array([0.0, 0.5, -0.5, 1.5, -2.0], np.float32)
    with wave.open(io.BytesIO(wav_bytes(audio, 16000))) as reader:
        assert (reader.getnchannels(), reader.getframerate()) == (1, 16000)
        data = np.frombuffer(reader.readframes(10), np.int16)
    np.testing.assert_array_equal(data, [0, 16384, -16384, 32767, -32767])


def test_warmup_runs_both_renderers(generator: Generator, seed_wav: Path, monkeypatch) -> None:
    """warmup() pays the first-call costs of both renderers (the beat tracker's JIT compile
    is only reached by "seed", Keras's decoder only by "synth") and reports its own time."""
    renders: list[str] = []
    generate = generator.generate

    def spy(source, options, progress=None):
        renders.append(options.render)
        return generate(source, options, progress)

    monkeypatch.setattr(generator, "generate", spy)
    tic = time.perf_counter()
    seconds = generator.warmup()
    elapsed = time.perf_counter() - tic
    assert set(renders) == {"seed", "synth"}
    assert 0 < seconds <= elapsed
    monkeypatch.undo()
    result = generator.generate(seed_wav, GenerateOptions(seconds=1, random_seed=3))
    assert len(result.new_audio) > 0
