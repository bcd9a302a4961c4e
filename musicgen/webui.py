"""Helpers for the web demo (`app.py`) that need no Gradio: checkpoint discovery, the
spectrogram picture, and turning a result into what the page shows."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from musicgen.errors import InputError
from musicgen.generate import GenerateOptions, GenerationResult, Generator, Progress

log = logging.getLogger(__name__)

ARCH_LABELS = {"lstm": "LSTM", "gru": "GRU"}
# Anchor colours of a magma-like map (dark purple -> orange -> pale yellow), no matplotlib.
_CMAP = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
                  [245, 125, 21], [250, 193, 39], [252, 253, 191]], dtype=np.float64)
# Keys the info panel shows first, in this order; the rest of `result.info` follows.
_INFO_FIRST = ("random_seed", "model", "arch", "render", "new_seconds", "join_seconds",
               "real_time_factor", "timings", "beat_mode", "tempo_bpm")


def request_options(seconds: Any, temperature: Any, top_k: Any, top_p: Any,
                    random_seed: Any, adapt_steps: Any, render: Any, *,
                    max_seconds: float, max_adapt_steps: int) -> GenerateOptions:
    """The page's and the API's parameters as GenerateOptions, or InputError saying which
    value is wrong (the page's limits are tighter than the library's)."""
    try:
        seconds, adapt_steps = float(seconds), int(adapt_steps)
        options = GenerateOptions(
            seconds=seconds, temperature=float(temperature), top_k=int(top_k),
            top_p=float(top_p), random_seed=int(random_seed), render=str(render),
            adapt_steps=adapt_steps)
    except (TypeError, ValueError, OverflowError) as error:
        raise InputError(f"Bad parameter value: {error}") from error
    if not (math.isfinite(seconds) and 0 < seconds <= max_seconds):
        raise InputError(f"seconds must be more than 0 and at most {max_seconds:g}")
    if not 0 <= adapt_steps <= max_adapt_steps:
        raise InputError(f"adapt_steps must be between 0 and {max_adapt_steps}")
    return options


def checkpoint_root(app_dir: Path) -> Path:
    """`$MUSICGEN_CHECKPOINTS`, else `checkpoints/` next to the app."""
    return Path(os.environ.get("MUSICGEN_CHECKPOINTS") or app_dir / "checkpoints")


def find_checkpoints(root: Path) -> dict[str, Path]:
    """Prior folders (`prior-*` holding musicgen.json) under `root`, keyed by their arch.

    When two folders share an arch, `prior-<arch>` wins, else the first by name.
    """
    found: dict[str, Path] = {}
    for folder in sorted(Path(root).glob("prior-*")):
        meta_path = folder / "musicgen.json"
        if not meta_path.is_file():
            continue
        try:
            arch = json.loads(meta_path.read_text())["prior"]["arch"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("skipping %s: unreadable musicgen.json (%s)", folder, error)
            continue
        if arch not in ARCH_LABELS:
            log.warning("skipping %s: unknown arch %r", folder, arch)
        elif arch not in found or folder.name == f"prior-{arch}":
            found[arch] = folder
    return found


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB with the magma-like anchors."""
    x = np.clip(values, 0.0, 1.0) * (len(_CMAP) - 1)
    anchors = np.arange(len(_CMAP))
    rgb = [np.interp(x, anchors, _CMAP[:, c]) for c in range(3)]
    return np.stack(rgb, axis=-1).round().astype(np.uint8)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def spectrogram_image(log_mel: np.ndarray, join_fraction: float, width: int = 1000,
                      height: int = 256, range_db: float = 80.0) -> Image.Image:
    """A colour-mapped log-mel picture (low frequencies at the bottom) with a vertical line
    where the seed ends (`join_fraction` of the width) and the labels "seed" / "new"."""
    mel = np.asarray(log_mel, dtype=np.float64)
    if mel.ndim != 2 or mel.size == 0:
        raise ValueError(f"log_mel must be a non-empty [frames, n_mels] array, got {mel.shape}")
    top = float(mel.max())
    scaled = (mel.T[::-1] - (top - range_db)) / range_db  # [n_mels, frames], low mels last
    image = Image.fromarray(colormap(scaled), "RGB").resize((width, height),
                                                            Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    x = int(round(np.clip(join_fraction, 0.0, 1.0) * (width - 1)))
    font = _font(max(12, height // 12))
    for text, right_of_line in (("seed", False), ("new", True)):
        left, _, right, bottom = draw.textbbox((0, 0), text, font=font)
        box_w, box_h = right - left + 8, bottom + 6
        bx = x + 6 if right_of_line else x - 6 - box_w
        bx = int(np.clip(bx, 0, width - box_w))
        by = height - 4 - box_h  # at the bottom: Gradio overlays its label and buttons on top
        draw.rectangle([bx, by, bx + box_w, by + box_h], fill=(0, 0, 0))
        draw.text((bx + 4, by + 2), text, fill=(255, 255, 255), font=font)
    draw.rectangle([x - 3, 0, x + 3, height - 1], fill=(0, 0, 0))  # drawn last, a dark edge:
    draw.rectangle([x - 1, 0, x + 1, height - 1], fill=(255, 255, 255))  # seen on any colour
    return image


def result_spectrogram(generator: Generator, result: GenerationResult) -> Image.Image:
    log_mel = generator.codec.analyzer.log_mel(result.audio)
    total = len(result.audio) / result.sample_rate
    return spectrogram_image(log_mel, result.join_seconds / max(total, 1e-9))


def to_int16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(np.nan_to_num(audio), -1.0, 1.0) * 32767.0).round().astype(np.int16)


def result_audio(result: GenerationResult) -> tuple[int, np.ndarray]:
    """(rate, int16 samples): Gradio writes it as a 16-bit WAV without rescaling it."""
    return result.sample_rate, to_int16(result.audio)


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """A streamed chunk as a complete 16-bit mono WAV: what a streaming gr.Audio output takes
    (Gradio reads such bytes with the standard library and never rescales them)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(int(sample_rate))
        writer.writeframes(to_int16(audio).tobytes())
    return buffer.getvalue()


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


def live_updates(generator: Generator, source: Any, options: GenerateOptions,
                 progress: Progress | None = None, chunk_seconds: float = 2.0
                 ) -> Iterator[tuple[bytes | None, tuple[Any, Any, Any] | None]]:
    """What the page shows while `generator.stream` runs: (WAV bytes for the live player or
    None, then on the last step (file, spectrogram, info) as /generate returns them)."""
    for chunk in generator.stream(source, options, chunk_seconds, progress):
        live = wav_bytes(chunk.audio, chunk.sample_rate) if len(chunk.audio) else None
        result = chunk.result
        final = None if result is None else (result_audio(result),
                                             result_spectrogram(generator, result),
                                             result_info(result))
        yield live, final
