"""The one public entry point the app and the CLI call: seed in, continuation out."""

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

from musicgen.audio import load_audio, normalise_loudness
from musicgen.checkpoint import PriorBundle, load_prior
from musicgen.errors import InputError
from musicgen.mixing import equal_power_fades, finalize, rms
from musicgen.sampler import SamplingOptions, StepPrior, generate_codes
from musicgen.vocoder import FastSTFT, VocoderConfig, griffin_lim_blocks, magnitude_rms

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


@dataclass
class StreamChunk:
    """One piece of a streamed output, in order; the pieces concatenate to the whole file."""

    audio: np.ndarray  # float32 samples that follow the previous chunk's
    sample_rate: int
    start: int  # where audio[0] sits in the output, in samples
    result: GenerationResult | None = None  # on the last chunk only: the finished output


@dataclass
class _Job:
    """What one request has worked out so far (filled in while its audio is produced)."""

    options: GenerateOptions
    random_seed: int
    start: float
    timings: dict[str, float] = field(default_factory=dict)
    seed: Seed | None = None
    codes: np.ndarray | None = None
    join: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    joins: list[int] = field(default_factory=list)
    pairs: list[tuple[int, int]] | None = None


def _limit(piece: np.ndarray, peak: float = 0.98) -> np.ndarray:
    """A streamed piece made safe without seeing the rest: finite, float32, clipped at `peak`
    (where `finalize` would instead scale the whole file, which a stream cannot)."""
    piece = np.nan_to_num(np.asarray(piece, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if piece.size and float(np.max(np.abs(piece))) > peak:
        piece = np.clip(piece, -peak, peak)
    return piece.astype(np.float32, copy=False)


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

    def prepare_seed(self, source: Any, max_seconds: float = 30.0,
                     timings: dict[str, float] | None = None) -> Seed:
        """Load, level and encode a seed; drop its first partial step so it ends on a step."""
        audio = load_audio(source, self.sample_rate, max_seconds=max_seconds)
        audio = normalise_loudness(audio, self.codec.features.loudness_dbfs)
        hop = self.codec.samples_per_step
        audio = audio[len(audio) % hop:]
        log_mel = self.codec.analyzer.log_mel(audio)[: len(audio) // self.codec.features.hop_length]
        tic = time.perf_counter()
        codes = self.codec.encode_mel(log_mel)
        if timings is not None:
            timings["encode_s"] = time.perf_counter() - tic
        return Seed(audio, codes, log_mel)

    def generate(self, source: Any, options: GenerateOptions,
                 progress: Progress | None = None) -> GenerationResult:
        report = progress or (lambda fraction, message: None)
        job = self._new_job(options)
        audio = finalize(np.concatenate(list(self._pieces(source, job, report))))
        return self._finish(job, audio, report)

    def stream(self, source: Any, options: GenerateOptions, chunk_seconds: float = 2.0,
               progress: Progress | None = None) -> Iterator[StreamChunk]:
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
        job = self._new_job(options)
        size = max(1, int(round(chunk_seconds * self.sample_rate)))
        sent: list[np.ndarray] = []
        buffer: list[np.ndarray] = []
        buffered = start = 0
        for piece in self._pieces(source, job, report):
            piece = _limit(piece)
            buffer.append(piece)
            buffered += len(piece)
            # first: the seed's tail and whatever new audio is ready (at most one chunk)
            while buffered > (job.join if not sent else size - 1):
                take = min(buffered, job.join + size) if not sent else size
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
        """Run one short request per renderer on a synthesized clip, so that lazy imports,
        JIT compiles and Keras's first calls happen now rather than in a user's first
        request. Returns the seconds it took."""
        from musicgen.toymusic import click_and_chords

        tic = time.perf_counter()
        clip = click_and_chords(3.0, self.sample_rate, bpm=120.0)
        # two lengths of each, so that any shape-specialised traces generalise now
        for render, seed_seconds, seconds in (("synth", 2.5, 1.0), ("synth", 3.0, 2.0),
                                              ("seed", 2.5, 1.0)):
            audio = clip[: int(seed_seconds * self.sample_rate)]
            self.generate((self.sample_rate, audio),
                          GenerateOptions(seconds=seconds, render=render, random_seed=0))
        return time.perf_counter() - tic

    def _new_job(self, options: GenerateOptions) -> _Job:
        options.validate()
        start = time.perf_counter()
        random_seed = options.random_seed if options.random_seed >= 0 else secrets.randbits(31)
        return _Job(options, random_seed, start)

    def _pieces(self, source: Any, job: _Job, report: Progress) -> Iterator[np.ndarray]:
        """The output's samples in order (not yet limited), filling in `job` as it goes."""
        options, timings, random_seed = job.options, job.timings, job.random_seed
        report(0.0, "reading the seed")
        seed = job.seed = self.prepare_seed(source, options.max_seed_seconds, timings)
        timings["seed_s"] = time.perf_counter() - job.start

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
            job.codes = generate_codes(prior, seed.codes, steps, options.sampling, random_seed)
            timings["sample_s"] = time.perf_counter() - tic
            report(0.6, "synthesizing audio")
            tic = time.perf_counter()
            job.join = min(len(seed.audio), int(options.context_seconds * self.sample_rate))
            job.joins = [job.join]
            yield from self._synth_pieces(seed, job.codes, options, random_seed, timings)
            timings["render_s"] = time.perf_counter() - tic
        else:
            from musicgen.units import render_seed

            rendered = render_seed(prior, self.codec, seed, steps, options.sampling,
                                   random_seed, options.context_seconds)
            job.codes, job.join = rendered.codes, rendered.join_sample
            timings["sample_s"] = rendered.sample_seconds
            timings["render_s"] = time.perf_counter() - tic - rendered.sample_seconds
            job.extra, job.joins, job.pairs = rendered.info, rendered.jumps, rendered.source_pairs
            yield rendered.audio

    def _finish(self, job: _Job, audio: np.ndarray, report: Progress) -> GenerationResult:
        timings, options, seed = job.timings, job.options, job.seed
        assert seed is not None and job.codes is not None
        timings["total_s"] = time.perf_counter() - job.start
        join = job.join
        seconds_new = (len(audio) - join) / self.sample_rate
        info = {
            "model": self.name, "arch": self.bundle.config.arch, "render": options.render,
            "random_seed": job.random_seed, "temperature": options.temperature,
            "top_k": options.top_k, "top_p": options.top_p, "adapt_steps": options.adapt_steps,
            "seed_seconds": round(len(seed.audio) / self.sample_rate, 3),
            "join_seconds": round(join / self.sample_rate, 3),
            "new_seconds": round(seconds_new, 3),
            "timings": {k: round(v, 4) for k, v in timings.items()},
            "real_time_factor": round(seconds_new / max(timings["total_s"], 1e-9), 1),
            **job.extra,
        }
        report(1.0, "done")
        return GenerationResult(audio, self.sample_rate, join / self.sample_rate,
                                job.random_seed, seed.codes, job.codes, info, job.joins,
                                seed.audio, job.pairs)

    def _synth_pieces(self, seed: Seed, codes: np.ndarray, options: GenerateOptions,
                      random_seed: int, timings: dict[str, float]) -> Iterator[np.ndarray]:
        """Decode [seed's last steps + new codes], vocode block by block, and crossfade in
        after the seed's tail; yields the output in order as the vocoder finishes blocks."""
        codec, analyzer = self.codec, self.codec.analyzer
        hop, step = codec.features.hop_length, codec.samples_per_step
        tic = time.perf_counter()
        overlap_steps = int(min(8, len(seed.codes)))
        log_mel = codec.decode(np.concatenate([seed.codes[-overlap_steps:], codes]))
        magnitude = analyzer.log_mel_to_magnitude(log_mel)
        timings["decode_s"] = time.perf_counter() - tic
        seed_phase = FastSTFT.for_analyzer(analyzer).stft(seed.audio[-overlap_steps * step:])
        seed_phase = seed_phase[:, : overlap_steps * codec.config.frames_per_step]
        seed_phase = seed_phase / (np.abs(seed_phase) + 1e-8)
        rng = np.random.default_rng([random_seed, 1])
        tail_len = min(len(seed.audio), int(options.context_seconds * self.sample_rate))
        tail = seed.audio[len(seed.audio) - tail_len:]
        # The vocoded level is matched to the tail's before any of it exists: the RMS of a
        # signal follows from its STFT magnitude (Parseval), within +-12 dB as match_rms.
        level = magnitude_rms(magnitude, analyzer)
        gain = (float(np.clip(rms(tail if tail_len else seed.audio) / level, 0.25, 4.0))
                if level >= 1e-8 else 1.0)
        # The vocoded audio starts overlap_steps before the join; fade over its last `fade`.
        lead = overlap_steps * step
        fade = min(int(0.05 * self.sample_rate), lead, tail_len) if tail_len else 0
        skip, held = lead - fade, []
        tic = time.perf_counter()
        blocks = griffin_lim_blocks(magnitude, analyzer, options.vocoder, rng, seed_phase)
        for piece in _chain(blocks, np.zeros(hop, np.float32)):
            piece = (piece * gain).astype(np.float32)
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


def _chain(pieces: Iterator[np.ndarray], last: np.ndarray) -> Iterator[np.ndarray]:
    yield from pieces
    yield last
