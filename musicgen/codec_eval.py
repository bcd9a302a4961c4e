"""The codec chain on held-out music, link by link: where the synthesized path loses the music.

Each row turns the same 15 s held-out windows into a log-mel, then back into audio with the
synth renderer's vocoder (`roundtrip.vocode`), and is measured against the true audio:

- true audio, and the vocoder of the true log-mel (the vocoder's own ceiling);
- the codec round trip quantized (what perfectly predicted codes sound like), unquantized
  (the autoencoder alone) and from the first level only (what a prior's first head carries);
- two baselines fitted on training tracks: residual k-means on stacked frames at the codec's
  bitrate (`frames_per_step` frames per vector, `levels` codebooks of `codebook_size`: the
  codec must beat this to justify its network) and per-frame PCA with 16 components (a linear
  projection with no temporal compression).

Columns: log-mel RMSE in dB, spectral flatness, pulse clarity and frame-to-frame change as a
ratio to the true audio's, and the share of static frames. Medians over windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from musicgen import metrics
from musicgen.audio import load_audio, normalise_loudness
from musicgen.codec import Codec, dequantize, quantize
from musicgen.codec_init import residual_kmeans
from musicgen.data import MelCache
from musicgen.errors import InputError
from musicgen.features import pad_frames
from musicgen.roundtrip import RoundTrip, round_trip_mel, vocode
from musicgen.vocoder import VocoderConfig


@dataclass(frozen=True)
class ChainConfig:
    windows: int = 6  # held-out windows, one per track, spread over the tracks
    window_seconds: float = 15.0
    fit_tracks: int = 40  # training tracks the baselines are fitted on (spread over all)
    fit_vectors: int = 12000  # stacked-frame vectors for k-means; PCA gets 4x as many frames
    kmeans_iterations: int = 10
    pca_components: int = 16
    random_seed: int = 0
    max_track_seconds: float = 600.0


CHAIN_ROWS = ("true audio", "vocoder of the true log-mel", "codec round trip, quantized",
              "codec round trip, unquantized", "codec, first level only",
              "k-means on stacked frames (same bitrate)", "per-frame PCA-16")
CHAIN_COLUMNS = ("rmse_db", "flatness_ratio", "pulse_ratio", "change_ratio", "static_share")


@dataclass
class MelBaselines:
    """The two reference compressions of a log-mel, fitted on training frames."""

    frames_per_step: int
    kmeans: np.ndarray  # [levels, codebook_size, frames_per_step * n_mels]
    pca_mean: np.ndarray  # [n_mels]
    pca_basis: np.ndarray  # [n_mels, components]
    floor_db: float

    def kmeans_round_trip(self, mel: np.ndarray) -> np.ndarray:
        stacked = pad_frames(mel, self.frames_per_step).reshape(-1, self.kmeans.shape[-1])
        rebuilt = dequantize(quantize(stacked, self.kmeans), self.kmeans)
        return np.maximum(rebuilt.reshape(-1, mel.shape[1])[: len(mel)], self.floor_db)

    def pca_round_trip(self, mel: np.ndarray) -> np.ndarray:
        centred = mel - self.pca_mean
        rebuilt = centred @ self.pca_basis @ self.pca_basis.T + self.pca_mean
        return np.maximum(rebuilt, self.floor_db).astype(np.float32)


def fit_baselines(codec: Codec, train_mels: Sequence[np.ndarray],
                  config: ChainConfig) -> MelBaselines:
    """Fit both baselines on a random subsample of the training tracks' frames."""
    rng = np.random.default_rng(config.random_seed)
    fps, c = codec.config.frames_per_step, codec.config
    stacked = np.concatenate([pad_frames(m, fps).reshape(-1, fps * m.shape[1])
                              for m in train_mels]).astype(np.float32)
    if len(stacked) < c.codebook_size:
        raise InputError("too few training frames to fit the k-means baseline")
    pick = rng.choice(len(stacked), min(len(stacked), config.fit_vectors), replace=False)
    books = residual_kmeans(stacked[pick], c.levels, c.codebook_size,
                            config.kmeans_iterations, rng)
    frames = stacked.reshape(-1, train_mels[0].shape[1])
    frames = frames[rng.choice(len(frames), min(len(frames), 4 * config.fit_vectors),
                               replace=False)].astype(np.float64)
    mean = frames.mean(0)
    _, vectors = np.linalg.eigh(np.cov(frames - mean, rowvar=False))
    basis = vectors[:, ::-1][:, : config.pca_components]
    return MelBaselines(fps, books, mean.astype(np.float32), basis.astype(np.float32),
                        codec.features.floor_db)


@dataclass
class Window:
    track: str
    offset_s: float
    audio: np.ndarray  # levelled as the codec hears it


def pick_windows(tracks: Sequence[Path], sr: int, config: ChainConfig,
                 loudness_dbfs: float) -> list[Window]:
    """The middle `window_seconds` of `windows` tracks spread evenly over the sorted list; a
    track too short (or unreadable) gives way to the next one."""
    need = int(config.window_seconds * sr)
    order = sorted(tracks, key=lambda p: p.name)
    spread = np.linspace(0, len(order), max(1, config.windows), endpoint=False).astype(int)
    candidates = list(dict.fromkeys([*spread.tolist(), *range(len(order))]))
    out = []
    for i in candidates:
        if len(out) == config.windows:
            break
        try:
            audio = load_audio(order[i], sr, max_seconds=config.max_track_seconds)
        except InputError:
            continue
        if len(audio) < need:
            continue
        start = (len(audio) - need) // 2
        out.append(Window(order[i].name, round(start / sr, 2),
                          normalise_loudness(audio[start:start + need], loudness_dbfs)))
    if not out:
        raise InputError(f"no held-out track is {config.window_seconds:g} s long")
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b and np.isfinite(a) and np.isfinite(b) else float("nan")


def audio_row(audio: np.ndarray, truth: np.ndarray, sr: int, rmse_db: float) -> dict[str, float]:
    """One row's figures for one window: the vocoded audio against the true audio."""
    return {
        "rmse_db": rmse_db,
        "flatness_ratio": _ratio(metrics.spectral_flatness(audio, sr),
                                 metrics.spectral_flatness(truth, sr)),
        "pulse_ratio": _ratio(metrics.pulse_clarity(audio, sr), metrics.pulse_clarity(truth, sr)),
        "change_ratio": _ratio(metrics.change_db(audio, sr), metrics.change_db(truth, sr)),
        "static_share": metrics.static_share(audio, sr),
    }


def chain_report(codec: Codec, heldout: Sequence[Path], train: Sequence[Path],
                 config: ChainConfig = ChainConfig(), cache_dir: str | None = None,
                 log=print) -> dict[str, Any]:
    """The chain table (medians over held-out windows) with what it was measured on."""
    sr, features = codec.features.sample_rate, codec.features
    windows = pick_windows(heldout, sr, config, features.loudness_dbfs)
    spread = np.unique(np.linspace(0, len(train) - 1, min(config.fit_tracks, len(train))).round())
    cache = MelCache(features, Path(cache_dir) if cache_dir else None, config.max_track_seconds)
    baselines = fit_baselines(codec, cache.load([train[int(i)] for i in spread],
                                                "baseline fit log-mel"), config)
    transforms = {
        "vocoder of the true log-mel": lambda m: m,
        "codec round trip, quantized": lambda m: round_trip_mel(codec, m),
        "codec round trip, unquantized": lambda m: round_trip_mel(codec, m, RoundTrip(
            quantized=False)),
        "codec, first level only": lambda m: round_trip_mel(codec, m, RoundTrip(levels=1)),
        "k-means on stacked frames (same bitrate)": baselines.kmeans_round_trip,
        "per-frame PCA-16": baselines.pca_round_trip,
    }
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in CHAIN_ROWS}
    for i, window in enumerate(windows):
        mel = codec.analyzer.log_mel(window.audio)
        truth = window.audio[: (len(mel) - 1) * features.hop_length]
        rows["true audio"].append(audio_row(truth, truth, sr, 0.0))
        for name, transform in transforms.items():
            rebuilt = transform(mel)
            rmse = float(np.sqrt(np.mean((rebuilt - mel) ** 2)))
            audio = vocode(codec, rebuilt, VocoderConfig(),
                           np.random.default_rng(config.random_seed + i))
            rows[name].append(audio_row(audio, truth, sr, rmse))
        log(f"chain: {window.track} done ({i + 1}/{len(windows)})")
    table = {name: {key: _median([r[key] for r in values]) for key in CHAIN_COLUMNS}
             for name, values in rows.items()}
    bits = codec.config.levels * math.log2(codec.config.codebook_size) * codec.steps_per_second
    return {"rows": table, "windows": [f"{w.track}@{w.offset_s}s" for w in windows],
            "codec_bits_per_second": round(bits, 1), "config": asdict(config)}


def _median(values: Sequence[float]) -> float:
    finite = np.array([v for v in values if np.isfinite(v)], float)
    return round(float(np.median(finite)), 3) if finite.size else float("nan")


def chain_lines(chain: dict[str, Any], synth: dict[str, float] | None = None) -> list[str]:
    """The chain table as text; `synth` adds the synthesized continuation's row."""
    head = (f"{'codec chain (medians, ' + str(len(chain['windows'])) + ' windows)':42s}"
            f"{'RMSE dB':>9s}{'flat×':>8s}{'pulse×':>8s}{'change×':>9s}{'static':>8s}")
    lines = [head]
    rows = dict(chain["rows"])
    if synth is not None:
        rows["synth continuation (pulse × seed's)"] = {"rmse_db": float("nan"), **synth}
    for name, row in rows.items():
        cells = [row.get(k, float("nan")) for k in CHAIN_COLUMNS]
        lines.append(f"{name:42s}{cells[0]:>9.2f}{cells[1]:>8.2f}{cells[2]:>8.2f}"
                     f"{cells[3]:>9.2f}{cells[4]:>8.3f}")
    return lines
