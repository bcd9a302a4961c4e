"""render="synth": the prior's sampled codes, decoded to a log-mel and vocoded.

It can make sound the seed never had, but it is only as sharp as the codec: averaging into
codebook vectors smears harmonics and onsets (docs/design.md). The vocoder works in blocks,
so the first audio is ready long before the last.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from musicgen.codec import Codec
from musicgen.errors import InputError
from musicgen.features import MelAnalyzer
from musicgen.mixing import equal_power_fades, rms
from musicgen.options import GenerateOptions
from musicgen.render.base import Rendering, substream
from musicgen.sampler import StepPrior, generate_codes
from musicgen.seed import Seed
from musicgen.vocoder import FastSTFT, frame_power, griffin_lim_blocks

if TYPE_CHECKING:
    from musicgen.chooser.model import BeatChooser

OVERLAP_STEPS = 8  # seed steps decoded with the new ones, so the decoder has context
LEVEL_SECONDS = 3.0  # loudness is held to the seed's over windows this long ...
MAX_GAIN = 16.0  # ... by at most +-24 dB: a longer rest stays a rest, noise is not boosted


def render_synth(prior: StepPrior | None, codec: Codec, seed: Seed, steps: int,
                 options: GenerateOptions, rng: np.random.Generator,
                 chooser: BeatChooser | None = None) -> Rendering:
    """Sample `steps` new code steps after the seed's, then vocode them after its tail (the
    beat chooser picks among the seed's beats, so it has no part here)."""
    if prior is None:
        raise InputError("render='synth' samples its codes from a prior: it needs one")
    tic = time.perf_counter()
    codes = generate_codes(prior, seed.codes, steps, options.sampling, rng)
    timings = {"sample_s": time.perf_counter() - tic}
    join = min(len(seed.audio), int(options.context_seconds * codec.features.sample_rate))
    pieces = _vocoded(codec, seed, codes, options, substream(rng, 1), timings)
    return Rendering(pieces, join, codes, [join], None, {}, timings)


def _vocoded(codec: Codec, seed: Seed, codes: np.ndarray, options: GenerateOptions,
             rng: np.random.Generator, timings: dict[str, float]) -> Iterator[np.ndarray]:
    """Decode [seed's last steps + new codes], vocode block by block, and crossfade in
    after the seed's tail; yields the output in order as the vocoder finishes blocks."""
    analyzer, sr = codec.analyzer, codec.features.sample_rate
    hop, step = codec.features.hop_length, codec.samples_per_step
    tic = time.perf_counter()
    overlap_steps = int(min(OVERLAP_STEPS, len(seed.codes)))
    log_mel = codec.decode(np.concatenate([seed.codes[-overlap_steps:], codes]))
    magnitude = analyzer.log_mel_to_magnitude(log_mel)
    timings["decode_s"] = time.perf_counter() - tic
    seed_phase = FastSTFT.for_analyzer(analyzer).stft(seed.audio[-overlap_steps * step:])
    seed_phase = seed_phase[:, : overlap_steps * codec.config.frames_per_step]
    seed_phase = seed_phase / (np.abs(seed_phase) + 1e-8)
    tail_len = min(len(seed.audio), int(options.context_seconds * sr))
    tail = seed.audio[len(seed.audio) - tail_len:]
    # The vocoded level is held to the tail's before any of it exists (the RMS of a signal
    # follows from its STFT magnitude, Parseval), window by window: the prior can wander to
    # quiet codes over a long output (a 60 s request fell from -18 to -42 dBFS), and one
    # gain for the whole file let it fade out.
    magnitude = magnitude * level_gains(magnitude, analyzer,
                                        rms(tail if tail_len else seed.audio))[None, :]
    # The vocoded audio starts overlap_steps before the join; fade over its last `fade`.
    lead = overlap_steps * step
    fade = min(int(0.05 * sr), lead, tail_len) if tail_len else 0
    skip, held = lead - fade, []
    tic = time.perf_counter()
    blocks = griffin_lim_blocks(magnitude, analyzer, options.vocoder, rng, seed_phase)
    for piece in _chain(blocks, np.zeros(hop, np.float32)):
        if skip is None:
            yield piece
            continue
        held.append(piece)
        voiced = np.concatenate(held)
        if len(voiced) < skip + fade:  # the first block always reaches past the join
            continue
        fade_out, fade_in = equal_power_fades(fade)
        middle = tail[tail_len - fade:] * fade_out + voiced[skip:skip + fade] * fade_in
        yield np.concatenate([tail[:tail_len - fade], middle,
                              voiced[skip + fade:]]).astype(np.float32)
        skip = None
    timings["vocoder_s"] = time.perf_counter() - tic


def level_gains(magnitude: np.ndarray, analyzer: MelAnalyzer, target_rms: float,
                seconds: float = LEVEL_SECONDS, max_gain: float = MAX_GAIN) -> np.ndarray:
    """Per-frame gains that bring magnitude [bins, frames]'s RMS over a centred window of
    `seconds` to `target_rms`, each within [1/max_gain, max_gain] (1 where it is silent)."""
    power = frame_power(magnitude, analyzer)
    if not power.size or target_rms <= 0:
        return np.ones(power.shape, np.float32)
    width = max(1, int(round(seconds * analyzer.config.sample_rate
                             / analyzer.config.hop_length)))
    kernel = np.ones(min(width, len(power)))
    # mean over the frames each window really covers (fewer at the ends)
    local = (np.convolve(power, kernel, mode="same")
             / np.convolve(np.ones_like(power), kernel, mode="same"))
    gains = np.where(local > 1e-16, target_rms / np.sqrt(np.maximum(local, 1e-16)), 1.0)
    return np.clip(gains, 1.0 / max_gain, max_gain).astype(np.float32)


def _chain(pieces: Iterator[np.ndarray], last: np.ndarray) -> Iterator[np.ndarray]:
    yield from pieces
    yield last
