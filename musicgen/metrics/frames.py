"""The feature settings every metric shares, chosen once so that all agree on a "frame".

* STFT frames: ``hop = round(512 * sr / 22050)`` samples (23.2 ms at any rate) and
  ``n_fft = 2 * hop`` (46.4 ms), Hann window, centred frames (``librosa`` default padding).
* Log-mel: 64 mel bands (``librosa.filters.mel`` with ``norm=None``, so each triangle peaks
  at 1), power normalised so that a full-scale sine at a band centre reads 0 dB, then
  ``10*log10`` with a floor of -80 dB. An absolute (full-scale) reference rather than the
  clip's own maximum keeps two clips' dB values comparable.
* Audible frame: frame RMS (same framing) above -50 dBFS, where 0 dBFS is an RMS of 1.0.
  Silence and fade-outs are left out so that they neither look "static" nor dilute changes.
"""

from __future__ import annotations

import librosa
import numpy as np

N_MELS = 64
FLOOR_DB = -80.0
AUDIBLE_DBFS = -50.0
_REF_SR = 22050
_REF_HOP = 512
_EPS = 1e-12


def _mono(audio: np.ndarray) -> np.ndarray:
    """Return audio as a contiguous 1-D float32 array; reject shapes a metric cannot read."""
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono audio of shape [n], got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("audio contains NaN or infinite samples")
    return np.ascontiguousarray(y)


def frame_params(sr: int) -> tuple[int, int]:
    """(n_fft, hop) for ``sr``: 1024/512 at 22050 Hz, scaled so frames last the same time."""
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    hop = max(1, round(_REF_HOP * sr / _REF_SR))
    return 2 * hop, hop


def log_mel_db(
    audio: np.ndarray, sr: int, n_fft: int | None = None, hop: int | None = None
) -> np.ndarray:
    """Log-mel spectrogram [N_MELS, frames] in dB re a full-scale sine, floored at -80 dB."""
    y = _mono(audio)
    d_fft, d_hop = frame_params(sr)
    n_fft = d_fft if n_fft is None else n_fft
    hop = d_hop if hop is None else hop
    mel = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=N_MELS, power=2.0, norm=None
    )
    # A full-scale sine has STFT magnitude sum(hann)/2 = n_fft/4 at its bin.
    mel = mel / (n_fft / 4.0) ** 2
    return np.maximum(10.0 * np.log10(np.maximum(mel, _EPS)), FLOOR_DB)


def _audible(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Boolean per STFT frame: RMS above AUDIBLE_DBFS (same centred framing as the STFT)."""
    rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop, center=True)[0]
    return 20.0 * np.log10(np.maximum(rms, _EPS)) > AUDIBLE_DBFS
