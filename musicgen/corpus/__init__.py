"""The training corpus: freely licensed game music from four Debian packages.

musicgen's shipped models are trained only on the music installed by the Debian packages in
:data:`PACKAGES`. Nothing here downloads audio and no audio is ever committed: install the
packages with ``scripts/install_corpus.sh`` (or ``apt-get``), then run::

    python -m musicgen corpus --out data/corpus

which writes ``data/corpus/manifest.json``. The parts:

- :mod:`~musicgen.corpus.debian`: installed packages and their audio files (unpacking the
  ``.pk3`` archives of ``ufoai-music`` and ``nexuiz-music`` under ``<out>/extracted/``);
- :mod:`~musicgen.corpus.licences`: each track's licence from ``debian/copyright``;
- :mod:`~musicgen.corpus.manifest`: the manifest, written and read back.

The train / held-out split is :mod:`musicgen.tracks`'s: by track, from a SHA-256 hash of the
package and file name, so every machine puts the same track on the same side.
"""

from musicgen.corpus.debian import PACKAGES, package_audio_files, package_version
from musicgen.corpus.licences import package_licence, track_licence
from musicgen.corpus.manifest import Track, load_manifest, prepare_corpus, tracks_for
from musicgen.tracks import assign_splits, split_of

__all__ = ["PACKAGES", "Track", "assign_splits", "load_manifest", "package_audio_files",
           "package_licence", "package_version", "prepare_corpus", "split_of",
           "track_licence", "tracks_for"]
