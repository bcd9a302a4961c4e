"""Tests of musicgen.corpus that need neither the Debian music packages nor dpkg."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musicgen import corpus, tracks
from musicgen.cli import build_parser
from musicgen.cli import main as cli_main
from musicgen.corpus import (
    PACKAGES,
    Track,
    assign_splits,
    debian,
    licences,
    load_manifest,
    manifest,
    prepare_corpus,
    split_of,
    tracks_for,
)
from musicgen.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_the_install_script_installs_what_the_corpus_command_indexes():
    """scripts/install_corpus.sh and `python -m musicgen corpus` name the same packages, and
    the shipped models were trained on exactly those."""
    script = (ROOT / "scripts" / "install_corpus.sh").read_text()
    installed = re.search(r"^PACKAGES=\((.*?)\)", script, re.M).group(1).split()
    indexed = build_parser().parse_args(["corpus"]).packages
    assert installed == indexed == list(PACKAGES)
    assert "-m musicgen corpus" in script
    for prior in sorted((ROOT / "checkpoints").glob("prior-*")):
        trained_on = json.loads((prior / "musicgen.json").read_text())["provenance"]["packages"]
        assert sorted(trained_on) == sorted(PACKAGES), prior.name


# ------------------------------------------------------------------------------------ split


def test_split_of_is_deterministic_and_close_to_the_fraction():
    names = [Path(f"/some/where/track_{i:04d}.ogg") for i in range(1000)]
    first = [split_of(p, 0.15, package="pkg") for p in names]
    again = [split_of(p, 0.15, package="pkg") for p in names]
    assert first == again
    assert set(first) <= {"train", "heldout"}
    fraction = first.count("heldout") / len(first)
    assert 0.10 <= fraction <= 0.20, fraction
    # Without the package argument the split is still deterministic and near the fraction.
    plain = [split_of(p) for p in names]
    assert 0.10 <= plain.count("heldout") / len(plain) <= 0.20


def test_split_of_depends_on_package_and_file_name_not_folder():
    a = split_of(Path("/usr/share/x/battle.ogg"), 0.5, package="p")
    assert split_of(Path("/elsewhere/battle.ogg"), 0.5, package="p") == a
    # Different packages give independent draws: over many names they must disagree somewhere.
    names = [Path(f"t{i}.ogg") for i in range(50)]
    assert [split_of(n, 0.5, package="p") for n in names] != [
        split_of(n, 0.5, package="q") for n in names
    ]


def test_split_hash_is_pinned():
    # SHA-256 of "pkg/track.ogg": identical on every machine and Python (no salted hash()).
    assert tracks.hash_unit("pkg/track.ogg") == pytest.approx(0.20698, abs=1e-5)
    assert split_of(Path("/a/track.ogg"), 0.21, package="pkg") == "heldout"
    assert split_of(Path("/b/track.ogg"), 0.20, package="pkg") == "train"


def test_split_fraction_extremes_and_validation():
    assert split_of(Path("a.ogg"), 0.0, package="p") == "train"
    assert split_of(Path("a.ogg"), 1.0, package="p") == "heldout"
    with pytest.raises(InputError):
        split_of(Path("a.ogg"), 1.5)


def test_assign_splits_holds_out_at_least_one_track_per_package():
    paths = [Path(f"/x/{name}.ogg") for name in ("a", "b", "c")]
    splits = assign_splits("pkg", paths, heldout_fraction=1e-12)
    assert list(splits.values()).count("heldout") == 1
    chosen = min(paths, key=lambda p: tracks.hash_unit(f"pkg/{p.name}"))
    assert splits[chosen] == "heldout"
    assert assign_splits("pkg", paths, heldout_fraction=1e-12) == splits
    # A fraction of 0 means no held-out set at all; a lone track stays in training.
    assert set(assign_splits("pkg", paths, 0.0).values()) == {"train"}
    assert assign_splits("pkg", paths[:1], 1e-12) == {paths[0]: "train"}


# --------------------------------------------------------------------------------- manifest


def _write_tone(path: Path, seconds: float, sr: int = 8000, channels: int = 1) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(path, np.stack([tone] * channels, axis=1) if channels > 1 else tone, sr)
    return path


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    audio = tmp_path / "installed"
    audio.mkdir()
    files = [
        _write_tone(audio / "alpha.wav", 6.0),
        _write_tone(audio / "beta.wav", 7.5, channels=2),
        _write_tone(audio / "gamma.wav", 6.0),
        _write_tone(audio / "delta.wav", 5.5),
        _write_tone(audio / "jingle.wav", 2.0),  # under 5 s: skipped
    ]

    def fake_audio_files(package, extract_to=None):
        assert package == "fake-music"
        return sorted(files)

    monkeypatch.setattr(manifest, "package_audio_files", fake_audio_files)
    monkeypatch.setattr(manifest, "package_licence", lambda package: "CC-BY-SA-3.0")
    monkeypatch.setattr(licences, "package_licence", lambda package: "CC-BY-SA-3.0")
    monkeypatch.setattr(manifest, "package_version", lambda package: "1.2-3")
    return files


def test_manifest_round_trip(fake_package, tmp_path, capsys):
    out = tmp_path / "corpus"
    manifest_path = prepare_corpus(out, packages=("fake-music",), heldout_fraction=0.15)
    assert manifest_path == out / "manifest.json"

    data = json.loads(manifest_path.read_text())
    entry = data["packages"]["fake-music"]
    assert entry["licence"] == "CC-BY-SA-3.0"
    assert entry["version"] == "1.2-3"
    assert entry["tracks"] == 4
    assert entry["hours"] == pytest.approx((6 + 7.5 + 6 + 5.5) / 3600, abs=1e-4)
    assert {Path(s["path"]).name for s in data["skipped"]} == {"jingle.wav"}
    assert not (out / "extracted").exists() or not any((out / "extracted").iterdir())

    tracks = load_manifest(manifest_path)
    assert all(isinstance(t, Track) for t in tracks)
    names = sorted(t.path.name for t in tracks)
    assert names == ["alpha.wav", "beta.wav", "delta.wav", "gamma.wav"]
    assert all(t.path.is_absolute() and t.path.is_file() for t in tracks)
    assert {t.package for t in tracks} == {"fake-music"}
    assert {t.licence for t in tracks} == {"CC-BY-SA-3.0"}
    assert {t.path.name: t.duration_s for t in tracks}["beta.wav"] == pytest.approx(7.5)
    # At least one held-out track per package, and the split matches the stable assignment.
    heldout = tracks_for(manifest_path, "heldout")
    train = tracks_for(manifest_path, "train")
    assert len(heldout) >= 1 and len(train) >= 1
    assert sorted(heldout + train) == sorted(t.path for t in tracks)
    expected = assign_splits("fake-music", [t.path for t in tracks], 0.15)
    assert {t.path: t.split for t in tracks} == expected

    # Re-running gives the same manifest (same tracks on the same side).
    again = prepare_corpus(out, packages=("fake-music",), heldout_fraction=0.15)
    assert json.loads(again.read_text()) == data

    printed = capsys.readouterr().out
    assert "fake-music: 4 tracks" in printed and "total: 4 tracks" in printed


def test_manifest_relative_paths_resolve_against_its_folder(tmp_path):
    folder = tmp_path / "c"
    (folder / "extracted").mkdir(parents=True)
    audio = _write_tone(folder / "extracted" / "x.wav", 6.0)
    manifest = folder / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "packages": {},
                "tracks": [
                    {
                        "path": "extracted/x.wav",
                        "package": "p",
                        "licence": "GPL-2+",
                        "duration_s": 6.0,
                        "split": "train",
                    }
                ],
            }
        )
    )
    assert tracks_for(manifest, "train") == [audio.resolve()]
    assert tracks_for(manifest, "heldout") == []
    with pytest.raises(InputError):
        tracks_for(manifest, "test")


def test_missing_manifest_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="musicgen.corpus"):
        load_manifest(tmp_path / "nope" / "manifest.json")


# ------------------------------------------------------------------------ not installed, dpkg


def test_package_that_cannot_exist_is_an_input_error_with_the_apt_command():
    name = "musicgen-no-such-package-0"
    with pytest.raises(InputError) as info:
        corpus.package_audio_files(name)
    assert f"apt-get install -y --no-install-recommends {name}" in str(info.value)


def test_failing_dpkg_is_an_input_error(monkeypatch):
    def failing(*args):
        raise subprocess.CalledProcessError(
            1, args, stderr="dpkg-query: no packages found matching nexuiz-music"
        )

    monkeypatch.setattr(debian, "_dpkg", failing)
    with pytest.raises(InputError, match="sudo apt-get install .* nexuiz-music"):
        corpus.package_audio_files("nexuiz-music")


def test_removed_package_is_not_installed(monkeypatch):
    monkeypatch.setattr(debian, "_dpkg", lambda *args: "deinstall ok config-files")
    with pytest.raises(InputError, match="not installed"):
        corpus.package_audio_files("ufoai-music")


def test_cli_reports_input_errors(capsys):
    assert cli_main(["corpus", "--out", "/nonexistent-dir-never", "--packages",
                     "musicgen-no-pkg"]) == 2
    assert "apt-get install" in capsys.readouterr().err


# --------------------------------------------------------------------------------- licences

_DEP5 = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Game

Files: *
Copyright: 2002 The Team
License: GPL-2+

Files:
 base/music/Calm*.ogg
 base/sound/x.ogg
Copyright: Someone
License: CC-BY-3.0

Files: base/music/Epic.ogg
Copyright: Someone else
License: public-domain

License: GPL-2+
 On Debian systems, see /usr/share/common-licenses/GPL-2.
"""


def test_dep5_track_licences_follow_the_last_matching_stanza(tmp_path, monkeypatch):
    doc = tmp_path / "doc" / "game-music"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(_DEP5)
    monkeypatch.setattr(licences, "DOC_DIR", tmp_path / "doc")
    licences._read_copyright.cache_clear()
    try:
        root = tmp_path / "out" / "extracted"
        # An unpacked .pk3 member maps back to /usr/share/games/game/base/music/<name>.
        member = root / "game-music" / "usr/share/games/game/base/music"
        assert corpus.track_licence("game-music", member / "Calm01.ogg", root) == "CC-BY-3.0"
        assert corpus.track_licence("game-music", member / "Epic.ogg", root) == "public-domain"
        assert corpus.track_licence("game-music", member / "Other.ogg", root) == "GPL-2+"
    finally:
        licences._read_copyright.cache_clear()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Nexuiz is (c) Alientrap\n\nThis program is free software; you can redistribute it\n"
            "under the terms of the GNU General Public License\nas published by the Free Software"
            " Foundation; either version 2\nof the License, or (at your option) any later version.",
            "GPL-2+",
        ),
        ("License:\n  under the GNU General Public License version 2\n  only.", "GPL-2"),
        ("Music under Creative Commons Attribution-ShareAlike 3.0 Unported.", "CC-BY-SA-3.0"),
        ("Nothing recognisable here.\nSecond line.", None),
    ],
)
def test_freeform_licence(text, expected):
    assert licences._freeform_licence(text) == expected
