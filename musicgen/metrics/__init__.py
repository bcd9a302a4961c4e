"""Statistics of generated audio and codes, used to judge a continuation against the truth.

Every function is pure: it takes mono float audio (full scale = 1.0) at sample rate ``sr``
and returns a number, so the same code scores generated and true continuations alike and
callers can compare them (usually as a ratio or a difference). The frame settings they share
are in :mod:`musicgen.metrics.frames`.

Metrics that are undefined for an input (no audible frames, too short) return ``nan``
rather than a made-up value; the docstrings say when.
"""

from musicgen.metrics.frames import AUDIBLE_DBFS, FLOOR_DB, N_MELS, frame_params, log_mel_db
from musicgen.metrics.repetition import jumps_per_10s, longest_verbatim_run, loop_share
from musicgen.metrics.rhythm import CLEAR_PULSE, periodicity, pulse_clarity, tempo, tempo_kept
from musicgen.metrics.seams import splice_excess_values
from musicgen.metrics.sound import (
    change_db,
    chroma_similarity,
    silent_fraction,
    spectral_flatness,
    static_share,
)
from musicgen.metrics.transitions import audibly_different, beat_changes, jarring_share

__all__ = [
    "AUDIBLE_DBFS",
    "CLEAR_PULSE",
    "FLOOR_DB",
    "N_MELS",
    "audibly_different",
    "beat_changes",
    "change_db",
    "chroma_similarity",
    "frame_params",
    "jarring_share",
    "jumps_per_10s",
    "log_mel_db",
    "longest_verbatim_run",
    "loop_share",
    "periodicity",
    "pulse_clarity",
    "silent_fraction",
    "spectral_flatness",
    "splice_excess_values",
    "static_share",
    "tempo",
    "tempo_kept",
]
