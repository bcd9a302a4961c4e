"""python -m musicgen train | train-chooser | generate | codec | evaluate | corpus | card"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from musicgen.chooser.features import LAGS
from musicgen.config import ARCHITECTURES, PRESETS, ChooserTraining
from musicgen.corpus.debian import PACKAGES
from musicgen.errors import CheckpointError, InputError


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a codec and a prior on your own audio",
                       description="Train the codec (unless --codec is given), then a prior, on "
                       "folders or files of audio (or a corpus manifest.json). Tracks are split "
                       "by file into train and held-out; the best weights on held-out win. "
                       "Re-running the same command resumes an interrupted run.")
    p.add_argument("--data", nargs="+", required=True,
                   help="audio folders/files, or one corpus manifest.json")
    p.add_argument("--out", required=True, help="output folder: gets codec/ and prior-<arch>/")
    p.add_argument("--arch", choices=ARCHITECTURES, default="gru", help="prior architecture")
    p.add_argument("--preset", choices=sorted(PRESETS), default="small",
                   help="model sizes: tiny (seconds, for tests) or small (real use)")
    p.add_argument("--codec", help="reuse this trained codec folder instead of training one")
    p.add_argument("--init-codec", help="start the codec from this trained codec folder "
                   "(fine-tune it) instead of from scratch")
    p.add_argument("--codec-learning-rate", type=float,
                   help="the codec's learning rate (default: the preset's; lower to fine-tune)")
    p.add_argument("--init-prior", help="start the prior from this trained prior folder (to "
                   "train it longer or fine-tune it on your audio); its codec is used unless "
                   "--codec names the same one")
    p.add_argument("--prior-learning-rate", type=float,
                   help="the prior's learning rate (default: the preset's; lower to continue)")
    p.add_argument("--codec-epochs", type=int, help="override the preset's codec epochs")
    p.add_argument("--prior-epochs", type=int, help="override the preset's prior epochs")
    p.add_argument("--windows-per-epoch", type=int, help="training windows per epoch")
    p.add_argument("--dropout", type=float, help="override the prior's dropout")
    p.add_argument("--max-minutes", type=float, help="stop each model's training after this")
    p.add_argument("--codec-minutes", type=float, help="time limit for the codec alone")
    p.add_argument("--prior-minutes", type=float, help="time limit for the prior alone")
    p.add_argument("--cache", help="folder for cached log-mels (default <out>/_work/mels)")
    p.add_argument("--batch-size", type=int,
                   help="override the preset's batch size (per replica with --distribute)")
    p.add_argument("--distribute", choices=("none", "mirrored", "multi-worker"), default="none",
                   help="none: one process, as always; mirrored: one replica per local GPU (or "
                   "--cpu-devices CPU devices); multi-worker: one process per host, the cluster "
                   "read from TF_CONFIG (see README). The global batch is --batch-size x "
                   "replicas")
    p.add_argument("--cpu-devices", type=int,
                   help="with --distribute mirrored and no GPU: split the CPU into this many "
                   "replicas (for testing: it adds no compute)")


def _add_train_chooser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-chooser", help="train the beat chooser that steers the seed "
                       "renderer, into a trained prior checkpoint",
                       description="Cut seed windows from the training tracks, follow each "
                       "one's true continuation beat by beat, and fit a small Conv1D + LSTM/GRU "
                       "(the prior's architecture) to pick which of the seed's beats the music "
                       "plays next; the epoch that picks best on the choosing tracks is saved "
                       "into the checkpoint (chooser.keras). Minutes on two cores.")
    p.add_argument("--checkpoint", required=True, help="a prior folder, e.g. out/prior-gru")
    p.add_argument("--data", nargs="+", required=True,
                   help="the audio the prior was trained on (folders/files or a manifest.json)")
    p.add_argument("--clips", type=int, default=ChooserTraining.clips,
                   help="seed windows from the training tracks")
    p.add_argument("--validation-clips", type=int, default=ChooserTraining.validation_clips,
                   help="seed windows from the choosing tracks")
    p.add_argument("--epochs", type=int, default=ChooserTraining.epochs)
    p.add_argument("--seed-seconds", type=float, default=ChooserTraining.seed_seconds,
                   help="each window's seed (tracks must be this plus --continuation-seconds)")
    p.add_argument("--continuation-seconds", type=float,
                   default=ChooserTraining.continuation_seconds,
                   help="each window's true continuation, followed beat by beat")
    p.add_argument("--lags", type=int, default=LAGS,
                   help="history beats the chooser compares each candidate with")


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="continue a seed clip",
                       description="Continue a seed clip. The output WAV holds the seed's last "
                       "seconds followed by --seconds of new audio.")
    p.add_argument("--checkpoint", required=True,
                   help="prior checkpoint folder, e.g. checkpoints/prior-gru")
    p.add_argument("--seed", required=True,
                   help="seed audio file (WAV, FLAC, OGG, MP3, M4A/AAC, WebM/Opus)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of NEW audio (default 10)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="divides the final choice scores in both renderers: lower is the "
                   "model's safest choice, higher is more adventurous (default 1.0)")
    p.add_argument("--top-k", type=int, default=0, help="keep only the k likeliest (0 = off)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1.0 = off)")
    p.add_argument("--random-seed", type=int, default=-1,
                   help="makes the output reproducible; -1 draws one and prints it")
    p.add_argument("--render", choices=("seed", "synth"), default="seed",
                   help="seed: the seed's own audio, chosen unit by unit on its beat; "
                   "synth: synthesized from the model's codes")
    p.add_argument("--adapt-steps", type=int, default=0,
                   help="fine-tune the prior on the seed's own codes for N steps first")
    p.add_argument("--level-scales", type=float, nargs="*", metavar="S",
                   help="--render synth: the coarsest levels are drawn at these multiples of "
                   "the temperature, each in (0, 1] (default: the library's profile, see "
                   "README; give the flag alone to draw every level at the temperature)")
    p.add_argument("--no-prior", action="store_true",
                   help="--render seed only: choose units by the costs alone (no model), to "
                   "hear what the model adds")
    p.add_argument("--out", required=True, help="output WAV path")


def _add_codec(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("codec", help="round-trip audio through the codec, to hear its ceiling",
                       description="Encode, quantize, decode and vocode an audio file with the "
                       "same functions render=synth uses: what perfectly predicted codes sound "
                       "like. The output keeps the input's level.")
    p.add_argument("--checkpoint", required=True,
                   help="codec folder (checkpoints/codec) or a prior folder (uses its codec)")
    p.add_argument("--input", required=True,
                   help="audio file (WAV, FLAC, OGG, MP3, M4A/AAC, WebM/Opus)")
    p.add_argument("--out", required=True, help="output WAV path")
    p.add_argument("--levels", type=int,
                   help="decode from the first N quantizer levels only (default: all)")
    p.add_argument("--no-quantize", action="store_true",
                   help="skip the quantizer: the encoder-decoder alone")
    p.add_argument("--max-seconds", type=float, default=120.0,
                   help="round-trip the input's last N seconds (default 120)")
    p.add_argument("--random-seed", type=int, default=0, help="the vocoder's initial phase")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="measure a checkpoint on held-out tracks",
                       description="Codec fidelity, prior bits against n-gram baselines, and "
                       "generation statistics for both renderers on held-out tracks.")
    p.add_argument("--checkpoint", required=True, help="prior checkpoint folder")
    p.add_argument("--compare", nargs="+", default=[], metavar="CHECKPOINT",
                   help="other prior checkpoints on the same codec (e.g. checkpoints/prior-lstm)"
                   ": their seed-renderer rows join the generation table")
    p.add_argument("--data", nargs="+", required=True,
                   help="corpus manifest.json (its held-out tracks) or held-out audio files")
    p.add_argument("--seeds", type=int, default=20, help="generation seeds (default 20)")
    p.add_argument("--renders-per-seed", type=int,
                   help="renders of each seed, each with its own random seed; the medians "
                   "pool them (default 3)")
    p.add_argument("--seed-seconds", type=float, default=8.0)
    p.add_argument("--new-seconds", type=float, default=15.0)
    p.add_argument("--adapt-steps", type=int, default=0)
    p.add_argument("--cache", help="folder of cached log-mels (as written by train --cache)")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the n-gram baselines (they encode every training track)")
    p.add_argument("--chain-windows", type=int, default=6,
                   help="held-out 15 s windows for the codec chain table (0 skips it)")
    p.add_argument("--chain-seconds", type=float, default=15.0,
                   help="length of each chain window (default 15)")
    p.add_argument("--chain-only", action="store_true",
                   help="only the codec chain table: true audio, vocoder, codec round trips, "
                   "k-means and PCA baselines")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--update-checkpoint", action="store_true",
                   help="store the figures in the checkpoint's musicgen.json")


def _add_corpus(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="index the installed Debian music packages",
                       description="Index the installed corpus packages into OUT/manifest.json "
                       "(tracks, licences, train/held-out split). Install them first with "
                       "scripts/install_corpus.sh; nothing is downloaded.")
    p.add_argument("--out", default="data/corpus", help="output folder (default data/corpus)")
    p.add_argument("--heldout-fraction", type=float, default=0.15)
    p.add_argument("--packages", nargs="+", default=list(PACKAGES),
                   help="Debian packages to index (default: the four corpus packages)")


def _add_card(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("card", help="regenerate the model card's and README's figure tables",
                       description="Re-render every <!-- generated: NAME --> section of the "
                       "model card and README from the checkpoints' musicgen.json.")
    p.add_argument("--checkpoints", default="checkpoints",
                   help="folder holding codec/ and prior-*/ (default checkpoints)")
    p.add_argument("--documents", nargs="+",
                   help="files to rewrite (default: <checkpoints>/README.md and README.md "
                   "next to it)")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if a document disagrees with the JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="musicgen", description=__doc__)
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up and warning logs (also "
                        "MUSICGEN_VERBOSE=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_train_chooser(sub)
    _add_generate(sub)
    _add_codec(sub)
    _add_evaluate(sub)
    _add_corpus(sub)
    _add_card(sub)
    return parser


def _run_train(args: argparse.Namespace) -> None:
    from musicgen.config import preset
    from musicgen.train import train

    cfg = preset(args.preset, args.arch)
    overrides = {k: v for k, v in {"codec_epochs": args.codec_epochs,
                                   "prior_epochs": args.prior_epochs,
                                   "windows_per_epoch": args.windows_per_epoch,
                                   "codec_learning_rate": args.codec_learning_rate,
                                   "prior_learning_rate": args.prior_learning_rate,
                                   "batch_size": args.batch_size}.items()
                 if v is not None}
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **overrides))
    if args.dropout is not None:
        cfg = dataclasses.replace(cfg, prior=dataclasses.replace(cfg.prior, dropout=args.dropout))
    for part in (cfg.prior, cfg.train):
        part.validate()
    verbose = 1 if sys.stdout.isatty() else 2
    paths = train(args.data, args.out, cfg, codec_dir=args.codec, cache_dir=args.cache,
                  minutes=args.max_minutes, codec_minutes=args.codec_minutes,
                  prior_minutes=args.prior_minutes, init_codec=args.init_codec,
                  init_prior=args.init_prior, verbose=verbose, distribute_kind=args.distribute,
                  cpu_devices=args.cpu_devices)
    print(json.dumps({k: str(v) for k, v in paths.items()}))


def _run_train_chooser(args: argparse.Namespace) -> None:
    from musicgen.chooser.train import train_chooser

    training = ChooserTraining(clips=args.clips, validation_clips=args.validation_clips,
                               epochs=args.epochs, seed_seconds=args.seed_seconds,
                               continuation_seconds=args.continuation_seconds)
    training.validate()  # before loading anything
    figures = train_chooser(args.checkpoint, args.data, training, lags=args.lags)
    print(json.dumps(figures))


def _run_generate(args: argparse.Namespace) -> None:
    from musicgen.audio import write_wav
    from musicgen.generate import GenerateOptions, Generator

    options = GenerateOptions(seconds=args.seconds, temperature=args.temperature,
                              top_k=args.top_k, top_p=args.top_p, random_seed=args.random_seed,
                              render=args.render, adapt_steps=args.adapt_steps,
                              use_prior=not args.no_prior)
    if args.level_scales is not None:
        if args.render != "synth":
            raise InputError("--level-scales shapes how synth draws its codes: it needs "
                             "--render synth")
        options = dataclasses.replace(options, level_scales=tuple(args.level_scales))
    options.validate()  # before loading models: bad options fail fast
    if not os.path.isfile(args.seed):
        raise InputError(f"seed file not found: {args.seed}")
    generator = Generator.load(args.checkpoint)
    result = generator.generate(args.seed, options)
    path = write_wav(args.out, result.audio, result.sample_rate)
    print(f"wrote {path}: {len(result.audio) / result.sample_rate:.2f} s "
          f"(seed tail {result.join_seconds:.2f} s + {result.info['new_seconds']:.2f} s new), "
          f"random seed {result.random_seed}, {result.info['timings']['total_s']:.2f} s, "
          f"{result.info['real_time_factor']}x real time")
    print("(a first call in a new process includes one-off start-up costs, ~2-5 s; the app "
          "warms up once and then runs 30-140x real time)")


def _run_codec(args: argparse.Namespace) -> None:
    from musicgen.audio import load_audio, write_wav
    from musicgen.checkpoint import codec_folder_of, load_codec
    from musicgen.roundtrip import RoundTrip, round_trip_audio

    if args.levels is not None and args.no_quantize:
        raise InputError("--levels picks quantizer levels: it cannot go with --no-quantize")
    if not args.max_seconds > 0:
        raise InputError(f"--max-seconds must be positive, got {args.max_seconds:g}")
    if not os.path.isfile(args.input):
        raise InputError(f"input file not found: {args.input}")
    codec = load_codec(codec_folder_of(args.checkpoint))
    how = RoundTrip(levels=args.levels, quantized=not args.no_quantize)
    how.validate(codec)  # before the audio is read: a bad option fails fast
    sr = codec.features.sample_rate
    audio = load_audio(args.input, sr, max_seconds=args.max_seconds)
    out, rmse = round_trip_audio(codec, audio, how, random_seed=args.random_seed)
    path = write_wav(args.out, out, sr)
    chain = ("encoder-decoder, no quantizer" if not how.quantized else
             f"{how.levels or codec.config.levels} of {codec.config.levels} levels")
    print(f"wrote {path}: {len(out) / sr:.2f} s through the codec ({chain}), "
          f"log-mel RMSE {rmse:.2f} dB")


def _run_evaluate(args: argparse.Namespace) -> None:
    from musicgen.evaluate import EvaluationConfig, evaluate, print_report

    renders = (EvaluationConfig.renders_per_seed if args.renders_per_seed is None
               else args.renders_per_seed)
    config = EvaluationConfig(seeds=args.seeds, renders_per_seed=renders,  # checks both
                              seed_seconds=args.seed_seconds,
                              new_seconds=args.new_seconds, adapt_steps=args.adapt_steps,
                              cache_dir=args.cache, baselines=not args.no_baselines,
                              chain_windows=args.chain_windows, chain_seconds=args.chain_seconds,
                              chain_only=args.chain_only)
    if config.chain_windows < 0 or (config.chain_only and config.chain_windows < 1):
        raise InputError("--chain-windows must be >= 0 (>= 1 with --chain-only)")
    if not config.chain_seconds > 1:
        raise InputError("--chain-seconds must be more than 1")
    report = evaluate(args.checkpoint, args.data, config, compare=args.compare)
    print_report(report)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    if args.update_checkpoint:
        from musicgen.checkpoint import read_meta, update_metrics

        if args.chain_only:  # keep the full run's other figures; replace its chain table
            stored = read_meta(args.checkpoint).get("metrics", {}).get("evaluate", {})
            report = {**stored, "chain": report["chain"]}
        update_metrics(args.checkpoint, {"evaluate": report})


def _run_corpus(args: argparse.Namespace) -> None:
    from musicgen.corpus import prepare_corpus

    manifest = prepare_corpus(Path(args.out), args.packages, args.heldout_fraction)
    print(f"wrote {manifest}")


def _run_card(args: argparse.Namespace) -> int:
    from musicgen.card import update_documents

    root = Path(args.checkpoints)
    documents = [Path(d) for d in args.documents] if args.documents else [
        root / "README.md", root.resolve().parent / "README.md"]
    for path in documents:
        if not path.is_file():
            raise InputError(f"document not found: {path}")
    stale = update_documents(root, documents, check=args.check)
    for path in stale:
        print(f"{'out of date' if args.check else 'rewrote'}: {path}")
    return 1 if args.check and stale else 0


def _verbose_logs() -> None:
    """Undo musicgen/__init__.py's quieting (TensorFlow is not imported yet at this point)."""
    import logging

    from musicgen import quiet

    if "tensorflow" not in sys.modules:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        quiet.uninstall()
    logging.getLogger("tensorflow").setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        _verbose_logs()
    runners = {"train": _run_train, "train-chooser": _run_train_chooser,
               "generate": _run_generate, "codec": _run_codec, "evaluate": _run_evaluate,
               "corpus": _run_corpus, "card": _run_card}
    try:
        code = runners[args.command](args)
    except (InputError, CheckpointError) as error:
        print(f"musicgen {args.command}: error: {error}", file=sys.stderr)
        return 2
    return code or 0
