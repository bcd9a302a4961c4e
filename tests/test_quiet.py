"""TensorFlow's first import runs with stderr (fd 2) silenced; everything after it prints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from musicgen import quiet


def _noisy_module(folder: Path, name: str) -> None:
    """A module that writes to file descriptor 2 while it is imported, as C++ start-up does."""
    (folder / f"{name}.py").write_text(
        "import os\nos.write(2, b'start-up noise\\n')\nVALUE = 42\n")


def test_the_first_import_is_silent_and_the_module_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    for name in ("noisy_quiet", "noisy_loud"):
        _noisy_module(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    quiet.install("noisy_quiet")
    try:
        import noisy_loud  # type: ignore[import-not-found]
        import noisy_quiet  # type: ignore[import-not-found]
    finally:
        quiet.uninstall("noisy_quiet")
        for name in ("noisy_quiet", "noisy_loud"):
            sys.modules.pop(name, None)
    assert noisy_quiet.VALUE == 42 and noisy_loud.VALUE == 42
    err = capfd.readouterr().err
    assert err.count("start-up noise") == 1  # the other module's, not the silenced one's
    # the finder removed itself: later output reaches stderr again
    assert not any(isinstance(f, quiet.QuietImportFinder) and f.name == "noisy_quiet"
                   for f in sys.meta_path)
    print("after", file=sys.stderr)
    assert "after" in capfd.readouterr().err


def test_uninstall_lets_the_import_print(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    _noisy_module(tmp_path, "noisy_verbose")
    monkeypatch.syspath_prepend(str(tmp_path))
    quiet.install("noisy_verbose")
    quiet.uninstall("noisy_verbose")  # what --verbose does
    try:
        import noisy_verbose  # type: ignore[import-not-found]  # noqa: F401
    finally:
        sys.modules.pop("noisy_verbose", None)
    assert "start-up noise" in capfd.readouterr().err
