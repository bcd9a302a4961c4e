"""Generation speed on this machine, per architecture: `python -m bench.generation`.

For every prior checkpoint under --checkpoints (folders `prior-*`, as the app finds them) and
both renders, it times requests of 10, 30 and 60 s of new audio: one warm-up request, then
--repeats timed ones (5 by default), and reports the MEDIAN of each stage:

  seed     reading, levelling and encoding the seed (encode = the codec's encoder alone)
  prime    running the seed's codes through the NumPy step prior (timed on its own)
  sample   drawing the new steps (the sampler's time minus priming; for render="seed" it
           also holds the beat analysis and the unit choice)
  decode   codec decoder + mel pseudo-inverse (synth)
  vocoder  block Griffin-Lim + joins (synth)
  units    placing and crossfading the seed's units (seed)
  total    the whole request, as `Generator.generate` reports it
  RTF      new seconds / total
  1st      time to the first chunk of `Generator.stream` (what the page plays first)

It also measures: app cold start in fresh subprocesses (import app + load every checkpoint,
then + `warmup()`), the first request's latency with and without warm-up, peak RSS, the naive
baseline (the Keras prior called on the growing sequence once per step), and the vocoder's
quality against its iterations (spectral convergence on a decoded mel) next to the librosa
Griffin-Lim it replaced.

    python -m bench.generation [--checkpoints checkpoints/] [--json bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# As app.py does (before NumPy loads); run with OPENBLAS_NUM_THREADS=2 for the library default.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bench.cold_start import cold_start  # noqa: E402
from bench.timing import ROOT, median, peak_rss_mb, timed  # noqa: E402
from bench.vocoder_study import vocoder_study  # noqa: E402

DEFAULT_SEED = ROOT / "examples" / "click-and-chords-120bpm.ogg"
STAGES = ("seed_s", "encode_s", "prime_s", "sampling_s", "decode_s", "vocoder_s", "units_s",
          "total_s")


# --------------------------------------------------------------------------- requests


def bench_requests(generator, seed: Path, seconds_list: list[float], renders: list[str],
                   repeats: int, warmups: int) -> list[dict[str, Any]]:
    from musicgen.generate import GenerateOptions

    prepared = generator.prepare_seed(str(seed))
    prime = median(timed(lambda: generator.step_prior.prime(prepared.codes), repeats))
    rows = []
    for render in renders:
        for seconds in seconds_list:
            def options(i: int, seconds=seconds, render=render) -> GenerateOptions:
                return GenerateOptions(seconds=seconds, render=render, random_seed=1000 + i)

            for i in range(warmups):
                generator.generate(str(seed), options(-1 - i))
            runs, walls, firsts = [], [], []
            for i in range(repeats):
                tic = time.perf_counter()
                result = generator.generate(str(seed), options(i))
                walls.append(time.perf_counter() - tic)
                runs.append(result.info["timings"])
            for i in range(repeats):  # time to the first chunk; the rest is not made
                tic = time.perf_counter()
                stream = generator.stream(str(seed), options(i))
                next(stream)
                firsts.append(time.perf_counter() - tic)
                stream.close()
            stage = {key: median([r.get(key, 0.0) for r in runs])
                     for key in ("seed_s", "encode_s", "sample_s", "decode_s", "vocoder_s",
                                 "render_s", "total_s")}
            row = {
                "arch": generator.bundle.config.arch, "model": generator.name,
                "render": render, "seconds": seconds,
                "new_seconds": result.info["new_seconds"], "repeats": repeats,
                "seed_s": stage["seed_s"], "encode_s": stage["encode_s"], "prime_s": prime,
                "sampling_s": max(0.0, stage["sample_s"] - prime),
                "decode_s": stage["decode_s"] if render == "synth" else 0.0,
                "vocoder_s": stage["vocoder_s"] if render == "synth" else 0.0,
                "units_s": stage["render_s"] if render == "seed" else 0.0,
                "total_s": stage["total_s"], "wall_s": median(walls),
                "first_chunk_s": median(firsts),
            }
            row["rtf"] = row["new_seconds"] / row["total_s"]
            rows.append(row)
            print(f"  {row['arch']:4s} {render:5s} {seconds:4.0f} s: total "
                  f"{row['total_s']:.3f} s, first chunk {row['first_chunk_s']:.3f} s",
                  flush=True)
    return rows


# --------------------------------------------------------------------------- naive baseline


def naive_baseline(generator, seed: Path, steps: int, probes: int) -> dict[str, Any]:
    """The Keras prior on the growing sequence, one call per new step, vs the NumPy sampler.

    `probes` calls are made at sequence lengths spread evenly over the request (seed length
    to seed + steps); their times are fitted as a + b * length and summed over every step.
    Each call is model([codes[:, :t], next]) with the step's lower-level codes as `next`: the
    cheapest naive loop (a literal one makes a call per level, `levels` times more).
    """
    from musicgen.generate import GenerateOptions
    from musicgen.sampler import generate_codes

    prepared = generator.prepare_seed(str(seed))
    model = generator.bundle.model
    levels, size = generator.bundle.config.levels, generator.bundle.config.codebook_size
    rng = np.random.default_rng(0)
    t0 = len(prepared.codes)
    codes = np.concatenate([prepared.codes,
                            rng.integers(0, size, (steps, levels))]).astype(np.int32)[None]
    lengths = np.linspace(t0, t0 + steps - 1, probes).round().astype(int)
    model([codes[:, :t0], codes[:, 1:t0 + 1]], training=False)  # warm-up
    times = []
    for t in lengths:
        tic = time.perf_counter()
        logits = model([codes[:, :t], codes[:, 1:t + 1]], training=False)
        np.asarray(logits)[0, -1]
        times.append(time.perf_counter() - tic)
    slope, intercept = np.polyfit(lengths, times, 1) if probes > 1 else (0.0, times[0])
    every = np.arange(t0, t0 + steps)
    naive = float(np.sum(intercept + slope * every))
    sampling = GenerateOptions().sampling
    numpy_times = timed(lambda: generate_codes(generator.step_prior, prepared.codes, steps,
                                               sampling, np.random.default_rng(0)), 3)
    fast = median(numpy_times)
    return {"arch": generator.bundle.config.arch, "steps": steps, "seed_steps": t0,
            "probe_calls": probes, "naive_call_s_first": times[0], "naive_call_s_last": times[-1],
            "naive_total_s": naive, "numpy_total_s": fast, "speedup": naive / fast}


# --------------------------------------------------------------------------- report


def _ms(value: float) -> str:
    return f"{1000 * value:7.0f}" if value == value else "      -"


def print_report(report: dict[str, Any]) -> None:
    print()
    machine = report["machine"]
    print(f"# Generation benchmark: {machine['cpus']} CPUs, OpenBLAS threads "
          f"{machine['openblas_threads']}, {report['repeats']} timed runs after "
          f"{report['warmups']} warm-up; medians in ms"
          + ("; UNDER LOAD (a training job was running)" if machine["training_running"] else ""))
    head = (f"{'arch':5s} {'render':6s} {'new s':>5s} | {'seed':>7s} {'encode':>7s} "
            f"{'prime':>7s} {'sample':>7s} {'decode':>7s} {'vocoder':>7s} {'units':>7s} | "
            f"{'total':>7s} {'RTF':>6s} {'1st':>7s}")
    print(head)
    print("-" * len(head))
    for r in report["requests"]:
        print(f"{r['arch']:5s} {r['render']:6s} {r['seconds']:5.0f} | {_ms(r['seed_s'])} "
              f"{_ms(r['encode_s'])} {_ms(r['prime_s'])} {_ms(r['sampling_s'])} "
              f"{_ms(r['decode_s'])} {_ms(r['vocoder_s'])} {_ms(r['units_s'])} | "
              f"{_ms(r['total_s'])} {r['rtf']:6.1f} {_ms(r['first_chunk_s'])}")
    print()
    for r in report.get("naive", []):
        print(f"naive Keras prior ({r['arch']}, {r['steps']} steps after {r['seed_steps']} seed "
              f"steps, fitted from {r['probe_calls']} calls): {r['naive_total_s']:.2f} s vs "
              f"NumPy sampler {r['numpy_total_s']:.3f} s -> {r['speedup']:.0f}x faster")
    cold = report.get("cold_start")
    if cold:
        for key in ("cold", "warm"):
            c = cold[key]
            what = "load only" if key == "cold" else "load + warmup()"
            print(f"app cold start ({what}, median of {cold['runs']}): all generators loaded "
                  f"{c['process_to_loaded_s']:.2f} s, ready {c['process_to_ready_s']:.2f} s "
                  f"(import {c['import_s']:.2f}, load {c['load_s']:.2f}, warmup "
                  f"{c['warmup_s']:.2f}); first 10 s request: synth "
                  f"{c['first_request_synth_10s_s']:.3f} s, seed "
                  f"{c['first_request_seed_10s_s']:.3f} s; peak RSS {c['peak_rss_mb']:.0f} MB")
    print(f"peak RSS of this process (every checkpoint loaded, all requests run): "
          f"{report['peak_rss_mb']:.0f} MB")
    study = report.get("vocoder")
    if study:
        print()
        print(f"# Vocoder: spectral convergence vs iterations ({study['seconds']:.1f} s of "
              f"{Path(study['clip']).name}, codec-decoded mel; default "
              f"{study['default_iterations']})")
        print(f"{'iters':>5s} {'SC blocks':>9s} {'ms':>6s} {'SC whole':>9s} {'ms':>6s}")
        for r in study["rows"]:
            print(f"{r['iterations']:5d} {r['sc_blocks']:9.4f} {1000 * r['time_blocks_s']:6.0f} "
                  f"{r['sc_whole']:9.4f} {1000 * r['time_whole_s']:6.0f}")
        b = study["librosa_before"]
        print(f"before (librosa stft/istft, whole signal, {b['iterations']} iterations): "
              f"SC {b['sc']:.4f}, {1000 * b['time_s']:.0f} ms")
    targets = report.get("targets")
    if targets:
        print()
        for name, (value, ok) in targets.items():
            print(f"target {name}: {value} -> {'holds' if ok else 'MISSED'}")


def check_targets(report: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    out: dict[str, tuple[str, bool]] = {}
    for arch in sorted({r["arch"] for r in report["requests"]}):
        rows = {(r["render"], r["seconds"]): r for r in report["requests"] if r["arch"] == arch}
        for render in ("synth", "seed"):
            ten, sixty = rows.get((render, 10.0)), rows.get((render, 60.0))
            if ten:
                out[f"{arch} {render} 10 s <= 0.5 s"] = (f"{ten['total_s']:.3f} s",
                                                         ten["total_s"] <= 0.5)
            if ten and sixty:
                ratio = sixty["total_s"] / ten["total_s"]
                out[f"{arch} {render} 60 s <= 6.5 x 10 s"] = (f"{ratio:.2f} x", ratio <= 6.5)
    cold = report.get("cold_start")
    if cold:
        # app.py warms the models up in a background thread once they are loaded, so the
        # server is up at "loaded"; "ready" (loaded + warm-up) is reported, not a target.
        value = max(cold["cold"]["process_to_loaded_s"], cold["warm"]["process_to_loaded_s"])
        out["app cold start (process start -> every model loaded) <= 15 s"] = (
            f"{value:.2f} s", value <= 15.0)
        rss = max(cold["cold"]["peak_rss_mb"], cold["warm"]["peak_rss_mb"])
        out["server RSS <= 1.5 GB"] = (f"{rss:.0f} MB", rss <= 1536)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints",
                        help="folder holding prior-* checkpoints (default: checkpoints/)")
    parser.add_argument("--seed", type=Path, default=DEFAULT_SEED, help="seed clip")
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 30.0, 60.0])
    parser.add_argument("--renders", nargs="+", default=["seed", "synth"],
                        choices=["seed", "synth"])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (after warm-up)")
    parser.add_argument("--warmups", type=int, default=1)
    parser.add_argument("--naive-probes", type=int, default=20,
                        help="Keras calls timed for the naive baseline")
    parser.add_argument("--cold-start-runs", type=int, default=3, help="0 = skip")
    parser.add_argument("--study-audio", type=Path, default=None,
                        help="clip for the vocoder study (default: the seed)")
    parser.add_argument("--no-study", action="store_true", help="skip the vocoder study")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    from musicgen.checkpoint import find_checkpoints
    from musicgen.generate import Generator

    found = find_checkpoints(args.checkpoints)
    if not found:
        raise SystemExit(f"no prior-* checkpoints under {args.checkpoints}")
    training = subprocess.run(["pgrep", "-f", "musicgen train"], capture_output=True,
                              text=True).stdout.split()
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                    "platform": platform.platform(), "training_running": bool(training)},
        "checkpoints": {arch: str(path) for arch, path in found.items()},
        "seed": str(args.seed), "repeats": args.repeats, "warmups": args.warmups,
        "requests": [], "naive": [],
    }
    if training:
        print(f"WARNING: a training job is running (pids {' '.join(training)}): figures are "
              "taken under load", flush=True)
    generators = {}
    for arch, folder in found.items():
        print(f"loading {folder}", flush=True)
        generators[arch] = Generator.load(folder)
        generators[arch].warmup()
    for arch, generator in generators.items():
        print(f"timing {arch}", flush=True)
        report["requests"] += bench_requests(generator, args.seed, args.seconds, args.renders,
                                             args.repeats, args.warmups)
        steps = int(np.ceil(max(args.seconds) * generator.codec.steps_per_second))
        report["naive"].append(naive_baseline(generator, args.seed, steps, args.naive_probes))
    if not args.no_study:
        first = next(iter(generators.values()))
        print("vocoder study", flush=True)
        report["vocoder"] = vocoder_study(first, args.study_audio or args.seed, 10.0,
                                          [0, 4, 8, 12, 16, 24, 32, 48], args.repeats)
    report["peak_rss_mb"] = peak_rss_mb()
    if args.cold_start_runs > 0:
        print("cold start (fresh subprocesses)", flush=True)
        report["cold_start"] = cold_start(args.checkpoints, args.seed, args.cold_start_runs)
    still = subprocess.run(["pgrep", "-f", "musicgen train"], capture_output=True,
                           text=True).stdout.split()
    report["machine"]["training_running"] = bool(training or still)
    report["targets"] = check_targets(report)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
