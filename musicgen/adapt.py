"""Seed adaptation: fine-tune a copy of the prior on the seed's own codes for a few steps.

Priming alone barely moves a prior trained on hours of music (the prototype needed the seed's
transition counts weighted x1000 to change anything); a few gradient steps on the seed itself
make the continuation follow it closely. The shipped prior is never modified.
"""

from __future__ import annotations

import keras
import numpy as np

from musicgen.checkpoint import PriorBundle
from musicgen.sampler import StepPrior


def adapt_prior(bundle: PriorBundle, seed_codes: np.ndarray, steps: int, random_seed: int,
                learning_rate: float = 1e-3, batch_size: int = 8,
                window_steps: int = 48) -> StepPrior:
    """A StepPrior fine-tuned on random windows of `seed_codes` for `steps` updates."""
    model = keras.models.clone_model(bundle.model)
    model.set_weights(bundle.model.get_weights())
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    codes = np.asarray(seed_codes, np.int32)
    window = int(min(window_steps, len(codes) - 1))
    if window < 2:
        return StepPrior.from_model(model, bundle.config)
    rng = np.random.default_rng([random_seed, 2])
    for _ in range(steps):
        starts = rng.integers(0, len(codes) - window, size=batch_size)
        batch = np.stack([codes[s:s + window + 1] for s in starts])
        model.train_on_batch([batch[:, :-1], batch[:, 1:]], batch[:, 1:])
    return StepPrior.from_model(model, bundle.config)
