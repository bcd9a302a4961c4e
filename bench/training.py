"""Training throughput on this machine: `python -m bench.training`.

For the codec and every prior under --checkpoints, the model is rebuilt from the checkpoint's
own config (musicgen.codec.build_codec_model / musicgen.prior.build_prior) and compiled by
musicgen.train.compile_for_training, as training compiles it (the spectral loss for the codec,
sparse cross-entropy from logits for the prior). It then times `train_on_batch` on
random batches of the training shapes and ranges (codec: log-mel windows of
`codec_window_steps` steps scaled to [-1, 1]; prior: code windows of `prior_window_steps`
steps, codes in [0, codebook_size)) after --warmup batches, and reports the MEDIAN batch time
as code steps/s and audio seconds/s (steps / steps_per_second). The data pipeline is left
out: this is the model's own speed.

    python -m bench.training [--checkpoints checkpoints/] [--batches 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _time_batches(model, x, y, warmup: int, batches: int) -> list[float]:
    for _ in range(warmup):
        model.train_on_batch(x, y)
    times = []
    for _ in range(batches):
        tic = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - tic)
    return times


def bench_codec(folder: Path, train_config, warmup: int, batches: int,
                batch_size: int) -> dict[str, Any]:
    import keras

    from musicgen.checkpoint import read_meta
    from musicgen.codec import build_codec_model
    from musicgen.config import CodecConfig, FeatureConfig, from_dict
    from musicgen.train import codec_loss, compile_for_training

    meta = read_meta(folder)
    features = from_dict(FeatureConfig, meta["features"])
    config = from_dict(CodecConfig, meta["codec"])
    keras.utils.set_random_seed(0)
    model = build_codec_model(features, config)
    compile_for_training(model, train_config, codec_loss(features, train_config), ["mse"],
                         learning_rate=train_config.codec_learning_rate)
    frames = train_config.codec_window_steps * config.frames_per_step
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, (batch_size, frames, features.n_mels)).astype(np.float32)
    times = _time_batches(model, x, x, warmup, batches)
    steps_per_second = features.sample_rate / (features.hop_length * config.frames_per_step)
    return _row("codec", folder, times, batch_size, train_config.codec_window_steps,
                steps_per_second, model.count_params())


def bench_prior(folder: Path, train_config, warmup: int, batches: int,
                batch_size: int) -> dict[str, Any]:
    import keras

    from musicgen.checkpoint import read_meta
    from musicgen.config import CodecConfig, FeatureConfig, PriorConfig, from_dict
    from musicgen.prior import build_prior
    from musicgen.train import compile_for_training

    meta = read_meta(folder)
    config = from_dict(PriorConfig, meta["prior"])
    features = from_dict(FeatureConfig, meta["features"])
    codec = from_dict(CodecConfig, meta["codec"])
    keras.utils.set_random_seed(0)
    model = build_prior(config)
    compile_for_training(model, train_config,
                         keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    window = train_config.prior_window_steps
    rng = np.random.default_rng(0)
    codes = rng.integers(0, config.codebook_size, (batch_size, window + 1, config.levels),
                         dtype=np.int32)
    x, y = [codes[:, :-1], codes[:, 1:]], codes[:, 1:]
    times = _time_batches(model, x, y, warmup, batches)
    steps_per_second = features.sample_rate / (features.hop_length * codec.frames_per_step)
    return _row(f"prior-{config.arch}", folder, times, batch_size, window, steps_per_second,
                model.count_params())


def _row(name: str, folder: Path, times: list[float], batch_size: int, window_steps: int,
         steps_per_second: float, params: int) -> dict[str, Any]:
    batch_s = float(statistics.median(times))
    steps = batch_size * window_steps / batch_s
    return {"model": name, "folder": str(folder), "params": int(params),
            "batch_size": batch_size, "window_steps": window_steps, "batches": len(times),
            "median_batch_s": batch_s, "min_batch_s": float(min(times)),
            "code_steps_per_s": steps, "audio_seconds_per_s": steps / steps_per_second}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints",
                        help="folder holding codec/ and prior-* checkpoints")
    parser.add_argument("--preset", default="small",
                        help="preset whose TrainConfig (batch, windows, optimizer) is used")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: the preset's batch size")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batches", type=int, default=10, help="timed batches per model")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from musicgen.checkpoint import codec_folder_of, find_checkpoints
    from musicgen.config import preset

    train_config = preset(args.preset).train
    batch = args.batch_size or train_config.batch_size
    priors = find_checkpoints(args.checkpoints)
    codec_dirs = []
    for folder in priors.values():
        codec_dir = codec_folder_of(folder)  # the codec it names, its SHA-256 checked
        if codec_dir not in codec_dirs:
            codec_dirs.append(codec_dir)
    if not codec_dirs and (args.checkpoints / "codec" / "musicgen.json").is_file():
        codec_dirs.append(args.checkpoints / "codec")
    if not codec_dirs:
        raise SystemExit(f"no codec or prior-* checkpoints under {args.checkpoints}")
    training = subprocess.run(["pgrep", "-f", "musicgen train"], capture_output=True,
                              text=True).stdout.split()
    if training:
        print("WARNING: a training job is running: figures are taken under load", flush=True)
    rows = []
    for folder in codec_dirs:
        print(f"codec {folder}", flush=True)
        rows.append(bench_codec(folder, train_config, args.warmup, args.batches, batch))
    for folder in priors.values():
        print(f"prior {folder}", flush=True)
        rows.append(bench_prior(folder, train_config, args.warmup, args.batches, batch))

    print()
    print(f"# Training throughput: {os.cpu_count()} CPUs, batch {batch}, median of "
          f"{args.batches} train_on_batch calls after {args.warmup} warm-up"
          + ("; UNDER LOAD (a training job was running)" if training else ""))
    head = (f"{'model':11s} {'params':>9s} {'window':>6s} {'batch ms':>9s} "
            f"{'steps/s':>9s} {'audio s/s':>9s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['model']:11s} {r['params']:9d} {r['window_steps']:6d} "
              f"{1000 * r['median_batch_s']:9.0f} {r['code_steps_per_s']:9.0f} "
              f"{r['audio_seconds_per_s']:9.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "batch_size": batch,
                                         "training_running": bool(training), "rows": rows},
                                        indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
