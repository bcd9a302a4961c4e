"""Repetition: loops in the audio, verbatim copies of the seed's codes, how often it jumps."""

from __future__ import annotations

import numpy as np

from musicgen.metrics.frames import _mono, frame_params, log_mel_db


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


def jumps_per_10s(n_jumps: int, seconds: float) -> float:
    """Rate of jumps (e.g. seams or discontinuities) per 10 s, so clips of any length compare."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return 10.0 * n_jumps / seconds
