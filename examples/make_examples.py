"""Regenerate the demo's example seed clips (short mono OGG/Vorbis files at 22.05 kHz).

    python -m examples.make_examples

The clips are synthesized with `musicgen.toymusic`, so they carry no licence question and
have a clear pulse and harmony for the model to continue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from musicgen.toymusic import arpeggio, click_and_chords

HERE = Path(__file__).resolve().parent

SAMPLE_RATE = 22050


def clips(sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    return {
        "arpeggio-100bpm.ogg": arpeggio(7, sr, bpm=100, root=57, seed=0),
        "arpeggio-126bpm-minor.ogg": arpeggio(7, sr, bpm=126, root=52,
                                              progression=(9, 5, 0, 7), seed=1),
        "click-and-chords-120bpm.ogg": click_and_chords(7, sr, bpm=120, root=55, seed=2),
    }


def main(folder: Path = HERE) -> list[Path]:
    written = []
    for name, audio in clips().items():
        audio = 0.9 * audio / max(float(np.max(np.abs(audio))), 1e-6)
        path = folder / name
        sf.write(path, audio, SAMPLE_RATE, format="OGG", subtype="VORBIS")
        written.append(path)
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KB")
    return written


if __name__ == "__main__":
    main()
