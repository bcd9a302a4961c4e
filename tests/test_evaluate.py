"""evaluate: every figure is produced, finite where defined, on a tiny model and made-up music."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from musicgen.cli import main
from musicgen.errors import InputError
from musicgen.evaluate import EvaluationConfig, evaluate
from musicgen.generate import GenerateOptions, GenerationResult, Generator
from musicgen.next_beat_eval import CHOOSERS


def test_evaluate_reports_codec_prior_baselines_and_both_renderers(
        tiny_run: dict[str, Path], music_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[tuple[str, int, bool]] = []  # (render, random seed, use prior) of each call
    generate = Generator.generate

    def recording(self: Generator, seed: tuple[int, np.ndarray],
                  options: GenerateOptions) -> GenerationResult:
        used.append((options.render, options.random_seed, options.use_prior))
        return generate(self, seed, options)

    monkeypatch.setattr(Generator, "generate", recording)
    config = EvaluationConfig(seeds=2, renders_per_seed=2, seed_seconds=4.0, new_seconds=4.0,
                              cache_dir=None)
    report = evaluate(tiny_run["gru"], [str(music_folder)], config, compare=[tiny_run["lstm"]])
    assert report["heldout_tracks"] >= 1
    assert report["codec"]["rmse_db"] > 0
    assert len(report["codec"]["perplexity"]) == 2
    prior = report["prior"]
    assert set(prior["baselines_bits_per_second"]) == {"unigram", "bigram", "trigram"}
    assert prior["bits_per_step"] > 0 and math.isfinite(prior["ratio_to_best_baseline"])
    generation = report["generation"]
    lstm_row = f"seed, {tiny_run['lstm'].name}"
    assert {"synth", "seed", lstm_row, "seed, uniform prior", "true continuation"} <= set(
        generation)
    for name in ("seed", lstm_row):  # the trained priors steer: they agree and weigh in
        assert 0.0 <= generation[name]["prior_agreement"] <= 1.0
        assert 0.0 <= generation[name]["prior_variance_share"] <= 1.0
    assert math.isnan(generation["seed, uniform prior"]["prior_agreement"])
    for name in ("synth", "seed", lstm_row, "seed, uniform prior", "true continuation"):
        assert 0.0 <= generation[name]["jarring_share"] <= 1.0, name
    for name in ("synth", "seed", "seed, uniform prior"):
        row = generation[name]
        for key in ("static_share", "change_ratio", "flatness_ratio", "pulse_ratio",
                    "chroma_ratio", "loop_share", "jumps_per_10s", "longest_verbatim_s",
                    "seam_excess_p90_db", "silent_fraction", "render_s"):
            assert key in row and math.isfinite(row[key]), (name, key, row.get(key))
        assert 0.0 <= row["static_share"] <= 1.0
    assert generation["seed"]["jumps_per_10s"] > 0
    # every seed is rendered twice, each render with its own random seed; the truth once
    for name in ("synth", "seed", lstm_row, "seed, uniform prior"):
        assert generation[name]["renders"] == 4, name
    assert generation["true continuation"]["renders"] == 2
    # each seed-renderer row's means, against the uniform choice and the truth on the same
    # seeds (tests/test_intervals.py checks the intervals themselves)
    for name in ("seed", lstm_row):
        paired = generation[name]["paired"]
        assert set(paired) == {"jarring_share", "pulse_ratio", "loop_share", "tempo_kept"}
        assert 0.0 <= paired["jarring_share"]["mean"] <= 1.0
        assert {"uniform", "true"} <= set(paired["jarring_share"])
    assert "true" in generation["seed, uniform prior"]["paired"]["jarring_share"]
    assert "paired" not in generation["synth"]
    for name in ("synth", "seed", "true continuation"):  # the toy music has a clear beat
        assert generation[name]["clear_beat_seeds"] == 2, name  # seeds, not renders
    seed_rows = [s for render, s, use_prior in used if render == "seed" and not use_prior]
    assert len(seed_rows) == 4 and len(set(seed_rows)) == 4  # no random seed repeats
    # the next-beat table: one row per prior, every chooser (tests/test_next_beat_eval.py
    # checks what they find; 4 s seeds hold too few bars to judge many beats)
    next_beat = report["next_beat"]
    assert set(next_beat) == {tiny_run["gru"].name, tiny_run["lstm"].name}
    for row in next_beat.values():
        assert set(row) == {"beats", "over_costs", *CHOOSERS} and row["beats"] >= 0


def test_evaluate_cli_writes_json(tiny_run: dict[str, Path], music_folder: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    assert main(["evaluate", "--checkpoint", str(tiny_run["lstm"]), "--data", str(music_folder),
                 "--seeds", "1", "--renders-per-seed", "1", "--seed-seconds", "4",
                 "--new-seconds", "3",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "codec: RMSE" in printed and "seed, uniform prior" in printed
    assert "next beat (share right)" in printed
    assert "1 held-out seeds x 1 renders each" in printed
    assert "paired: mean over every render" in printed
    report = json.loads(out.read_text())
    assert report["arch"] == "lstm" and report["generation"]["seed"]["renders"] == 1


def test_evaluation_needs_a_seed_and_a_render() -> None:
    for bad in ({"seeds": 0}, {"renders_per_seed": 0}):
        with pytest.raises(InputError, match="at least 1"):
            EvaluationConfig(**bad)
    EvaluationConfig(seeds=0, chain_only=True)  # the chain table alone renders nothing
