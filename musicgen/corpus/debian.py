"""The Debian side of the corpus: is a package installed, which audio files did it install.

Audio inside a package's ``.pk3``/``.zip`` archives (Quake-engine games keep their music
there) is unpacked so that every track is a plain file soundfile/librosa can open.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from musicgen.errors import InputError
from musicgen.tracks import is_audio

PACKAGES: tuple[str, ...] = (
    "wesnoth-1.16-music",
    "warzone2100-music",
    "ufoai-music",
    "nexuiz-music",
)

ARCHIVE_EXTENSIONS: frozenset[str] = frozenset({".pk3", ".zip"})
"""Zip archives whose audio members are unpacked (Quake-engine games keep music in .pk3)."""

EXTRACTED_DIR = "extracted"

_INSTALL_HINT = "sudo apt-get install -y --no-install-recommends {packages}"




def install_command(packages: Iterable[str]) -> str:
    return _INSTALL_HINT.format(packages=" ".join(packages))


def _dpkg(*args: str) -> str:
    """Run a dpkg tool and return its stdout; raise CalledProcessError / FileNotFoundError."""
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return result.stdout


def _not_installed(package: str, why: str) -> InputError:
    return InputError(
        f"Debian package {package!r} is not installed ({why}). Install it with:\n"
        f"    {install_command([package])}\n"
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
            f"({install_command([package])})."
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
                if not info.is_dir() and is_audio(info.filename) and _safe_member(info.filename)
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
        if is_audio(path):
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


def logical_path(package: str, path: Path, extract_root: Path | None) -> PurePosixPath:
    """The path a file has on the installed system (unpacked members map back into place)."""
    if extract_root is not None:
        base = (extract_root / package).resolve()
        try:
            return PurePosixPath("/") / Path(path).resolve().relative_to(base).as_posix()
        except ValueError:
            pass
    return PurePosixPath(Path(path).as_posix())


def installed_audio_logical_paths(package: str) -> list[PurePosixPath]:
    """Logical paths of a package's audio without unpacking anything."""
    paths: list[PurePosixPath] = []
    for path in _installed_files(package):
        if not path.is_file():
            continue
        if is_audio(path):
            paths.append(PurePosixPath(path.as_posix()))
        elif path.suffix.lower() in ARCHIVE_EXTENSIONS:
            parent = PurePosixPath(path.parent.as_posix())
            paths.extend(parent / info.filename for info in _archive_audio_members(path))
    return sorted(paths)
