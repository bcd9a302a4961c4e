"""The corpus manifest: every installed track with its package, licence, length and split.

``prepare_corpus`` writes ``<out>/manifest.json``; ``load_manifest`` and ``tracks_for`` read
it back. The manifest points at the installed files (unpacked archive members live under
``<out>/extracted/``) and is the authority for which tracks the shipped models trained on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from musicgen.corpus.debian import EXTRACTED_DIR, PACKAGES, package_audio_files, package_version
from musicgen.corpus.licences import package_licence, track_licence
from musicgen.errors import InputError
from musicgen.tracks import assign_splits

MIN_DURATION_S = 5.0
SPLITS = ("train", "heldout")
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Track:
    """One piece of music in the corpus."""

    path: Path
    package: str
    licence: str
    duration_s: float
    split: str  # "train" | "heldout"




def _audio_info(path: Path) -> dict[str, object]:
    """Duration and format; soundfile first, librosa (audioread/ffmpeg) as a fallback."""
    try:
        info = sf.info(str(path))
        if info.frames > 0 and info.samplerate > 0:
            return {
                "duration_s": info.frames / info.samplerate,
                "samplerate": int(info.samplerate),
                "channels": int(info.channels),
                "format": f"{info.format}/{info.subtype}",
            }
    except RuntimeError:  # soundfile.LibsndfileError: a format libsndfile cannot read
        pass
    import librosa  # slow to import; only needed for files libsndfile cannot open

    return {
        "duration_s": float(librosa.get_duration(path=str(path))),
        "samplerate": int(librosa.get_samplerate(str(path))),
        "channels": None,
        "format": Path(path).suffix.lstrip(".").upper(),
    }


def _relative_if_inside(path: Path, base: Path) -> str:
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def prepare_corpus(
    out_dir: Path,
    packages: Sequence[str] = PACKAGES,
    heldout_fraction: float = 0.15,
    min_duration_s: float = MIN_DURATION_S,
) -> Path:
    """Index the installed corpus packages into ``out_dir/manifest.json``; return its path.

    Audio is not copied, except members of .pk3 archives which are unpacked under
    ``out_dir/extracted/`` (keep ``out_dir`` git-ignored).  Tracks shorter than
    ``min_duration_s`` or that cannot be read are skipped.  Installed tracks are stored with
    absolute paths, unpacked ones relative to ``out_dir``.
    """
    if not 0.0 <= heldout_fraction <= 1.0:
        raise InputError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extract_root = out_dir / EXTRACTED_DIR

    package_entries: dict[str, dict[str, object]] = {}
    track_entries: list[dict[str, object]] = []
    skipped: list[dict[str, str]] = []
    for package in packages:
        paths = package_audio_files(package, extract_to=extract_root)
        if not paths:
            raise InputError(f"Debian package {package!r} installed no audio files.")
        licence = package_licence(package)
        version = package_version(package)

        kept: list[tuple[Path, dict[str, object]]] = []
        for path in paths:
            try:
                info = _audio_info(path)
            except Exception as exc:  # noqa: BLE001 - report and skip any unreadable file
                skipped.append({"path": str(path), "package": package, "reason": str(exc)})
                continue
            if float(info["duration_s"]) < min_duration_s:
                skipped.append(
                    {
                        "path": str(path),
                        "package": package,
                        "reason": f"shorter than {min_duration_s:g} s "
                        f"({float(info['duration_s']):.2f} s)",
                    }
                )
                continue
            kept.append((path, info))

        splits = assign_splits(package, [p for p, _ in kept], heldout_fraction)
        seconds = {"train": 0.0, "heldout": 0.0}
        for path, info in kept:
            split = splits[path]
            seconds[split] += float(info["duration_s"])
            track_entries.append(
                {
                    "path": _relative_if_inside(path, out_dir),
                    "package": package,
                    "licence": track_licence(package, path, extract_root),
                    "duration_s": round(float(info["duration_s"]), 3),
                    "split": split,
                    "samplerate": info["samplerate"],
                    "channels": info["channels"],
                    "format": info["format"],
                }
            )
        n_heldout = sum(1 for s in splits.values() if s == "heldout")
        package_entries[package] = {
            "licence": licence,
            "version": version,
            "tracks": len(kept),
            "hours": round(sum(seconds.values()) / 3600, 4),
            "heldout_tracks": n_heldout,
            "heldout_hours": round(seconds["heldout"] / 3600, 4),
        }
        print(
            f"{package}: {len(kept)} tracks, {sum(seconds.values()) / 3600:.2f} h, "
            f"{n_heldout} held out ({seconds['heldout'] / 3600:.2f} h), licence {licence}"
        )

    total_h = sum(float(e["hours"]) for e in package_entries.values())
    heldout_h = sum(float(e["heldout_hours"]) for e in package_entries.values())
    n_heldout = sum(1 for t in track_entries if t["split"] == "heldout")
    print(
        f"total: {len(track_entries)} tracks, {total_h:.2f} h; train {total_h - heldout_h:.2f} h, "
        f"held out {n_heldout} tracks / {heldout_h:.2f} h; skipped {len(skipped)} files"
    )

    manifest = {
        "heldout_fraction": heldout_fraction,
        "min_duration_s": min_duration_s,
        "packages": package_entries,
        "tracks": track_entries,
        "skipped": skipped,
    }
    manifest_path = out_dir / MANIFEST_NAME
    partial = manifest_path.with_name(manifest_path.name + ".partial")
    partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    partial.replace(manifest_path)
    return manifest_path


def load_manifest(path: Path) -> list[Track]:
    """The tracks of a manifest written by :func:`prepare_corpus`; every path is absolute."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(
            f"No corpus manifest at {path}: run `python -m musicgen corpus --out {path.parent}`."
        ) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); rebuild it.") from exc
    tracks = []
    for entry in data.get("tracks", []):
        track_path = Path(entry["path"])
        if not track_path.is_absolute():
            track_path = path.resolve().parent / track_path
        split = entry["split"]
        if split not in SPLITS:
            raise InputError(f"{path}: unknown split {split!r} for {entry['path']}")
        tracks.append(
            Track(
                path=track_path,
                package=entry["package"],
                licence=entry["licence"],
                duration_s=float(entry["duration_s"]),
                split=split,
            )
        )
    return tracks


def tracks_for(manifest_path: Path, split: str) -> list[Path]:
    """Paths of the tracks in one split (``"train"`` or ``"heldout"``) of a manifest."""
    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, got {split!r}")
    return [t.path for t in load_manifest(manifest_path) if t.split == split]
