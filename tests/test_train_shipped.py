"""scripts/train_shipped.sh end to end with PRESET=tiny on music the tests make: it trains,
measures, ships and regenerates the card, and a second run resumes (skips what is done)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from musicgen.checkpoint import load_prior

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_shipped.sh"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", str(SCRIPT)], env={**os.environ, **env}, cwd=ROOT,
                            capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_train_shipped_tiny_then_resume(music_folder: Path, tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    card = tmp_path / "card.md"
    shutil.copy(ROOT / "checkpoints" / "README.md", card)
    env = {
        "PYTHON": sys.executable, "RUNS": str(tmp_path / "runs"), "PRESET": "tiny",
        "DATA": str(music_folder),
        "CODEC_MINUTES": "2", "PRIOR_MINUTES": "2", "CODEC_EPOCHS": "2", "PRIOR_EPOCHS": "2",
        "MORE_MINUTES": "2", "MORE_EPOCHS": "1",
        "CHECKPOINTS": str(checkpoints), "CARD_DOCUMENTS": str(card),
        "EVAL_ARGS": "--seeds 1 --renders-per-seed 1 --seed-seconds 3 --new-seconds 3 "
                     "--no-baselines --chain-windows 1 --chain-seconds 6",
        "CHOOSER_ARGS": "--clips 8 --validation-clips 2 --epochs 1 --seed-seconds 8 "
                        "--continuation-seconds 4",
    }
    first = _run(env)
    for stage in ("training the codec and the GRU prior", "training the LSTM prior",
                  "training the gru prior on", "training the lstm prior on",
                  "training the gru beat chooser", "training the lstm beat chooser",
                  "evaluating prior-gru", "evaluating prior-lstm", "copied codec"):
        assert stage in first.stdout
    for arch in ("gru", "lstm"):
        bundle = load_prior(checkpoints / f"prior-{arch}")  # its codec, by SHA-256, shipped too
        figures = bundle.meta["metrics"]["evaluate"]
        assert bundle.meta["provenance"]["init_prior"]["folder"] == f"prior-{arch}"
        first_run = bundle.meta["provenance"]["init_prior"]["metrics"]["prior_epochs"]
        assert bundle.meta["metrics"]["prior_epochs"] == first_run + 1
        assert "codec round trip, quantized" in figures["chain"]["rows"]
        assert "synth" in figures["generation"]
        # the GRU's table holds the LSTM's rows too (--compare), as the shipped one does
        assert ("seed, prior-lstm" in figures["generation"]) == (arch == "gru")
        assert bundle.chooser is not None and figures["steered_by"] == "beat chooser"
    codec_meta = json.loads((checkpoints / "codec" / "musicgen.json").read_text())
    assert codec_meta["metrics"]["codec_epochs"] >= 1
    text = card.read_text()
    assert "| codec round trip, quantized |" in text and "Not measured" not in text
    shipped = {p: p.read_bytes() for p in checkpoints.rglob("musicgen.json")}

    second = _run(env)  # everything is done: nothing is trained or measured again
    assert "training" not in second.stdout and "evaluating" not in second.stdout
    assert {p: p.read_bytes() for p in checkpoints.rglob("musicgen.json")} == shipped
