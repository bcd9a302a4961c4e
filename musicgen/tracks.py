"""Which files are music, and which side of the train / held-out split each track is on.

One scheme for every source: a track's side depends only on a SHA-256 hash of its file name
(and, in the corpus, its Debian package), never on its folder, the machine or the Python run,
so the same track is held out everywhere and held-out music is never trained on. Tracks are
split whole, never by time within a track.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from musicgen.errors import InputError

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".webm"})
"""Audio file suffixes looked for in folders (warzone2100-music ships Ogg Opus: ``.opus``)."""


@dataclass(frozen=True)
class TrackSplit:
    train: list[Path]
    heldout: list[Path]


def is_audio(name: str | os.PathLike) -> bool:
    return Path(name).suffix.lower() in AUDIO_EXTENSIONS


def _split_key(path: Path, package: str | None) -> str:
    name = Path(path).name
    return f"{package}/{name}" if package else name


def hash_unit(key: str) -> float:
    """A number in [0, 1) from SHA-256: the same on every machine and every Python run."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_of(path: Path, heldout_fraction: float = 0.15, package: str | None = None) -> str:
    """``"heldout"`` or ``"train"`` for a track, from a stable hash of package + file name.

    :func:`assign_splits` adjusts a group of tracks so that both sides have one; the corpus
    manifest records the result and is the authority for the shipped models.
    """
    if not 0.0 <= heldout_fraction <= 1.0:
        raise InputError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction}")
    return "heldout" if hash_unit(_split_key(path, package)) < heldout_fraction else "train"


def assign_splits(package: str | None, paths: Sequence[Path],
                  heldout_fraction: float = 0.15) -> dict[Path, str]:
    """:func:`split_of` for each track of a group (a package, or a folder of music).

    With two or more tracks, both sides get at least one: if the hash holds out none (and the
    fraction is above 0), the track with the smallest hash value is held out; if it holds
    out all (and the fraction is below 1), the one with the largest goes to training.
    """
    splits = {p: split_of(p, heldout_fraction, package=package) for p in paths}
    order = sorted(paths, key=lambda p: (hash_unit(_split_key(p, package)), str(p)))
    if len(paths) >= 2 and heldout_fraction > 0 and "heldout" not in splits.values():
        splits[order[0]] = "heldout"
    if len(paths) >= 2 and heldout_fraction < 1 and "train" not in splits.values():
        splits[order[-1]] = "train"
    return splits


def split_by_track(paths: Sequence[Path], heldout_fraction: float) -> TrackSplit:
    """Folders of the user's own music, split by :func:`assign_splits`."""
    if len(paths) < 2:
        raise InputError("training needs at least 2 audio files: one is held out to choose the "
                         "best weights and measure generalisation")
    splits = assign_splits(None, paths, heldout_fraction)
    return TrackSplit(train=sorted(p for p in paths if splits[p] == "train"),
                      heldout=sorted(p for p in paths if splits[p] == "heldout"))


def discover_audio(sources: Sequence[str | os.PathLike]) -> list[Path]:
    """Audio files from folders (recursive) and files, sorted and without repeats."""
    found: set[Path] = set()
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and is_audio(p))
        elif path.is_file():
            found.add(path)
        else:
            raise InputError(f"no such file or folder: {path}")
    if not found:
        raise InputError(f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) found in "
                         f"{', '.join(map(str, sources))}")
    return sorted(found)
