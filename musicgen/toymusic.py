"""Synthesized music with known structure (notes, chords, a beat) for tests and demo seeds.

Real recordings cannot be shipped in tests; these clips have onsets, harmony and a tempo that
the tests can check the output against.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

MAJOR = (0, 4, 7)
MINOR = (0, 3, 7)


def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def harmonic_tone(freq: float, seconds: float, sr: int, decay: float = 3.0,
                  harmonics: int = 6) -> np.ndarray:
    """A plucked tone: harmonics with 1/h amplitude and an exponential decay (a clear onset)."""
    t = np.arange(int(seconds * sr)) / sr
    tone = sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, harmonics + 1)
               if freq * h < sr / 2)
    envelope = np.exp(-decay * t) * np.minimum(1.0, t / 0.005)
    return (tone * envelope).astype(np.float32)


def click(sr: int, seconds: float = 0.03, rng: np.random.Generator | None = None) -> np.ndarray:
    rng = rng or np.random.default_rng(0)
    n = int(seconds * sr)
    return (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.004 * sr))).astype(np.float32)


def _place(out: np.ndarray, sound: np.ndarray, start: int) -> None:
    end = min(len(out), start + len(sound))
    if start < end:
        out[start:end] += sound[: end - start]


def arpeggio(seconds: float, sr: int, bpm: float = 120.0, root: int = 57,
             progression: tuple[int, ...] = (0, 5, 7, 3), seed: int = 0) -> np.ndarray:
    """Eighth-note arpeggios over a chord progression (one chord per bar of 4 beats)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sr), np.float32)
    eighth = 60.0 / bpm / 2
    for i in range(int(seconds / eighth)):
        chord = progression[(i // 8) % len(progression)]
        quality = MINOR if chord in (3, 9) else MAJOR
        note = root + chord + quality[rng.integers(3)] + 12 * rng.integers(0, 2)
        _place(out, 0.3 * harmonic_tone(midi_hz(note), eighth * 2.5, sr), int(i * eighth * sr))
    return out


def click_and_chords(seconds: float, sr: int, bpm: float = 120.0, root: int = 57,
                     seed: int = 0) -> np.ndarray:
    """A click on every beat (accented downbeat), a chord each bar: an unambiguous pulse."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sr), np.float32)
    beat = 60.0 / bpm
    progression = (0, 5, 7, 3)
    for b in range(int(seconds / beat) + 1):
        start = int(b * beat * sr)
        _place(out, (0.6 if b % 4 == 0 else 0.35) * click(sr, rng=rng), start)
        if b % 4 == 0:
            chord = progression[(b // 4) % len(progression)]
            for interval in MAJOR:
                tone = harmonic_tone(midi_hz(root + chord + interval), beat * 4, sr, decay=1.0)
                _place(out, 0.12 * tone, start)
        _place(out, 0.15 * harmonic_tone(midi_hz(root + 12 + 2 * (b % 4)), beat, sr), start)
    return out


def two_chords(seconds: float, sr: int, bpm: float = 120.0) -> np.ndarray:
    """A click and a chord struck on every beat: C major for a bar of 4, F# major the next.

    Every beat of a bar sounds alike; the harmony changes only at the bar lines, and to the
    farthest key, so a jump across it is the one change a listener would hear as a splice.
    """
    return bar_chords(seconds, sr, (60, 66), bpm)


def bar_chords(seconds: float, sr: int, roots: tuple[int, ...], bpm: float = 120.0) -> np.ndarray:
    """A click and a major chord struck on every beat, the chord's root (MIDI) changing each
    bar of 4 through `roots`: what comes after a bar's last beat is the next chord, which the
    beat just heard does not tell and the order of the chords does."""
    out = np.zeros(int(seconds * sr), np.float32)
    beat = 60.0 / bpm
    for b in range(int(seconds / beat)):
        start = int(b * beat * sr)
        _place(out, 0.5 * click(sr, rng=np.random.default_rng(b)), start)
        root = roots[(b // 4) % len(roots)]
        for interval in MAJOR:
            _place(out, 0.15 * harmonic_tone(midi_hz(root + interval), beat, sr), start)
    return out


def drifting_pad(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Slowly gliding tones with no onsets: a seed with no usable pulse."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for _ in range(4):
        base = midi_hz(rng.uniform(50, 70))
        glide = base * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t))
        phase = 2 * np.pi * np.cumsum(glide) / sr
        out += np.sin(phase) * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.03, 0.1) * t))
    return (0.1 * out).astype(np.float32)


def hour_of_aac(folder: Path, sample_rate: int = 8000, channels: int = 1,
                bitrate: str = "8k") -> Path:
    """An hour-long m4a (a 10 s tone-then-silence looped 360 times) that is small on disk.

    For checks that a long upload is trimmed, not decoded whole; needs the ffmpeg CLI.
    """
    ten, hour = folder / "ten.m4a", folder / "hour.m4a"
    run = ["ffmpeg", "-v", "error", "-y"]
    subprocess.run([*run, "-f", "lavfi", "-i",
                    f"sine=frequency=440:sample_rate={sample_rate}:duration=5,"
                    "apad=whole_dur=10", "-ac", str(channels), "-c:a", "aac",
                    "-b:a", bitrate, str(ten)], check=True)
    subprocess.run([*run, "-stream_loop", "359", "-i", str(ten), "-c", "copy", str(hour)],
                   check=True)
    return hour
