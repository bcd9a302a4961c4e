"""Pulse and tempo: does a continuation keep the seed's beat?"""

from __future__ import annotations

import librosa
import numpy as np
import scipy.ndimage

from musicgen.metrics.frames import _mono, frame_params

# A pulse at least this clear (the normalised onset autocorrelation at the beat period) is
# steady enough to jump on (the seed renderer) and to judge a tempo by (`evaluate`).
CLEAR_PULSE = 0.25
_PULSE_FLOOR = 0.3


def periodicity(envelope: np.ndarray, min_lag: int, max_lag: int, floor: float = 0.0) -> float:
    """How clearly an onset envelope recurs: the peak of its normalised autocorrelation over
    lags `min_lag..max_lag` (frames), 0 for a flat envelope.

    The envelope's mean is removed and the biased autocorrelation divided by its lag-0 value,
    or by `floor` onset units RMS when that is larger (so that a steady sound's tiny ripple
    does not normalise up to a "clear" pulse). The envelope's dtype is kept.
    """
    centred = envelope - envelope.mean()
    auto = np.correlate(centred, centred, "full")[len(centred) - 1:]
    denom = max(auto[0], len(centred) * floor**2)
    return float(auto[min_lag:max_lag + 1].max() / denom) if denom > 0 else 0.0


def pulse_clarity(
    audio: np.ndarray, sr: int, min_lag_s: float = 0.25, max_lag_s: float = 2.0
) -> float:
    """Peak of the normalised onset-strength autocorrelation over lags 0.25-2 s.

    Why: music with a steady beat has onsets that recur at a fixed period, giving a strong
    autocorrelation peak (~1 for a click track); noise or unpulsed drift gives ~0.
    Steps: ``librosa.onset.onset_strength`` (shared frame settings), Gaussian smoothing with
    sigma = 1 frame (23 ms) so a beat period that is not a whole number of frames still
    lines up, then :func:`periodicity` with a floor of 0.3 onset units RMS, so a steady drone
    scores ~0 rather than amplifying its ripple. ``nan`` when the clip is too short for
    ``min_lag_s``.
    """
    y = _mono(audio)
    n_fft, hop = frame_params(sr)
    if y.size < n_fft:
        return float("nan")
    env = librosa.onset.onset_strength(y=y, sr=sr, n_fft=n_fft, hop_length=hop)
    env = scipy.ndimage.gaussian_filter1d(env.astype(np.float64), sigma=1.0, mode="nearest")
    n = env.size
    lo = max(1, int(np.ceil(min_lag_s * sr / hop)))
    hi = min(int(np.floor(max_lag_s * sr / hop)), n - 1)
    if hi < lo:
        return float("nan")
    return periodicity(env, lo, hi, _PULSE_FLOOR)


def tempo(audio: np.ndarray, sr: int) -> float:
    """Global tempo in BPM via ``librosa.feature.tempo`` on the onset envelope.

    Why: a continuation should keep the seed's tempo. The onset envelope uses a hop of a
    quarter of the shared hop (5.8 ms) so the tempogram's integer lags resolve tempo to
    ~0.3% at 120 BPM instead of ~2.5%. librosa's default log-normal prior around 120 BPM is
    kept. Returns 0.0 when the clip has no onsets.
    """
    y = _mono(audio)
    n_fft, hop = frame_params(sr)
    if y.size < n_fft:
        return 0.0
    fine_hop = max(1, hop // 4)
    env = librosa.onset.onset_strength(y=y, sr=sr, n_fft=n_fft, hop_length=fine_hop)
    if not np.any(env > 0):
        return 0.0
    return float(librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=fine_hop)[0])


def tempo_kept(
    seed_tempo: float, out_tempo: float, tolerance: float = 0.08, allow_octave: bool = False
) -> bool:
    """True when ``out_tempo`` is within ``tolerance`` (relative) of ``seed_tempo``.

    With ``allow_octave`` half and double the seed tempo also count, since beat trackers
    often pick the other metrical level.
    """
    if seed_tempo <= 0 or out_tempo <= 0:
        return False
    targets = [seed_tempo, seed_tempo / 2, seed_tempo * 2] if allow_octave else [seed_tempo]
    return any(abs(out_tempo - t) <= tolerance * t for t in targets)
