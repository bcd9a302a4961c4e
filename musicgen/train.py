"""Training: the codec first, then a prior on the codec's codes.

Both loops are Keras `fit` over tf.data, keep the best weights by held-out loss, and resume
after an interruption (BackupAndRestore in `<out>/_work`; the CSV log remembers the best score).
Under `--distribute` (see `musicgen.distribute`) the same loops run on several replicas; each
worker but the chief keeps its own files in `<out>/_work/<task>` and writes no checkpoint.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from musicgen import checkpoint, distribute
from musicgen.codec import Codec, build_codec_model, spectral_loss
from musicgen.codec_init import init_linear_codec, without_context
from musicgen.config import CodecConfig, FeatureConfig, Preset, TrainConfig, to_dict
from musicgen.data import (
    MelCache,
    TrackSplit,
    code_pipeline,
    describe_sources,
    mel_pipeline,
    random_windows,
    resolve_split,
    tiled_windows,
)
from musicgen.errors import CheckpointError, InputError
from musicgen.features import model_scale_db
from musicgen.prior import build_prior
from musicgen.tracks import split_by_track


class TimeLimit(keras.callbacks.Callback):
    """Stop after `minutes` of wall time, at an epoch end (so backups stay consistent)."""

    def __init__(self, minutes: float | None) -> None:
        super().__init__()
        self.deadline = None if minutes is None else time.monotonic() + 60.0 * minutes

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.deadline is None:
            return
        late = time.monotonic() > self.deadline
        if self.model.distribute_strategy.num_replicas_in_sync > 1:  # all workers stop together
            late = bool(distribute.agree(self.model.distribute_strategy, float(late)))
        if late:
            print(f"time limit reached after epoch {epoch + 1}; stopping")
            self.model.stop_training = True


@dataclass
class FitResult:
    best_val_loss: float
    epochs_run: int
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)


def _val_losses(log: Path) -> list[float]:
    """Every epoch's held-out loss so far, across resumed runs (the CSV log is appended to)."""
    if not log.is_file():
        return []
    with open(log) as handle:
        return [float(row["val_loss"]) for row in csv.DictReader(handle) if row.get("val_loss")]


def _previous_best(log: Path) -> float | None:
    values = _val_losses(log)
    return min(values) if values else None


def fit_with_resume(model: keras.Model, train, heldout, *, epochs: int, work: Path, name: str,
                    patience: int, minutes: float | None, verbose: int) -> FitResult:
    """fit() that keeps the best held-out weights and resumes from `work` if interrupted."""
    work.mkdir(parents=True, exist_ok=True)
    best_path, log = work / f"{name}.best.weights.h5", work / f"{name}.log.csv"
    previous = _previous_best(log)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(work / f"{name}_backup")),
        keras.callbacks.ModelCheckpoint(str(best_path), monitor="val_loss",
                                        save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=previous),
        keras.callbacks.CSVLogger(str(log), append=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                          patience=max(1, patience // 3)),
        TimeLimit(minutes),
    ]
    start = time.perf_counter()
    history = model.fit(train, validation_data=heldout, epochs=epochs, callbacks=callbacks,
                        verbose=verbose)
    if model.distribute_strategy.num_replicas_in_sync > 1:  # the tests compare these across workers
        print(f"{name} trained: weights sha256 {distribute.weights_digest(model)}, local replicas "
              f"{'identical' if distribute.replicas_identical(model) else 'DIFFER'}")
    if best_path.is_file():
        model.load_weights(str(best_path))
    losses = _val_losses(log)
    best = min(losses) if losses else None
    epochs = len(losses)
    return FitResult(best if best is not None else math.nan, max(epochs, len(history.epoch)),
                     time.perf_counter() - start, dict(history.history))


def compile_for_training(model: keras.Model, t: TrainConfig, loss: Any,
                         metrics: list[str] | None = None,
                         learning_rate: float | None = None) -> None:
    """The one training recipe (AdamW, the preset's learning rate and weight decay, gradients
    clipped to norm 1), shared by `train` and `bench.training` so the benchmark times what
    training runs. `learning_rate` overrides the preset's (the codec's fine-tuning rate)."""
    # under a strategy (call in its scope), an AdamW that clips the all-reduced gradient
    model.compile(optimizer=distribute.optimizer(keras.optimizers.AdamW(
        learning_rate or t.learning_rate, weight_decay=t.weight_decay, clipnorm=1.0)),
        loss=loss, metrics=metrics)


def codec_loss(features: FeatureConfig, t: TrainConfig) -> Any:
    """The codec's reconstruction loss with the preset's weights (see `spectral_loss`)."""
    return spectral_loss(features.floor_db, t.codec_delta_weight, t.codec_linear_weight)


def _provenance(split: TrackSplit, seconds: dict[str, float], extra: dict[str, Any]) -> dict:
    return {
        "train_tracks": len(split.train), "heldout_tracks": len(split.heldout),
        "train_hours": round(seconds["train"] / 3600, 3),
        "heldout_hours": round(seconds["heldout"] / 3600, 3),
        "heldout_files": [p.name for p in split.heldout],
        "command": " ".join(sys.argv), "python": platform.python_version(),
        "keras": keras.__version__, "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime()),
        **extra,
    }


def warm_start_codec(model: keras.Model, cfg: Preset, init: str | Path) -> None:
    """Copy a trained codec's weights into a fresh trainable codec (to fine-tune it).

    The EMA statistics are set so that every code starts alive at its trained position
    (with zero counts every code would be re-seeded at the first step).
    """
    source = checkpoint.load_codec(init)
    lean = not source.config.decoder_context  # saved without its context network
    same = dataclasses.replace(source.config, decoder_context=cfg.codec.decoder_context)
    if (source.features, same) != (cfg.features, cfg.codec):
        raise InputError(f"--init-codec {init} has different features/codec settings than the "
                         "preset; it cannot seed this codec")
    model.get_layer("encoder").set_weights(source.encoder.get_weights())
    if lean:  # the context network starts at zero again, over the saved linear path
        model.get_layer("decoder").get_layer("dec_project").set_weights(
            source.decoder.get_layer("dec_project").get_weights())
    else:
        model.get_layer("decoder").set_weights(source.decoder.get_weights())
    rvq = model.get_layer("rvq")
    rvq.codebooks.assign(source.codebooks)
    rvq.ema_sum.assign(source.codebooks)
    rvq.ema_count.assign(np.ones(source.codebooks.shape[:2], np.float32))


def train_codec(cfg: Preset, train_mels: Sequence[np.ndarray], heldout_mels: Sequence[np.ndarray],
                work: Path, *, minutes: float | None = None, init: str | Path | None = None,
                verbose: int = 2, strategy=None
                ) -> tuple[keras.Model, CodecConfig, dict[str, float]]:
    """Train (or resume) the codec; returns the model to save, its config (a linear codec may
    drop its context network, `TrainConfig.drop_codec_context`) and its figures."""
    t = cfg.train
    window = t.codec_window_steps * cfg.codec.frames_per_step
    keras.utils.set_random_seed(t.seed)
    with distribute.scope(strategy):
        model = build_codec_model(cfg.features, cfg.codec, seed=t.seed)
        if init is not None:
            warm_start_codec(model, cfg, init)
        elif cfg.codec.encoder == "linear" and not (work / "codec_backup").exists():
            # a resumed run gets its weights from the backup; a fresh one starts from k-means
            init_linear_codec(model, cfg.features, cfg.codec, t, train_mels,
                              global_batch=distribute.global_batch(t.batch_size, strategy))
        compile_for_training(model, t, codec_loss(cfg.features, t), ["mse"],
                             learning_rate=t.codec_learning_rate)
    batch, split = distribute.global_batch(t.batch_size, strategy), strategy is not None
    train = mel_pipeline(random_windows(train_mels, window, t.windows_per_epoch, t.seed),
                         cfg.features, batch, gain_db=t.gain_augment_db, seed=t.seed,
                         drop_remainder=split)
    heldout = mel_pipeline(distribute.for_replicas(tiled_windows(heldout_mels, window), strategy,
                                                   batch), cfg.features, batch)
    train = distribute.for_replicas(train, strategy)
    result = fit_with_resume(model, train, heldout, epochs=t.codec_epochs, work=work,
                             name="codec", patience=t.patience, minutes=minutes, verbose=verbose)
    mse = model.evaluate(heldout, verbose=0, return_dict=True)["mse"]
    metrics = {"codec_heldout_rmse_db": round(math.sqrt(mse) * model_scale_db(cfg.features), 3),
               "codec_epochs": result.epochs_run,
               "codec_train_seconds": round(result.seconds, 1)}
    codec_cfg = cfg.codec
    if t.drop_codec_context and codec_cfg.encoder == "linear" and codec_cfg.decoder_context:
        with distribute.scope(strategy):
            model, codec_cfg = without_context(model, cfg.features, codec_cfg, seed=t.seed)
            compile_for_training(model, t, codec_loss(cfg.features, t), ["mse"])
        mse = model.evaluate(heldout, verbose=0, return_dict=True)["mse"]
        metrics["codec_heldout_rmse_db_with_context"] = metrics["codec_heldout_rmse_db"]
        metrics["codec_heldout_rmse_db"] = round(math.sqrt(mse) * model_scale_db(cfg.features), 3)
    return model, codec_cfg, metrics


def train_prior(cfg: Preset, train_codes: Sequence[np.ndarray],
                heldout_codes: Sequence[np.ndarray], work: Path, steps_per_second: float, *,
                minutes: float | None = None, init: checkpoint.PriorBundle | None = None,
                verbose: int = 2, strategy=None) -> tuple[keras.Model, dict[str, float]]:
    """Train (or resume) a prior; `init` starts it from a trained prior's weights (a resumed
    run takes its weights from the backup instead)."""
    t, p = cfg.train, cfg.prior
    keras.utils.set_random_seed(t.seed)
    with distribute.scope(strategy):
        model = build_prior(p)
        if init is not None:
            model.set_weights(init.model.get_weights())
        compile_for_training(model, t,
                             keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                             learning_rate=t.prior_learning_rate)
    window = t.prior_window_steps + 1
    batch, split = distribute.global_batch(t.batch_size, strategy), strategy is not None
    train = code_pipeline(random_windows(train_codes, window, t.windows_per_epoch, t.seed),
                          batch, drop_remainder=split)
    heldout = code_pipeline(distribute.for_replicas(tiled_windows(heldout_codes, window),
                                                    strategy, batch), batch)
    train = distribute.for_replicas(train, strategy)
    result = fit_with_resume(model, train, heldout, epochs=t.prior_epochs, work=work,
                             name=f"prior-{p.arch}", patience=t.patience, minutes=minutes,
                             verbose=verbose)
    loss = model.evaluate(heldout, verbose=0, return_dict=True)["loss"]
    bits = loss * p.levels / math.log(2)
    before = init.meta.get("metrics", {}) if init is not None else {}
    return model, {"prior_heldout_bits_per_step": round(bits, 3),
                   "prior_heldout_bits_per_second": round(bits * steps_per_second, 1),
                   # a continued prior counts the epochs and time of the run it started from
                   "prior_epochs": result.epochs_run + int(before.get("prior_epochs", 0)),
                   "prior_train_seconds": round(
                       result.seconds + float(before.get("prior_train_seconds", 0.0)), 1)}


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def encode_tracks(codec: Codec, mels: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [codec.encode_mel(mel) for mel in mels]


def train(sources: Sequence[str], out: str | Path, cfg: Preset, *, codec_dir: str | None = None,
          cache_dir: str | None = None, minutes: float | None = None,
          codec_minutes: float | None = None, prior_minutes: float | None = None,
          init_codec: str | None = None, init_prior: str | None = None, verbose: int = 2,
          distribute_kind: str = "none", cpu_devices: int | None = None) -> dict[str, Path]:
    """Train (or reuse) a codec, then a prior; write `<out>/codec` and `<out>/prior-<arch>`.

    Re-running the same command resumes: an interrupted fit continues from its last epoch, and
    a codec already saved in `<out>/codec` is reused rather than trained again.
    `codec_minutes` / `prior_minutes` override `minutes` for one model; `init_codec` starts
    the codec from a trained one (fine-tuning) instead of from scratch; `init_prior` starts
    the prior from a trained one (training it longer, or fine-tuning it) on that prior's codec.
    `distribute_kind`: "none", "mirrored" or "multi-worker" (see `musicgen.distribute`); the
    batch size is then per replica. Only the chief writes `<out>`'s checkpoints: other workers
    keep their own `<out>/_work/<task>` (for resuming) and save into a folder that is removed.
    """
    strategy = distribute.make_strategy(distribute_kind, cpu_devices)  # before any TF op
    role = distribute.role(strategy)
    if strategy is not None:
        print(f"{distribute_kind}: {role.replicas} replicas, this process is {role.name}, "
              f"global batch {distribute.global_batch(cfg.train.batch_size, strategy)}")
    out = Path(out)
    with distribute.output_root(out, role.chief) as root:
        paths = _train(sources, out, root, cfg, codec_dir=codec_dir, cache_dir=cache_dir,
                       minutes=minutes, codec_minutes=codec_minutes, prior_minutes=prior_minutes,
                       init_codec=init_codec, init_prior=init_prior, verbose=verbose,
                       strategy=strategy,
                       work=out / "_work" if role.chief else out / "_work" / role.name)
    return {name: out / path.relative_to(root) if path.is_relative_to(root) else path
            for name, path in paths.items()}


def _load_init_prior(folder: str, cfg: Preset) -> checkpoint.PriorBundle:
    """The trained prior `--init-prior` names, if this run's prior settings can take it."""
    try:
        bundle = checkpoint.load_prior(folder)
    except CheckpointError as error:
        raise InputError(f"--init-prior: {error}") from error
    wanted = dataclasses.replace(cfg.prior, dropout=bundle.config.dropout)  # dropout may change
    if bundle.config != wanted:
        raise InputError(f"--init-prior {Path(folder).name} is a {bundle.config.arch} prior of "
                         "other sizes than this run's (--arch/--preset); it cannot seed it")
    return bundle


def selection_split(sources: Sequence[str], heldout_fraction: float) -> TrackSplit:
    """Tracks to fit on and tracks that choose the best weights (early stopping).

    A corpus manifest's held-out tracks are kept for `evaluate` alone, so that no figure it
    reports was used to pick weights: the choosing tracks are split off its training tracks.
    Folders of one's own music are split once (`resolve_split`).
    """
    split = resolve_split(sources, heldout_fraction)
    if len(sources) == 1 and str(sources[0]).endswith(".json") and len(split.train) >= 2:
        return split_by_track(split.train, heldout_fraction)
    return split


def _train(sources: Sequence[str], out: Path, root: Path, cfg: Preset, *, codec_dir: str | None,
           cache_dir: str | None, minutes: float | None, codec_minutes: float | None,
           prior_minutes: float | None, init_codec: str | None, init_prior: str | None,
           verbose: int, strategy, work: Path) -> dict[str, Path]:
    """`out` holds the run's state, `root` receives its checkpoints (`out` on the chief)."""
    start = _load_init_prior(init_prior, cfg) if init_prior else None
    split = selection_split(sources, cfg.train.heldout_fraction)
    cache = MelCache(cfg.features, Path(cache_dir) if cache_dir else work / "mels",
                     cfg.train.max_track_seconds)
    train_mels = cache.load(split.train, "train log-mel")
    heldout_mels = cache.load(split.heldout, "validation log-mel")
    fps = cfg.features.frames_per_second
    seconds = {"train": sum(len(m) for m in train_mels) / fps,
               "heldout": sum(len(m) for m in heldout_mels) / fps}
    print(f"{len(split.train)} train tracks ({seconds['train'] / 60:.1f} min), "
          f"{len(split.heldout)} choosing the best weights ({seconds['heldout'] / 60:.1f} min)")
    provenance = _provenance(split, seconds, {"train": to_dict(cfg.train),
                                              **describe_sources(sources)})
    if start is not None:
        provenance["init_prior"] = {"folder": start.folder.name,
                                    "metrics": {k: v for k, v in start.meta.get(
                                        "metrics", {}).items() if k.startswith("prior_")},
                                    "provenance": start.meta.get("provenance", {})}

    saved = (out / "codec" / checkpoint.META_FILE).is_file()
    if codec_dir is None and strategy is not None:  # every worker must make the same choice
        if distribute.agree(strategy, saved, "min") != distribute.agree(strategy, saved, "max"):
            raise InputError(f"a trained codec is in {out / 'codec'} on some workers only: copy "
                             "it to every worker, or pass --codec on every worker")
    if start is not None and codec_dir is None and not saved:  # it continues on its own codes
        codec_dir = str(checkpoint.codec_folder_of(start.folder))
    if codec_dir is None and saved:
        print(f"reusing the codec already trained in {out / 'codec'}")
        codec_dir = str(out / "codec")
    if codec_dir is None:
        codec_dir_path = root / "codec"
        model, codec_cfg, metrics = train_codec(cfg, train_mels, heldout_mels, work,
                                                minutes=_first(codec_minutes, minutes),
                                                init=init_codec, verbose=verbose,
                                                strategy=strategy)
        checkpoint.save_codec(codec_dir_path, model, cfg.features, codec_cfg,
                              provenance=provenance, metrics=metrics)
        print(f"codec saved to {codec_dir_path}: {metrics}")
    else:
        codec_dir_path = Path(codec_dir)
    codec = checkpoint.load_codec(codec_dir_path)
    if codec.features != cfg.features:
        cfg = Preset(codec.features, codec.config, cfg.prior, cfg.train)
    prior_cfg = cfg.prior
    if (prior_cfg.levels, prior_cfg.codebook_size) != (codec.config.levels,
                                                       codec.config.codebook_size):
        raise InputError(f"the prior preset expects {prior_cfg.levels} levels x "
                         f"{prior_cfg.codebook_size} codes but the codec has "
                         f"{codec.config.levels} x {codec.config.codebook_size}")
    if start is not None and start.meta.get("codec_sha256") != checkpoint.codec_digest(
            codec_dir_path):
        raise InputError(f"--init-prior {init_prior} was trained on a different codec than "
                         f"{codec_dir_path.name}; leave out --codec to use its own")
    train_codes = encode_tracks(codec, train_mels)
    heldout_codes = encode_tracks(codec, heldout_mels)
    model, metrics = train_prior(cfg, train_codes, heldout_codes, work, codec.steps_per_second,
                                 minutes=_first(prior_minutes, minutes),
                                 init=start, verbose=verbose,
                                 strategy=strategy)
    prior_dir = root / f"prior-{prior_cfg.arch}"
    checkpoint.save_prior(prior_dir, model, prior_cfg, codec_dir_path,
                          provenance=provenance, metrics=metrics)
    print(f"prior saved to {prior_dir}: {metrics}")
    return {"codec": codec_dir_path, "prior": prior_dir}
