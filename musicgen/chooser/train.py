"""Fit a beat chooser for a trained prior checkpoint (`python -m musicgen train-chooser`).

Examples are decisions along true continuations (`walk`) of seed windows cut from the
training tracks; the weights kept are the epoch's whose top choice is right most often on
windows from the choosing tracks (the ones that chose the prior's weights; a corpus
manifest's held-out tracks stay for `evaluate`). Minutes on two CPU cores, so a run is simply
repeated rather than resumed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from musicgen.chooser.features import LAGS, SCALAR_FEATURES, SEQ_FEATURES
from musicgen.chooser.model import (
    ChooserConfig,
    build_scorer,
    build_training_model,
    soft_choice_loss,
)
from musicgen.chooser.walk import first_choice_share, walk_features, walk_true_continuation
from musicgen.config import ChooserTraining, to_dict
from musicgen.errors import InputError
from musicgen.generate import Generator

Log = Callable[[str], None]


@dataclass
class Records:
    """Decisions as arrays: candidates padded to C, `mask` marks the real ones."""

    seq: np.ndarray  # [N, C, lags, SEQ_FEATURES]
    scalars: np.ndarray  # [N, C, SCALAR_FEATURES]
    mask: np.ndarray  # [N, C] float 0/1
    answers: np.ndarray  # [N, C] float 0/1
    costs: np.ndarray  # [N, C] the join costs (inf on padding)

    def __len__(self) -> int:
        return len(self.seq)


def make_records(generator: Generator, clips: Sequence[Any], max_candidates: int,
                 lags: int = LAGS, log: Log | None = None) -> Records:
    """Records of every judged beat of `clips` (objects with `.seed` and `.truth`)."""
    rows: list[tuple[np.ndarray, ...]] = []
    tic = time.perf_counter()
    for i, clip in enumerate(clips):
        walk = walk_true_continuation(generator, clip.seed, clip.truth)
        if walk is None:
            continue
        for step, (seq, scalars) in zip(walk.steps, walk_features(walk, lags), strict=True):
            keep = slice(-max_candidates, None)  # the latest: nearest the seed's end
            answers = np.zeros(len(step.candidates))
            answers[step.answers] = 1.0
            if answers[keep].any():
                rows.append((seq[keep], scalars[keep], answers[keep], step.cost[keep]))
        if log and (i + 1) % 100 == 0:
            log(f"  {i + 1}/{len(clips)} windows, {len(rows)} decisions, "
                f"{time.perf_counter() - tic:.0f} s")
    n, c = len(rows), max_candidates
    records = Records(np.zeros((n, c, lags, SEQ_FEATURES), np.float32),
                      np.zeros((n, c, SCALAR_FEATURES), np.float32),
                      np.zeros((n, c), np.float32), np.zeros((n, c), np.float32),
                      np.full((n, c), np.inf, np.float32))
    for i, (seq, scalars, answers, cost) in enumerate(rows):
        k = len(answers)
        records.seq[i, :k], records.scalars[i, :k] = seq, scalars
        records.mask[i, :k], records.answers[i, :k], records.costs[i, :k] = 1.0, answers, cost
    return records


def top_share(scores: np.ndarray, records: Records) -> float:
    """The mean of `first_choice_share` over the decisions (padding left out)."""
    if not len(scores):
        return float("nan")
    return float(np.mean([first_choice_share(s[m > 0], np.flatnonzero(a[m > 0]))
                          for s, a, m in zip(scores, records.answers, records.mask,
                                             strict=True)]))


def fit_chooser(train: Records, validation: Records, config: ChooserConfig,
                training: ChooserTraining, log: Log = print) -> tuple[keras.Model,
                                                                      dict[str, Any]]:
    """Fit; keep the epoch with the best validation top share. Returns (scorer, figures)."""
    if len(train) == 0 or len(validation) == 0:
        raise InputError("no judged decisions: the windows had no steady pulse (the chooser "
                         "learns where jumps land on the beat)")
    keras.utils.set_random_seed(training.random_seed)
    scorer = build_scorer(config)
    model = build_training_model(scorer, config, train.seq.shape[1])
    model.compile(keras.optimizers.Adam(training.learning_rate), soft_choice_loss)
    inputs = [train.seq, train.scalars, train.mask]
    held = [validation.seq, validation.scalars, validation.mask]
    best, best_weights, curve = -1.0, scorer.get_weights(), []
    for epoch in range(training.epochs):
        tic = time.perf_counter()
        loss = model.fit(inputs, train.answers, batch_size=training.batch_size, epochs=1,
                         shuffle=True, verbose=0).history["loss"][-1]
        share = top_share(model.predict(held, batch_size=512, verbose=0), validation)
        curve.append(round(share, 4))
        log(f"  epoch {epoch + 1}/{training.epochs}: loss {loss:.3f}, validation top choice "
            f"right {share:.3f} ({time.perf_counter() - tic:.0f} s)")
        if share > best:
            best, best_weights = share, scorer.get_weights()
    scorer.set_weights(best_weights)
    figures = {"decisions": len(train), "validation_decisions": len(validation),
               "validation_top_share": round(best, 4), "validation_curve": curve,
               "validation_costs_top_share": round(top_share(-validation.costs, validation), 4),
               "validation_chance": round(float(np.mean(
                   validation.answers.sum(1) / validation.mask.sum(1))), 4)}
    return scorer, figures


def train_chooser(checkpoint: str | Path, sources: Sequence[str], training: ChooserTraining,
                  config: ChooserConfig | None = None, log: Log = print,
                  lags: int = LAGS) -> dict[str, Any]:
    """Fit a chooser on `sources` and save it into the prior checkpoint `checkpoint`; without
    a `config`, one of the prior's architecture comparing `lags` history beats."""
    from musicgen.checkpoint import save_chooser
    from musicgen.evaluate import EvaluationConfig, pick_seeds
    from musicgen.train import selection_split

    training.validate()
    generator = Generator.load(checkpoint)
    config = config or ChooserConfig(arch=generator.bundle.config.arch, lags=lags)
    # the prior's own split, so that the choosing tracks are the ones that chose its weights
    fraction = generator.bundle.meta.get("provenance", {}).get("train", {}).get(
        "heldout_fraction", training.heldout_fraction)
    split = selection_split(sources, fraction)
    sr = generator.sample_rate
    records = {}
    for name, tracks, count, offset in (("train", split.train, training.clips, 0),
                                        ("validation", split.heldout,
                                         training.validation_clips, 1)):
        try:
            clips = pick_seeds(tracks, sr, EvaluationConfig(
                seeds=count, seed_seconds=training.seed_seconds,
                new_seconds=training.continuation_seconds,
                random_seed=training.random_seed + offset,
                max_track_seconds=training.max_track_seconds))
        except InputError as error:
            need = training.seed_seconds + training.continuation_seconds
            raise InputError(f"no {name} track lasts {need:g} s, a seed window and its "
                             "continuation (--seed-seconds, --continuation-seconds)") from error
        log(f"{name}: {len(clips)} windows from {len(tracks)} tracks")
        records[name] = make_records(generator, clips, training.max_candidates, config.lags,
                                     log)
    scorer, figures = fit_chooser(records["train"], records["validation"], config, training,
                                  log)
    provenance = {"training": to_dict(training), "train_tracks": len(split.train),
                  "choosing_tracks": len(split.heldout)}
    save_chooser(checkpoint, scorer, config, provenance=provenance, metrics=figures)
    log(f"saved the {config.arch} chooser: validation top choice right "
        f"{figures['validation_top_share']:.3f} (the costs "
        f"{figures['validation_costs_top_share']:.3f}, chance {figures['validation_chance']:.3f})")
    return figures
