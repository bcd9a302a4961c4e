"""Statistics of generated audio and codes, used to judge a continuation against the truth.

Every function is pure: it takes mono float audio (full scale = 1.0) at sample rate ``sr``
and returns a number, so the same code scores generated and true continuations alike and
callers can compare them (usually as a ratio or a difference).

Shared feature settings (chosen once here so that all metrics agree on what a "frame" is):

* STFT frames: ``hop = round(512 * sr / 22050)`` samples (23.2 ms at any rate) and
  ``n_fft = 2 * hop`` (46.4 ms), Hann window, centred frames (``librosa`` default padding).
* Log-mel: 64 mel bands (``librosa.filters.mel`` with ``norm=None``, so each triangle peaks
  at 1), power normalised so that a full-scale sine at a band centre reads 0 dB, then
  ``10*log10`` with a floor of -80 dB. An absolute (full-scale) reference rather than the
  clip's own maximum keeps two clips' dB values comparable.
* Audible frame: frame RMS (same framing) above -50 dBFS, where 0 dBFS is an RMS of 1.0.
  Silence and fade-outs are left out so that they neither look "static" nor dilute changes.

Metrics that are undefined for an input (no audible frames, too short) return ``nan``
rather than a made-up value; the docstrings say when.
"""

from __future__ import annotations

from collections.abc import Sequence

import librosa
import numpy as np
import scipy.ndimage
import scipy.signal

__all__ = [
    "AUDIBLE_DBFS",
    "FLOOR_DB",
    "N_MELS",
    "change_db",
    "chroma_similarity",
    "frame_params",
    "log_mel_db",
    "longest_verbatim_run",
    "loop_share",
    "jumps_per_10s",
    "pulse_clarity",
    "seam_excess_db",
    "seam_excess_values",
    "silent_fraction",
    "spectral_flatness",
    "static_share",
    "tempo",
    "tempo_kept",
]

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


_PULSE_FLOOR = 0.3


def pulse_clarity(
    audio: np.ndarray, sr: int, min_lag_s: float = 0.25, max_lag_s: float = 2.0
) -> float:
    """Peak of the normalised onset-strength autocorrelation over lags 0.25-2 s.

    Why: music with a steady beat has onsets that recur at a fixed period, giving a strong
    autocorrelation peak (~1 for a click track); noise or unpulsed drift gives ~0.
    Steps: ``librosa.onset.onset_strength`` (shared frame settings), Gaussian smoothing with
    sigma = 1 frame (23 ms) so a beat period that is not a whole number of frames still
    lines up, mean removal, biased autocorrelation divided by its lag-0 value (or by a floor
    of 0.3 onset units RMS, whichever is larger, so a steady drone scores ~0 rather than
    amplifying its ripple). ``nan`` when the clip is too short for ``min_lag_s``.
    """
    y = _mono(audio)
    n_fft, hop = frame_params(sr)
    if y.size < n_fft:
        return float("nan")
    env = librosa.onset.onset_strength(y=y, sr=sr, n_fft=n_fft, hop_length=hop)
    env = scipy.ndimage.gaussian_filter1d(env.astype(np.float64), sigma=1.0, mode="nearest")
    env = env - env.mean()
    n = env.size
    lo = max(1, int(np.ceil(min_lag_s * sr / hop)))
    hi = min(int(np.floor(max_lag_s * sr / hop)), n - 1)
    if hi < lo:
        return float("nan")
    spec = np.fft.rfft(env, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec), 2 * n)[:n]
    # Floor on the lag-0 power: an envelope that varies by less than _PULSE_FLOOR (onset
    # units, mean positive dB flux per frame) is a steady sound, not a weak pulse; without
    # this a drone's tiny periodic leakage ripple would normalise up to a "clear" pulse.
    denom = max(float(ac[0]), n * _PULSE_FLOOR**2)
    return float(np.max(ac[lo : hi + 1]) / denom)


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


def loop_share(
    audio: np.ndarray,
    sr: int,
    window_s: float = 0.74,
    hop_s: float | None = None,
    threshold_db: float = 1.5,
) -> float:
    """Fraction of ``window_s`` windows that repeat an earlier, non-overlapping window.

    Why: a prior stuck in a loop replays the same few bars. Query windows start every
    ``hop_s`` (default ``window_s / 2``); each is compared with *every* earlier window that
    ends before it starts, at frame resolution, so a loop of any period is found.

    Features: log-mel as elsewhere (64 bands, dB re full scale) but with a 93 ms window
    and a 5.8 ms hop (at 22050 Hz; both scale with ``sr``), so a loop whose period is not a
    whole number of hops is at most 2.9 ms out of step, which the long window smooths
    over. Cells (band, frame) are floored at -60 dB (20 dB above the shared floor) and
    compared on every 4th frame of the window (23 ms apart). Distance: RMS dB difference
    per active cell, the active-cell count being the mean of the two windows' counts of
    cells above the floor; cells silent in both carry no information and would make any two
    sparse windows look alike. RMS rather than mean absolute difference because it expands
    into sums of products, so one matrix product per query window scores every candidate
    offset at once.

    Threshold: two windows repeat when the distance is below ``threshold_db`` = 1.5 dB.
    Measured on synthetic signals: verbatim repeats up to half a hop out of step score
    0-1.2 dB, two windows of the same white noise 2.1-2.4 dB, different notes 10-25 dB; so
    only near-verbatim replay counts as a loop, not merely "similar texture". A held drone
    also repeats itself (~1.0); read this together with ``static_share``. Windows with no
    earlier candidate and inaudible windows are not counted; ``nan`` when no window can be
    scored. Cost is quadratic in length: about 1 s for 60 s of audio.
    """
    if window_s <= 0:
        raise ValueError(f"window_s must be positive, got {window_s}")
    hop_s = window_s / 2 if hop_s is None else hop_s
    if hop_s <= 0:
        raise ValueError(f"hop_s must be positive, got {hop_s}")
    y = _mono(audio)
    _, hop = frame_params(sr)
    fine_hop = max(1, hop // 4)
    if y.size < 16 * fine_hop:
        return float("nan")
    x = log_mel_db(y, sr, n_fft=16 * fine_hop, hop=fine_hop)
    x = (np.maximum(x, -60.0) + 60.0).astype(np.float32)  # 0 = inactive cell
    n = x.shape[1]
    w = max(1, round(window_s * sr / fine_hop))
    step = max(1, round(hop_s * sr / fine_hop))
    n_win = n - w + 1
    if n_win <= w:
        return float("nan")
    # Cells are compared on every 4th frame of a window (23 ms apart, still 4x finer than
    # the 93 ms analysis window) while candidate offsets keep the full 5.8 ms resolution.
    sub = 4
    taps = np.arange(0, w, sub)
    e = np.sum(x.astype(np.float64) ** 2, axis=0)
    a = np.sum(x > 0, axis=0).astype(np.float64)
    energy = np.zeros(n_win)
    count = np.zeros(n_win)
    for k in taps:  # per window start: sums over its sampled frames
        energy += e[k : k + n_win]
        count += a[k : k + n_win]
    xt = np.ascontiguousarray(x.T)  # [n, bands]
    scored = 0
    repeats = 0
    for q in range(w, n_win, step):
        if count[q] == 0:
            continue
        n_ref = q - w + 1  # candidate starts 0..q-w end before frame q
        # gram[t, j] = <frame t, frame q+taps[j]>; cross[r] = sum_j gram[r+taps[j], j].
        gram = np.ascontiguousarray(xt[:q] @ xt[q + taps].T)
        s0, s1 = gram.strides
        diag = np.lib.stride_tricks.as_strided(
            gram, shape=(n_ref, taps.size), strides=(s0, sub * s0 + s1)
        )
        cross = diag.sum(axis=1, dtype=np.float64)
        sq = np.maximum(energy[q] + energy[:n_ref] - 2.0 * cross, 0.0)
        cells = np.maximum((count[q] + count[:n_ref]) / 2.0, 1.0)
        dist = np.sqrt(sq / cells)
        scored += 1
        repeats += bool(np.min(dist) < threshold_db)
    return repeats / scored if scored else float("nan")


def longest_verbatim_run(generated_codes: np.ndarray, seed_codes: np.ndarray) -> int:
    """Longest run of consecutive generated code steps that also occurs consecutively in the seed.

    Why: a prior that copies the seed verbatim has low loss but does not generate. A step
    matches only when all L levels are equal. Rows are [T, L] (1-D arrays mean L = 1).
    Longest common substring by O(T*S) dynamic programming, one NumPy row per generated step.
    """
    g = np.asarray(generated_codes)
    s = np.asarray(seed_codes)
    g = g[:, None] if g.ndim == 1 else g
    s = s[:, None] if s.ndim == 1 else s
    if g.ndim != 2 or s.ndim != 2:
        raise ValueError("codes must be [T, L] arrays")
    if g.shape[0] == 0 or s.shape[0] == 0:
        return 0
    if g.shape[1] != s.shape[1]:
        raise ValueError(f"level counts differ: {g.shape[1]} vs {s.shape[1]}")
    _, ids = np.unique(np.concatenate([g, s]), axis=0, return_inverse=True)
    ids = ids.reshape(-1)
    gi, si = ids[: g.shape[0]], ids[g.shape[0] :]
    prev = np.zeros(si.size + 1, dtype=np.int64)
    best = 0
    for code in gi:
        cur = np.zeros_like(prev)
        cur[1:] = np.where(si == code, prev[:-1] + 1, 0)
        best = max(best, int(cur.max()))
        prev = cur
    return best


_HIGHBAND_FLOOR = 1e-10  # -100 dBFS: keeps dB finite for band-limited audio


def _highband_db(
    audio: np.ndarray, sr: int, centres: Sequence[int], window_ms: float, cutoff_hz: float
) -> np.ndarray:
    """High-band (above cutoff) mean power in dBFS of a window centred at each sample index."""
    y = _mono(audio).astype(np.float64)
    if not 0 < cutoff_hz < sr / 2:
        raise ValueError(f"cutoff_hz must be in (0, {sr / 2}), got {cutoff_hz}")
    if window_ms <= 0:
        raise ValueError(f"window_ms must be positive, got {window_ms}")
    centres = np.asarray(centres, dtype=np.int64).reshape(-1)
    if y.size == 0:
        raise ValueError("audio is empty")
    if np.any((centres < 0) | (centres > y.size)):
        raise ValueError("a join/boundary lies outside the audio")
    # 4th-order Butterworth, run forwards and backwards: zero phase, so a click stays where
    # it happened instead of being smeared past the window.
    sos = scipy.signal.butter(4, cutoff_hz, btype="highpass", fs=sr, output="sos")
    try:
        hp = scipy.signal.sosfiltfilt(sos, y)
    except ValueError:  # shorter than the filter's padding
        hp = scipy.signal.sosfilt(sos, y)
    half = max(1, round(window_ms * 1e-3 * sr / 2))
    out = np.empty(centres.size)
    for i, c in enumerate(centres):
        seg = hp[max(0, c - half) : min(y.size, c + half)]
        out[i] = np.mean(seg**2) if seg.size else 0.0
    return 10.0 * np.log10(out + _HIGHBAND_FLOOR)


def seam_excess_values(
    audio: np.ndarray,
    sr: int,
    join_samples: Sequence[int],
    reference_audio: np.ndarray,
    reference_boundaries: Sequence[int],
    window_ms: float = 10.0,
    cutoff_hz: float = 4000.0,
) -> np.ndarray:
    """Per-join high-band energy (dB) above what the reference shows at its own boundaries.

    Why: joining separately rendered chunks can click; a click is a burst of energy above
    ~4 kHz. Each join's energy above ``cutoff_hz`` (4th-order zero-phase Butterworth) in a
    ``window_ms`` window centred on it, in dBFS (floor -100), minus the median of the same
    measure at ``reference_boundaries`` of ``reference_audio`` (same ``sr``): ~0 for a
    seamless join, clearly positive for a click.
    """
    if len(reference_boundaries) == 0:
        raise ValueError("need at least one reference boundary")
    ref = float(
        np.median(_highband_db(reference_audio, sr, reference_boundaries, window_ms, cutoff_hz))
    )
    if len(join_samples) == 0:
        return np.zeros(0)
    return _highband_db(audio, sr, join_samples, window_ms, cutoff_hz) - ref


def seam_excess_db(
    audio: np.ndarray,
    sr: int,
    join_samples: Sequence[int],
    reference_audio: np.ndarray,
    reference_boundaries: Sequence[int],
    window_ms: float = 10.0,
    cutoff_hz: float = 4000.0,
) -> float:
    """90th percentile of :func:`seam_excess_values`: do the worst joins click?

    The p90 rather than the mean, because a few audible clicks matter even if most joins
    are clean. ``nan`` when there are no joins.
    """
    vals = seam_excess_values(
        audio, sr, join_samples, reference_audio, reference_boundaries, window_ms, cutoff_hz
    )
    return float(np.percentile(vals, 90)) if vals.size else float("nan")


def jumps_per_10s(n_jumps: int, seconds: float) -> float:
    """Rate of jumps (e.g. seams or discontinuities) per 10 s, so clips of any length compare."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return 10.0 * n_jumps / seconds


def splice_excess_values(
    audio: np.ndarray,
    sr: int,
    join_samples: Sequence[int],
    source: np.ndarray,
    source_pairs: Sequence[tuple[int, int]],
    window_ms: float = 10.0,
    cutoff_hz: float = 4000.0,
) -> np.ndarray:
    """Per-join high-band energy (dB) above the seed's own at the two places the join connects.

    Why: a join of two pieces of the seed should sound like the seed does where it simply
    plays on (its natural unit boundaries). For each join, the reference is the seed's own
    high-band power (mean of the two) at the outgoing piece's end and the incoming piece's
    start, so a join that lands in a loud, bright passage is not blamed for the passage.
    """
    if len(join_samples) != len(source_pairs):
        raise ValueError("need one (outgoing, incoming) source pair per join")
    if len(join_samples) == 0:
        return np.zeros(0)
    out = _highband_db(audio, sr, join_samples, window_ms, cutoff_hz)
    last = len(source) - 1  # a piece may end exactly at the seed's end
    outgoing = _highband_db(source, sr, [min(p[0], last) for p in source_pairs], window_ms,
                            cutoff_hz)
    incoming = _highband_db(source, sr, [min(p[1], last) for p in source_pairs], window_ms,
                            cutoff_hz)
    reference = 10.0 * np.log10((10 ** (outgoing / 10) + 10 ** (incoming / 10)) / 2)
    return out - reference
