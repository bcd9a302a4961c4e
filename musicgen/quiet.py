"""TensorFlow's start-up lines, kept off the terminal unless asked for.

TF_CPP_MIN_LOG_LEVEL silences most of them, but TensorFlow 2.21 logs some through absl before
that setting is read: on CPUs with AVX-512 (where oneDNN is on by default) every process
printed "oneDNN custom operations are on ..." twice, with absl's "log messages before
absl::InitializeLog()" banner. They are written only while `tensorflow` is first imported,
so that import runs with the process's stderr (file descriptor 2, which C++ writes to)
pointed at /dev/null. A finder on `sys.meta_path` does it when something first imports
TensorFlow (Keras, usually), so commands that never need it never load it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any


@contextmanager
def stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block (C++ output included)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _SilentLoader(importlib.abc.Loader):
    """The real loader, executing the module with stderr silenced."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with stderr_silenced():
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # resource readers, is_package, ...
        return getattr(self._loader, name)


class QuietImportFinder(importlib.abc.MetaPathFinder):
    """Finds module `name` as usual, once, and hands back a spec whose loader is silent."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        uninstall(self.name)  # once; and the lookup below must find the real spec
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _SilentLoader(spec.loader)
        return spec


def install(name: str = "tensorflow") -> None:
    """Silence top-level module `name`'s first import (a no-op once it is imported or already
    installed)."""
    if name not in sys.modules and not any(
            isinstance(f, QuietImportFinder) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, QuietImportFinder(name))


def uninstall(name: str = "tensorflow") -> None:
    """Let `name`'s import print again (`--verbose`)."""
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not (isinstance(f, QuietImportFinder) and f.name == name)]
