"""Data-dependent start for a linear codec: a PCA of stacked frames and residual k-means.

On held-out music, residual k-means on stacked log-mel frames beat v1's trained Conv1D
autoencoder at the same bitrate (4.6 vs 5.7 dB; DESIGN.md, issue 11), and a PCA projection
before the k-means lowers it further (4.0 dB on validation tracks). A linear codec starts
exactly there, so training only has to add what a context network can (onsets, harmonics).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
import numpy as np

from musicgen.codec import build_codec_model, dequantize, quantize
from musicgen.config import CodecConfig, FeatureConfig, TrainConfig
from musicgen.errors import InputError
from musicgen.features import pad_frames, to_model_scale


def _nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return ((centres**2).sum(-1)[None, :] - 2.0 * x @ centres.T).argmin(-1)


def residual_kmeans(vectors: np.ndarray, levels: int, size: int, iterations: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Residual k-means (Lloyd, random init, empty clusters re-seeded): codebooks [L, K, D]."""
    residual = np.asarray(vectors, np.float32).copy()
    books = []
    for _ in range(levels):
        centres = residual[rng.choice(len(residual), size, replace=len(residual) < size)].copy()
        for _ in range(iterations):
            index = _nearest(residual, centres)
            counts = np.bincount(index, minlength=size)
            sums = np.zeros_like(centres)
            np.add.at(sums, index, residual)
            empty = counts == 0
            centres = np.where(empty[:, None], centres, sums / np.maximum(counts, 1)[:, None])
            if empty.any():
                centres[empty] = residual[rng.choice(len(residual), int(empty.sum()))]
        residual -= centres[_nearest(residual, centres)]
        books.append(centres.astype(np.float32))
    return np.stack(books)


def stacked_steps(mels: Sequence[np.ndarray], features: FeatureConfig,
                  frames_per_step: int) -> np.ndarray:
    """Model-scale log-mels as one row per code step (its frames side by side)."""
    rows = [pad_frames(to_model_scale(np.asarray(m, np.float32), features), frames_per_step)
            .reshape(-1, frames_per_step * features.n_mels) for m in mels]
    return np.concatenate(rows).astype(np.float32)


def init_linear_codec(model: keras.Model, features: FeatureConfig, config: CodecConfig,
                      train: TrainConfig, mels: Sequence[np.ndarray], *,
                      fit_vectors: int = 100_000, iterations: int = 15,
                      global_batch: int | None = None, log=print) -> dict[str, float]:
    """Set a fresh linear codec (`build_codec_model`) to PCA + residual k-means of `mels`.

    The EMA statistics start at the codes' fitted frequencies (scaled to one training batch),
    so the codebooks stay where k-means put them instead of being re-seeded at the first step.
    `global_batch`: windows per training step over all replicas (default `train.batch_size`);
    the EMA updates see the global batch, so one process and N workers start the same.
    Returns the fit's own figures (model-scale RMSE of the projection and of the codes).
    """
    if config.encoder != "linear":
        raise ValueError("only a linear codec starts from PCA + k-means")
    rng = np.random.default_rng(train.seed)
    steps = stacked_steps(mels, features, config.frames_per_step)
    if len(steps) < 4 * config.codebook_size:
        raise InputError(f"too little training audio to fit {config.codebook_size} codes "
                         f"({len(steps)} steps)")
    sample = steps[rng.choice(len(steps), min(len(steps), 3 * fit_vectors), replace=False)]
    mean = sample.mean(0)
    _, vectors = np.linalg.eigh(np.cov((sample - mean).astype(np.float64), rowvar=False))
    basis = vectors[:, ::-1][:, : config.latent_dim].astype(np.float32)
    fit = sample[:fit_vectors]
    latents = (fit - mean) @ basis
    log(f"codec init: PCA of {len(sample)} steps to {config.latent_dim} dims; residual k-means "
        f"{config.levels} x {config.codebook_size} on {len(fit)} steps")
    books = residual_kmeans(latents, config.levels, config.codebook_size, iterations, rng)
    codes = quantize(latents, books)
    per_batch = (global_batch or train.batch_size) * train.codec_window_steps
    counts = np.stack([np.bincount(codes[:, level], minlength=config.codebook_size)
                       for level in range(config.levels)]) / len(codes) * per_batch
    counts = np.maximum(counts, 1.0).astype(np.float32)  # every code starts alive

    model.get_layer("encoder").get_layer("enc_project").set_weights([basis, -mean @ basis])
    model.get_layer("decoder").get_layer("dec_project").set_weights([basis.T.copy(), mean])
    rvq = model.get_layer("rvq")
    rvq.codebooks.assign(books)
    rvq.ema_sum.assign(books * counts[..., None])
    rvq.ema_count.assign(counts)
    rebuilt = dequantize(codes, books) @ basis.T + mean
    figures = {"projection_rmse": float(np.sqrt(np.mean((latents @ basis.T + mean - fit) ** 2))),
               "kmeans_rmse": float(np.sqrt(np.mean((rebuilt - fit) ** 2)))}
    scale = -features.floor_db / 2.0
    log(f"codec init: RMSE {figures['projection_rmse'] * scale:.2f} dB projected, "
        f"{figures['kmeans_rmse'] * scale:.2f} dB quantized (fit steps, model scale x {scale})")
    return figures


def without_context(model: keras.Model, features: FeatureConfig, config: CodecConfig,
                    seed: int = 0) -> tuple[keras.Model, CodecConfig]:
    """The same linear codec (same encoder, codebooks, hence the same codes) decoding with its
    inverse projection alone: see `TrainConfig.drop_codec_context` for the measurement."""
    if config.encoder != "linear":
        raise ValueError("only a linear codec has a context network to drop")
    lean = dataclasses.replace(config, decoder_context=False)
    out = build_codec_model(features, lean, seed=seed)
    out.get_layer("encoder").set_weights(model.get_layer("encoder").get_weights())
    out.get_layer("decoder").get_layer("dec_project").set_weights(
        model.get_layer("decoder").get_layer("dec_project").get_weights())
    source, target = model.get_layer("rvq"), out.get_layer("rvq")
    for name in ("codebooks", "ema_sum", "ema_count"):
        getattr(target, name).assign(np.asarray(getattr(source, name)))
    return out, lean
