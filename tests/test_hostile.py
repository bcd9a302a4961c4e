"""The page under real use, over HTTP on loopback: concurrent identical requests, uploads that
are too big, too long, or at absurd rates, and what a visitor's messages may show."""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from musicgen.generate import GenerateOptions, Generator
from musicgen.options import PAGE_LIMITS
from musicgen.toymusic import hour_of_aac


def call(url: str, seed: Path, **kwargs):
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    return client.predict(handle_file(str(seed)), api_name="/generate", **kwargs)


def refusal(url: str, seed: Path, **kwargs) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        call(url, seed, **kwargs)
    return str(caught.value)


def test_concurrent_identical_requests_all_download_whole(app_url: str, seed_wav: Path) -> None:
    """Identical results used to share one file that each request rewrote while the others
    were downloading it: downloads came back cut short."""
    clients, rounds = 6, 2
    for _ in range(rounds):
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(lambda _: call(app_url, seed_wav, seconds=5, random_seed=3),
                                    range(clients)))
        digests = set()
        for wav, _png, info in results:
            audio, sr = sf.read(wav, dtype="int16")  # a truncated file fails here or below
            assert len(audio) / sr == pytest.approx(info["join_seconds"] + 5.0, abs=0.1)
            digests.add(hashlib.sha256(Path(wav).read_bytes()).hexdigest())
        assert len(digests) == 1  # every download complete and byte-equal
        assert len({Path(wav).name for wav, _, _ in results}) == clients  # one file each


def test_oversized_upload_is_refused_at_once(app_url: str) -> None:
    limit = PAGE_LIMITS.max_upload_bytes
    assert limit is not None
    tic = time.perf_counter()
    response = httpx.post(app_url + "gradio_api/upload",
                          files={"files": ("big.wav", b"\0" * (limit + 1024), "audio/wav")},
                          timeout=30)
    assert response.status_code == 413 and "maximum allowed size" in response.text
    assert time.perf_counter() - tic < 5.0


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg CLI")
def test_an_hour_of_aac_is_answered_in_seconds(app_url: str, tmp_path: Path) -> None:
    """1.8 MB of m4a holding an hour: only its end is decoded (it used to decode it all)."""
    hour = hour_of_aac(tmp_path)
    assert hour.stat().st_size < 4_000_000
    tic = time.perf_counter()
    wav, _, info = call(app_url, hour, seconds=1, random_seed=1)
    assert time.perf_counter() - tic < 5.0
    assert info["seed_seconds"] <= 30.0 and sf.info(wav).duration > 1.0


def test_absurd_sample_rate_is_refused_clearly(app_url: str, tmp_path: Path) -> None:
    one_hz = tmp_path / "one-hertz.wav"
    sf.write(one_hz, np.sin(np.arange(20.0)), 1)
    message = refusal(app_url, one_hz, seconds=1)
    assert "1 Hz" in message and f"{PAGE_LIMITS.min_sample_rate}" in message, message


def test_messages_show_no_server_path(app_url: str, tmp_path: Path, caplog) -> None:
    """Upload errors used to quote the server's temporary path; user errors log one line."""
    from gradio.utils import get_upload_folder

    bad = tmp_path / "notes.wav"
    bad.write_text("not a recording\n" * 20)
    caplog.set_level(logging.INFO, logger="musicgen.app")
    message = refusal(app_url, bad, seconds=1)
    assert bad.name in message, message
    assert get_upload_folder() not in message and "/tmp" not in message, message
    refused = [r for r in caplog.records if r.name == "musicgen.app"]
    assert refused and all(r.getMessage().startswith("refused:") and not r.exc_info
                           for r in refused)


def test_adaptation_is_reproducible_and_its_model_is_reused(tiny_run: dict[str, Path],
                                                           seed_wav: Path) -> None:
    """Dropout masks came from Keras's unseeded generator: the same random_seed gave
    different weights (and audio). The tiny prior has no dropout, so give it some."""
    import keras

    generator = Generator.load(tiny_run["gru"])
    for layer in generator.bundle.model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.5
    codes = generator.prepare_seed(seed_wav).codes
    first = generator.adapter.adapt(codes, 4, random_seed=9)
    model = generator.adapter._model
    second = generator.adapter.adapt(codes, 4, random_seed=9)
    for name in ("embed", "rnn_kernel", "rnn_recurrent", "w1", "w2"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert not np.array_equal(first.rnn_kernel, generator.step_prior.rnn_kernel)  # it adapted
    assert generator.adapter._model is model  # built and compiled once
    options = GenerateOptions(seconds=2, render="synth", random_seed=9, adapt_steps=4)
    np.testing.assert_array_equal(generator.generate(seed_wav, options).audio,
                                  generator.generate(seed_wav, options).audio)


def test_refusals_print_no_traceback(app_url: str, tmp_path: Path, capfd) -> None:
    """Gradio prints a traceback for every gr.Error unless told not to."""
    one_hz = tmp_path / "one-hertz.wav"
    sf.write(one_hz, np.sin(np.arange(20.0)), 1)
    capfd.readouterr()
    refusal(app_url, one_hz, seconds=1)
    assert "Traceback" not in capfd.readouterr().err
