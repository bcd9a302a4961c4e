"""The codec: log-mel frames <-> discrete codes [T, L] (encoder/decoder + residual VQ).

Time is compressed `frames_per_step` times and each step is quantized by `levels` residual
codebooks. Codebooks follow the encoder by EMA updates rather than gradients, and codes that
fall out of use are re-seeded from the current batch; the prototype's codebooks collapsed
without this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers, ops

from musicgen import distribute
from musicgen.config import CodecConfig, FeatureConfig
from musicgen.features import (
    CEILING_DB,
    MelAnalyzer,
    from_model_scale,
    pad_frames,
    to_model_scale,
)


@keras.saving.register_keras_serializable(package="musicgen")
class ResidualVQ(distribute.ReplicaLocalLosses, layers.Layer):
    """Residual vector quantizer with EMA codebooks and dead-code re-seeding.

    Output is the straight-through quantized vector; the commitment loss is added with
    `add_loss`. Codebooks are non-trainable: their updates happen in `call` during training,
    exactly as BatchNormalization updates its moving statistics. Under a `tf.distribute`
    strategy the updates use the whole global batch, so every replica keeps the same codebooks.
    """

    def __init__(self, levels: int, codebook_size: int, dim: int, decay: float = 0.99,
                 commitment: float = 0.25, dead_threshold: float = 0.5, seed: int = 0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.levels = levels
        self.codebook_size = codebook_size
        self.dim = dim
        self.decay = decay
        self.commitment = commitment
        self.dead_threshold = dead_threshold
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape) -> None:
        shape = (self.levels, self.codebook_size, self.dim)
        init = keras.initializers.RandomNormal(stddev=0.1, seed=self.seed)
        self.codebooks = self.add_weight(name="codebooks", shape=shape, initializer=init,
                                         trainable=False)
        self.ema_sum = self.add_weight(name="ema_sum", shape=shape, initializer="zeros",
                                       trainable=False)
        # Counts start at zero, so every code is "dead" at the first training step and is
        # seeded from real encoder outputs (a data-dependent initialisation).
        self.ema_count = self.add_weight(name="ema_count", shape=shape[:2], initializer="zeros",
                                         trainable=False)

    def _nearest(self, residual, codebook):
        distances = (ops.sum(residual**2, axis=-1, keepdims=True)
                     - 2.0 * ops.matmul(residual, ops.transpose(codebook))
                     + ops.sum(codebook**2, axis=-1)[None, :])
        return ops.argmin(distances, axis=-1)

    def _update(self, level: int, flat_residual, indices) -> None:
        k = self.codebook_size
        onehot = ops.one_hot(indices, k, dtype=flat_residual.dtype)
        counts = ops.sum(onehot, axis=0)
        sums = ops.matmul(ops.transpose(onehot), flat_residual)
        replicas = distribute.replica_context()
        if replicas is not None:
            # Under a tf.distribute strategy every replica must make the same update, or the
            # codebooks drift apart: the statistics are summed over the global batch, and dead
            # codes are re-seeded from the global batch (gathered in replica order, the order in
            # which one process would see that batch, so both draw the same rows).
            counts, sums = replicas.all_reduce("SUM", [counts, sums])
            flat_residual = replicas.all_gather(flat_residual, axis=0)
        count = self.decay * self.ema_count[level] + (1.0 - self.decay) * counts
        total = self.decay * self.ema_sum[level] + (1.0 - self.decay) * sums
        n = ops.shape(flat_residual)[0]
        pick = ops.cast(keras.random.uniform((k,), seed=self.seed_generator)
                        * ops.cast(n, "float32"), "int32")
        samples = ops.take(flat_residual, ops.minimum(pick, n - 1), axis=0)
        dead = (count < self.dead_threshold)[:, None]
        total = ops.where(dead, samples, total)
        count = ops.where(dead[:, 0], ops.ones_like(count), count)
        self.ema_count.assign(ops.scatter_update(self.ema_count, [[level]], count[None]))
        self.ema_sum.assign(ops.scatter_update(self.ema_sum, [[level]], total[None]))
        codebook = total / ops.maximum(count, 1e-5)[:, None]
        self.codebooks.assign(ops.scatter_update(self.codebooks, [[level]], codebook[None]))

    def call(self, inputs, training=None):
        flat = ops.reshape(inputs, (-1, self.dim))
        residual = flat
        quantized = ops.zeros_like(flat)
        for level in range(self.levels):
            codebook = self.codebooks[level]
            indices = self._nearest(residual, codebook)
            if training:
                self._update(level, ops.stop_gradient(residual), indices)
            chosen = ops.take(codebook, indices, axis=0)
            quantized = quantized + chosen
            residual = residual - chosen
        quantized = ops.reshape(quantized, ops.shape(inputs))
        self.add_replica_loss(self.commitment
                              * ops.mean((inputs - ops.stop_gradient(quantized)) ** 2))
        return inputs + ops.stop_gradient(quantized - inputs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(levels=self.levels, codebook_size=self.codebook_size, dim=self.dim,
                      decay=self.decay, commitment=self.commitment,
                      dead_threshold=self.dead_threshold, seed=self.seed)
        return config


def _res_block(x, channels: int, kernel: int, dilation: int, name: str):
    y = layers.Conv1D(channels, kernel, padding="same", dilation_rate=dilation,
                      activation="gelu", name=f"{name}_a")(x)
    y = layers.Conv1D(channels, 1, padding="same", name=f"{name}_b")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def _check_linear(features: FeatureConfig, config: CodecConfig) -> int:
    stacked = config.frames_per_step * features.n_mels
    if config.latent_dim > stacked:
        raise ValueError(f"a linear codec's latent_dim ({config.latent_dim}) cannot exceed "
                         f"frames_per_step x n_mels ({stacked})")
    return stacked


def build_encoder(features: FeatureConfig, config: CodecConfig) -> keras.Model:
    inputs = keras.Input((None, features.n_mels), name="log_mel")
    if config.encoder == "linear":
        # one step's frames side by side, projected (a PCA at initialisation, see codec_init)
        stacked = layers.Reshape((-1, _check_linear(features, config)), name="enc_stack")(inputs)
        outputs = layers.Dense(config.latent_dim, name="enc_project")(stacked)
        return keras.Model(inputs, outputs, name="encoder")
    x = layers.Conv1D(config.channels, config.kernel_size, padding="same", activation="gelu",
                      name="enc_in")(inputs)
    for i in range(config.blocks):
        x = _res_block(x, config.channels, config.kernel_size, 1, f"enc_block{i}")
    factor, i = config.frames_per_step, 0
    while factor > 1:
        x = layers.Conv1D(config.channels, 4, strides=2, padding="same", activation="gelu",
                          name=f"enc_down{i}")(x)
        factor, i = factor // 2, i + 1
    x = _res_block(x, config.channels, 3, 2, "enc_ctx")
    outputs = layers.Conv1D(config.latent_dim, 1, name="enc_out")(x)
    return keras.Model(inputs, outputs, name="encoder")


def build_decoder(features: FeatureConfig, config: CodecConfig) -> keras.Model:
    """Non-causal convolutions: each step is decoded with its neighbours as context."""
    inputs = keras.Input((None, config.latent_dim), name="latent")
    linear = config.encoder == "linear"
    if linear and not config.decoder_context:
        projected = layers.Dense(_check_linear(features, config), name="dec_project")(inputs)
        outputs = layers.Reshape((-1, features.n_mels), name="dec_unstack")(projected)
        return keras.Model(inputs, outputs, name="decoder")
    x = layers.Conv1D(config.channels, 3, padding="same", activation="gelu", name="dec_in")(inputs)
    for i, dilation in enumerate((1, 2, 4)):
        x = _res_block(x, config.channels, 3, dilation, f"dec_ctx{i}")
    factor, i = config.frames_per_step, 0
    while factor > 1:
        x = layers.Conv1DTranspose(config.channels, 4, strides=2, padding="same",
                                   activation="gelu", name=f"dec_up{i}")(x)
        factor, i = factor // 2, i + 1
    for i in range(config.blocks):
        x = _res_block(x, config.channels, config.kernel_size, 1, f"dec_block{i}")
    # linear: the context network starts at zero and learns a correction to the inverse
    # projection, so training starts from the k-means/PCA codec rather than from noise
    outputs = layers.Conv1D(features.n_mels, config.kernel_size, padding="same",
                            kernel_initializer="zeros" if linear else "glorot_uniform",
                            name="dec_out")(x)
    if linear:
        projected = layers.Dense(_check_linear(features, config), name="dec_project")(inputs)
        frames = layers.Reshape((-1, features.n_mels), name="dec_unstack")(projected)
        outputs = layers.Add(name="dec_sum")([frames, outputs])
    return keras.Model(inputs, outputs, name="decoder")


def build_codec_model(features: FeatureConfig, config: CodecConfig, seed: int = 0) -> keras.Model:
    """The trainable autoencoder; `encoder`, `rvq` and `decoder` are its named parts."""
    features.validate()
    config.validate()
    encoder = build_encoder(features, config)
    decoder = build_decoder(features, config)
    rvq = ResidualVQ(config.levels, config.codebook_size, config.latent_dim,
                     decay=config.ema_decay, commitment=config.commitment,
                     dead_threshold=config.dead_code_threshold, seed=seed, name="rvq")
    inputs = keras.Input((None, features.n_mels), name="log_mel")
    outputs = decoder(rvq(encoder(inputs)))
    return keras.Model(inputs, outputs, name="codec")


def spectral_loss(floor_db: float, delta_weight: float = 1.0, linear_weight: float = 1.0):
    """A reconstruction loss that does not reward averaging (v1's MSE blurred harmonics).

    On model-scale log-mels (see `features.to_model_scale`): L1 (a median, not a mean, of what
    the decoder could output), L1 on frame-to-frame differences (so onsets count as much as
    sustained energy) and a relative L1 on linear magnitude (so the loud cells, where v1 lost
    7-10 dB, dominate over the quiet floor).
    """
    half = -floor_db / 2.0

    def loss(y_true, y_pred):
        error = y_pred - y_true
        total = ops.mean(ops.abs(error))
        if delta_weight:
            total = total + delta_weight * ops.mean(ops.abs(error[:, 1:] - error[:, :-1]))
        if linear_weight:
            ceiling = (CEILING_DB + half) / half  # an untrained decoder's overshoot must not
                                                   # blow the exponential up

            def magnitude(x):
                return ops.power(10.0, (ops.minimum(x, ceiling) * half - half) / 20.0)
            true_mag = magnitude(y_true)
            # the global batch's mean magnitude (per-replica means would weight replicas apart)
            total = total + linear_weight * (ops.mean(ops.abs(magnitude(y_pred) - true_mag))
                                             / (distribute.global_mean(true_mag) + 1e-6))
        return distribute.replica_share(total)

    return loss


def quantize(latents: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """Residual nearest-neighbour search in NumPy: latents [T, D] -> codes [T, L]."""
    residual = latents.astype(np.float32)
    codes = np.empty((latents.shape[0], codebooks.shape[0]), np.int32)
    for level, codebook in enumerate(codebooks):
        distances = ((residual**2).sum(-1, keepdims=True) - 2.0 * residual @ codebook.T
                     + (codebook**2).sum(-1)[None, :])
        codes[:, level] = distances.argmin(-1)
        residual = residual - codebook[codes[:, level]]
    return codes


def dequantize(codes: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """codes [T, L] -> summed codebook vectors [T, D]."""
    return sum(codebooks[level][codes[:, level]] for level in range(codebooks.shape[0]))


@dataclass
class Codec:
    """A trained codec ready for inference: audio -> codes -> log-mel.

    Held as encoder, decoder and codebooks, which is also how it is saved: one file would
    pass the 10 MB a file that a Space without LFS allows.
    """

    features: FeatureConfig
    config: CodecConfig
    encoder: keras.Model
    decoder: keras.Model
    codebooks: np.ndarray
    analyzer: MelAnalyzer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.analyzer = MelAnalyzer(self.features)
        self.codebooks = np.asarray(self.codebooks, np.float32)
        expected = (self.config.levels, self.config.codebook_size, self.config.latent_dim)
        if self.codebooks.shape != expected:
            raise ValueError(f"codebooks must be {expected}, got {self.codebooks.shape}")

    @property
    def samples_per_step(self) -> int:
        return self.features.hop_length * self.config.frames_per_step

    @property
    def steps_per_second(self) -> float:
        return self.features.sample_rate / self.samples_per_step

    def latents(self, log_mel_db: np.ndarray) -> np.ndarray:
        frames = pad_frames(to_model_scale(log_mel_db, self.features), self.config.frames_per_step)
        # predict_on_batch reuses one compiled function: ~4x faster than an eager call
        return np.asarray(self.encoder.predict_on_batch(frames[None]))[0]

    def encode_mel(self, log_mel_db: np.ndarray) -> np.ndarray:
        """log-mel dB [frames, n_mels] -> codes [ceil(frames / frames_per_step), L]."""
        return quantize(self.latents(log_mel_db), self.codebooks)

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """Mono audio at the feature rate -> codes [T, L]."""
        return self.encode_mel(self.analyzer.log_mel(audio))

    def decode(self, codes: np.ndarray, levels: int | None = None) -> np.ndarray:
        """codes [T, L] -> log-mel dB [T * frames_per_step, n_mels].

        `levels` decodes from the first levels only (the coarse part a prior predicts first).
        """
        codes = np.asarray(codes, np.int32)
        if codes.ndim != 2 or codes.shape[1] != self.config.levels:
            raise ValueError(f"codes must be [T, {self.config.levels}], got {codes.shape}")
        levels = self.config.levels if levels is None else levels
        if not 1 <= levels <= self.config.levels:
            raise ValueError(f"levels must be 1..{self.config.levels}, got {levels}")
        return self.decode_latents(dequantize(codes[:, :levels], self.codebooks[:levels]))

    def decode_latents(self, latents: np.ndarray) -> np.ndarray:
        """Latents [T, D], quantized or not -> log-mel dB [T * frames_per_step, n_mels]."""
        latent = np.asarray(latents, np.float32)[None]
        return from_model_scale(np.asarray(self.decoder.predict_on_batch(latent))[0],
                                self.features)
