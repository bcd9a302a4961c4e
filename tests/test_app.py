"""The web demo over real HTTP: app.py served in-process, called with gradio_client."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from musicgen.checkpoint import checkpoint_root, find_checkpoints
from musicgen.generate import Generator
from musicgen.spectrogram import spectrogram_image

ROOT = Path(__file__).resolve().parents[1]
PARAMETERS = ["seed_audio", "architecture", "temperature", "seconds", "top_k", "top_p",
              "random_seed", "adapt_steps", "render"]
DEFAULTS = {"architecture": "gru", "temperature": 1.0, "seconds": 10, "top_k": 0, "top_p": 1.0,
            "random_seed": -1, "adapt_steps": 0, "render": "seed"}


@pytest.fixture(scope="module")
def generators(app_generators: dict[str, Generator]) -> dict[str, Generator]:
    return app_generators


@pytest.fixture(scope="module")
def server(app_url: str) -> str:
    return app_url


@pytest.fixture(scope="module")
def client(server: str):
    from gradio_client import Client

    return Client(server, verbose=False)


def call(client, seed: Path, **kwargs):
    from gradio_client import handle_file

    return client.predict(handle_file(str(seed)), api_name="/generate", **kwargs)


def test_api_is_one_generate_endpoint_with_defaults(client) -> None:
    info = client.view_api(return_format="dict", print_info=False)
    assert list(info["named_endpoints"]) == ["/generate"]
    assert not info["unnamed_endpoints"]
    params = info["named_endpoints"]["/generate"]["parameters"]
    assert [p["parameter_name"] for p in params] == PARAMETERS
    assert not params[0]["parameter_has_default"]
    assert {p["parameter_name"]: p["parameter_default"] for p in params[1:]} == DEFAULTS
    assert all(p["parameter_has_default"] for p in params[1:])
    assert len(info["named_endpoints"]["/generate"]["returns"]) == 3


def test_generate_over_http(client, generators, seed_wav: Path) -> None:
    audio_path, image_path, info = call(client, seed_wav, architecture="lstm", seconds=2,
                                        random_seed=123)
    audio, sr = sf.read(audio_path)
    assert sr == generators["lstm"].sample_rate and audio.ndim == 1
    step_s = generators["lstm"].codec.samples_per_step / sr
    total = len(audio) / sr
    assert 0 < info["join_seconds"] <= 3.0 + step_s  # the seed's tail comes first
    assert abs(total - info["join_seconds"] - 2.0) <= step_s + 1 / sr
    assert info["random_seed"] == 123 and info["arch"] == "lstm"
    assert {"model", "timings", "real_time_factor"} <= set(info)
    with Image.open(image_path) as image:
        assert image.format == "PNG" and image.width > image.height > 0


def test_same_random_seed_gives_same_audio(client, seed_wav: Path) -> None:
    first = call(client, seed_wav, seconds=2, random_seed=7)
    second = call(client, seed_wav, seconds=2, random_seed=7)
    assert np.array_equal(sf.read(first[0])[0], sf.read(second[0])[0])
    assert first[2]["random_seed"] == second[2]["random_seed"] == 7


def test_only_seed_uses_defaults(client, generators, seed_wav: Path) -> None:
    audio_path, _, info = call(client, seed_wav)
    assert info["arch"] == "gru" and info["render"] == "seed"
    assert info["temperature"] == 1.0 and info["top_k"] == 0 and info["top_p"] == 1.0
    assert info["adapt_steps"] == 0 and info["random_seed"] >= 0
    step_s = generators["gru"].codec.samples_per_step / generators["gru"].sample_rate
    assert abs(info["new_seconds"] - 10.0) <= step_s + 1e-3


def test_synthesized_render(client, generators, seed_wav: Path) -> None:
    """render="synth" over HTTP: one second of new, audible audio after the seed's tail,
    made by the synthesized renderer (the seed renderer would report its beat analysis)."""
    audio_path, _, info = call(client, seed_wav, seconds=1, render="synth", random_seed=1)
    audio, sr = sf.read(audio_path)
    step_s = generators["gru"].codec.samples_per_step / sr
    new = audio[int(round(info["join_seconds"] * sr)):]
    assert abs(len(new) / sr - 1.0) <= step_s + 1 / sr
    assert np.sqrt(np.mean(new**2)) > 0.01  # audible, not a silent tail
    assert info["render"] == "synth" and "beat_mode" not in info


def test_bad_file_is_a_clear_error_and_server_stays_up(client, seed_wav, tmp_path) -> None:
    from gradio_client.exceptions import AppError

    bad = tmp_path / "notes.wav"
    bad.write_text("these are my notes, not a recording\n" * 20)
    with pytest.raises(AppError) as caught:
        call(client, bad, seconds=1)
    message = str(caught.value).lower()
    assert "audio" in message and ("not" in message or "cannot" in message), message
    assert call(client, seed_wav, seconds=1)[2]["random_seed"] >= 0


def test_seconds_are_capped(client, seed_wav: Path) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="60"):
        call(client, seed_wav, seconds=600)


def test_internal_error_is_generic_and_logged(client, generators, seed_wav, monkeypatch,
                                              caplog) -> None:
    from gradio_client.exceptions import AppError

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(generators["lstm"], "generate", broken)
    with pytest.raises(AppError) as caught:
        call(client, seed_wav, architecture="lstm", seconds=1)
    assert "internal error" in str(caught.value) and "secret" not in str(caught.value)
    assert "secret internal detail" in caplog.text
    monkeypatch.undo()
    assert call(client, seed_wav, architecture="lstm", seconds=1)[2]["arch"] == "lstm"


def test_find_checkpoints(tiny_run: dict[str, Path], tmp_path, monkeypatch) -> None:
    found = find_checkpoints(tiny_run["gru"].parent)
    assert found == {"lstm": tiny_run["lstm"], "gru": tiny_run["gru"]}
    assert find_checkpoints(tmp_path / "missing") == {}
    monkeypatch.setenv("MUSICGEN_CHECKPOINTS", str(tmp_path))
    assert checkpoint_root(ROOT) == tmp_path
    monkeypatch.delenv("MUSICGEN_CHECKPOINTS")
    assert checkpoint_root(ROOT) == ROOT / "checkpoints"


def test_spectrogram_image_orientation_and_join_line() -> None:
    log_mel = np.full((200, 64), -100.0)
    log_mel[:, :4] = 0.0  # energy only in the lowest mel bands
    image = np.asarray(spectrogram_image(log_mel, 0.25, width=400, height=128))
    assert image.shape == (128, 400, 3)
    assert image[-5, 300].mean() > image[5, 300].mean() + 100  # low frequencies at the bottom
    x = round(0.25 * 399)
    assert (image[20:80, x] == 255).all()  # a white line at the join ...
    assert (image[20:80, x - 3] == 0).all() and (image[20:80, x + 3] == 0).all()  # edged
    labels = image[-25:-4].min(axis=-1)  # "seed" left of the line, "new" right, white on black
    assert (labels[:, x - 40:x - 5] > 200).any() and (labels[:, x + 5:x + 40] > 200).any()


def test_readme_front_matter() -> None:
    """The Hugging Face Space card: README.md's YAML front matter."""
    import gradio
    from huggingface_hub.repocard import metadata_load
    from packaging.requirements import Requirement
    from packaging.version import Version

    readme = ROOT / "README.md"
    assert readme.is_file(), "README.md is missing"
    meta = metadata_load(readme)
    assert meta, "README.md has no YAML front matter"
    required = ("title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "app_file",
                "license", "short_description")
    assert not [key for key in required if key not in meta]
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    colours = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
    assert meta["colorFrom"] in colours and meta["colorTo"] in colours
    assert len(meta["short_description"]) <= 60
    version = str(meta["sdk_version"])
    installed = ".".join(Version(gradio.__version__).base_version.split(".")[:3])
    pinned = [Requirement(line.split("#")[0]) for line in
              (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip().startswith("gradio")]
    assert version == installed or (pinned and Version(version) in pinned[0].specifier), (
        f"sdk_version {version} is neither the installed gradio {installed} nor in "
        f"requirements.txt's range")
