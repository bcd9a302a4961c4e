"""`train --init-prior`: a trained prior is continued on its own codes, not restarted."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from musicgen.checkpoint import CODEBOOKS_FILE, load_prior, read_meta
from musicgen.config import preset
from musicgen.errors import InputError
from musicgen.prior import build_prior
from musicgen.train import train


def _continued(run: dict[str, Path], music_folder: Path, out: Path, **train_overrides) -> Path:
    cfg = preset("tiny", "gru")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, prior_epochs=1,
                                                             **train_overrides))
    return train([str(music_folder)], out, cfg, init_prior=str(run["gru"]), verbose=0)["prior"]


def test_continued_prior_starts_from_the_given_weights(tiny_run: dict[str, Path],
                                                       music_folder: Path,
                                                       tmp_path: Path) -> None:
    """With a learning rate of ~0 one more epoch leaves the weights where they started: the
    run began from the trained prior (a fresh one would be far away), on its own codec."""
    prior = _continued(tiny_run, music_folder, tmp_path / "more", prior_learning_rate=1e-12)
    start, continued = load_prior(tiny_run["gru"]), load_prior(prior)
    fresh = build_prior(start.config)
    for before, after, new in zip(start.model.get_weights(), continued.model.get_weights(),
                                  fresh.get_weights(), strict=True):
        np.testing.assert_allclose(after, before, atol=1e-6)
        assert new.shape == before.shape
    assert any(not np.allclose(a, b) for a, b in zip(start.model.get_weights(),
                                                     fresh.get_weights(), strict=True))
    assert continued.codec.config == start.codec.config  # the init prior's own codec
    meta, start_meta = read_meta(prior), read_meta(tiny_run["gru"])
    assert meta["codec_sha256"] == start_meta["codec_sha256"]
    assert meta["metrics"]["prior_epochs"] == start_meta["metrics"]["prior_epochs"] + 1
    assert meta["provenance"]["init_prior"]["folder"] == tiny_run["gru"].name
    assert not (tmp_path / "more" / "codec").exists()  # no new codec was trained


def test_init_prior_of_another_architecture_is_refused(tiny_run: dict[str, Path],
                                                       music_folder: Path,
                                                       tmp_path: Path) -> None:
    with pytest.raises(InputError, match="lstm prior of other sizes"):
        train([str(music_folder)], tmp_path / "x", preset("tiny", "gru"),
              init_prior=str(tiny_run["lstm"]), verbose=0)


def test_init_prior_on_another_codec_is_refused(tiny_run: dict[str, Path], music_folder: Path,
                                               tmp_path: Path) -> None:
    other = tmp_path / "other-codec"
    shutil.copytree(tiny_run["codec"], other)
    codebooks = np.load(other / CODEBOOKS_FILE)
    codebooks[0, 0, 0] += 0.5  # same shapes, different codes
    np.save(other / CODEBOOKS_FILE, codebooks)
    with pytest.raises(InputError, match="trained on a different codec"):
        train([str(music_folder)], tmp_path / "x", preset("tiny", "gru"),
              codec_dir=str(other), init_prior=str(tiny_run["gru"]), verbose=0)
