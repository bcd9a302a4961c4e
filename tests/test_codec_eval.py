"""The codec chain table (evaluate --chain-only): rows, baselines and what they measure."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musicgen.checkpoint import load_codec
from musicgen.codec import dequantize, quantize
from musicgen.codec_eval import CHAIN_ROWS, ChainConfig, chain_lines, chain_report
from musicgen.codec_init import residual_kmeans
from musicgen.tracks import discover_audio


def test_residual_kmeans_each_level_reduces_the_error() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 6)) * 5
    data = (centres[rng.integers(0, 8, 2000)] + rng.normal(size=(2000, 6)) * 0.3)
    books = residual_kmeans(data, 3, 8, 15, np.random.default_rng(1))
    assert books.shape == (3, 8, 6)
    errors = [np.sqrt(np.mean((dequantize(quantize(data, books[:k]), books[:k]) - data) ** 2))
              for k in (1, 2, 3)]
    spread = np.sqrt(np.mean((data - data.mean(0)) ** 2))
    assert errors[0] < 0.5 * spread  # clusters found (Lloyd from random picks may merge two)
    assert errors[2] < errors[1] < errors[0]


def test_chain_report_on_the_tiny_codec(tiny_run: dict[str, Path], music_folder: Path) -> None:
    codec = load_codec(tiny_run["codec"])
    tracks = discover_audio([str(music_folder)])
    config = ChainConfig(windows=2, window_seconds=6.0, fit_vectors=400, kmeans_iterations=4)
    chain = chain_report(codec, tracks[:2], tracks[2:], config, log=lambda line: None)
    rows = chain["rows"]
    assert list(rows) == list(CHAIN_ROWS)
    assert len(chain["windows"]) == 2
    assert rows["true audio"]["flatness_ratio"] == 1.0 and rows["true audio"]["rmse_db"] == 0
    assert rows["vocoder of the true log-mel"]["rmse_db"] == 0
    for name in CHAIN_ROWS[2:]:
        assert 0.1 < rows[name]["rmse_db"] < 40, name
        assert np.isfinite(rows[name]["flatness_ratio"]), name
    # quantizing cannot bring the decoder closer than no quantizer on average, nor one level
    # closer than all of them, by much: the rows are the named round trips, not one repeated
    assert rows["codec, first level only"]["rmse_db"] != rows["codec round trip, quantized"][
        "rmse_db"]
    assert rows["codec round trip, unquantized"]["rmse_db"] != rows[
        "codec round trip, quantized"]["rmse_db"]
    lines = chain_lines(chain, {"flatness_ratio": 5.0, "pulse_ratio": 0.4, "change_ratio": 0.7,
                                "static_share": 0.1})
    assert len(lines) == 1 + len(CHAIN_ROWS) + 1 and "synth continuation" in lines[-1]
