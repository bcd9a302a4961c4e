"""The one public entry point the app and the CLI call: seed in, continuation out."""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musicgen.audio import load_audio, normalise_loudness
from musicgen.checkpoint import PriorBundle, load_prior
from musicgen.errors import InputError
from musicgen.mixing import crossfade, finalize, match_rms
from musicgen.sampler import SamplingOptions, StepPrior, generate_codes
from musicgen.vocoder import VocoderConfig, griffin_lim

RENDERS = ("seed", "synth")
Progress = Callable[[float, str], None]


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
    max_seconds: float = 120.0
    vocoder: VocoderConfig = field(default_factory=VocoderConfig)

    @property
    def sampling(self) -> SamplingOptions:
        return SamplingOptions(self.temperature, self.top_k, self.top_p)

    def validate(self) -> None:
        if not math.isfinite(self.seconds) or not 0 < self.seconds <= self.max_seconds:
            raise InputError(f"seconds must be in (0, {self.max_seconds:g}], got {self.seconds}")
        if self.render not in RENDERS:
            raise InputError(f"render must be one of {RENDERS}, got {self.render!r}")
        if not 0 <= self.adapt_steps <= 2000:
            raise InputError(f"adapt_steps must be between 0 and 2000, got {self.adapt_steps}")
        if self.random_seed < -1 or self.random_seed >= 2**63:
            raise InputError("random_seed must be -1 (random) or a non-negative integer")
        if self.context_seconds < 0 or self.max_seed_seconds < 1:
            raise InputError("context_seconds must be >= 0 and max_seed_seconds >= 1")
        self.sampling.validate()


@dataclass
class GenerationResult:
    """The output file's samples plus what a user or an evaluation needs to know about it."""

    audio: np.ndarray
    sample_rate: int
    join_seconds: float  # where the seed's tail ends and new audio begins
    random_seed: int
    seed_codes: np.ndarray
    codes: np.ndarray  # the new steps' codes, as the prior saw them
    info: dict[str, Any]
    joins: list[int] = field(default_factory=list)  # output samples where audio is spliced
    seed_audio: np.ndarray | None = None  # the seed as the model heard it (levelled, trimmed)
    source_pairs: list[tuple[int, int]] | None = None  # render="seed": seed positions per join

    @property
    def new_audio(self) -> np.ndarray:
        return self.audio[int(round(self.join_seconds * self.sample_rate)):]


@dataclass
class Seed:
    """A seed clip trimmed to whole code steps, with its codes."""

    audio: np.ndarray
    codes: np.ndarray
    log_mel: np.ndarray


class Generator:
    """A loaded prior + codec; stateless per request, so one instance serves many."""

    def __init__(self, bundle: PriorBundle) -> None:
        self.bundle = bundle
        self.codec = bundle.codec
        self.step_prior = StepPrior.from_model(bundle.model, bundle.config)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Generator:
        return cls(load_prior(Path(folder)))

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def sample_rate(self) -> int:
        return self.codec.features.sample_rate

    def prepare_seed(self, source: Any, max_seconds: float = 30.0) -> Seed:
        """Load, level and encode a seed; drop its first partial step so it ends on a step."""
        audio = load_audio(source, self.sample_rate, max_seconds=max_seconds)
        audio = normalise_loudness(audio, self.codec.features.loudness_dbfs)
        hop = self.codec.samples_per_step
        audio = audio[len(audio) % hop:]
        log_mel = self.codec.analyzer.log_mel(audio)[: len(audio) // self.codec.features.hop_length]
        return Seed(audio, self.codec.encode_mel(log_mel), log_mel)

    def generate(self, source: Any, options: GenerateOptions,
                 progress: Progress | None = None) -> GenerationResult:
        options.validate()
        report = progress or (lambda fraction, message: None)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        random_seed = options.random_seed if options.random_seed >= 0 else secrets.randbits(31)

        report(0.0, "reading the seed")
        seed = self.prepare_seed(source, options.max_seed_seconds)
        timings["seed_s"] = time.perf_counter() - start

        prior = self.step_prior
        if options.adapt_steps > 0:
            from musicgen.adapt import adapt_prior

            report(0.1, f"adapting to the seed ({options.adapt_steps} steps)")
            tic = time.perf_counter()
            prior = adapt_prior(self.bundle, seed.codes, options.adapt_steps, random_seed)
            timings["adapt_s"] = time.perf_counter() - tic

        steps = max(1, math.ceil(options.seconds * self.codec.steps_per_second))
        report(0.3, f"generating {steps} steps")
        tic = time.perf_counter()
        if options.render == "synth":
            codes = generate_codes(prior, seed.codes, steps, options.sampling, random_seed)
            timings["sample_s"] = time.perf_counter() - tic
            report(0.6, "synthesizing audio")
            tic = time.perf_counter()
            audio, join = self._render_synth(seed, codes, options, random_seed)
            timings["render_s"] = time.perf_counter() - tic
            extra: dict[str, Any] = {}
            joins, pairs = [join], None
        else:
            from musicgen.units import render_seed

            rendered = render_seed(prior, self.codec, seed, steps, options.sampling,
                                   random_seed, options.context_seconds)
            audio, join, codes = rendered.audio, rendered.join_sample, rendered.codes
            timings["sample_s"] = rendered.sample_seconds
            timings["render_s"] = time.perf_counter() - tic - rendered.sample_seconds
            extra, joins, pairs = rendered.info, rendered.jumps, rendered.source_pairs
        audio = finalize(audio)
        timings["total_s"] = time.perf_counter() - start
        seconds_new = (len(audio) - join) / self.sample_rate
        info = {
            "model": self.name, "arch": self.bundle.config.arch, "render": options.render,
            "random_seed": random_seed, "temperature": options.temperature,
            "top_k": options.top_k, "top_p": options.top_p, "adapt_steps": options.adapt_steps,
            "seed_seconds": round(len(seed.audio) / self.sample_rate, 3),
            "join_seconds": round(join / self.sample_rate, 3),
            "new_seconds": round(seconds_new, 3),
            "timings": {k: round(v, 4) for k, v in timings.items()},
            "real_time_factor": round(seconds_new / max(timings["total_s"], 1e-9), 1),
            **extra,
        }
        report(1.0, "done")
        return GenerationResult(audio, self.sample_rate, join / self.sample_rate, random_seed,
                                seed.codes, codes, info, joins, seed.audio, pairs)

    def _render_synth(self, seed: Seed, codes: np.ndarray, options: GenerateOptions,
                      random_seed: int) -> tuple[np.ndarray, int]:
        """Decode [seed's last steps + new codes], vocode, and crossfade in after the seed."""
        codec, analyzer = self.codec, self.codec.analyzer
        hop, step = codec.features.hop_length, codec.samples_per_step
        overlap_steps = int(min(8, len(seed.codes)))
        log_mel = codec.decode(np.concatenate([seed.codes[-overlap_steps:], codes]))
        magnitude = analyzer.log_mel_to_magnitude(log_mel)
        seed_phase = analyzer.stft(seed.audio[-overlap_steps * step:])
        seed_phase = seed_phase[:, : overlap_steps * codec.config.frames_per_step]
        seed_phase = seed_phase / (np.abs(seed_phase) + 1e-8)
        rng = np.random.default_rng([random_seed, 1])
        voiced = griffin_lim(magnitude, analyzer, options.vocoder, rng, seed_phase)
        voiced = np.concatenate([voiced, np.zeros(hop, np.float32)])
        tail_len = min(len(seed.audio), int(options.context_seconds * self.sample_rate))
        tail = seed.audio[len(seed.audio) - tail_len:]
        voiced = match_rms(voiced, tail if tail_len else seed.audio)
        fade = int(0.05 * self.sample_rate)
        # The vocoded audio starts overlap_steps before the join; fade over its last `fade`.
        lead = overlap_steps * step
        fade = min(fade, lead, tail_len) if tail_len else 0
        new = voiced[lead - fade:]
        return crossfade(tail, new, fade), tail_len
