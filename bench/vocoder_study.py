"""The vocoder's quality against its iterations, next to the librosa Griffin-Lim it replaced
(part of `python -m bench.generation`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import median, timed


def _librosa_griffin_lim(magnitude, analyzer, iterations, momentum, rng, init_phase=None):
    """The vocoder before this work: full-signal fast Griffin-Lim on librosa.stft/istft."""
    import librosa

    c = analyzer.config
    bins, frames = magnitude.shape
    angles = np.exp(2j * np.pi * rng.random((bins, frames))).astype(np.complex64)
    length = (frames - 1) * c.hop_length
    previous = np.zeros_like(angles)
    alpha = momentum / (1.0 + momentum)
    args = dict(hop_length=c.hop_length, n_fft=c.n_fft, window=analyzer.window, center=True,
                length=length)
    for _ in range(iterations):
        audio = librosa.istft(magnitude * angles, **args)
        rebuilt = analyzer.stft(audio)[:, :frames]
        angles = rebuilt - alpha * previous
        previous = rebuilt
        angles = angles / (np.abs(angles) + 1e-8)
    return librosa.istft(magnitude * angles, **args).astype(np.float32)


def vocoder_study(generator, audio_path: Path, seconds: float, iterations: list[int],
                  repeats: int) -> dict[str, Any]:
    """Spectral convergence ||S - |STFT(x)||| / ||S|| and time against Griffin-Lim
    iterations, on the codec's decoding of a real clip (S = the decoded mel's magnitude)."""
    import dataclasses

    from musicgen.audio import load_audio, normalise_loudness
    from musicgen.generate import GenerateOptions
    from musicgen.vocoder import griffin_lim, spectral_convergence

    codec, analyzer = generator.codec, generator.codec.analyzer
    audio = load_audio(str(audio_path), generator.sample_rate, max_seconds=seconds)
    audio = normalise_loudness(audio, codec.features.loudness_dbfs)
    log_mel = analyzer.log_mel(audio)
    decoded = codec.decode(codec.encode_mel(log_mel))
    magnitude = analyzer.log_mel_to_magnitude(decoded)
    base = GenerateOptions().vocoder
    rows = []
    for n in iterations:
        row: dict[str, Any] = {"iterations": n}
        for label, block in (("blocks", base.block_seconds), ("whole", 0.0)):
            config = dataclasses.replace(base, iterations=n, block_seconds=block)
            out = griffin_lim(magnitude, analyzer, config, np.random.default_rng(0))
            row[f"sc_{label}"] = spectral_convergence(magnitude, out, analyzer)
            row[f"time_{label}_s"] = median(timed(
                lambda c=config: griffin_lim(magnitude, analyzer, c, np.random.default_rng(0)),
                repeats))
        rows.append(row)
    old = _librosa_griffin_lim(magnitude, analyzer, base.iterations, base.momentum,
                               np.random.default_rng(0))
    before = {
        "iterations": base.iterations,
        "sc": spectral_convergence(magnitude, old, analyzer),
        "time_s": median(timed(lambda: _librosa_griffin_lim(
            magnitude, analyzer, base.iterations, base.momentum, np.random.default_rng(0)),
            repeats)),
    }
    return {"clip": str(audio_path), "seconds": len(audio) / generator.sample_rate,
            "frames": int(magnitude.shape[1]), "default_iterations": base.iterations,
            "rows": rows, "librosa_before": before}
