"""Audio through the codec and back, by the functions render="synth" uses, to hear its ceiling.

The synthesized path can sound no better than codes that were predicted perfectly: this is
that case. Encoder (`Codec.latents`), residual quantizer (`quantize`), decoder
(`Codec.decode`) and vocoder (`MelAnalyzer.log_mel_to_magnitude` + Griffin-Lim blocks) are
the very calls the synth renderer makes, so what `python -m musicgen codec` writes is what
the codes can carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicgen.audio import normalise_loudness
from musicgen.codec import Codec, quantize
from musicgen.errors import InputError
from musicgen.mixing import rms
from musicgen.vocoder import VocoderConfig, griffin_lim


@dataclass(frozen=True)
class RoundTrip:
    """What to keep of the codec: `levels` first residual levels, or no quantizer at all."""

    levels: int | None = None  # None: all of them
    quantized: bool = True

    def validate(self, codec: Codec) -> None:
        total = codec.config.levels
        if self.levels is not None and not 1 <= self.levels <= total:
            raise InputError(f"levels must be 1..{total} for this codec, got {self.levels}")
        if self.levels is not None and not self.quantized:
            raise InputError("levels picks quantizer levels: it cannot be used without one")


def round_trip_mel(codec: Codec, log_mel: np.ndarray, how: RoundTrip = RoundTrip()
                   ) -> np.ndarray:
    """log-mel dB [frames, n_mels] -> encoded, (quantized,) decoded log-mel, same frames."""
    how.validate(codec)
    latents = codec.latents(log_mel)
    if how.quantized:
        decoded = codec.decode(quantize(latents, codec.codebooks), levels=how.levels)
    else:
        decoded = codec.decode_latents(latents)
    return decoded[: len(log_mel)]


def vocode(codec: Codec, log_mel: np.ndarray, config: VocoderConfig,
           rng: np.random.Generator) -> np.ndarray:
    """log-mel dB -> audio with the synth renderer's vocoder ((frames - 1) * hop samples)."""
    magnitude = codec.analyzer.log_mel_to_magnitude(log_mel)
    return griffin_lim(magnitude, codec.analyzer, config, rng)


def round_trip_audio(codec: Codec, audio: np.ndarray, how: RoundTrip = RoundTrip(),
                     config: VocoderConfig | None = None, random_seed: int = 0
                     ) -> tuple[np.ndarray, float]:
    """Mono audio at the codec's rate -> (its round trip at the input's level, mel RMSE dB).

    The codec hears audio levelled as in training (and as a seed is); the output is scaled
    back so input and output can be compared by ear.
    """
    how.validate(codec)
    levelled = normalise_loudness(audio, codec.features.loudness_dbfs)
    log_mel = codec.analyzer.log_mel(levelled)
    decoded = round_trip_mel(codec, log_mel, how)
    rmse = float(np.sqrt(np.mean((decoded - log_mel) ** 2)))
    out = vocode(codec, decoded, config or VocoderConfig(), np.random.default_rng(random_seed))
    out = out[: len(audio)]
    level = rms(out)
    if level > 1e-9:
        out = out * (rms(audio) / level)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 0.99:
        out = out * (0.99 / peak)
    return out.astype(np.float32), rmse
