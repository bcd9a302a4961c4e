"""Licences of the corpus's tracks, read from each package's ``debian/copyright``."""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from musicgen.corpus.debian import install_command, installed_audio_logical_paths, logical_path
from musicgen.errors import InputError

DOC_DIR = Path("/usr/share/doc")




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
            f"Install the package ({install_command([package])}); if it is installed, dpkg may "
            f"be excluding /usr/share/doc (see /etc/dpkg/dpkg.cfg.d/)."
        )
    stanzas = _dep5_stanzas(text)
    if stanzas is None:
        return _freeform_licence(text) or _first_lines(text)
    covered = [
        licence
        for path in installed_audio_logical_paths(package)
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
        licence = _dep5_licence(stanzas, logical_path(package, path, extract_root))
        if licence is not None:
            return licence
    return package_licence(package)
