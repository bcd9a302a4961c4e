"""Cut the demo's real-music example clips from held-out tracks of the training corpus.

    python scripts/cut_examples.py                     # from the repository root
    python scripts/cut_examples.py --manifest data/corpus/manifest.json --out examples

Needs the corpus installed and indexed first (``scripts/install_corpus.sh``). The clips,
their offsets and their credits are the data in ``CLIPS`` below; every source track must be
in the manifest's ``heldout`` split, so the model never trained on it. Each clip is read
from the installed file, mixed to mono, resampled to the model's 22.05 kHz, given a 10 ms
fade-in and 40 ms fade-out (no click at the cut), scaled to about -16 dBFS RMS with peaks
at most -1 dBFS, and written as Ogg Vorbis. ``examples.json``, the machine-readable
attribution record, is rewritten from the same table. See ``examples/README.md``.

Only numpy, scipy and soundfile are needed; this script does not import ``musicgen``.
"""

from __future__ import annotations

import argparse
import json
import sys
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parent.parent

SAMPLE_RATE = 22050
TARGET_RMS_DBFS = -16.0
PEAK_CEILING_DBFS = -1.0
FADE_IN_S = 0.010
FADE_OUT_S = 0.040

GPL2_PLUS = ("GPL-2.0-or-later", "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html")
GPL2_ONLY = ("GPL-2.0-only", "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html")

# One entry per clip. `source` is the file name of the track as the manifest lists it;
# `source_in_package` says where it lies inside the Debian package (archive:member for music
# the package ships inside a .pk3). Offsets are seconds into the source track; the beat
# clips start on a beat and last a whole number of bars, so they loop cleanly.
CLIPS: list[dict] = [
    {
        "file": "wesnoth-over-the-northern-mountains.ogg",
        "package": "wesnoth-1.16-music",
        "source": "northern_mountains.ogg",
        "source_in_package": "/usr/share/games/wesnoth/1.16/data/core/music/northern_mountains.ogg",
        "start_s": 148.03,
        "end_s": 155.65,
        "title": "Over the Northern Mountains",
        "artist": "Mattias Westlund",
        "year": 2008,
        "album": "The Battle for Wesnoth OST",
        "copyright": "Mattias Westlund, 2008, for The Battle for Wesnoth (GPL-2+)",
        "licence": GPL2_PLUS[0],
        "licence_url": GPL2_PLUS[1],
        "style": "Orchestral fantasy score (tagged Romantic Classical): full ensemble, "
                 "pulse near 126 BPM.",
        "tempo_bpm": 126,
    },
    {
        "file": "warzone2100-geiger-ghosts.ogg",
        "package": "warzone2100-music",
        "source": "track16.opus",
        "source_in_package": "/usr/share/games/warzone2100/music/albums/legacy_soundtrack/"
                             "track16.opus",
        "start_s": 298.60,
        "end_s": 306.28,
        "title": "Geiger Ghosts",
        "artist": "LupusMechanicus",
        "year": 2020,
        "album": "Warzone 2100 - Legacy Soundtrack",
        "copyright": "Copyright (C) 2019-2022 LupusMechanicus",
        "licence": "CC-BY-SA-3.0+ OR GPL-2.0-or-later",
        "licence_url": "https://creativecommons.org/licenses/by-sa/3.0/",
        "style": "Dark industrial electronic: dense, steady 125 BPM beat.",
        "tempo_bpm": 125,
    },
    {
        "file": "ufoai-psymong-n5.ogg",
        "package": "ufoai-music",
        "source": "PsymongN5.ogg",
        "source_in_package": "/usr/share/games/ufoai/base/0music.pk3:music/PsymongN5.ogg",
        "start_s": 263.40,
        "end_s": 271.40,
        "title": "PsymongN5",
        "artist": "Simon Green (Psymong)",
        "year": None,
        "album": "UFO: Alien Invasion",
        "copyright": "Simon Green (Psymong), for UFO: Alien Invasion (GPL-2)",
        "licence": GPL2_ONLY[0],
        "licence_url": GPL2_ONLY[1],
        "style": "Ambient electronic: sustained synth pads under a slow, sparse melody; "
                 "no steady beat.",
        "tempo_bpm": None,
    },
    {
        "file": "nexuiz-sixtyfour-revisited.ogg",
        "package": "nexuiz-music",
        "source": "sixtyfour_revisited.ogg",
        "source_in_package": "/usr/share/games/nexuiz/data/music.pk3:"
                             "sound/cdtracks/sixtyfour_revisited.ogg",
        "start_s": 60.09,
        "end_s": 67.65,
        "title": "SixtyFour Revisited",
        "artist": "blkrbt",
        "year": None,
        "album": "Nexuiz",
        "copyright": "blkrbt, for Nexuiz (C) 2002-2009 Alientrap (GPL-2+)",
        "licence": GPL2_PLUS[0],
        "licence_url": GPL2_PLUS[1],
        "style": "Driving techno: four-on-the-floor kick at a steady 127 BPM.",
        "tempo_bpm": 127,
    },
]


def load_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        sys.exit(f"No corpus manifest at {path}: run scripts/install_corpus.sh first.")


def find_track(manifest: dict, manifest_path: Path, clip: dict) -> tuple[Path, dict]:
    """The manifest entry of the clip's source track; it must be held out from training."""
    matches = [t for t in manifest["tracks"]
               if t["package"] == clip["package"] and Path(t["path"]).name == clip["source"]]
    if len(matches) != 1:
        sys.exit(f"{clip['source']} ({clip['package']}): {len(matches)} manifest entries, need 1")
    track = matches[0]
    if track["split"] != "heldout":
        sys.exit(f"{clip['source']} is in the {track['split']!r} split; examples must be held out")
    path = Path(track["path"])
    if not path.is_absolute():  # members unpacked from a .pk3 sit under the manifest's folder
        path = manifest_path.resolve().parent / path
    return path, track


def cut(path: Path, start_s: float, end_s: float) -> np.ndarray:
    """Mono float32 audio of [start_s, end_s) at SAMPLE_RATE, faded and loudness-scaled."""
    info = sf.info(str(path))
    if not 0 <= start_s < end_s <= info.duration:
        sys.exit(f"{path.name}: [{start_s}, {end_s}) s lies outside its {info.duration:.1f} s")
    audio, sr = sf.read(str(path), start=round(start_s * info.samplerate),
                        stop=round(end_s * info.samplerate), dtype="float64", always_2d=True)
    mono = audio.mean(axis=1)
    g = gcd(SAMPLE_RATE, sr)
    y = resample_poly(mono, SAMPLE_RATE // g, sr // g)
    y = y[: round((end_s - start_s) * SAMPLE_RATE)]
    n_in, n_out = round(FADE_IN_S * SAMPLE_RATE), round(FADE_OUT_S * SAMPLE_RATE)
    y[:n_in] *= 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n_in))  # raised-cosine ramps
    y[-n_out:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n_out))
    rms = float(np.sqrt(np.mean(y**2)))
    peak = float(np.max(np.abs(y)))
    gain = min(10 ** (TARGET_RMS_DBFS / 20) / rms, 10 ** (PEAK_CEILING_DBFS / 20) / peak)
    return (gain * y).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=ROOT / "data" / "corpus" / "manifest.json")
    parser.add_argument("--out", type=Path, default=ROOT / "examples")
    args = parser.parse_args(argv)

    manifest = load_manifest(args.manifest)
    args.out.mkdir(parents=True, exist_ok=True)
    record = []
    for clip in CLIPS:
        path, track = find_track(manifest, args.manifest, clip)
        y = cut(path, clip["start_s"], clip["end_s"])
        target = args.out / clip["file"]
        sf.write(str(target), y, SAMPLE_RATE, format="OGG", subtype="VORBIS")
        rms_db = 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        size_kib = target.stat().st_size // 1024
        print(f"{target.name}: {clip['source']} {clip['start_s']:.2f}-{clip['end_s']:.2f} s, "
              f"{len(y) / SAMPLE_RATE:.2f} s, RMS {rms_db:.1f} dBFS, {size_kib} KiB")
        record.append({
            "file": clip["file"],
            "title": clip["title"],
            "artist": clip["artist"],
            "year": clip["year"],
            "album": clip["album"],
            "package": clip["package"],
            "package_version": manifest["packages"].get(clip["package"], {}).get("version"),
            "source_file": clip["source"],
            "source_in_package": clip["source_in_package"],
            "start_s": clip["start_s"],
            "end_s": clip["end_s"],
            "licence": clip["licence"],
            "licence_url": clip["licence_url"],
            "copyright": clip["copyright"],
            "style": clip["style"],
            "tempo_bpm": clip["tempo_bpm"],
            "changes": (f"cut {clip['start_s']:.2f}-{clip['end_s']:.2f} s, mixed to mono, "
                        f"resampled to {SAMPLE_RATE} Hz, {FADE_IN_S * 1000:.0f}/"
                        f"{FADE_OUT_S * 1000:.0f} ms fades, gain-normalised, "
                        "re-encoded as Ogg Vorbis"),
        })
    (args.out / "examples.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    print(f"wrote {len(record)} clips and {args.out / 'examples.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
