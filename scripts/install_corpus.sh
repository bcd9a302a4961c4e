#!/usr/bin/env bash
# Install the four freely licensed Debian music packages musicgen trains on, then index them
# into data/corpus/manifest.json (data/ is git-ignored; no audio is ever committed).
#
#   scripts/install_corpus.sh            # needs root or sudo, and a Debian/Ubuntu system
#   PYTHON=.venv/bin/python scripts/install_corpus.sh
set -euo pipefail

PACKAGES=(wesnoth-1.16-music warzone2100-music ufoai-music nexuiz-music)
PYTHON="${PYTHON:-python}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${PACKAGES[@]}"

"$PYTHON" -m musicgen corpus --out data/corpus
