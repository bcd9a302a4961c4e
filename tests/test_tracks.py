"""The one train/held-out scheme: by file name (and package), the same for folders and corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from musicgen.errors import InputError
from musicgen.tracks import assign_splits, discover_audio, split_by_track, split_of


def test_folder_split_uses_the_corpus_hash_and_keeps_both_sides() -> None:
    paths = [Path(f"/music/song{i:02d}.wav") for i in range(40)]
    split = split_by_track(paths, 0.15)
    assert split.train and split.heldout
    assert sorted(split.train + split.heldout) == sorted(paths)
    # held out by the corpus's hash of the file name (no package): the folder never matters
    assert {p for p in paths if split_of(p, 0.15) == "heldout"} <= set(split.heldout)
    moved = split_by_track([Path("/elsewhere") / p.name for p in paths], 0.15)
    assert [p.name for p in moved.heldout] == [p.name for p in split.heldout]


@pytest.mark.parametrize("fraction", [1e-9, 0.999999])
def test_two_tracks_always_give_one_of_each(fraction: float) -> None:
    splits = assign_splits(None, [Path("a.ogg"), Path("b.ogg")], fraction)
    assert sorted(splits.values()) == ["heldout", "train"]


def test_one_track_is_not_enough(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least 2"):
        split_by_track([Path("a.wav")], 0.15)
    (tmp_path / "notes.txt").write_text("not music")
    with pytest.raises(InputError, match="no audio files"):
        discover_audio([tmp_path])
