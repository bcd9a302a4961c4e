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
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# As app.py does (before NumPy loads); run with OPENBLAS_NUM_THREADS=2 for the library default.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEED = ROOT / "examples" / "click-and-chords-120bpm.ogg"
STAGES = ("seed_s", "encode_s", "prime_s", "sampling_s", "decode_s", "vocoder_s", "units_s",
          "total_s")


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def timed(fn, repeats: int, warmups: int = 1) -> list[float]:
    for _ in range(warmups):
        fn()
    out = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        out.append(time.perf_counter() - tic)
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


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


# --------------------------------------------------------------------------- cold start

_CHILD = r"""
import json, os, resource, sys, time
t_start = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
root, checkpoints, seed, warm = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
import importlib.util
spec = importlib.util.spec_from_file_location("app", os.path.join(root, "app.py"))
app = importlib.util.module_from_spec(spec); sys.modules["app"] = app
spec.loader.exec_module(app)
from pathlib import Path
from musicgen.checkpoint import find_checkpoints
from musicgen.generate import GenerateOptions, Generator
t_import = time.perf_counter()
found = find_checkpoints(Path(checkpoints))
generators = {arch: Generator.load(folder) for arch, folder in found.items()}
t_loaded = time.perf_counter()
if warm:
    for generator in generators.values():
        generator.warmup()
t_ready = time.perf_counter()
first = {}
generator = generators.get("gru") or next(iter(generators.values()))
for render in ("synth", "seed"):
    tic = time.perf_counter()
    generator.generate(seed, GenerateOptions(seconds=10, render=render, random_seed=1))
    first[render] = time.perf_counter() - tic
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print("RESULT " + json.dumps({"import_s": t_import - t_start, "load_s": t_loaded - t_import,
      "warmup_s": t_ready - t_loaded, "first_request_s": first, "peak_rss_mb": rss,
      "since_interpreter_loaded_s": t_loaded - t_start,
      "since_interpreter_ready_s": t_ready - t_start,
      "models": sorted(generators)}), flush=True)
"""


def _child_run(checkpoints: Path, seed: Path, warm: bool) -> dict[str, Any]:
    """One fresh interpreter; process start -> loaded/ready measured from the parent side
    (interpreter start-up included) plus the child's own breakdown."""
    tic = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), str(checkpoints),
                           str(seed), "1" if warm else "0"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    wall = time.perf_counter() - tic
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"cold-start child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    data = json.loads(lines[-1][len("RESULT "):])
    # interpreter start-up: the parent's wall minus everything the child timed itself
    inside = (data["since_interpreter_ready_s"] + sum(data["first_request_s"].values()))
    startup = max(0.0, wall - inside)
    data["process_to_loaded_s"] = startup + data["since_interpreter_loaded_s"]
    data["process_to_ready_s"] = startup + data["since_interpreter_ready_s"]
    data["process_wall_s"] = wall
    return data


def cold_start(checkpoints: Path, seed: Path, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": runs}
    for warm in (False, True):
        results = [_child_run(checkpoints, seed, warm) for _ in range(runs)]
        key = "warm" if warm else "cold"
        out[key] = {
            "process_to_loaded_s": median([r["process_to_loaded_s"] for r in results]),
            "process_to_ready_s": median([r["process_to_ready_s"] for r in results]),
            "import_s": median([r["import_s"] for r in results]),
            "load_s": median([r["load_s"] for r in results]),
            "warmup_s": median([r["warmup_s"] for r in results]),
            "first_request_synth_10s_s": median([r["first_request_s"]["synth"]
                                                 for r in results]),
            "first_request_seed_10s_s": median([r["first_request_s"]["seed"]
                                                for r in results]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "models": results[0]["models"],
        }
        print(f"  {key}: loaded {out[key]['process_to_loaded_s']:.2f} s, ready "
              f"{out[key]['process_to_ready_s']:.2f} s, first synth 10 s request "
              f"{out[key]['first_request_synth_10s_s']:.3f} s", flush=True)
    return out


# --------------------------------------------------------------------------- vocoder


def _librosa_griffin_lim(magnitude, analyzer, iterations, momentum, rng, init_phase=None):
    """The vocoder before this work: full-signal fast Griffin-Lim on librosa.stft/istft."""
    import librosa

    c = analyzer.config
    bins, frames = magnitude.shape
    angles = np.exp(2j * np.pi * rng.random((bins, frames))).astype(np.complex64)
    length = (frames - 1) * c.hop_length
    previous = np.zeros_like(angles)
    alpha = momentum / (1.0 + momentum)
    args = dict(hop_length=c.hop_length, n_fft=c.n_fft, window=analyzer.window, center=True,
                length=length)
    for _ in range(iterations):
        audio = librosa.istft(magnitude * angles, **args)
        rebuilt = analyzer.stft(audio)[:, :frames]
        angles = rebuilt - alpha * previous
        previous = rebuilt
        angles = angles / (np.abs(angles) + 1e-8)
    return librosa.istft(magnitude * angles, **args).astype(np.float32)


def vocoder_study(generator, audio_path: Path, seconds: float, iterations: list[int],
                  repeats: int) -> dict[str, Any]:
    """Spectral convergence ||S - |STFT(x)||| / ||S|| and time against Griffin-Lim
    iterations, on the codec's decoding of a real clip (S = the decoded mel's magnitude)."""
    import dataclasses

    from musicgen.audio import load_audio, normalise_loudness
    from musicgen.generate import GenerateOptions
    from musicgen.vocoder import griffin_lim, spectral_convergence

    codec, analyzer = generator.codec, generator.codec.analyzer
    audio = load_audio(str(audio_path), generator.sample_rate, max_seconds=seconds)
    audio = normalise_loudness(audio, codec.features.loudness_dbfs)
    log_mel = analyzer.log_mel(audio)
    decoded = codec.decode(codec.encode_mel(log_mel))
    magnitude = analyzer.log_mel_to_magnitude(decoded)
    base = GenerateOptions().vocoder
    rows = []
    for n in iterations:
        row: dict[str, Any] = {"iterations": n}
        for label, block in (("blocks", base.block_seconds), ("whole", 0.0)):
            config = dataclasses.replace(base, iterations=n, block_seconds=block)
            out = griffin_lim(magnitude, analyzer, config, np.random.default_rng(0))
            row[f"sc_{label}"] = spectral_convergence(magnitude, out, analyzer)
            row[f"time_{label}_s"] = median(timed(
                lambda c=config: griffin_lim(magnitude, analyzer, c, np.random.default_rng(0)),
                repeats))
        rows.append(row)
    old = _librosa_griffin_lim(magnitude, analyzer, base.iterations, base.momentum,
                               np.random.default_rng(0))
    before = {
        "iterations": base.iterations,
        "sc": spectral_convergence(magnitude, old, analyzer),
        "time_s": median(timed(lambda: _librosa_griffin_lim(
            magnitude, analyzer, base.iterations, base.momentum, np.random.default_rng(0)),
            repeats)),
    }
    return {"clip": str(audio_path), "seconds": len(audio) / generator.sample_rate,
            "frames": int(magnitude.shape[1]), "default_iterations": base.iterations,
            "rows": rows, "librosa_before": before}


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
