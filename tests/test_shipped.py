"""The shipped checkpoints: small, self-describing, loadable in safe mode, and they generate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgen.checkpoint import read_meta
from musicgen.generate import GenerateOptions, Generator
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
    meta = read_meta(folder)
    assert meta["provenance"]["train_tracks"] > 0 and "licences" in meta["provenance"]
    generator = Generator.load(folder)
    sr = generator.sample_rate
    seed = (sr, arpeggio(6, sr, bpm=110, seed=7))
    for render in ("seed", "synth"):
        result = generator.generate(seed, GenerateOptions(seconds=3, render=render,
                                                          random_seed=0))
        assert len(result.new_audio) / sr == pytest.approx(3.0, abs=0.1)
        assert np.all(np.isfinite(result.audio)) and np.abs(result.audio).max() <= 0.98 + 1e-6
