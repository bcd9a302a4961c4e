"""Checkpoints: a folder holding a `.keras` file and `musicgen.json` that describes it.

The JSON carries a format version, every config needed to rebuild the model, training
provenance and metrics. A prior's folder names the codec folder it was trained on (relative
path + SHA-256), because one codec serves every prior trained on a corpus. The app and the
benchmarks find prior folders with `find_checkpoints`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from musicgen import codec as codec_module
from musicgen import prior as prior_module  # noqa: F401  (registers the prior's layers)
from musicgen.chooser.model import BeatChooser, ChooserConfig, build_scorer
from musicgen.codec import Codec
from musicgen.config import (
    ARCHITECTURES,
    CodecConfig,
    FeatureConfig,
    PriorConfig,
    from_dict,
    to_dict,
)
from musicgen.errors import CheckpointError, InputError

FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
META_FILE = "musicgen.json"
ENCODER_FILE = "encoder.keras"
DECODER_FILE = "decoder.keras"
CODEBOOKS_FILE = "codebooks.npy"
CODEC_FILES = (ENCODER_FILE, DECODER_FILE, CODEBOOKS_FILE)
PRIOR_FILE = "prior.keras"
CHOOSER_FILE = "chooser.keras"  # optional: the beat chooser that steers the seed renderer

log = logging.getLogger(__name__)


def codec_digest(folder: Path) -> str:
    """SHA-256 over the codec's files: a prior names the exact codec it was trained on."""
    digest = hashlib.sha256()
    for name in CODEC_FILES:
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"codec file missing: {path}")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is meant to be shared
    os.replace(tmp, path)


def _save_weights_only_model(model: keras.Model, rebuilt: keras.Model, path: Path) -> None:
    """Save an uncompiled copy: no optimizer state, so shipped files stay small."""
    rebuilt.set_weights(model.get_weights())
    tmp = path.with_name(path.stem + ".tmp.keras")
    rebuilt.save(tmp)
    os.replace(tmp, path)


def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check a checkpoint's JSON; clear errors for missing, corrupt or unknown."""
    folder = Path(folder)
    meta_path = folder / META_FILE
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder not found: {folder}")
    if not meta_path.is_file():
        raise CheckpointError(f"{folder} is not a musicgen checkpoint: {META_FILE} is missing")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{meta_path} is corrupt: {error}") from error
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version not in SUPPORTED_VERSIONS:
        raise CheckpointError(
            f"{meta_path} has format version {version!r}; this musicgen reads versions "
            f"{list(SUPPORTED_VERSIONS)}. Upgrade musicgen or re-train the checkpoint.")
    return meta


def _load_keras(path: Path) -> keras.Model:
    if not path.is_file():
        raise CheckpointError(f"model file missing: {path}")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a damaged zip or config
        raise CheckpointError(f"cannot load {path}: {type(error).__name__}: {error}") from error


def save_codec(folder: str | os.PathLike, model: keras.Model, features: FeatureConfig,
               config: CodecConfig, *, provenance: dict[str, Any] | None = None,
               metrics: dict[str, Any] | None = None) -> Path:
    """Save the trainable autoencoder as encoder, decoder and codebooks (each < 10 MB)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _save_weights_only_model(model.get_layer("encoder"),
                             codec_module.build_encoder(features, config), folder / ENCODER_FILE)
    _save_weights_only_model(model.get_layer("decoder"),
                             codec_module.build_decoder(features, config), folder / DECODER_FILE)
    np.save(folder / CODEBOOKS_FILE, np.asarray(model.get_layer("rvq").codebooks, np.float32))
    _write_json_atomic(folder / META_FILE, {
        "format_version": FORMAT_VERSION, "kind": "codec",
        "features": to_dict(features), "codec": to_dict(config),
        "provenance": provenance or {}, "metrics": metrics or {},
    })
    return folder


def load_codec(folder: str | os.PathLike) -> Codec:
    folder = Path(folder)
    meta = read_meta(folder)
    if meta.get("kind") != "codec":
        raise CheckpointError(f"{folder} holds a {meta.get('kind')!r}, not a codec")
    try:
        features = from_dict(FeatureConfig, meta["features"])
        config = from_dict(CodecConfig, meta["codec"])
    except (KeyError, TypeError, InputError) as error:
        raise CheckpointError(f"{folder / META_FILE} has a bad config: {error}") from error
    path = folder / CODEBOOKS_FILE
    if not path.is_file():
        raise CheckpointError(f"codec file missing: {path}")
    try:
        codebooks = np.load(path, allow_pickle=False)
        return Codec(features, config, _load_keras(folder / ENCODER_FILE),
                     _load_keras(folder / DECODER_FILE), codebooks)
    except ValueError as error:
        raise CheckpointError(f"{path} is corrupt: {error}") from error


def codec_folder_of(folder: str | os.PathLike) -> Path:
    """The codec folder itself, or the codec a prior folder names (its SHA-256 checked)."""
    folder = Path(folder)
    meta = read_meta(folder)
    if meta.get("kind") == "codec":
        return folder
    if meta.get("kind") != "prior":
        raise CheckpointError(f"{folder} holds a {meta.get('kind')!r}, not a codec or a prior")
    try:
        codec_folder = (folder / meta["codec_path"]).resolve()
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{folder / META_FILE} does not name its codec") from error
    read_meta(codec_folder)
    if codec_digest(codec_folder) != meta.get("codec_sha256"):
        raise CheckpointError(
            f"{codec_folder} is not the codec {folder.name} was trained on (SHA-256 differs)")
    return codec_folder


@dataclass
class PriorBundle:
    """A loaded prior with the codec it was trained on."""

    folder: Path
    config: PriorConfig
    model: keras.Model
    codec: Codec
    meta: dict[str, Any]
    chooser: BeatChooser | None = None  # None: a checkpoint trained before choosers existed

    @property
    def name(self) -> str:
        return self.folder.name


def save_prior(folder: str | os.PathLike, model: keras.Model, config: PriorConfig,
               codec_folder: str | os.PathLike, *, provenance: dict[str, Any] | None = None,
               metrics: dict[str, Any] | None = None) -> Path:
    folder, codec_folder = Path(folder), Path(codec_folder)
    folder.mkdir(parents=True, exist_ok=True)
    codec_meta = read_meta(codec_folder)
    _save_weights_only_model(model, prior_module.build_prior(config), folder / PRIOR_FILE)
    _write_json_atomic(folder / META_FILE, {
        "format_version": FORMAT_VERSION, "kind": "prior", "prior": to_dict(config),
        "codec_path": os.path.relpath(codec_folder.resolve(), folder.resolve()),
        "codec_sha256": codec_digest(codec_folder),
        "features": codec_meta["features"], "codec": codec_meta["codec"],
        "provenance": provenance or {}, "metrics": metrics or {},
    })
    return folder


def save_chooser(folder: str | os.PathLike, scorer: keras.Model, config: ChooserConfig, *,
                 provenance: dict[str, Any] | None = None,
                 metrics: dict[str, Any] | None = None) -> Path:
    """Add (or replace) a prior checkpoint's beat chooser and its section of the JSON."""
    folder = Path(folder)
    meta = read_meta(folder)
    if meta.get("kind") != "prior":
        raise CheckpointError(f"{folder} holds a {meta.get('kind')!r}; a beat chooser belongs "
                              "in a prior checkpoint")
    _save_weights_only_model(scorer, build_scorer(config), folder / CHOOSER_FILE)
    meta["chooser"] = {"config": to_dict(config), "provenance": provenance or {},
                       "metrics": metrics or {}}
    _write_json_atomic(folder / META_FILE, meta)
    return folder / CHOOSER_FILE


def _load_chooser(folder: Path, meta: dict[str, Any]) -> BeatChooser | None:
    section = meta.get("chooser")
    if section is None:
        return None
    try:
        config = from_dict(ChooserConfig, section["config"])
    except (KeyError, TypeError, ValueError, InputError) as error:
        raise CheckpointError(f"{folder / META_FILE} has a bad chooser config: {error}") from error
    scorer = _load_keras(folder / CHOOSER_FILE)
    try:
        return BeatChooser.from_model(scorer, config)
    except ValueError as error:  # a missing layer, or weights of another size or arch
        raise CheckpointError(f"{folder / CHOOSER_FILE} does not match its config: "
                              f"{error}") from error


def update_meta(folder: str | os.PathLike, section: str, values: dict[str, Any]) -> None:
    """Merge values into one section ("metrics" or "provenance") of a checkpoint's JSON."""
    if section not in ("metrics", "provenance"):
        raise ValueError(f"only metrics and provenance may be updated, not {section!r}")
    folder = Path(folder)
    meta = read_meta(folder)
    meta.setdefault(section, {}).update(values)
    _write_json_atomic(folder / META_FILE, meta)


def update_metrics(folder: str | os.PathLike, metrics: dict[str, Any]) -> None:
    """Merge evaluation figures into a checkpoint's JSON (the model card quotes them)."""
    update_meta(folder, "metrics", metrics)


def load_prior(folder: str | os.PathLike) -> PriorBundle:
    folder = Path(folder)
    meta = read_meta(folder)
    if meta.get("kind") != "prior":
        raise CheckpointError(
            f"{folder} holds a {meta.get('kind')!r}; generation needs a prior checkpoint "
            "(a folder such as checkpoints/prior-gru)")
    try:
        config = from_dict(PriorConfig, meta["prior"])
        codec_folder = (folder / meta["codec_path"]).resolve()
    except (KeyError, TypeError, InputError) as error:
        raise CheckpointError(f"{folder / META_FILE} has a bad config: {error}") from error
    codec = load_codec(codec_folder)
    if codec_digest(codec_folder) != meta.get("codec_sha256"):
        raise CheckpointError(
            f"{codec_folder} is not the codec {folder.name} was trained on (SHA-256 differs)")
    if config.levels != codec.config.levels or config.codebook_size != codec.config.codebook_size:
        raise CheckpointError(f"{folder.name} does not match its codec's levels/codebook size")
    return PriorBundle(folder, config, _load_keras(folder / PRIOR_FILE), codec, meta,
                       _load_chooser(folder, meta))


def checkpoint_root(app_dir: Path) -> Path:
    """`$MUSICGEN_CHECKPOINTS`, else `checkpoints/` next to the app."""
    return Path(os.environ.get("MUSICGEN_CHECKPOINTS") or app_dir / "checkpoints")


def find_checkpoints(root: Path) -> dict[str, Path]:
    """Prior folders (`prior-*` holding musicgen.json) under `root`, keyed by their arch.

    When two folders share an arch, `prior-<arch>` wins, else the first by name.
    """
    found: dict[str, Path] = {}
    for folder in sorted(Path(root).glob("prior-*")):
        meta_path = folder / "musicgen.json"
        if not meta_path.is_file():
            continue
        try:
            arch = json.loads(meta_path.read_text())["prior"]["arch"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("skipping %s: unreadable musicgen.json (%s)", folder, error)
            continue
        if arch not in ARCHITECTURES:
            log.warning("skipping %s: unknown arch %r", folder, arch)
        elif arch not in found or folder.name == f"prior-{arch}":
            found[arch] = folder
    return found
