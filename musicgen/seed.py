"""A prepared seed: the user's clip levelled, trimmed to whole code steps, and encoded.

Both renderers start from the same three views of the seed (its samples, its log-mel and its
codes), kept aligned so that code step i covers samples [i * hop, (i + 1) * hop).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from musicgen.audio import load_audio, normalise_loudness
from musicgen.codec import Codec
from musicgen.options import LIBRARY_LIMITS, Limits


@dataclass
class Seed:
    """A seed clip trimmed to whole code steps, with its codes."""

    audio: np.ndarray
    codes: np.ndarray
    log_mel: np.ndarray


def prepare_seed(source: Any, codec: Codec, max_seconds: float = 30.0,
                 timings: dict[str, float] | None = None,
                 limits: Limits = LIBRARY_LIMITS) -> Seed:
    """Load, level and encode a seed; drop its first partial step so it ends on a step.

    `source` is anything `load_audio` reads (a path, or a `(rate, samples)` tuple); only its
    last `max_seconds` are used, and it must fit `limits` (channels, sample rate, decoding
    time). `timings["encode_s"]` gets the encoder's time.
    """
    audio = load_audio(source, codec.features.sample_rate, max_seconds=max_seconds,
                       max_channels=limits.max_channels, rate_range=limits.rate_range,
                       decode_budget_s=limits.max_decode_seconds)
    audio = normalise_loudness(audio, codec.features.loudness_dbfs)
    audio = audio[len(audio) % codec.samples_per_step:]
    log_mel = codec.analyzer.log_mel(audio)[: len(audio) // codec.features.hop_length]
    tic = time.perf_counter()
    codes = codec.encode_mel(log_mel)
    if timings is not None:
        timings["encode_s"] = time.perf_counter() - tic
    return Seed(audio, codes, log_mel)
