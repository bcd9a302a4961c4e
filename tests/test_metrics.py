"""Tests for musicgen.metrics on signals synthesised here, whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musicgen import metrics
from musicgen.toymusic import arpeggio, click_and_chords

SR = 22050


def _tone(freq: float, dur: float, sr: int = SR, decay: float | None = None) -> np.ndarray:
    """Harmonic tone (6 partials, 1/k^1.5) with an optional exponential decay."""
    t = np.arange(int(round(dur * sr))) / sr
    y = sum(np.sin(2 * np.pi * freq * k * t) / k**1.5 for k in range(1, 7) if freq * k < sr / 2)
    if decay is not None:
        y = y * np.exp(-t / decay)
    return np.asarray(y)


def _midi_hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


def _drone(dur: float = 6.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(dur * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _arpeggio(dur: float, seed: int) -> np.ndarray:
    """Random notes over two octaves, random lengths 0.15-0.4 s, plucked envelope."""
    rng = np.random.default_rng(seed)
    parts, n = [], 0
    while n < dur * SR:
        note = _tone(_midi_hz(rng.integers(55, 79)), rng.uniform(0.15, 0.4), decay=0.15)
        note *= np.minimum(1.0, np.arange(note.size) / (0.005 * SR))  # 5 ms attack
        parts.append(note)
        n += note.size
    y = np.concatenate(parts)[: int(dur * SR)]
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def _click_track(bpm: float = 120.0, dur: float = 8.0) -> np.ndarray:
    """Short decaying noise bursts every beat."""
    rng = np.random.default_rng(1)
    y = np.zeros(int(dur * SR))
    period = 60.0 / bpm
    for k in range(int(dur / period)):
        i = int(round(k * period * SR))
        n = min(441, y.size - i)
        y[i : i + n] += 0.5 * rng.standard_normal(n) * np.exp(-np.arange(n) / 60.0)
    return y.astype(np.float32)


def _noise(dur: float = 6.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(dur * SR))).astype(np.float32)


def _chord(midis: list[int], dur: float = 2.0) -> np.ndarray:
    return (0.2 * sum(_tone(_midi_hz(m), dur) for m in midis)).astype(np.float32)


# --- static_share / change_db -------------------------------------------------------------


def test_static_share_drone_high_arpeggio_low() -> None:
    assert metrics.static_share(_drone(), SR) > 0.95
    assert metrics.static_share(_arpeggio(6.0, seed=0), SR) < 0.1


def test_static_share_scales_with_sample_rate() -> None:
    assert metrics.static_share(_drone(3.0, sr=44100), 44100) > 0.95


def test_change_db_orders_drone_below_arpeggio() -> None:
    drone = metrics.change_db(_drone(), SR)
    arp = metrics.change_db(_arpeggio(6.0, seed=0), SR)
    assert drone < 0.5
    assert arp > 5.0


def test_static_metrics_nan_for_silence_and_short_clips() -> None:
    silence = np.zeros(SR * 2, dtype=np.float32)
    assert math.isnan(metrics.static_share(silence, SR))
    assert math.isnan(metrics.change_db(_drone(0.3), SR))


# --- silent_fraction ----------------------------------------------------------------------


def test_silent_fraction_counts_quiet_frames() -> None:
    y = np.concatenate([_drone(1.0), np.zeros(SR, dtype=np.float32), _drone(2.0)])
    assert metrics.silent_fraction(y, SR) == pytest.approx(0.25, abs=0.03)
    assert metrics.silent_fraction(_drone(), SR) == 0.0
    assert metrics.silent_fraction(1e-4 * _drone(), SR) == 1.0  # -89 dBFS


# --- chroma_similarity --------------------------------------------------------------------


def test_chroma_same_chord_beats_tritone_chord() -> None:
    c_major = _chord([60, 64, 67])
    c_major_voiced = _chord([48, 64, 67, 72])
    fs_major = _chord([66, 70, 73])
    same = metrics.chroma_similarity(c_major, c_major_voiced, SR)
    other = metrics.chroma_similarity(c_major, fs_major, SR)
    assert same > 0.85
    assert same > other + 0.4


# --- spectral_flatness --------------------------------------------------------------------


def test_flatness_noise_much_higher_than_tone() -> None:
    noise = metrics.spectral_flatness(_noise(3.0), SR)
    tone = metrics.spectral_flatness(_chord([60], 3.0), SR)
    assert noise > 0.3
    assert noise > 50 * tone


# --- pulse_clarity / tempo ----------------------------------------------------------------


def test_pulse_clarity_click_high_noise_and_drone_low() -> None:
    assert metrics.pulse_clarity(_click_track(), SR) > 0.7
    assert metrics.pulse_clarity(_noise(), SR) < 0.2
    assert metrics.pulse_clarity(_drone(), SR) < 0.2


def test_tempo_of_click_track() -> None:
    bpm = metrics.tempo(_click_track(120.0), SR)
    assert bpm == pytest.approx(120.0, rel=0.03)
    assert metrics.tempo(np.zeros(SR * 2, dtype=np.float32), SR) == 0.0


def test_tempo_kept() -> None:
    assert metrics.tempo_kept(120.0, 126.0)
    assert not metrics.tempo_kept(120.0, 131.0)
    assert not metrics.tempo_kept(120.0, 60.0)
    assert metrics.tempo_kept(120.0, 61.0, allow_octave=True)
    assert not metrics.tempo_kept(120.0, 0.0)


# --- loop_share ---------------------------------------------------------------------------


def test_loop_share_tiled_pattern_high_random_notes_low() -> None:
    pattern = _arpeggio(1.5, seed=3)
    tiled = np.tile(pattern, 8)  # 12 s
    # The windows that start before the first repeat (t < 1.5 s) cannot match.
    assert metrics.loop_share(tiled, SR) > 0.8
    assert metrics.loop_share(_arpeggio(12.0, seed=1), SR) < 0.05


def test_loop_share_noise_is_not_a_loop() -> None:
    assert metrics.loop_share(_noise(6.0), SR) < 0.05


def test_loop_share_finds_period_off_the_frame_grid() -> None:
    # 1.37 s period: not a multiple of the 5.8 ms analysis hop.
    pattern = _arpeggio(1.37, seed=9)
    assert metrics.loop_share(np.tile(pattern, 7), SR) > 0.75


# --- longest_verbatim_run -----------------------------------------------------------------


def test_longest_verbatim_run() -> None:
    seed = np.array([[1, 2], [3, 4], [5, 6], [7, 8], [9, 0]])
    gen = np.array([[9, 9], [3, 4], [5, 6], [7, 8], [1, 2], [3, 4]])
    assert metrics.longest_verbatim_run(gen, seed) == 3
    # One level differing breaks the run.
    gen2 = np.array([[3, 4], [5, 7], [7, 8], [9, 0]])
    assert metrics.longest_verbatim_run(gen2, seed) == 2
    assert metrics.longest_verbatim_run(np.array([[4, 3]]), seed) == 0
    assert metrics.longest_verbatim_run(seed, seed) == 5
    assert metrics.longest_verbatim_run(np.zeros((0, 2), int), seed) == 0
    assert metrics.longest_verbatim_run(np.array([1, 2, 3, 1, 2]), np.array([2, 3, 1])) == 3


def test_longest_verbatim_run_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        gen = rng.integers(0, 3, size=(rng.integers(1, 15), 1))
        seed = rng.integers(0, 3, size=(rng.integers(1, 15), 1))
        g, s = gen[:, 0].tolist(), seed[:, 0].tolist()
        best = max(
            (
                k
                for i in range(len(g))
                for j in range(len(s))
                for k in range(1, min(len(g) - i, len(s) - j) + 1)
                if g[i : i + k] == s[j : j + k]
            ),
            default=0,
        )
        assert metrics.longest_verbatim_run(gen, seed) == best


# --- splice excess (the click measure; behaviour on real joins is in test_units.py) --------


def test_splice_excess_checks_its_inputs() -> None:
    y = _drone(1.0)
    assert metrics.splice_excess_values(y, SR, [], y, []).size == 0
    with pytest.raises(ValueError):  # one source pair per join
        metrics.splice_excess_values(y, SR, [100], y, [])
    with pytest.raises(ValueError):  # a join outside the audio
        metrics.splice_excess_values(y, SR, [10 * SR], y, [(100, 200)])
    same = metrics.splice_excess_values(y, SR, [SR // 2], y, [(SR // 2, SR // 2)])
    assert abs(float(same[0])) < 1e-9  # a "join" that is the seed playing on: no excess


# --- helpers / input checks ---------------------------------------------------------------


def test_jumps_per_10s() -> None:
    assert metrics.jumps_per_10s(3, 30.0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        metrics.jumps_per_10s(1, 0.0)


def test_rejects_stereo_and_nan() -> None:
    with pytest.raises(ValueError):
        metrics.static_share(np.zeros((2, SR), dtype=np.float32), SR)
    bad = _drone(1.0)
    bad[10] = np.nan
    with pytest.raises(ValueError):
        metrics.spectral_flatness(bad, SR)


def test_jarring_share_flags_transitions_the_seed_never_makes() -> None:
    sr = 22050
    piece = click_and_chords(24, sr, bpm=120, seed=1)
    seed, truth = piece[: 8 * sr], piece[8 * sr:]
    smooth = metrics.jarring_share(truth, seed, sr)
    # the same music with every other beat swapped for a loud chord in another key and register
    other = 3.0 * arpeggio(16, sr, bpm=120, root=80, seed=2)
    beat = sr // 2
    spliced = truth.copy()
    for start in range(beat, len(spliced) - beat, 2 * beat):
        spliced[start:start + beat] = other[start:start + beat]
    jarring = metrics.jarring_share(spliced, seed, sr)
    assert smooth <= 0.3 and jarring >= 0.6 and jarring >= 3 * smooth, (smooth, jarring)


def test_audibly_different_ignores_rounding_but_not_a_changed_beat() -> None:
    sr = 22050
    a = click_and_chords(5, sr, bpm=120, seed=1)
    assert not metrics.audibly_different(a, a.copy(), sr)
    assert not metrics.audibly_different(a, a + 1e-6, sr)
    b = a.copy()
    b[sr: sr + sr // 2] = a[2 * sr: 2 * sr + sr // 2] * 2.0  # one beat replaced
    assert metrics.audibly_different(a, b, sr)
