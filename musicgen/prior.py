"""The prior: Conv1D front end + LSTM|GRU over code steps, with one softmax head per level.

Inputs are the codes of steps 0..T-1 and, for the heads' level conditioning, the codes of
steps 1..T (teacher forcing). Output logits [B, T, L, K] predict steps 1..T. Heads run in level
order: level l sees the step's codes at levels < l, so the fine levels are no longer guessed
independently of the coarse one (the prototype's levels 2-4 stayed near uniform).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from musicgen.config import PriorConfig


@keras.saving.register_keras_serializable(package="musicgen")
class CodeEmbedding(layers.Layer):
    """Sum of one embedding per level: codes [B, T, L] -> [B, T, dim]."""

    def __init__(self, levels: int, codebook_size: int, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.levels, self.codebook_size, self.dim = levels, codebook_size, dim

    def build(self, input_shape) -> None:
        self.table = self.add_weight(name="table", shape=(self.levels, self.codebook_size,
                                                          self.dim),
                                     initializer=keras.initializers.RandomNormal(stddev=0.05))

    def call(self, codes):
        codes = ops.cast(codes, "int32")
        return sum(ops.take(self.table[level], codes[..., level], axis=0)
                   for level in range(self.levels))

    def get_config(self) -> dict:
        return {**super().get_config(), "levels": self.levels,
                "codebook_size": self.codebook_size, "dim": self.dim}


@keras.saving.register_keras_serializable(package="musicgen")
class LevelHeads(layers.Layer):
    """Per-level softmax heads, each conditioned on the same step's lower levels.

    head_l(h, c) = W2_l relu(W1_l (h + sum_{j<l} E_j[c_j]) + b1_l) + b2_l
    """

    def __init__(self, levels: int, codebook_size: int, units: int, hidden: int,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.levels, self.codebook_size = levels, codebook_size
        self.units, self.hidden = units, hidden

    def build(self, input_shape) -> None:
        lv, k, u, hd = self.levels, self.codebook_size, self.units, self.hidden
        normal = keras.initializers.RandomNormal(stddev=0.05)
        self.condition = self.add_weight(name="condition", shape=(lv, k, u), initializer=normal)
        self.w1 = self.add_weight(name="w1", shape=(lv, u, hd), initializer="glorot_uniform")
        self.b1 = self.add_weight(name="b1", shape=(lv, hd), initializer="zeros")
        self.w2 = self.add_weight(name="w2", shape=(lv, hd, k), initializer="glorot_uniform")
        self.b2 = self.add_weight(name="b2", shape=(lv, k), initializer="zeros")

    def call(self, inputs):
        hidden, next_codes = inputs
        next_codes = ops.cast(next_codes, "int32")
        embedded = ops.stack([ops.take(self.condition[level], next_codes[..., level], axis=0)
                              for level in range(self.levels)], axis=2)  # [B, T, L, U]
        lower = ops.cumsum(embedded, axis=2) - embedded  # only levels < l
        u = hidden[:, :, None, :] + lower
        z = ops.relu(ops.einsum("btlu,luh->btlh", u, self.w1) + self.b1)
        return ops.einsum("btlh,lhk->btlk", z, self.w2) + self.b2

    def get_config(self) -> dict:
        return {**super().get_config(), "levels": self.levels,
                "codebook_size": self.codebook_size, "units": self.units,
                "hidden": self.hidden}


def build_prior(config: PriorConfig) -> keras.Model:
    """Keras prior for `config.arch` in {"lstm", "gru"}; layer names are what the sampler reads."""
    config.validate()
    codes = keras.Input((None, config.levels), dtype="int32", name="codes")
    next_codes = keras.Input((None, config.levels), dtype="int32", name="next_codes")
    x = CodeEmbedding(config.levels, config.codebook_size, config.embed_dim, name="embed")(codes)
    x = layers.Dropout(config.dropout, name="embed_dropout")(x)
    for i, dilation in enumerate(config.conv_dilations):
        x = layers.Conv1D(config.conv_channels, config.conv_kernel, padding="causal",
                          dilation_rate=dilation, activation="relu", name=f"conv{i}")(x)
    rnn_cls = layers.LSTM if config.arch == "lstm" else layers.GRU
    x = rnn_cls(config.rnn_units, return_sequences=True, name="rnn")(x)
    x = layers.Dropout(config.dropout, name="rnn_dropout")(x)
    logits = LevelHeads(config.levels, config.codebook_size, config.rnn_units,
                        config.head_units, name="heads")([x, next_codes])
    return keras.Model([codes, next_codes], logits, name=f"prior_{config.arch}")
