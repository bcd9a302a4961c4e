"""The command line, called in-process on audio the tests make."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musicgen.cli import build_parser, main
from musicgen.generate import GenerateOptions, Generator


def test_train_then_generate(music_folder: Path, seed_wav: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(music_folder), "--out", str(out), "--preset", "tiny",
                 "--arch", "gru"]) == 0
    assert (out / "codec" / "encoder.keras").is_file()
    assert (out / "prior-gru" / "prior.keras").is_file()
    wav = tmp_path / "out.wav"
    for render in ("seed", "synth"):
        assert main(["generate", "--checkpoint", str(out / "prior-gru"), "--seed", str(seed_wav),
                     "--seconds", "4", "--temperature", "0.9", "--top-k", "8", "--top-p", "0.95",
                     "--random-seed", "3", "--render", render, "--out", str(wav)]) == 0
        info = sf.info(wav)
        # the seed's last 3 s + 4 s new, rounded up to whole code steps (< 0.1 s)
        assert 7.0 <= info.duration <= 7.15
    assert "random seed 3" in capsys.readouterr().out
    # the beat chooser, fitted on the same music, then steers the seed renderer
    assert main(["train-chooser", "--checkpoint", str(out / "prior-gru"), "--data",
                 str(music_folder), "--clips", "6", "--validation-clips", "2", "--epochs", "1",
                 "--continuation-seconds", "4", "--lags", "5"]) == 0
    assert "validation top choice right" in capsys.readouterr().out
    generator = Generator.load(out / "prior-gru")
    assert generator.bundle.chooser is not None
    assert generator.bundle.chooser.config.lags == 5  # it compares the last 5 beats
    result = generator.generate(str(seed_wav), GenerateOptions(seconds=4, random_seed=3))
    assert result.info["steered_by"] == "beat chooser"
    assert main(["train-chooser", "--checkpoint", str(out / "prior-gru"), "--data",
                 str(music_folder), "--seed-seconds", "20"]) == 2
    err = capsys.readouterr().err
    assert "no train track lasts 35 s" in err and str(music_folder) not in err


def test_bad_seed_is_one_line_on_stderr(tiny_run: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    code = main(["generate", "--checkpoint", str(tiny_run["lstm"]), "--seed", str(bad),
                 "--seconds", "2", "--out", str(tmp_path / "o.wav")])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "audio" in err
    assert not (tmp_path / "o.wav").exists()


def test_missing_seed_and_bad_options(tiny_run: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--checkpoint", str(tiny_run["lstm"]), "--seed",
                 str(tmp_path / "none.wav"), "--out", str(tmp_path / "o.wav")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", str(tiny_run["lstm"]), "--seed",
                 str(tmp_path / "none.wav"), "--temperature", "-1",
                 "--out", str(tmp_path / "o.wav")]) == 2
    assert "temperature" in capsys.readouterr().err


def test_help_explains_every_generate_option() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["generate"].format_help()
    for flag in ("--checkpoint", "--seed", "--seconds", "--temperature", "--top-k", "--top-p",
                 "--random-seed", "--render", "--adapt-steps", "--no-prior", "--level-scales",
                 "--out"):
        assert flag in text


def test_generate_without_the_prior(tiny_run: dict[str, Path], seed_wav: Path,
                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--no-prior: the seed renderer by its costs alone; refused for synth."""
    out = tmp_path / "alone.wav"
    assert main(["generate", "--checkpoint", str(tiny_run["gru"]), "--seed", str(seed_wav),
                 "--seconds", "3", "--random-seed", "1", "--no-prior", "--out", str(out)]) == 0
    assert out.exists()
    generator = Generator.load(tiny_run["gru"])
    alone = generator.generate(str(seed_wav), GenerateOptions(seconds=3, random_seed=1,
                                                              use_prior=False))
    steered = generator.generate(str(seed_wav), GenerateOptions(seconds=3, random_seed=1))
    assert alone.info["prior_agreement"] is None and "prior" in alone.info
    assert steered.info["prior_agreement"] is not None
    assert main(["generate", "--checkpoint", str(tiny_run["gru"]), "--seed", str(seed_wav),
                 "--render", "synth", "--no-prior", "--out", str(tmp_path / "s.wav")]) == 2
    assert "use_prior" in capsys.readouterr().err


def test_generate_is_quiet_by_default_and_verbose_on_request(tiny_run: dict[str, Path],
                                                            seed_wav: Path,
                                                            tmp_path: Path) -> None:
    """A real process from another folder: TensorFlow's start-up lines (absl, CPU features)
    are not printed unless asked for, and the cold real-time factor is explained."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "MUSICGEN_VERBOSE")}
    env["PYTHONPATH"] = str(root)
    command = [sys.executable, "-m", "musicgen", "generate", "--checkpoint",
               str(tiny_run["gru"]), "--seed", str(seed_wav), "--seconds", "1",
               "--out", str(tmp_path / "o.wav")]
    quiet = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.strip() == "", quiet.stderr
    assert "first call in a new process" in quiet.stdout
    loud = subprocess.run([*command[:3], "--verbose", *command[3:]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0, loud.stderr
    assert "cpu_feature_guard" in loud.stderr or "absl" in loud.stderr, loud.stderr


def test_level_scales_reach_the_synth_sampler(tiny_run: dict[str, Path], seed_wav: Path,
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--level-scales alone draws every level at the temperature: the codes are those of
    GenerateOptions(level_scales=()); a scale outside (0, 1] is refused before loading."""
    out = tmp_path / "plain.wav"
    assert main(["generate", "--checkpoint", str(tiny_run["gru"]), "--seed", str(seed_wav),
                 "--seconds", "2", "--random-seed", "3", "--render", "synth",
                 "--level-scales", "--out", str(out)]) == 0
    generator = Generator.load(tiny_run["gru"])
    plain = generator.generate(str(seed_wav), GenerateOptions(
        seconds=2, random_seed=3, render="synth", level_scales=()))
    default = generator.generate(str(seed_wav), GenerateOptions(
        seconds=2, random_seed=3, render="synth"))
    written, _ = sf.read(out, dtype="float32")
    np.testing.assert_allclose(written, np.clip(plain.audio, -1, 1), atol=1e-4)
    assert not np.array_equal(plain.codes, default.codes)
    assert plain.info["level_scales"] == []  # recorded, so the render can be reproduced
    assert default.info["level_scales"] == list(GenerateOptions().level_scales)
    assert main(["generate", "--checkpoint", str(tiny_run["gru"]), "--seed", str(seed_wav),
                 "--render", "synth", "--level-scales", "2", "--out",
                 str(tmp_path / "bad.wav")]) == 2
    assert "level_scales" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", str(tiny_run["gru"]), "--seed", str(seed_wav),
                 "--level-scales", "0.5", "--out", str(tmp_path / "seed.wav")]) == 2
    assert "--render synth" in capsys.readouterr().err
