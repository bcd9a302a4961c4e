"""The beat chooser: its features, its numpy forward pass, its training and its say in the
seed renderer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from musicgen.checkpoint import CHOOSER_FILE, META_FILE, load_prior, save_chooser
from musicgen.chooser.features import LAGS, SCALAR_FEATURES, SEQ_FEATURES, decision_features
from musicgen.chooser.model import BeatChooser, ChooserConfig, build_scorer
from musicgen.chooser.train import fit_chooser, make_records, top_share
from musicgen.config import ChooserTraining
from musicgen.errors import CheckpointError
from musicgen.evaluate import SeedClip
from musicgen.generate import GenerateOptions, Generator
from musicgen.render.beat_change import BeatChange
from musicgen.render.units import place_units
from musicgen.toymusic import arpeggio, bar_chords, click_and_chords, drifting_pad


@pytest.fixture(scope="module")
def generator(tiny_run: dict[str, Path]) -> Generator:
    return Generator.load(tiny_run["gru"])


@pytest.mark.parametrize("arch", ["gru", "lstm"])
def test_numpy_forward_matches_keras(arch: str) -> None:
    config = ChooserConfig(arch=arch)
    scorer = build_scorer(config)
    rng = np.random.default_rng(0)
    for layer in scorer.layers:  # non-zero biases too, so that every term is exercised
        layer.set_weights([w + rng.normal(0, 0.3, w.shape) for w in layer.get_weights()])
    seq = rng.random((5, LAGS, SEQ_FEATURES)).astype(np.float32)
    scalars = rng.random((5, SCALAR_FEATURES)).astype(np.float32)
    expected = scorer.predict([seq, scalars], verbose=0)[:, 0]
    chooser = BeatChooser.from_model(scorer, config)
    np.testing.assert_allclose(chooser.scores(seq, scalars), expected, atol=1e-4)
    log_p = chooser.log_choice(seq, scalars)
    assert np.exp(log_p).sum() == pytest.approx(1.0)
    assert np.argmax(log_p) == np.argmax(expected)


def _change(generator: Generator, audio: np.ndarray) -> tuple[BeatChange, int]:
    seed = generator.prepare_seed((generator.sample_rate, audio))
    codec = generator.codec
    beat = int(round(0.5 * codec.steps_per_second))  # 120 bpm
    return BeatChange(seed.audio, seed.log_mel, len(seed.codes), codec.samples_per_step,
                      codec.config.frames_per_step, generator.sample_rate, beat), beat


def test_features_compare_candidates_with_the_beats_heard(generator: Generator) -> None:
    change, beat = _change(generator, arpeggio(8, generator.sample_rate, bpm=120))
    units = change.units
    history = np.arange(units)  # heard: the seed itself
    last = units - beat  # the last beat heard, and a candidate unlike it (two bars back)
    candidates = np.array([last, last - 4 * beat - 2])
    seq, scalars = decision_features(change, history, candidates, np.zeros(2), units)
    assert seq.shape == (2, LAGS, SEQ_FEATURES) and scalars.shape == (2, SCALAR_FEATURES)
    # lag 1 is the last column: the candidate that is the last beat has no change from it
    assert seq[0, -1, 0] == pytest.approx(0.0, abs=1e-6)
    assert seq[0, -1, 1] == pytest.approx(0.0, abs=1e-6)
    assert seq[1, -1, :2].max() > 0.1
    # the history's change to its own last beat is 0 at lag 1, whatever the candidate
    np.testing.assert_allclose(seq[:, -1, 4:6], 0.0, atol=1e-6)
    assert (seq[..., 6] == 1).all()  # 8 s at 120 bpm: all 12 history beats exist
    # a history shorter than the lags: the missing beats are zeros, flagged absent
    short, _ = decision_features(change, history[-3 * beat:], candidates, np.zeros(2), units)
    assert (short[:, :-3, 6] == 0).all() and (short[:, -3:, 6] == 1).all()
    assert (short[:, :-3, :6] == 0).all()
    assert scalars[0, 1] > scalars[1, 1]  # the later candidate sits later in the seed
    # heard up to a beat before the end: the seed's last beat is then a candidate whose beat
    # before it is the last heard (the seed reached it from there), the other is not
    earlier = np.arange(units - beat)
    seq, _ = decision_features(change, earlier, candidates, np.zeros(2), units)
    np.testing.assert_allclose(seq[0, -1, 2:4], 0.0, atol=1e-6)
    assert seq[1, -1, 2:4].max() > 0.1


def test_chooser_steers_where_the_renderer_jumps(generator: Generator, place_chooser) -> None:
    sr = generator.sample_rate
    seed = generator.prepare_seed((sr, click_and_chords(8, sr, bpm=120, seed=2)))
    steps = int(np.ceil(10 * generator.codec.steps_per_second))
    options = GenerateOptions(context_seconds=2.0, temperature=0.2)
    landings = {}
    for name, sign in (("latest", 1.0), ("earliest", -1.0)):
        out = place_units(generator.step_prior, generator.codec, seed, steps, options,
                          np.random.default_rng(0), chooser=place_chooser(sign))
        assert out.info["jumps"] >= 3
        landings[name] = np.array([src for _, src, _ in out.segments[1:]]) / len(seed.audio)
    assert np.median(landings["latest"]) > 0.6
    assert np.median(landings["earliest"]) < 0.4


def test_a_seed_without_a_pulse_keeps_the_lookahead(generator: Generator, place_chooser) -> None:
    """The chooser learnt on beats: a pulse-free seed is steered by the prior's lookahead, and
    without a prior by the costs alone."""
    sr = generator.sample_rate
    seed = generator.prepare_seed((sr, drifting_pad(8, sr, seed=1)))
    steps = int(np.ceil(4 * generator.codec.steps_per_second))
    options = GenerateOptions(context_seconds=2.0)
    for prior, expected in ((generator.step_prior, "lookahead"), (None, "costs")):
        out = place_units(prior, generator.codec, seed, steps, options,
                          np.random.default_rng(0), chooser=place_chooser(1.0))
        assert out.info["beat_mode"] == "free"
        assert out.info["steered_by"] == expected


def _clips(sr: int, count: int, seed: int) -> list[SeedClip]:
    """Four-chord progressions, a chord a bar (`toymusic.bar_chords`), at varied tempos: after
    a bar's last beat comes the next chord, which the last beat heard does not tell (the costs
    stay on its chord) and the chords heard before do (the next is the one not heard for
    longest)."""
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(count):
        roots = tuple(int(c) for c in 48 + rng.choice(12, 4, replace=False))
        audio = bar_chords(16, sr, roots, bpm=float(rng.uniform(110, 130)))
        clips.append(SeedClip(f"toy{i}", 0.0, audio[: 8 * sr], audio[8 * sr:]))
    return clips


def test_training_learns_what_the_costs_miss(generator: Generator) -> None:
    sr = generator.sample_rate
    training = ChooserTraining(epochs=8, batch_size=32)
    train = make_records(generator, _clips(sr, 16, seed=1), training.max_candidates)
    held = make_records(generator, _clips(sr, 6, seed=2), training.max_candidates)
    assert len(train) > 100 and len(held) > 30
    scorer, figures = fit_chooser(train, held, ChooserConfig(), training, log=lambda _: None)
    chooser = BeatChooser.from_model(scorer, ChooserConfig())
    scores = np.stack([chooser.scores(s, k) for s, k in zip(held.seq, held.scalars,
                                                             strict=True)])
    learned, costs = top_share(scores, held), top_share(-held.costs, held)
    assert learned == pytest.approx(figures["validation_top_share"], abs=1e-4)
    assert figures["validation_costs_top_share"] == pytest.approx(costs, abs=1e-4)
    assert learned > costs + 0.1, (learned, costs)


def test_checkpoint_keeps_the_chooser(tiny_run: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "prior-gru"
    shutil.copytree(tiny_run["gru"], folder)
    (tmp_path / "codec").symlink_to(tiny_run["codec"], target_is_directory=True)
    assert load_prior(folder).chooser is None  # trained before its chooser: the lookahead
    config = ChooserConfig(arch="gru")
    scorer = build_scorer(config)
    save_chooser(folder, scorer, config, metrics={"validation_top_share": 0.5})
    loaded = load_prior(folder)
    assert loaded.chooser is not None
    assert loaded.meta["chooser"]["metrics"]["validation_top_share"] == 0.5
    seq = np.random.default_rng(1).random((3, LAGS, SEQ_FEATURES))
    scalars = np.random.default_rng(2).random((3, SCALAR_FEATURES))
    np.testing.assert_allclose(loaded.chooser.scores(seq, scalars),
                               BeatChooser.from_model(scorer, config).scores(seq, scalars))
    meta = json.loads((folder / META_FILE).read_text())  # a GRU's weights, an LSTM's config
    meta["chooser"]["config"]["arch"] = "lstm"
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match its config"):
        load_prior(folder)
    (folder / CHOOSER_FILE).unlink()
    with pytest.raises(CheckpointError, match="model file missing"):
        load_prior(folder)
    assert META_FILE in {p.name for p in folder.iterdir()}
