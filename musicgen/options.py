"""A request's options and the limits they are checked against, in one place.

Both renderers and the orchestrator read `GenerateOptions`. `Limits` is the one definition of
what a request may ask for and what a seed file may be: the CLI and the Python API use
`LIBRARY_LIMITS`, the web page and its API (one shared server, one request at a time) the same
limits with a few tightened, `PAGE_LIMITS`. Every limit is checked before the work it bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from musicgen.errors import InputError
from musicgen.sampler import SamplingOptions
from musicgen.vocoder import VocoderConfig

RENDERS = ("seed", "synth")


@dataclass(frozen=True)
class Limits:
    """The most one request may ask for, and what its seed file may be."""

    max_seconds: float = 120.0  # of new audio
    max_adapt_steps: int = 2000
    # The seed: decoding stops after this much wall-clock time (only the tail is decoded, so
    # an ordinary file takes well under a second; this bounds damaged or pathological ones).
    max_decode_seconds: float = 10.0
    max_channels: int = 32  # checked before a frames x channels block is read
    min_sample_rate: int = 4000
    max_sample_rate: int = 384_000
    max_upload_bytes: int | None = None  # the web server refuses bigger uploads at once

    @property
    def rate_range(self) -> tuple[int, int]:
        return self.min_sample_rate, self.max_sample_rate


LIBRARY_LIMITS = Limits()
PAGE_LIMITS = replace(LIBRARY_LIMITS, max_seconds=60.0, max_adapt_steps=200,
                      max_decode_seconds=4.0, max_upload_bytes=50 * 1024 * 1024)
# The page's queue: requests beyond this many waiting are told the server is busy.
PAGE_QUEUE_SIZE = 16


@dataclass(frozen=True)
class GenerateOptions:
    """One request. `seconds` is the length of the *new* audio."""

    seconds: float = 10.0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    random_seed: int = -1  # -1 = draw one (and report it)
    render: str = "seed"
    adapt_steps: int = 0
    max_seed_seconds: float = 30.0
    context_seconds: float = 3.0  # how much of the seed's end starts the output
    # render="seed" with use_prior=False: units chosen by their costs alone, so that a user
    # can hear (and `evaluate` measure) what the model adds.
    use_prior: bool = True
    # render="synth": the coarsest levels' share of the temperature (SamplingOptions);
    # () draws every level at `temperature` itself.
    level_scales: tuple[float, ...] = SamplingOptions().level_scales
    vocoder: VocoderConfig = field(default_factory=VocoderConfig)

    @property
    def sampling(self) -> SamplingOptions:
        return SamplingOptions(self.temperature, self.top_k, self.top_p,
                               tuple(self.level_scales))

    def validate(self, limits: Limits = LIBRARY_LIMITS) -> None:
        """InputError naming the first value that is out of range."""
        if not math.isfinite(self.seconds) or not 0 < self.seconds <= limits.max_seconds:
            raise InputError(f"seconds must be in (0, {limits.max_seconds:g}], "
                             f"got {self.seconds}")
        if self.render not in RENDERS:
            raise InputError(f"render must be one of {RENDERS}, got {self.render!r}")
        if not 0 <= self.adapt_steps <= limits.max_adapt_steps:
            raise InputError(f"adapt_steps must be between 0 and {limits.max_adapt_steps}, "
                             f"got {self.adapt_steps}")
        if self.random_seed < -1 or self.random_seed >= 2**63:
            raise InputError("random_seed must be -1 (random) or a non-negative integer")
        if self.context_seconds < 0 or self.max_seed_seconds < 1:
            raise InputError("context_seconds must be >= 0 and max_seed_seconds >= 1")
        if not self.use_prior and self.render != "seed":
            raise InputError("use_prior=False needs render='seed': synth samples from the prior")
        self.sampling.validate()


def request_options(seconds: Any, temperature: Any, top_k: Any, top_p: Any,
                    random_seed: Any, adapt_steps: Any, render: Any,
                    limits: Limits = PAGE_LIMITS) -> GenerateOptions:
    """The page's and the API's raw parameters as checked GenerateOptions, or InputError
    saying which value is wrong."""
    try:
        options = GenerateOptions(
            seconds=float(seconds), temperature=float(temperature), top_k=int(top_k),
            top_p=float(top_p), random_seed=int(random_seed), render=str(render),
            adapt_steps=int(adapt_steps))
    except (TypeError, ValueError, OverflowError) as error:
        raise InputError(f"Bad parameter value: {error}") from error
    options.validate(limits)
    return options
