"""What the page shows, without a server: the summary line, example labels, the spectrogram's
time axis and join labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musicgen.spectrogram import AXIS_HEIGHT, spectrogram_image, tick_step
from musicgen.webui import example_credits, example_labels, summary

ROOT = Path(__file__).resolve().parents[1]
TIMES = {"total_s": 0.05}


def test_summary_reads_like_a_sentence_for_each_beat_mode_and_renderer() -> None:
    bar = summary({"render": "seed", "beat_mode": "bar", "tempo_bpm": 126.2, "beats_per_bar": 4,
                   "jumps": 4, "timings": TIMES, "real_time_factor": 200.3, "random_seed": 7})
    assert bar == ("126 BPM, 4/4 · 4 jumps within your clip, each on the same beat of the bar"
                   " · made in 0.05 s, 200× faster than real time · random seed 7")
    beat = summary({"render": "seed", "beat_mode": "beat", "tempo_bpm": 90.0, "jumps": 1,
                    "timings": {"total_s": 2.5}, "real_time_factor": 4.04})
    assert beat == ("90 BPM (no clear bar) · 1 jump within your clip, each on a beat · "
                    "made in 2.5 s, 4× faster than real time")
    free = summary({"render": "seed", "beat_mode": "free", "tempo_bpm": 0.0, "jumps": 0,
                    "timings": {"total_s": 12.0}, "real_time_factor": 0.25})
    assert free.startswith("no steady beat found · no jumps: your clip plays on as it was")
    assert free.endswith("made in 12.0 s, 0.2× real time")
    synth = summary({"render": "synth", "new_seconds": 10.03, "timings": {"total_s": 0.3},
                     "real_time_factor": 33.4, "tempo_bpm": 120})
    assert synth == ("10 s of new sound synthesized from the model's codes · made in 0.30 s, "
                     "33× faster than real time")


def test_real_examples_come_first_with_title_artist_package_and_licence() -> None:
    paths, labels = example_labels(sorted((ROOT / "examples").glob("*.ogg")))
    assert len(paths) == len(labels) == 7
    assert labels[0] == "Over the Northern Mountains – Mattias Westlund"
    credits = example_credits(paths).splitlines()
    assert len(credits) == 4 and credits[3] == ("- *SixtyFour Revisited* – blkrbt · "
                                                "`nexuiz-music` · GPL-2.0-or-later")
    assert all(not label.startswith("synthesized") for label in labels[:4])
    assert paths[0].name == "wesnoth-over-the-northern-mountains.ogg"
    assert [f"synthesized: {p.stem}" for p in paths[4:]] == labels[4:]
    assert [label.split(": ")[0] for label in labels[4:]] == ["synthesized"] * 3


def test_time_axis_ticks_fit_any_length() -> None:
    for seconds in (1.0, 4.0, 13.0, 63.0, 600.0):
        step = tick_step(seconds, 1000)
        assert step * 1000 / seconds >= 70 and seconds / step >= 1 or step == 300.0
    image = spectrogram_image(np.zeros((100, 40)), 0.5, width=400, height=128, seconds=13.0)
    assert image.size == (400, 128 + AXIS_HEIGHT)
    strip = np.asarray(image)[128:].min(axis=-1)
    assert (strip < 100).sum() > 50  # ticks and numbers drawn in the strip


def test_seed_label_is_not_clipped_on_a_long_output() -> None:
    """60 s new after a 3 s tail: the join is 47 px from the left edge; "seed" (no room left
    of the line) moves right of it, whole, rather than being cut to "seec"."""
    width, height = 1000, 256
    image = np.asarray(spectrogram_image(np.full((400, 40), -100.0), 3 / 63, width=width,
                                         height=height))
    x = round(3 / 63 * (width - 1))
    white = image.min(axis=-1) > 200
    white[:, x - 1:x + 2] = False  # not the join line itself
    rows = np.flatnonzero(white[:, x + 5:].any(axis=1))
    assert rows.size and rows.min() < height - 40  # two stacked labels right of the line
    assert not white[height - 60:, : x - 3].any()  # and nothing cut off left of it
