"""Shared fixtures: music the tests synthesize, and a tiny model trained on it in seconds."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

from musicgen.toymusic import arpeggio, click_and_chords  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def write_clip(path: Path, audio: np.ndarray, sr: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, sr)
    return path


@pytest.fixture(scope="session")
def music_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 12 s tracks of arpeggios and click-and-chords at different tempos and keys."""
    folder = tmp_path_factory.mktemp("music")
    sr = 22050
    for i in range(3):
        write_clip(folder / f"arpeggio{i}.wav",
                   arpeggio(12, sr, bpm=100 + 10 * i, root=55 + 2 * i, seed=i), sr)
    write_clip(folder / "clicks.flac", click_and_chords(12, sr, bpm=120), sr)
    return folder


@pytest.fixture(scope="session")
def tiny_run(music_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny codec + LSTM prior + GRU prior trained on `music_folder` (seconds on 2 cores)."""
    from musicgen.config import preset
    from musicgen.train import train

    out = tmp_path_factory.mktemp("tiny_run")
    lstm = train([str(music_folder)], out, preset("tiny", "lstm"), verbose=0)
    gru = train([str(music_folder)], out, preset("tiny", "gru"), codec_dir=str(lstm["codec"]),
                verbose=0)
    return {"codec": lstm["codec"], "lstm": lstm["prior"], "gru": gru["prior"]}


@pytest.fixture(scope="session")
def seed_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sr = 22050
    return write_clip(tmp_path_factory.mktemp("seed") / "seed.wav",
                      click_and_chords(6, sr, bpm=120, seed=3), sr)


@pytest.fixture(scope="session")
def app_module():
    """app.py is a script next to the package, not part of it: import it by path."""
    import importlib.util
    import sys

    if "app" not in sys.modules:
        spec = importlib.util.spec_from_file_location("app", ROOT / "app.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["app"] = module
        spec.loader.exec_module(module)
    return sys.modules["app"]


@pytest.fixture(scope="session")
def app_generators(tiny_run: dict[str, Path]) -> dict:
    from musicgen.generate import Generator

    return {arch: Generator.load(tiny_run[arch]) for arch in ("lstm", "gru")}


@pytest.fixture(scope="session")
def app_url(app_module, app_generators: dict):
    """The real app on a free loopback port, serving the tiny LSTM and GRU models."""
    import socket

    demo = app_module.build_demo(app_generators, sorted((ROOT / "examples").glob("*.ogg")))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app_module.launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=port,
                      quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="session")
def place_chooser():
    """A beat chooser with set weights that scores a candidate only by where it sits in the
    seed: place_chooser(1.0) takes the latest, place_chooser(-1.0) the earliest."""
    from musicgen.chooser.model import BeatChooser, ChooserConfig, build_scorer

    def make(sign: float) -> BeatChooser:
        config = ChooserConfig(conv_filters=1, rnn_units=1, dense_units=1)
        scorer = build_scorer(config)
        weights = {name: [np.zeros_like(w) for w in scorer.get_layer(name).get_weights()]
                   for name in ("conv", "rnn", "hidden", "score")}
        weights["hidden"][0][1 + 1, 0] = 1.0  # after the rnn's one unit, the scalars: place
        weights["score"][0][0, 0] = 500.0 * sign
        return BeatChooser(config, weights)

    return make
