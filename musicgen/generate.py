"""The one public entry point the app and the CLI call: seed in, continuation out.

`Generator` only orchestrates a request: load the seed (`seed.py`), prime or adapt the prior
(`sampler.py`, `adapt.py`), run the renderer the options name (`render/`), and finish the file
(`mixing.py`) with what happened attached. The same path serves `generate` (one file),
`stream` (chunks as they are made) and `evaluate` (every row, uniform prior included).
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musicgen.adapt import SeedAdapter
from musicgen.checkpoint import PriorBundle, load_prior
from musicgen.errors import InputError
from musicgen.mixing import clip_peak, finalize
from musicgen.options import LIBRARY_LIMITS, GenerateOptions, Limits
from musicgen.render import Rendering, render
from musicgen.sampler import StepPrior
from musicgen.seed import Seed, prepare_seed
from musicgen.toymusic import click_and_chords

__all__ = ["GenerateOptions", "GenerationResult", "Generator", "Progress", "Seed",
           "StreamChunk"]

Progress = Callable[[float, str], None]


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
class StreamChunk:
    """One piece of a streamed output, in order; the pieces concatenate to the whole file."""

    audio: np.ndarray  # float32 samples that follow the previous chunk's
    sample_rate: int
    start: int  # where audio[0] sits in the output, in samples
    result: GenerationResult | None = None  # on the last chunk only: the finished output


@dataclass
class _Job:
    """One request's state: filled in as its audio is produced, read when it is finished."""

    options: GenerateOptions
    random_seed: int
    start: float
    limits: Limits
    timings: dict[str, float] = field(default_factory=dict)
    seed: Seed | None = None
    rendering: Rendering | None = None


class Generator:
    """A loaded prior + codec; stateless per request (the adapter's cached copy is reset
    for each), so one instance serves many."""

    def __init__(self, bundle: PriorBundle) -> None:
        self.bundle = bundle
        self.codec = bundle.codec
        self.step_prior = StepPrior.from_model(bundle.model, bundle.config)
        self.adapter = SeedAdapter(bundle)  # built on the first adapted request

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Generator:
        return cls(load_prior(Path(folder)))

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def sample_rate(self) -> int:
        return self.codec.features.sample_rate

    def prepare_seed(self, source: Any, max_seconds: float = 30.0,
                     timings: dict[str, float] | None = None,
                     limits: Limits = LIBRARY_LIMITS) -> Seed:
        """The seed as this generator's codec sees it (see `musicgen.seed.prepare_seed`)."""
        return prepare_seed(source, self.codec, max_seconds, timings, limits)

    def generate(self, source: Any, options: GenerateOptions,
                 progress: Progress | None = None,
                 limits: Limits = LIBRARY_LIMITS) -> GenerationResult:
        """Continue `source`; `options` and the seed file are checked against `limits`."""
        report = progress or (lambda fraction, message: None)
        job = self._new_job(options, limits)
        audio = finalize(np.concatenate(list(self._pieces(source, job, report))))
        return self._finish(job, audio, report)

    def stream(self, source: Any, options: GenerateOptions, chunk_seconds: float = 2.0,
               progress: Progress | None = None,
               limits: Limits = LIBRARY_LIMITS) -> Iterator[StreamChunk]:
        """`generate`, yielded in chunks as the audio is made; the last chunk holds the result.

        The first chunk is the seed's tail plus the first new audio, the others about
        `chunk_seconds` each. The chunks concatenate to `result.audio`, which equals what
        `generate` returns for the same options, except that a stream cannot scale audio it
        has already sent: if the new audio peaks above 0.98 (generate then scales the whole
        file down) the stream clips those samples instead.
        """
        if not math.isfinite(chunk_seconds) or chunk_seconds <= 0:
            raise InputError(f"chunk_seconds must be positive, got {chunk_seconds}")
        report = progress or (lambda fraction, message: None)
        job = self._new_job(options, limits)
        size = max(1, int(round(chunk_seconds * self.sample_rate)))
        sent: list[np.ndarray] = []
        buffer: list[np.ndarray] = []
        buffered = start = 0
        for piece in self._pieces(source, job, report):
            piece = clip_peak(piece)
            buffer.append(piece)
            buffered += len(piece)
            join = job.rendering.join
            # first: the seed's tail and whatever new audio is ready (at most one chunk)
            while buffered > (join if not sent else size - 1):
                take = min(buffered, join + size) if not sent else size
                joined = np.concatenate(buffer)
                chunk, rest = joined[:take], joined[take:]
                buffer, buffered = [rest], len(rest)
                if not sent:
                    job.timings["first_chunk_s"] = time.perf_counter() - job.start
                sent.append(chunk)
                yield StreamChunk(chunk, self.sample_rate, start)
                start += len(chunk)
        last = np.concatenate(buffer) if buffer else np.zeros(0, np.float32)
        sent.append(last)
        result = self._finish(job, np.concatenate(sent), report)
        yield StreamChunk(last, self.sample_rate, start, result)

    def warmup(self) -> float:
        """Run short requests of both renderers on a synthesized clip, so that lazy imports,
        JIT compiles and Keras's first calls happen now rather than in a user's first
        request. Returns the seconds it took."""
        tic = time.perf_counter()
        clip = click_and_chords(3.0, self.sample_rate, bpm=120.0)
        # two lengths of each, so that any shape-specialised traces generalise now
        for render_name, seed_seconds, seconds in (("synth", 2.5, 1.0), ("synth", 3.0, 2.0),
                                                   ("seed", 2.5, 1.0)):
            audio = clip[: int(seed_seconds * self.sample_rate)]
            self.generate((self.sample_rate, audio),
                          GenerateOptions(seconds=seconds, render=render_name, random_seed=0))
        return time.perf_counter() - tic

    def _new_job(self, options: GenerateOptions, limits: Limits) -> _Job:
        options.validate(limits)
        start = time.perf_counter()
        random_seed = options.random_seed if options.random_seed >= 0 else secrets.randbits(31)
        return _Job(options, random_seed, start, limits)

    def _pieces(self, source: Any, job: _Job, report: Progress) -> Iterator[np.ndarray]:
        """Load seed -> prime -> render: the output's samples in order (not yet limited)."""
        options, timings = job.options, job.timings
        report(0.0, "reading the seed")
        seed = job.seed = self.prepare_seed(source, options.max_seed_seconds, timings,
                                            job.limits)
        timings["seed_s"] = time.perf_counter() - job.start

        prior: StepPrior | None = self.step_prior if options.use_prior else None
        if options.adapt_steps > 0 and prior is not None:
            report(0.1, f"adapting to the seed ({options.adapt_steps} steps)")
            tic = time.perf_counter()
            prior = self.adapter.adapt(seed.codes, options.adapt_steps, job.random_seed)
            timings["adapt_s"] = time.perf_counter() - tic

        steps = max(1, math.ceil(options.seconds * self.codec.steps_per_second))
        report(0.3, f"generating {steps} steps ({options.render})")
        tic = time.perf_counter()
        chooser = self.bundle.chooser if options.use_prior else None
        rendering = job.rendering = render(prior, self.codec, seed, steps, options,
                                           np.random.default_rng(job.random_seed), chooser)
        report(0.6, "rendering audio")
        yield from rendering.pieces
        timings.update(rendering.timings)
        timings["render_s"] = time.perf_counter() - tic - rendering.timings["sample_s"]

    def _finish(self, job: _Job, audio: np.ndarray, report: Progress) -> GenerationResult:
        timings, options, seed, rendering = job.timings, job.options, job.seed, job.rendering
        assert seed is not None and rendering is not None
        timings["total_s"] = time.perf_counter() - job.start
        join = rendering.join
        seconds_new = (len(audio) - join) / self.sample_rate
        info = {
            "model": self.name, "arch": self.bundle.config.arch, "render": options.render,
            "random_seed": job.random_seed, "temperature": options.temperature,
            "top_k": options.top_k, "top_p": options.top_p, "adapt_steps": options.adapt_steps,
            "level_scales": list(options.level_scales),
            "seed_seconds": round(len(seed.audio) / self.sample_rate, 3),
            "join_seconds": round(join / self.sample_rate, 3),
            "new_seconds": round(seconds_new, 3),
            "timings": {k: round(v, 4) for k, v in timings.items()},
            "real_time_factor": round(seconds_new / max(timings["total_s"], 1e-9), 1),
            **({} if options.use_prior else {"prior": "none (costs alone)"}),
            **rendering.info,
        }
        report(1.0, "done")
        return GenerationResult(audio, self.sample_rate, join / self.sample_rate,
                                job.random_seed, seed.codes, rendering.codes, info,
                                rendering.joins, seed.audio, rendering.source_pairs)
