"""Training data: resolve the split (`tracks.py`, a corpus manifest), cache log-mels, and build
tf.data pipelines."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from musicgen.audio import load_audio, normalise_loudness
from musicgen.config import FeatureConfig, to_dict
from musicgen.corpus.manifest import tracks_for
from musicgen.errors import InputError
from musicgen.features import MelAnalyzer, to_model_scale
from musicgen.tracks import TrackSplit, discover_audio, split_by_track


def resolve_split(sources: Sequence[str | os.PathLike], heldout_fraction: float) -> TrackSplit:
    """A corpus manifest (JSON with a split per track) or folders/files split by track."""
    if len(sources) == 1 and str(sources[0]).endswith(".json"):
        try:
            split = TrackSplit(tracks_for(Path(sources[0]), "train"),
                               tracks_for(Path(sources[0]), "heldout"))
        except (OSError, KeyError, ValueError) as error:
            raise InputError(f"cannot read corpus manifest {sources[0]}: {error}") from error
        if not split.train or not split.heldout:
            raise InputError(f"{sources[0]} needs both train and held-out tracks")
        return split
    return split_by_track(discover_audio(sources), heldout_fraction)


def describe_sources(sources: Sequence[str | os.PathLike]) -> dict:
    """Where training data came from, for the checkpoint's provenance (licences included)."""
    if len(sources) == 1 and str(sources[0]).endswith(".json"):
        manifest = json.loads(Path(sources[0]).read_text())
        licences = sorted({t.get("licence", "unknown") for t in manifest.get("tracks", [])})
        return {"manifest": str(sources[0]), "packages": manifest.get("packages", {}),
                "licences": licences}
    return {"sources": [str(s) for s in sources], "licences": ["supplied by the user"]}


@dataclass
class MelCache:
    """Log-mels of whole tracks, cached on disk by file, mtime and analysis settings."""

    features: FeatureConfig
    folder: Path | None = None
    max_seconds: float = 600.0

    def _key(self, path: Path) -> str:
        stat = path.stat()
        blob = json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns,
                           to_dict(self.features), self.max_seconds])
        return hashlib.sha1(blob.encode()).hexdigest()

    def load(self, paths: Sequence[Path], desc: str = "log-mel") -> list[np.ndarray]:
        analyzer = MelAnalyzer(self.features)
        mels = []
        for path in tqdm(paths, desc=desc, unit="track", disable=len(paths) < 4):
            cached = self.folder / f"{self._key(path)}.npy" if self.folder else None
            if cached is not None and cached.is_file():
                mels.append(np.load(cached))
                continue
            try:
                audio = load_audio(path, self.features.sample_rate,
                                   max_seconds=self.max_seconds)
            except InputError as error:  # one bad track (e.g. silence) must not stop training
                tqdm.write(f"skipping {path.name}: {error}")
                continue
            # Rounded to float16 whether or not it is cached, so a warm and a cold cache feed
            # training identical inputs.
            mel = analyzer.log_mel(normalise_loudness(audio, self.features.loudness_dbfs))
            mel = mel.astype(np.float16)
            if cached is not None:  # atomically: workers may share a cache folder
                cached.parent.mkdir(parents=True, exist_ok=True)
                partial = cached.with_name(f"{cached.stem}.{os.getpid()}.partial.npy")
                np.save(partial, mel)
                os.replace(partial, cached)
            mels.append(mel)
        return [m.astype(np.float32) for m in mels]


def _starts(lengths: Sequence[int], window: int) -> np.ndarray:
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    starts = [off + np.arange(n - window + 1) for off, n in zip(offsets, lengths, strict=True)
              if n >= window]
    if not starts:
        raise InputError(f"every track is shorter than one training window ({window} frames)")
    return np.concatenate(starts).astype(np.int64)


def random_windows(sequences: Sequence[np.ndarray], window: int, count: int,
                   seed: int) -> tf.data.Dataset:
    """`count` random crops of `window` rows per epoch, drawn in-graph from one flat tensor."""
    flat = tf.constant(np.concatenate(sequences))
    starts = tf.constant(_starts([len(s) for s in sequences], window))
    # rerandomize_each_iteration: without it every epoch replays the same crops (v1's codec saw
    # ~28% of its training audio, the prior ~63%).
    picks = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(count)

    @tf.autograph.experimental.do_not_convert
    def crop(r):
        start = starts[r % tf.size(starts, tf.int64)]
        return flat[start:start + window]

    return picks.map(crop, num_parallel_calls=tf.data.AUTOTUNE)


def tiled_windows(sequences: Sequence[np.ndarray], window: int,
                  limit: int = 2048) -> tf.data.Dataset:
    """Non-overlapping crops covering the held-out tracks, always the same ones."""
    crops = [seq[i:i + window] for seq in sequences
             for i in range(0, len(seq) - window + 1, window)]
    if not crops:
        raise InputError(f"held-out tracks are shorter than one window ({window} rows)")
    if len(crops) > limit:
        crops = [crops[i] for i in np.linspace(0, len(crops) - 1, limit).astype(int)]
    return tf.data.Dataset.from_tensor_slices(np.stack(crops))


def mel_pipeline(dataset: tf.data.Dataset, features: FeatureConfig, batch: int,
                 gain_db: float = 0.0, seed: int = 0,
                 drop_remainder: bool = False) -> tf.data.Dataset:
    """Scaled log-mel windows as (input, target); gain augmentation shifts the level in dB."""

    # Plain tensor code: no autograph, which re-reads the source file when tracing and so
    # breaks a long run whose source is edited meanwhile.
    @tf.autograph.experimental.do_not_convert
    def scale(mel, r):
        if gain_db > 0:
            unit = tf.cast(r % 10001, tf.float32) / 10000.0
            mel = tf.maximum(mel + (2.0 * unit - 1.0) * gain_db, features.floor_db)
        x = to_model_scale(mel, features)
        return x, x

    gains = tf.data.Dataset.random(seed=seed + 7, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip((dataset, gains))
    return dataset.map(scale, num_parallel_calls=tf.data.AUTOTUNE).batch(
        batch, drop_remainder=drop_remainder).prefetch(2)


def code_pipeline(dataset: tf.data.Dataset, batch: int,
                  drop_remainder: bool = False) -> tf.data.Dataset:
    """Code windows [W+1, L] -> ((codes, next_codes), targets) for the teacher-forced prior."""
    @tf.autograph.experimental.do_not_convert
    def split(codes):
        return (codes[:-1], codes[1:]), codes[1:]

    return dataset.map(split, num_parallel_calls=tf.data.AUTOTUNE).batch(
        batch, drop_remainder=drop_remainder).prefetch(2)
