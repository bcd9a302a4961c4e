"""Checkpoints: save/load round trip, safe-mode loading, and clear refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from musicgen.checkpoint import (
    CODEBOOKS_FILE,
    FORMAT_VERSION,
    META_FILE,
    PRIOR_FILE,
    load_codec,
    load_prior,
    read_meta,
    update_metrics,
)
from musicgen.errors import CheckpointError


def _copy_run(tiny_run: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    shutil.copytree(tiny_run["codec"], tmp_path / "codec")
    shutil.copytree(tiny_run["lstm"], tmp_path / "prior-lstm")
    return {"codec": tmp_path / "codec", "prior": tmp_path / "prior-lstm"}


def test_prior_checkpoint_is_self_describing(tiny_run: dict[str, Path]) -> None:
    meta = read_meta(tiny_run["gru"])
    assert meta["format_version"] == FORMAT_VERSION and meta["kind"] == "prior"
    assert meta["prior"]["arch"] == "gru"
    assert {"features", "codec", "provenance", "metrics", "codec_sha256"} <= set(meta)
    assert meta["provenance"]["heldout_tracks"] >= 1
    assert "prior_heldout_bits_per_step" in meta["metrics"]
    bundle = load_prior(tiny_run["gru"])
    assert bundle.config.arch == "gru"
    assert bundle.codec.config.levels == bundle.config.levels


def test_reload_gives_identical_outputs(tiny_run: dict[str, Path]) -> None:
    a, b = load_prior(tiny_run["lstm"]), load_prior(tiny_run["lstm"])
    codes = np.random.default_rng(0).integers(0, a.config.codebook_size,
                                              (1, 10, a.config.levels))
    out_a = np.asarray(a.model([codes[:, :-1], codes[:, 1:]], training=False))
    out_b = np.asarray(b.model([codes[:, :-1], codes[:, 1:]], training=False))
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_array_equal(a.codec.codebooks, b.codec.codebooks)


def test_unknown_format_version_is_refused(tiny_run: dict[str, Path], tmp_path: Path) -> None:
    run = _copy_run(tiny_run, tmp_path)
    meta = json.loads((run["prior"] / META_FILE).read_text())
    meta["format_version"] = 99
    (run["prior"] / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_prior(run["prior"])


def test_missing_and_corrupt_files_are_refused(tiny_run: dict[str, Path], tmp_path: Path) -> None:
    run = _copy_run(tiny_run, tmp_path)
    with pytest.raises(CheckpointError, match="not found"):
        load_prior(tmp_path / "nowhere")
    (run["prior"] / PRIOR_FILE).write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="cannot load"):
        load_prior(run["prior"])
    (run["codec"] / META_FILE).write_text("{ broken json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_codec(run["codec"])
    (run["codec"] / META_FILE).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_codec(run["codec"])


def test_a_different_codec_is_detected(tiny_run: dict[str, Path], tmp_path: Path) -> None:
    """A codec that loads fine but is not the one the prior was trained on is refused by its
    SHA-256, not used: its codes would mean something else to the prior."""
    run = _copy_run(tiny_run, tmp_path)
    codebooks = np.load(run["codec"] / CODEBOOKS_FILE)
    codebooks[0, 0, 0] += 0.5  # retrained, say: same shapes, different codes
    np.save(run["codec"] / CODEBOOKS_FILE, codebooks)
    load_codec(run["codec"])  # on its own it is a valid codec ...
    with pytest.raises(CheckpointError, match="not the codec prior-lstm was trained on"):
        load_prior(run["prior"])  # ... but not this prior's


def test_codec_folder_is_not_a_prior(tiny_run: dict[str, Path]) -> None:
    with pytest.raises(CheckpointError, match="needs a prior"):
        load_prior(tiny_run["codec"])


def test_update_metrics_merges(tiny_run: dict[str, Path], tmp_path: Path) -> None:
    run = _copy_run(tiny_run, tmp_path)
    update_metrics(run["prior"], {"evaluate": {"x": 1}})
    meta = read_meta(run["prior"])
    assert meta["metrics"]["evaluate"] == {"x": 1}
    assert "prior_heldout_bits_per_step" in meta["metrics"]
