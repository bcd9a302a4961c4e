"""Seed adaptation: fine-tune a copy of the prior on the seed's own codes for a few steps.

Priming alone barely moves a prior trained on hours of music (the prototype needed the seed's
transition counts weighted x1000 to change anything); a few gradient steps on the seed itself
make the continuation follow it closely. The shipped prior is never modified.

The copy, its optimizer and Keras's compiled training step are built once per prior and reset
to the shipped weights and a fresh optimizer for every request (building and compiling them
cost more than the steps). Dropout is off while adapting: its masks were drawn from Keras's
unseeded global generator, so the same `random_seed` gave different audio; without them the
windows (drawn from `random_seed`) fully decide the result, and a few steps on one clip have
nothing to regularise.
"""

from __future__ import annotations

import threading

import keras
import numpy as np

from musicgen.checkpoint import PriorBundle
from musicgen.sampler import StepPrior


class SeedAdapter:
    """Adapts one prior to seeds; one request at a time (a lock guards the shared copy)."""

    def __init__(self, bundle: PriorBundle, learning_rate: float = 1e-3) -> None:
        self.bundle = bundle
        self.learning_rate = learning_rate
        self._lock = threading.Lock()
        self._model: keras.Model | None = None
        self._start: list[np.ndarray] = []  # optimizer variables before any step

    def _build(self) -> keras.Model:
        model = keras.models.clone_model(self.bundle.model)
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.optimizer.build(model.trainable_variables)
        self._start = [np.array(v) for v in model.optimizer.variables]
        return model

    def adapt(self, seed_codes: np.ndarray, steps: int, random_seed: int,
              batch_size: int = 8, window_steps: int = 48) -> StepPrior:
        """A StepPrior fine-tuned on random windows of `seed_codes` for `steps` updates;
        the same arguments give the same prior."""
        codes = np.asarray(seed_codes, np.int32)
        window = int(min(window_steps, len(codes) - 1))
        if window < 2 or steps <= 0:
            return StepPrior.from_model(self.bundle.model, self.bundle.config)
        rng = np.random.default_rng([random_seed, 2])
        with self._lock:
            if self._model is None:
                self._model = self._build()
            model = self._model
            model.set_weights(self.bundle.model.get_weights())
            for variable, start in zip(model.optimizer.variables, self._start, strict=True):
                variable.assign(start)
            for _ in range(steps):
                starts = rng.integers(0, len(codes) - window, size=batch_size)
                batch = np.stack([codes[s:s + window + 1] for s in starts])
                model.train_on_batch([batch[:, :-1], batch[:, 1:]], batch[:, 1:])
            return StepPrior.from_model(model, self.bundle.config)
