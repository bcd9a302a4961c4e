"""What the page shows for a result: the WAV file, the spectrogram, the info panel, and
the live player's chunks while `Generator.stream` runs. No Gradio here: app.py wires these
to widgets.

Results go back as files with a name of their own per request (`ResultFiles`), never as
arrays: Gradio writes a returned array to a path named by its content's hash *on every
request*, so two identical results at once (the same example and random seed, or two random
seeds that choose the same units) rewrote a file while it was being downloaded and cut the
download short. A path in Gradio's cache folder is served as it is and deleted by the page's
`delete_cache` schedule."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image

from musicgen.audio import to_int16, wav_bytes
from musicgen.generate import GenerateOptions, GenerationResult, Generator, Progress
from musicgen.options import LIBRARY_LIMITS, Limits
from musicgen.spectrogram import spectrogram_image

# Keys the info panel shows first, in this order; the rest of `result.info` follows.
_INFO_FIRST = ("random_seed", "model", "arch", "render", "new_seconds", "join_seconds",
               "real_time_factor", "timings", "beat_mode", "tempo_bpm")


def result_spectrogram(generator: Generator, result: GenerationResult) -> Image.Image:
    log_mel = generator.codec.analyzer.log_mel(result.audio)
    total = len(result.audio) / result.sample_rate
    return spectrogram_image(log_mel, result.join_seconds / max(total, 1e-9))


def result_audio(result: GenerationResult) -> tuple[int, np.ndarray]:
    """(rate, int16 samples): Gradio writes it as a 16-bit WAV without rescaling it."""
    return result.sample_rate, to_int16(result.audio)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def result_info(result: GenerationResult) -> dict[str, Any]:
    """The info panel: random seed, model, timings, speed, beat mode and tempo first."""
    info = {"random_seed": result.random_seed, **result.info}
    ordered = {key: info[key] for key in _INFO_FIRST if key in info}
    ordered.update({k: v for k, v in info.items() if k not in ordered})
    return _plain(ordered)


@dataclass(frozen=True)
class ResultFiles:
    """Writes each result's WAV and spectrogram PNG under `folder` with names no other
    request shares, complete before their paths are returned."""

    folder: Path

    def write(self, generator: Generator, result: GenerationResult
              ) -> tuple[str, str, dict[str, Any]]:
        """(WAV path, PNG path, info): what /generate returns and the page shows."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:12]
        wav = self.folder / f"continuation-{tag}.wav"
        rate, samples = result_audio(result)
        sf.write(wav, samples, rate, subtype="PCM_16", format="WAV")
        png = self.folder / f"spectrogram-{tag}.png"
        result_spectrogram(generator, result).save(png, format="PNG")
        return str(wav), str(png), result_info(result)


def live_updates(generator: Generator, source: Any, options: GenerateOptions,
                 files: ResultFiles, progress: Progress | None = None,
                 chunk_seconds: float = 2.0, limits: Limits = LIBRARY_LIMITS
                 ) -> Iterator[tuple[bytes | None, tuple[str, str, dict] | None]]:
    """What the page shows while `generator.stream` runs: (WAV bytes for the live player or
    None, then on the last step (file, spectrogram, info) as /generate returns them)."""
    for chunk in generator.stream(source, options, chunk_seconds, progress, limits):
        live = wav_bytes(chunk.audio, chunk.sample_rate) if len(chunk.audio) else None
        final = None if chunk.result is None else files.write(generator, chunk.result)
        yield live, final
