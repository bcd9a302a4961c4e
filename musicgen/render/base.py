"""What every renderer takes and gives back, so that the two are interchangeable.

A renderer turns a prepared seed into the output's samples: the seed's last
`options.context_seconds` followed by `steps` code steps of new audio. It gets the prior (or
None: choose without one, where the renderer can) and the checkpoint's beat chooser (or None),
the codec, the seed, the step count, the request's options and a random generator made from the
request's random seed; it returns its audio as pieces in order (so that the page can play them
as they come) and what happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from musicgen.codec import Codec
from musicgen.options import GenerateOptions
from musicgen.sampler import StepPrior
from musicgen.seed import Seed

if TYPE_CHECKING:
    from musicgen.chooser.model import BeatChooser


@dataclass
class Rendering:
    """A renderer's output: its pieces and what it did. `timings` fills in as the pieces
    are consumed."""

    pieces: Iterator[np.ndarray]  # float32 samples in order: seed tail, then new audio
    join: int  # output sample where the new audio begins
    codes: np.ndarray  # the new steps' codes [steps, L], as the prior saw them
    joins: list[int] = field(default_factory=list)  # output samples where audio is spliced
    source_pairs: list[tuple[int, int]] | None = None  # seed positions either side of a join
    info: dict[str, Any] = field(default_factory=dict)  # reported with the result
    timings: dict[str, float] = field(default_factory=dict)  # sample_s first, then the rest


class Renderer(Protocol):
    def __call__(self, prior: StepPrior | None, codec: Codec, seed: Seed, steps: int,
                 options: GenerateOptions, rng: np.random.Generator,
                 chooser: BeatChooser | None = None) -> Rendering: ...


def substream(rng: np.random.Generator, key: int) -> np.random.Generator:
    """An independent generator for one part of a renderer (e.g. the vocoder's phases), so
    that its draws do not depend on how many numbers the sampler took. `rng` must come from
    `np.random.default_rng(random_seed)`; this is `default_rng([random_seed, key])`."""
    return np.random.default_rng([rng.bit_generator.seed_seq.entropy, key])
