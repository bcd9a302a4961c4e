"""The beat chooser's model: per candidate, Conv1D over the history beats' distances, then an
LSTM or GRU, then with the candidate's scalars a small dense head gives one score; a softmax
over a decision's candidates is the choice. Trained in Keras; rendering runs the same maths in
numpy (`BeatChooser`), as `sampler.StepPrior` does for the prior: a Keras call costs ~5 ms
of overhead per decision, the numpy forward tens of microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from musicgen.chooser.features import LAGS, SCALAR_FEATURES, SEQ_FEATURES
from musicgen.errors import InputError

ARCHS = ("gru", "lstm")


@dataclass(frozen=True)
class ChooserConfig:
    """The chooser's sizes; stored in the prior checkpoint's JSON beside `chooser.keras`."""

    arch: str = "gru"
    lags: int = LAGS
    conv_filters: int = 16
    kernel_size: int = 3
    rnn_units: int = 32
    dense_units: int = 32

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if min(self.lags, self.conv_filters, self.kernel_size, self.rnn_units,
               self.dense_units) < 1:
            raise InputError("the chooser's sizes must be at least 1")
        if self.arch not in ARCHS:
            raise InputError(f"arch must be one of {ARCHS}, got {self.arch!r}")


def build_scorer(config: ChooserConfig) -> keras.Model:
    """One candidate's score: ([lags, SEQ_FEATURES], [SCALAR_FEATURES]) -> [1]."""
    seq = keras.Input((config.lags, SEQ_FEATURES), name="history")
    scalars = keras.Input((SCALAR_FEATURES,), name="scalars")
    h = layers.Conv1D(config.conv_filters, config.kernel_size, padding="causal",
                      activation="relu", name="conv")(seq)
    rnn = layers.GRU if config.arch == "gru" else layers.LSTM
    h = rnn(config.rnn_units, name="rnn")(h)
    h = layers.Concatenate()([h, scalars])
    h = layers.Dense(config.dense_units, activation="relu", name="hidden")(h)
    return keras.Model([seq, scalars], layers.Dense(1, name="score")(h), name="beat_chooser")


def build_training_model(scorer: keras.Model, config: ChooserConfig,
                         candidates: int) -> keras.Model:
    """The scorer applied to every candidate of a batch of decisions: ([N, C, lags, F],
    [N, C, S], mask [N, C]) -> logits [N, C], padding candidates at -1e9."""
    seq = keras.Input((candidates, config.lags, SEQ_FEATURES))
    scalars = keras.Input((candidates, SCALAR_FEATURES))
    mask = keras.Input((candidates,))
    flat = scorer([ops.reshape(seq, (-1, config.lags, SEQ_FEATURES)),
                   ops.reshape(scalars, (-1, SCALAR_FEATURES))])
    logits = ops.reshape(flat, (-1, candidates)) + (1.0 - mask) * -1e9
    return keras.Model([seq, scalars, mask], logits)


def soft_choice_loss(answers: keras.KerasTensor, logits: keras.KerasTensor) -> keras.KerasTensor:
    """Cross-entropy against the answers shared equally (tied answers share the credit)."""
    target = answers / ops.maximum(ops.sum(answers, axis=1, keepdims=True), 1e-9)
    return -ops.sum(target * ops.log_softmax(logits, axis=1), axis=1)


def _weight_shapes(config: ChooserConfig) -> dict[str, list[tuple[int, ...]]]:
    """The shapes of `build_scorer(config)`'s weights, layer by layer (Keras' layouts)."""
    f, u, d = config.conv_filters, config.rnn_units, config.dense_units
    gates = 3 if config.arch == "gru" else 4
    return {"conv": [(config.kernel_size, SEQ_FEATURES, f), (f,)],
            "rnn": [(f, gates * u), (u, gates * u),
                    (2, gates * u) if config.arch == "gru" else (gates * u,)],
            "hidden": [(u + SCALAR_FEATURES, d), (d,)], "score": [(d, 1), (1,)]}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function via tanh (no overflow warnings for large |x|)."""
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class BeatChooser:
    """The scorer's forward pass in numpy, for a decision's handful of candidates."""

    def __init__(self, config: ChooserConfig, weights: dict[str, list[np.ndarray]]) -> None:
        """`weights`: each layer's Keras weights by name; their shapes must fit `config`."""
        expected = _weight_shapes(config)
        found = {name: [np.shape(w) for w in weights.get(name, [])] for name in expected}
        if found != expected:
            raise ValueError(f"the chooser's weights do not fit its config ({config.arch}, "
                             f"{config.rnn_units} units): {found} against {expected}")
        self.config = config
        self.conv_kernel, self.conv_bias = weights["conv"]
        self.rnn_kernel, self.rnn_recurrent, self.rnn_bias = weights["rnn"]
        self.hidden_kernel, self.hidden_bias = weights["hidden"]
        self.score_kernel, self.score_bias = weights["score"]

    @classmethod
    def from_model(cls, scorer: keras.Model, config: ChooserConfig) -> BeatChooser:
        """The NumPy chooser of a Keras scorer (`build_scorer`'s layer names)."""
        return cls(config, {name: [np.asarray(w, np.float64) for w in
                                   scorer.get_layer(name).get_weights()]
                            for name in ("conv", "rnn", "hidden", "score")})

    def scores(self, seq: np.ndarray, scalars: np.ndarray) -> np.ndarray:
        """One score per candidate (higher = more likely the beat that comes next)."""
        seq = np.asarray(seq, np.float64)
        count, lags, _ = seq.shape
        width = self.conv_kernel.shape[0]
        padded = np.concatenate([np.zeros((count, width - 1, seq.shape[2])), seq], 1)
        x = sum(padded[:, j:j + lags] @ self.conv_kernel[j] for j in range(width))
        x = np.maximum(x + self.conv_bias, 0.0)
        units = self.config.rnn_units
        h = np.zeros((count, units))
        c = np.zeros((count, units))
        for t in range(lags):
            if self.config.arch == "lstm":
                z = x[:, t] @ self.rnn_kernel + h @ self.rnn_recurrent + self.rnn_bias
                gate = _sigmoid(z)
                c = gate[:, units:2 * units] * c + gate[:, :units] * np.tanh(
                    z[:, 2 * units:3 * units])
                h = gate[:, 3 * units:] * np.tanh(c)
            else:  # Keras' GRU: reset after the recurrent product, gates z, r, h
                xz = x[:, t] @ self.rnn_kernel + self.rnn_bias[0]
                hz = h @ self.rnn_recurrent + self.rnn_bias[1]
                zr = _sigmoid(xz[:, :2 * units] + hz[:, :2 * units])
                cand = np.tanh(xz[:, 2 * units:] + zr[:, units:] * hz[:, 2 * units:])
                h = zr[:, :units] * h + (1.0 - zr[:, :units]) * cand
        hidden = np.maximum(np.concatenate([h, np.asarray(scalars, np.float64)], 1)
                            @ self.hidden_kernel + self.hidden_bias, 0.0)
        return (hidden @ self.score_kernel + self.score_bias)[:, 0]

    def log_choice(self, seq: np.ndarray, scalars: np.ndarray) -> np.ndarray:
        """log softmax of the scores: the chooser's log-probability of each candidate."""
        score = self.scores(seq, scalars)
        peak = score.max()
        return score - peak - np.log(np.exp(score - peak).sum())
