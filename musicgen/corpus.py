"""The training corpus: freely licensed game music from four Debian packages.

musicgen's shipped models are trained only on the music installed by the Debian packages in
:data:`PACKAGES`.  Nothing here downloads audio and no audio is ever committed: install the
packages with ``scripts/install_corpus.sh`` (or ``apt-get``), then run::

    python -m musicgen.corpus --out data/corpus

which writes ``data/corpus/manifest.json``.  The manifest points at the installed files; the
only audio written is for packages that ship their music inside ``.pk3`` (zip) archives
(``ufoai-music``, ``nexuiz-music``): those members are unpacked under ``<out>/extracted/`` so
that every track is a plain file that soundfile/librosa can open.  ``<out>`` belongs in a
git-ignored folder such as ``data/``.

The train / held-out split is by track and deterministic: it depends only on the package name
and the file name (a SHA-256 hash), so every machine puts the same track on the same side.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

import soundfile as sf

from musicgen.errors import InputError

PACKAGES: tuple[str, ...] = (
    "wesnoth-1.16-music",
    "warzone2100-music",
    "ufoai-music",
    "nexuiz-music",
)

AUDIO_EXTENSIONS: frozenset[str] = frozenset({".ogg", ".oga", ".opus", ".flac", ".wav", ".mp3"})
"""Audio file suffixes kept (warzone2100-music ships Ogg Opus, hence ``.opus``)."""

ARCHIVE_EXTENSIONS: frozenset[str] = frozenset({".pk3", ".zip"})
"""Zip archives whose audio members are unpacked (Quake-engine games keep music in .pk3)."""

MIN_DURATION_S = 5.0
SPLITS = ("train", "heldout")
MANIFEST_NAME = "manifest.json"
EXTRACTED_DIR = "extracted"
DOC_DIR = Path("/usr/share/doc")

_INSTALL_HINT = "sudo apt-get install -y --no-install-recommends {packages}"


@dataclass(frozen=True)
class Track:
    """One piece of music in the corpus."""

    path: Path
    package: str
    licence: str
    duration_s: float
    split: str  # "train" | "heldout"


# --------------------------------------------------------------------------------------------
# dpkg
# --------------------------------------------------------------------------------------------


def _install_command(packages: Iterable[str]) -> str:
    return _INSTALL_HINT.format(packages=" ".join(packages))


def _dpkg(*args: str) -> str:
    """Run a dpkg tool and return its stdout; raise CalledProcessError / FileNotFoundError."""
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return result.stdout


def _not_installed(package: str, why: str) -> InputError:
    return InputError(
        f"Debian package {package!r} is not installed ({why}). Install it with:\n"
        f"    {_install_command([package])}\n"
        f"or install all corpus packages with: scripts/install_corpus.sh"
    )


def _installed_files(package: str) -> list[Path]:
    """Every path ``dpkg -L package`` lists; InputError when the package is not installed."""
    try:
        status = _dpkg("dpkg-query", "-W", "-f=${Status}", package)
    except FileNotFoundError as exc:
        raise InputError(
            f"dpkg-query was not found, so Debian package {package!r} cannot be looked up: the "
            f"corpus needs a Debian or Ubuntu system with {package!r} installed "
            f"({_install_command([package])})."
        ) from exc
    except subprocess.CalledProcessError as exc:
        raise _not_installed(package, (exc.stderr or "").strip() or "dpkg-query failed") from exc
    if status.split()[-1:] != ["installed"]:
        raise _not_installed(package, f"dpkg status: {status.strip() or 'unknown'}")
    try:
        listing = _dpkg("dpkg", "-L", package)
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        why = getattr(exc, "stderr", None) or str(exc)
        raise _not_installed(package, why.strip()) from exc
    return [Path(line) for line in listing.splitlines() if line.startswith("/")]


def package_version(package: str) -> str:
    """The installed version of a package (``dpkg-query -W -f='${Version}'``)."""
    try:
        return _dpkg("dpkg-query", "-W", "-f=${Version}", package).strip()
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        raise _not_installed(package, "dpkg-query found no version") from exc


# --------------------------------------------------------------------------------------------
# Audio files, including members of .pk3 archives
# --------------------------------------------------------------------------------------------


def _is_audio(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in AUDIO_EXTENSIONS


def _safe_member(name: str) -> PurePosixPath | None:
    """A zip member name as a relative path, or None if it could escape its folder."""
    member = PurePosixPath(name)
    if member.is_absolute() or ".." in member.parts or not member.parts:
        return None
    return member


def _archive_audio_members(archive: Path) -> list[zipfile.ZipInfo]:
    try:
        with zipfile.ZipFile(archive) as zf:
            return [
                info
                for info in zf.infolist()
                if not info.is_dir() and _is_audio(info.filename) and _safe_member(info.filename)
            ]
    except (OSError, zipfile.BadZipFile) as exc:
        warnings.warn(f"cannot read archive {archive}: {exc}", stacklevel=2)
        return []


def default_extract_root() -> Path:
    """Where :func:`package_audio_files` unpacks archive members when not told otherwise."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "musicgen" / EXTRACTED_DIR


def _extracted_path(extract_root: Path, package: str, archive: Path, member: str) -> Path:
    """Members land where the game sees them: ``<root>/<package>/<archive dir>/<member>``.

    Quake-engine games overlay a .pk3 onto the folder it sits in, so ``base/0music.pk3`` member
    ``music/x.ogg`` is ``base/music/x.ogg``, which is also how debian/copyright names it.
    """
    relative_dir = archive.parent.relative_to(archive.anchor)
    return extract_root / package / relative_dir / PurePosixPath(member)


def _extract_member(archive: Path, info: zipfile.ZipInfo, target: Path) -> None:
    if target.is_file() and target.stat().st_size == info.file_size:
        return  # already unpacked by an earlier run
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(archive) as zf, zf.open(info) as src, open(partial, "wb") as dst:
        shutil.copyfileobj(src, dst, length=1 << 20)
    partial.replace(target)


def package_audio_files(package: str, extract_to: Path | None = None) -> list[Path]:
    """The audio files a Debian package installed, sorted.

    Plain files listed by ``dpkg -L`` with an audio suffix (.ogg/.opus/.flac/.wav/.mp3) are
    returned where they are installed.  Audio inside installed ``.pk3``/``.zip`` archives is
    unpacked under ``extract_to`` (default: :func:`default_extract_root`) and those copies are
    returned, so every path is a regular file.  InputError if the package is not installed.
    """
    root = Path(extract_to) if extract_to is not None else default_extract_root()
    found: set[Path] = set()
    targets: set[Path] = set()  # resolved paths, so a symlinked duplicate counts once
    for path in sorted(_installed_files(package)):
        if not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix in AUDIO_EXTENSIONS:
            if path.resolve() not in targets:
                targets.add(path.resolve())
                found.add(path)
        elif suffix in ARCHIVE_EXTENSIONS:
            for info in _archive_audio_members(path):
                target = _extracted_path(root, package, path, info.filename)
                if target in found:
                    warnings.warn(f"{target} is in two archives; kept the first", stacklevel=2)
                    continue
                _extract_member(path, info, target)
                found.add(target)
    return sorted(found)


def _logical_path(package: str, path: Path, extract_root: Path | None) -> PurePosixPath:
    """The path a file has on the installed system (unpacked members map back into place)."""
    if extract_root is not None:
        base = (extract_root / package).resolve()
        try:
            return PurePosixPath("/") / Path(path).resolve().relative_to(base).as_posix()
        except ValueError:
            pass
    return PurePosixPath(Path(path).as_posix())


def _installed_audio_logical_paths(package: str) -> list[PurePosixPath]:
    """Logical paths of a package's audio without unpacking anything."""
    paths: list[PurePosixPath] = []
    for path in _installed_files(package):
        if not path.is_file():
            continue
        if path.suffix.lower() in AUDIO_EXTENSIONS:
            paths.append(PurePosixPath(path.as_posix()))
        elif path.suffix.lower() in ARCHIVE_EXTENSIONS:
            parent = PurePosixPath(path.parent.as_posix())
            paths.extend(parent / info.filename for info in _archive_audio_members(path))
    return sorted(paths)


# --------------------------------------------------------------------------------------------
# Licences (debian/copyright)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stanza:
    patterns: tuple[str, ...]
    licence: str


def _copyright_path(package: str) -> Path:
    return DOC_DIR / package / "copyright"


def _parse_paragraphs(text: str) -> list[dict[str, str]]:
    """RFC-822 style paragraphs of a DEP-5 file: {field: value}, continuation lines joined."""
    paragraphs: list[dict[str, str]] = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        current: str | None = None
        for line in block.splitlines():
            if line[:1] not in (" ", "\t", "") and ":" in line:
                key, value = line.split(":", 1)
                current = key.strip().lower()
                fields[current] = value.strip()
            elif current is not None:
                fields[current] += "\n" + line.strip()
        if fields:
            paragraphs.append(fields)
    return paragraphs


def _dep5_stanzas(text: str) -> list[_Stanza] | None:
    """The Files stanzas of a machine-readable (DEP-5) copyright file, or None if it is not."""
    paragraphs = _parse_paragraphs(text)
    if not paragraphs:
        return None
    header = paragraphs[0].get("format", "")
    if "copyright-format" not in header and "dep5" not in header.lower():
        return None
    stanzas = []
    for para in paragraphs:
        if "files" in para and para.get("license", "").strip():
            short = para["license"].strip().splitlines()[0].strip()
            stanzas.append(_Stanza(tuple(para["files"].split()), short))
    return stanzas


@lru_cache(maxsize=32)
def _read_copyright(package: str) -> str | None:
    path = _copyright_path(package)
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _matches(pattern: str, path: PurePosixPath) -> bool:
    """DEP-5 patterns are relative to the source tree: match them against path suffixes."""
    if pattern == "*":
        return True
    parts = path.parts[1:] if path.is_absolute() else path.parts
    return any(fnmatch.fnmatchcase("/".join(parts[i:]), pattern) for i in range(len(parts)))


def _dep5_licence(stanzas: Sequence[_Stanza], path: PurePosixPath) -> str | None:
    """The licence of the last stanza whose Files patterns match (DEP-5: last match wins)."""
    licence = None
    for stanza in stanzas:
        if any(_matches(pattern, path) for pattern in stanza.patterns):
            licence = stanza.licence
    return licence


_GPL_RE = re.compile(r"GNU\s+(Lesser\s+|Library\s+)?General\s+Public\s+License", re.I)
_VERSION_RE = re.compile(r"version\s+(\d+(?:\.\d+)?)", re.I)
_LATER_RE = re.compile(r"any\s+later\s+version|or\s+later", re.I)
_CC_RE = re.compile(
    r"Creative\s+Commons\s+Attribution(?P<sa>[-\s]+Share[-\s]?Alike)?\s+(?P<v>\d\.\d)", re.I
)


def _freeform_licence(text: str) -> str | None:
    """Best guess at the main licence of a free-form (non DEP-5) copyright file."""
    flat = " ".join(text.split())
    candidates: list[tuple[int, str]] = []
    gpl = _GPL_RE.search(flat)
    if gpl:
        window = flat[gpl.end() : gpl.end() + 300]
        version = _VERSION_RE.search(window)
        if version:
            tail = window[version.end() : version.end() + 120]
            later = "+" if _LATER_RE.search(tail.split(".")[0]) else ""
            prefix = "LGPL" if gpl.group(1) else "GPL"
            candidates.append((gpl.start(), f"{prefix}-{version.group(1)}{later}"))
    cc = _CC_RE.search(flat)
    if cc:
        kind = "CC-BY-SA" if cc.group("sa") else "CC-BY"
        candidates.append((cc.start(), f"{kind}-{cc.group('v')}"))
    return min(candidates)[1] if candidates else None


def _first_lines(text: str, n: int = 3, limit: int = 200) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    summary = " / ".join(lines[:n])
    return summary if len(summary) <= limit else summary[: limit - 3] + "..."


def _summarise(licences: Iterable[str]) -> str:
    counts = Counter(licences)
    return ", ".join(name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def package_licence(package: str) -> str:
    """A short licence summary from ``/usr/share/doc/<package>/copyright``.

    For a machine-readable (DEP-5) file: the ``License:`` short names of the ``Files:`` stanzas
    that cover the package's audio (most tracks first), e.g. ``"CC-BY-SA-3.0, GPL-2"``.  For a
    free-form file: the licence its text states (``"GPL-2+"``), else its first lines.
    """
    text = _read_copyright(package)
    if text is None:
        raise InputError(
            f"{_copyright_path(package)} is missing, so the licence of {package!r} is unknown. "
            f"Install the package ({_install_command([package])}); if it is installed, dpkg may "
            f"be excluding /usr/share/doc (see /etc/dpkg/dpkg.cfg.d/)."
        )
    stanzas = _dep5_stanzas(text)
    if stanzas is None:
        return _freeform_licence(text) or _first_lines(text)
    covered = [
        licence
        for path in _installed_audio_logical_paths(package)
        if (licence := _dep5_licence(stanzas, path)) is not None
    ]
    if covered:
        return _summarise(covered)
    return _summarise(stanza.licence for stanza in stanzas) or _first_lines(text)


def track_licence(package: str, path: Path, extract_root: Path | None = None) -> str:
    """The licence of one track: its DEP-5 ``Files:`` stanza, else the package summary."""
    text = _read_copyright(package)
    stanzas = _dep5_stanzas(text) if text is not None else None
    if stanzas:
        licence = _dep5_licence(stanzas, _logical_path(package, path, extract_root))
        if licence is not None:
            return licence
    return package_licence(package)


# --------------------------------------------------------------------------------------------
# Split
# --------------------------------------------------------------------------------------------


def _split_key(path: Path, package: str | None) -> str:
    name = Path(path).name
    return f"{package}/{name}" if package else name


def _hash_unit(key: str) -> float:
    """A number in [0, 1) from SHA-256: the same on every machine and every Python run."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_of(path: Path, heldout_fraction: float = 0.15, package: str | None = None) -> str:
    """``"heldout"`` or ``"train"`` for a track, from a stable hash of package + file name.

    Only the file name (not the folder) and the package name count, so the answer is the same
    wherever the file lives.  :func:`prepare_corpus` additionally moves one track per package
    to held-out when the hash leaves a package with none (see :func:`assign_splits`); the
    manifest is the authority.
    """
    if not 0.0 <= heldout_fraction <= 1.0:
        raise InputError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction}")
    return "heldout" if _hash_unit(_split_key(path, package)) < heldout_fraction else "train"


def assign_splits(
    package: str, paths: Sequence[Path], heldout_fraction: float = 0.15
) -> dict[Path, str]:
    """:func:`split_of` for each of a package's tracks, with at least one held-out track.

    If the hash holds out none of a package's tracks (and the package has two or more and the
    fraction is above 0), the track with the smallest hash value is held out instead.
    """
    splits = {p: split_of(p, heldout_fraction, package=package) for p in paths}
    if heldout_fraction > 0 and len(paths) >= 2 and "heldout" not in splits.values():
        chosen = min(paths, key=lambda p: (_hash_unit(_split_key(p, package)), str(p)))
        splits[chosen] = "heldout"
    return splits


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------


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
            f"No corpus manifest at {path}: run `python -m musicgen.corpus --out {path.parent}`."
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


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m musicgen.corpus",
        description="Index the installed corpus packages into OUT/manifest.json.",
    )
    parser.add_argument("--out", type=Path, default=Path("data/corpus"), help="output folder")
    parser.add_argument("--heldout-fraction", type=float, default=0.15)
    parser.add_argument(
        "--packages", nargs="+", default=list(PACKAGES), help="Debian packages to index"
    )
    args = parser.parse_args(argv)
    try:
        manifest = prepare_corpus(args.out, args.packages, args.heldout_fraction)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
