"""Transitions between beats, judged from audio alone: what the model should get right.

``jarring_share(new, seed, sr)``: beats are tracked on each clip, chroma and log-mel are
averaged per beat, and each pair of consecutive beats gets two changes: the cosine distance
of the beat chroma and the mean |dB| difference of the beat log-mel. A transition of the new
audio is *jarring* when either change exceeds the 95th percentile of the seed's own
beat-to-beat changes. A model that knows what follows in music should lower it; costs that
only look at the join cannot see a change of harmony a beat later.

``audibly_different(a, b, sr)``: what "two outputs of the same request differ" means (for
"every Generate sounds new").
"""

from __future__ import annotations

import librosa
import numpy as np

from musicgen.metrics.frames import _mono, frame_params, log_mel_db

_FALLBACK_BEAT_S = 0.5  # clips with no trackable beat are cut into 0.5 s pieces


def _beat_frames(y: np.ndarray, sr: int, hop: int, n_frames: int) -> np.ndarray | None:
    """Beat positions in frames (librosa beat tracker), or None when fewer than 4 beats."""
    env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop)
    _, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=hop)
    beats = np.unique(np.asarray(beats, np.int64))
    beats = beats[(beats >= 0) & (beats < n_frames)]
    return beats if len(beats) >= 4 else None


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - cosine similarity along the last axis (broadcasting); 1 where either vector is
    silent, so a change into or out of silence counts as a full change."""
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return np.where(norms > 1e-12, 1.0 - np.sum(a * b, -1) / np.maximum(norms, 1e-12), 1.0)


def beat_changes(audio: np.ndarray, sr: int, period_s: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(chroma cosine distance, log-mel mean |dB|) between consecutive beats of ``audio``.

    Segments run from one beat to the next (the partial pieces before the first and after
    the last beat are left out). With ``period_s`` the clip is cut on a fixed grid of that
    period instead of tracked beats. Returns two arrays of length (segments - 1); empty when
    the clip is too short.
    """
    y = _mono(audio)
    n_fft, hop = frame_params(sr)
    if y.size < 4 * n_fft:
        return np.zeros(0), np.zeros(0)
    mel = log_mel_db(y, sr, n_fft, hop)
    # Same chroma as sound.chroma_similarity: 186 ms window, A440, max-normalised frames.
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=4 * n_fft, hop_length=hop,
                                         tuning=0.0, norm=np.inf)
    n = min(mel.shape[1], chroma.shape[1])
    mel, chroma = mel[:, :n], chroma[:, :n]
    if period_s is None:
        bounds = _beat_frames(y, sr, hop, n)
        if bounds is None:
            return np.zeros(0), np.zeros(0)
    else:
        step = max(1, round(period_s * sr / hop))
        bounds = np.arange(0, n + 1, step)
    if len(bounds) < 3:
        return np.zeros(0), np.zeros(0)
    c = np.stack([chroma[:, a:b].mean(1) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    m = np.stack([mel[:, a:b].mean(1) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    cos_dist = cosine_distance(c[1:], c[:-1])
    mel_db = np.mean(np.abs(m[1:] - m[:-1]), axis=1)
    return cos_dist, mel_db


def jarring_share(new: np.ndarray, seed: np.ndarray, sr: int, percentile: float = 95.0) -> float:
    """Share of the new audio's beat-to-beat transitions that are jarring for this seed.

    Why: a continuation that changes harmony or texture more abruptly than the seed itself
    ever does sounds spliced, whatever its pulse. The thresholds are the seed's own
    ``percentile`` (95th) of beat-to-beat chroma and log-mel change, so the measure adapts
    to busy and calm music alike; the seed itself scores about 0.05-0.10 (union of two 5%
    tails). When either clip has fewer than 4 trackable beats both are cut on a fixed 0.5 s
    grid instead. ``nan`` when either clip is too short to give 3 transitions.
    """
    seed_c, seed_m = beat_changes(seed, sr)
    new_c, new_m = beat_changes(new, sr)
    if len(seed_c) < 3 or len(new_c) < 3:
        seed_c, seed_m = beat_changes(seed, sr, _FALLBACK_BEAT_S)
        new_c, new_m = beat_changes(new, sr, _FALLBACK_BEAT_S)
    if len(seed_c) < 3 or len(new_c) < 3:
        return float("nan")
    limit_c = np.percentile(seed_c, percentile)
    limit_m = np.percentile(seed_m, percentile)
    return float(np.mean((new_c > limit_c) | (new_m > limit_m)))


def audibly_different(a: np.ndarray, b: np.ndarray, sr: int, db: float = 2.0,
                      min_seconds: float = 0.25) -> bool:
    """True when two clips of the same request differ audibly.

    Not bit-identical, and at least ``min_seconds`` of 23 ms frames whose log-mel (64 bands,
    dB re full scale) differs by more than ``db`` mean |dB|. Two renders that differ only in
    a crossfade's last samples, or in float rounding, count as the same.
    """
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    if np.array_equal(a, b):
        return False
    _, hop = frame_params(sr)
    diff = np.mean(np.abs(log_mel_db(a, sr) - log_mel_db(b, sr)), axis=0)
    return bool(np.sum(diff > db) * hop / sr >= min_seconds)
