"""The two renderers, siblings behind one interface (`render.base.Renderer`), chosen by name.

- "seed" (`render.units`): the prior chooses among the seed's own units, played on its beat;
- "synth" (`render.synth`): the prior's sampled codes, decoded and vocoded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from musicgen.codec import Codec
from musicgen.options import GenerateOptions
from musicgen.render.base import Renderer, Rendering, substream
from musicgen.render.synth import render_synth
from musicgen.render.units import render_seed
from musicgen.sampler import StepPrior
from musicgen.seed import Seed

if TYPE_CHECKING:
    from musicgen.chooser.model import BeatChooser

RENDERERS: dict[str, Renderer] = {"seed": render_seed, "synth": render_synth}

__all__ = ["RENDERERS", "Renderer", "Rendering", "render", "substream"]


def render(prior: StepPrior | None, codec: Codec, seed: Seed, steps: int,
           options: GenerateOptions, rng: np.random.Generator,
           chooser: BeatChooser | None = None) -> Rendering:
    """Run the renderer `options.render` names."""
    return RENDERERS[options.render](prior, codec, seed, steps, options, rng, chooser)
