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

import json
import uuid
from collections.abc import Iterator, Sequence
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
_INFO_FIRST = ("summary", "random_seed", "model", "arch", "render", "new_seconds", "join_seconds",
               "real_time_factor", "timings", "beat_mode", "tempo_bpm")


def result_spectrogram(generator: Generator, result: GenerationResult) -> Image.Image:
    log_mel = generator.codec.analyzer.log_mel(result.audio)
    total = len(result.audio) / result.sample_rate
    return spectrogram_image(log_mel, result.join_seconds / max(total, 1e-9), seconds=total)


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


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")


def _jumps(count: int, where: str) -> str:
    if count == 0:
        return "no jumps: your clip plays on as it was"
    return f"{count} jump{'s' if count != 1 else ''} within your clip, {where}"


def summary(info: dict[str, Any]) -> str:
    """One line a person reads, from a result's info dict: what the music is (tempo, metre)
    or how it was made, how many times it jumps within the seed, and how fast it was made.

    e.g. "126 BPM, 4/4 · 4 jumps within your clip, each on the same beat of the bar · made
    in 0.05 s, 200× faster than real time · random seed 7"."""
    parts: list[str] = []
    if info.get("render") == "synth":
        parts.append(f"{_number(info.get('new_seconds', 0.0))} s of new sound synthesized "
                     "from the model's codes")
    else:
        mode, bpm = info.get("beat_mode"), info.get("tempo_bpm")
        jumps = int(info.get("jumps", 0))
        if mode == "bar":
            parts.append(f"{bpm:.0f} BPM, {info.get('beats_per_bar', 4)}/4")
            parts.append(_jumps(jumps, "each on the same beat of the bar"))
        elif mode == "beat":
            parts.append(f"{bpm:.0f} BPM (no clear bar)")
            parts.append(_jumps(jumps, "each on a beat"))
        else:
            parts.append("no steady beat found")
            parts.append(_jumps(jumps, "where the sound matches best"))
    total = info.get("timings", {}).get("total_s")
    if total is not None:
        speed = info.get("real_time_factor", 0.0)
        made = f"made in {total:.2f} s" if total < 1 else f"made in {total:.1f} s"
        parts.append(f"{made}, {_number(speed)}× faster than real time" if speed >= 1
                     else f"{made}, {speed:.1f}× real time")
    if "random_seed" in info:
        parts.append(f"random seed {info['random_seed']}")
    return " · ".join(parts)


def result_info(result: GenerationResult) -> dict[str, Any]:
    """The info panel: a one-line summary, random seed, model, timings, speed, beat mode and
    tempo first."""
    info = {"random_seed": result.random_seed, **result.info}
    info["summary"] = summary(info)
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


def _records(paths: Sequence[Path]) -> dict[Path, dict[str, Any]]:
    """The entries of each folder's examples.json (title, artist, package, licence ...)."""
    records: dict[Path, dict[str, Any]] = {}
    for folder in dict.fromkeys(Path(p).parent for p in paths):
        record = folder / "examples.json"
        if record.is_file():
            for entry in json.loads(record.read_text(encoding="utf-8")):
                records[folder / entry["file"]] = entry
    return records


def example_labels(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """The page's examples, real music first: clips recorded in their folder's
    examples.json are labelled "Title – Artist" in that file's order (Gradio cuts longer
    labels); any other clip (the synthesized test tones) follows, labelled by its name."""
    paths = [Path(p) for p in paths]
    records = _records(paths)
    real = [p for p in records if p in paths]
    other = [p for p in paths if p not in records]
    labels = [f"{records[p]['title']} – {records[p]['artist']}" for p in real]
    labels += [f"synthesized: {p.stem}" for p in other]
    return real + other, labels


def example_credits(paths: Sequence[Path]) -> str:
    """Markdown lines beside the examples: each real clip's title, artist, package, licence."""
    records = _records(paths)
    return "\n".join(f"- *{r['title']}* – {r['artist']} · `{r['package']}` · {r['licence']}"
                      for p, r in records.items() if p in [Path(q) for q in paths])


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
