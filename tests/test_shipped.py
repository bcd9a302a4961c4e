"""The shipped checkpoints: small, self-describing, loadable in safe mode, and they generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from musicgen.checkpoint import read_meta
from musicgen.generate import GenerateOptions, Generator
from musicgen.metrics import longest_verbatim_run
from musicgen.mixing import rms
from musicgen.render.units import UnitCosts
from musicgen.toymusic import arpeggio

ROOT = Path(__file__).resolve().parents[1] / "checkpoints"
PRIORS = sorted(ROOT.glob("prior-*")) if ROOT.is_dir() else []


def test_both_architectures_are_shipped() -> None:
    assert {read_meta(p)["prior"]["arch"] for p in PRIORS} == {"lstm", "gru"}
    assert (ROOT / "README.md").is_file()


def test_every_file_is_under_10_mb() -> None:
    files = [f for f in ROOT.rglob("*") if f.is_file()]
    assert files
    assert max(f.stat().st_size for f in files) < 10 * 1024 * 1024


@pytest.mark.parametrize("folder", PRIORS, ids=[p.name for p in PRIORS])
def test_shipped_prior_generates(folder: Path) -> None:
    """Each shipped prior continues a seed it never heard, with both renderers: new audio
    that is audible and is not the seed played back."""
    meta = read_meta(folder)
    assert meta["provenance"]["train_tracks"] > 0 and "licences" in meta["provenance"]
    generator = Generator.load(folder)
    sr = generator.sample_rate
    seed = (sr, arpeggio(6, sr, bpm=110, seed=7))
    # longer than the seed renderer's longest run: one jump and playing on for the whole
    # request is a legitimate continuation, not the seed again
    seconds = UnitCosts().max_run_seconds + 1.0
    for render in ("seed", "synth"):
        result = generator.generate(seed, GenerateOptions(seconds=seconds, render=render,
                                                          random_seed=0))
        new = result.new_audio
        assert len(new) / sr == pytest.approx(seconds, abs=0.1)
        assert rms(new) > 1e-3, render  # not silence (-60 dBFS; the seed is levelled to -20)
        # not the seed again: no stretch of the seed's codes covers the whole continuation
        assert longest_verbatim_run(result.codes, result.seed_codes) < len(result.codes)
        tail = result.seed_audio[-len(new):]
        assert rms(new - tail) > 0.1 * rms(tail), render


@pytest.mark.parametrize("folder", PRIORS, ids=[p.name for p in PRIORS])
def test_shipped_figures_are_this_models(folder: Path) -> None:
    """The figures in musicgen.json were measured on this prior and this codec: re-derived
    from the loaded model, they come out as recorded."""
    meta = read_meta(folder)
    report = meta["metrics"]["evaluate"]
    generator = Generator.load(folder)
    steps_per_second = generator.codec.steps_per_second
    assert report["arch"] == generator.bundle.config.arch
    assert report["steps_per_second"] == round(steps_per_second, 3)
    prior = report["prior"]  # bits per second were bits per step at this codec's step rate
    assert prior["bits_per_second"] == pytest.approx(prior["bits_per_step"] * steps_per_second,
                                                     abs=0.06)
    assert report["codec"]["codebook_size"] == generator.codec.config.codebook_size
    assert len(report["codec"]["perplexity"]) == generator.codec.config.levels
