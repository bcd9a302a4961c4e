"""How the sound moves and what it is made of: change, stillness, silence, key, noisiness."""

from __future__ import annotations

import librosa
import numpy as np

from musicgen.metrics.frames import _EPS, _audible, _mono, frame_params, log_mel_db


def _lagged_change(audio: np.ndarray, sr: int, window_s: float) -> np.ndarray:
    """Per-frame mean |dB| change between each frame and the frame window_s later.

    Only pairs where at least one of the two frames is audible are returned: a note that
    stops counts as a change, two silent frames count as nothing.
    """
    if window_s <= 0:
        raise ValueError(f"window_s must be positive, got {window_s}")
    y = _mono(audio)
    n_fft, hop = frame_params(sr)
    if y.size < n_fft:
        return np.zeros(0)
    db = log_mel_db(y, sr, n_fft, hop)
    aud = _audible(y, n_fft, hop)[: db.shape[1]]
    lag = max(1, round(window_s * sr / hop))
    if db.shape[1] <= lag:
        return np.zeros(0)
    diff = np.mean(np.abs(db[:, lag:] - db[:, :-lag]), axis=0)
    keep = aud[lag:] | aud[:-lag]
    return diff[keep]


def static_share(
    audio: np.ndarray, sr: int, window_s: float = 0.5, threshold_db: float = 1.5
) -> float:
    """Fraction of audible frames whose log-mel barely changes over ``window_s``.

    Why: a prior that collapses to a drone or a held chord keeps the spectrum still; this is
    ~1.0 for a held sine and low for music whose notes move. Mean absolute dB difference over
    the 64 bands between a frame and the frame 0.5 s later below ``threshold_db`` counts as
    static. ``nan`` when the clip is shorter than ``window_s`` or silent.
    """
    d = _lagged_change(audio, sr, window_s)
    return float(np.mean(d < threshold_db)) if d.size else float("nan")


def change_db(audio: np.ndarray, sr: int, window_s: float = 0.5) -> float:
    """Mean absolute log-mel difference (dB) between audible frames ``window_s`` apart.

    Why: "how much the music moves"; compare generated vs true continuation as a ratio.
    ``nan`` when the clip is shorter than ``window_s`` or silent.
    """
    d = _lagged_change(audio, sr, window_s)
    return float(np.mean(d)) if d.size else float("nan")


def silent_fraction(audio: np.ndarray, sr: int, threshold_dbfs: float = -50.0) -> float:
    """Fraction of non-overlapping 50 ms frames whose RMS is below ``threshold_dbfs``.

    Why: a generator that fades to silence should not score well on the other metrics by
    saying nothing. A trailing partial frame counts like a full one. ``nan`` for empty audio.
    """
    y = _mono(audio).astype(np.float64)
    if y.size == 0:
        return float("nan")
    frame = max(1, round(0.05 * sr))
    n_full = y.size // frame
    ms = [np.mean(y[: n_full * frame].reshape(n_full, frame) ** 2, axis=1)] if n_full else []
    if y.size > n_full * frame:
        ms.append(np.array([np.mean(y[n_full * frame :] ** 2)]))
    dbfs = 10.0 * np.log10(np.maximum(np.concatenate(ms), _EPS))
    return float(np.mean(dbfs < threshold_dbfs))


def _mean_chroma(audio: np.ndarray, sr: int) -> np.ndarray | None:
    y = _mono(audio)
    n_fft, hop = frame_params(sr)
    if y.size < 4 * n_fft:
        return None
    # 4x longer window than the other features (186 ms): STFT bins of 5.4 Hz resolve
    # semitones down to about C3. tuning=0 assumes A440 instead of estimating it per clip.
    chroma = librosa.feature.chroma_stft(
        y=y, sr=sr, n_fft=4 * n_fft, hop_length=hop, tuning=0.0, norm=np.inf
    )
    aud = _audible(y, 4 * n_fft, hop)[: chroma.shape[1]]
    if not np.any(aud):
        return None
    return chroma[:, aud].mean(axis=1)


def chroma_similarity(a: np.ndarray, b: np.ndarray, sr: int) -> float:
    """Cosine similarity of the time-averaged chroma of two clips (``chroma_stft``).

    Why: checks that a continuation stays in the seed's key/harmony without caring about
    timing. Each audible frame's chroma is max-normalised (librosa default) before averaging
    so loud passages do not dominate. ``nan`` when either clip has no audible frame or is
    shorter than the 186 ms chroma window.
    """
    ca, cb = _mean_chroma(a, sr), _mean_chroma(b, sr)
    if ca is None or cb is None:
        return float("nan")
    denom = float(np.linalg.norm(ca) * np.linalg.norm(cb))
    return float(np.dot(ca, cb) / denom) if denom > 0 else float("nan")


def spectral_flatness(audio: np.ndarray, sr: int) -> float:
    """Median ``librosa.feature.spectral_flatness`` (power spectrum) over audible frames.

    Why: noise-like output (a collapsed decoder hiss) is flat (~0.5 for white noise), tonal
    music is not (<0.05). ``nan`` when no frame is audible or the clip is under one frame.
    """
    y = _mono(audio)
    n_fft, hop = frame_params(sr)
    if y.size < n_fft:
        return float("nan")
    flat = librosa.feature.spectral_flatness(y=y, n_fft=n_fft, hop_length=hop, center=True)[0]
    aud = _audible(y, n_fft, hop)[: flat.size]
    return float(np.median(flat[aud])) if np.any(aud) else float("nan")
