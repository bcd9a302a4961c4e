"""One command that measures a checkpoint on held-out tracks against baselines.

- codec chain: held-out windows through vocoder, codec and two baselines (`codec_eval.py`);
- codec: log-mel round-trip RMSE (dB per mel bin) and codebook perplexity per level;
- prior: bits per step and per second beside tuned n-gram baselines on the same codes;
- generation: both renderers on the same held-out seeds, plus the seed renderer with no prior
  (a uniform choice: costs alone) and with any other priors given (`compare`: e.g. the LSTM
  next to the GRU), so each model's contribution is measured, not assumed: jarring share, the
  prior's agreement with the final choice and its share of the score's variance at decisions;
- next beat: on the same seeds, whether each prior's ranking of the seed's beats finds the one
  the true continuation sounds like next, beside the hand-set costs and chance
  (`next_beat_eval.py`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from musicgen import metrics
from musicgen.audio import load_audio
from musicgen.baselines import evaluate_baselines
from musicgen.codec import Codec
from musicgen.codec_eval import ChainConfig, chain_lines, chain_report
from musicgen.data import MelCache, resolve_split
from musicgen.errors import InputError
from musicgen.generate import GenerateOptions, Generator
from musicgen.intervals import add_paired_ratios, format_lead, paired_lines
from musicgen.metrics import CLEAR_PULSE
from musicgen.mixing import rms
from musicgen.next_beat_eval import CHOOSERS, next_beat_report
from musicgen.sampler import SamplingOptions, log_normalizer


@dataclass(frozen=True)
class EvaluationConfig:
    seeds: int = 20
    # renders of each seed, each with its own random seed: one render per seed left the
    # jarring medians swinging by a quarter between seed sets (issue 15)
    renders_per_seed: int = 3
    seed_seconds: float = 8.0
    new_seconds: float = 15.0
    temperature: float = 1.0
    adapt_steps: int = 0
    random_seed: int = 1234
    cache_dir: str | None = None
    max_track_seconds: float = 600.0
    baselines: bool = True
    chain_windows: int = 6  # held-out windows for the codec chain table; 0 skips it
    chain_seconds: float = 15.0  # each window's length
    chain_only: bool = False  # just the chain table (minutes, not a quarter of an hour)
    # synth's coarse-level temperature profile, recorded with the figures it produced
    level_scales: tuple[float, ...] = SamplingOptions().level_scales

    def __post_init__(self) -> None:
        if not self.chain_only and (self.seeds < 1 or self.renders_per_seed < 1):
            raise InputError("seeds (--seeds) and renders per seed (--renders-per-seed) must be at "
                             "least 1")


def codec_report(codec: Codec, mels: Sequence[np.ndarray]) -> tuple[dict[str, Any],
                                                                     list[np.ndarray]]:
    """Round-trip RMSE in dB (floor -80) pooled over held-out frames, and code perplexity."""
    squared, count, codes_all = 0.0, 0, []
    for mel in mels:
        codes = codec.encode_mel(mel)
        decoded = codec.decode(codes)[: len(mel)]
        squared += float(np.sum((decoded - mel) ** 2))
        count += mel.size
        codes_all.append(codes)
    stacked = np.concatenate(codes_all)
    perplexity = []
    for level in range(stacked.shape[1]):
        p = np.bincount(stacked[:, level], minlength=codec.config.codebook_size) / len(stacked)
        p = p[p > 0]
        perplexity.append(round(float(np.exp(-(p * np.log(p)).sum())), 1))
    return {"rmse_db": round(math.sqrt(squared / count), 3), "perplexity": perplexity,
            "codebook_size": codec.config.codebook_size}, codes_all


def prior_bits(generator: Generator, tracks: Sequence[np.ndarray]) -> float:
    """Teacher-forced cross-entropy of the Keras prior, bits per step (all levels)."""
    total, steps = 0.0, 0
    for codes in tracks:
        if len(codes) < 2:
            continue
        logits = np.asarray(generator.bundle.model([codes[None, :-1], codes[None, 1:]],
                                                   training=False), np.float64)[0]
        chosen = np.take_along_axis(logits, codes[1:, :, None].astype(np.int64), -1)[..., 0]
        total += float((log_normalizer(logits) - chosen).sum())
        steps += len(codes) - 1
    return total / steps / math.log(2)


@dataclass
class SeedClip:
    track: str
    offset_s: float
    seed: np.ndarray
    truth: np.ndarray


def pick_seeds(tracks: Sequence[Path], sr: int, config: EvaluationConfig) -> list[SeedClip]:
    """Deterministic audible seed windows spread over the held-out tracks."""
    rng = np.random.default_rng(config.random_seed)
    need = int((config.seed_seconds + config.new_seconds) * sr)
    audio = {}
    for path in tracks:
        try:
            audio[path] = load_audio(path, sr, max_seconds=config.max_track_seconds)
        except InputError:
            continue
    usable = [p for p in tracks if p in audio and len(audio[p]) >= need]
    if not usable:
        raise InputError("no held-out track is long enough for one seed + continuation")
    clips = []
    for i in range(config.seeds):
        path = usable[i % len(usable)]
        y = audio[path]
        for _ in range(20):
            start = int(rng.integers(0, len(y) - need + 1))
            window = y[start:start + need]
            if 20 * math.log10(rms(window[: int(config.seed_seconds * sr)]) + 1e-12) > -45:
                break
        cut = int(config.seed_seconds * sr)
        clips.append(SeedClip(path.name, round(start / sr, 2), window[:cut], window[cut:]))
    return clips


def _ratio(a: float, b: float) -> float:
    return a / b if b and np.isfinite(a) and np.isfinite(b) else float("nan")


def clip_metrics(new: np.ndarray, clip: SeedClip, sr: int) -> dict[str, float]:
    """Statistics of one continuation against its seed and the true continuation."""
    seed_tempo, new_tempo = metrics.tempo(clip.seed, sr), metrics.tempo(new, sr)
    seed_pulse = metrics.pulse_clarity(clip.seed, sr)
    return {
        "static_share": metrics.static_share(new, sr),
        "change_ratio": _ratio(metrics.change_db(new, sr), metrics.change_db(clip.truth, sr)),
        "chroma_ratio": _ratio(metrics.chroma_similarity(clip.seed, new, sr),
                               metrics.chroma_similarity(clip.seed, clip.truth, sr)),
        "silent_fraction": metrics.silent_fraction(new, sr),
        "flatness_ratio": _ratio(metrics.spectral_flatness(new, sr),
                                 metrics.spectral_flatness(clip.truth, sr)),
        "pulse_ratio": _ratio(metrics.pulse_clarity(new, sr), seed_pulse),
        "tempo_kept": float(metrics.tempo_kept(seed_tempo, new_tempo))
        if seed_pulse >= CLEAR_PULSE else float("nan"),
        "loop_share": metrics.loop_share(new, sr),
        "jarring_share": metrics.jarring_share(new, clip.seed, sr),
    }


def _summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = rows[0].keys()
    out: dict[str, float] = {"renders": len(rows)}
    for key in keys:
        values = np.array([r[key] for r in rows], float)
        values = values[np.isfinite(values)]
        if key == "tempo_kept":
            out["tempo_kept_share"] = round(float(values.mean()), 3) if values.size else math.nan
        else:
            out[key] = round(float(np.median(values)), 3) if values.size else float("nan")
    return out


def _nan_if_none(value: Any) -> float:
    return float("nan") if value is None else float(value)


def generation_report(generator: Generator, clips: Sequence[SeedClip],
                      config: EvaluationConfig,
                      compare: dict[str, Generator] | None = None) -> dict[str, dict[str, float]]:
    """Median figures per row over every render (seeds x renders_per_seed; the true
    continuation once per seed); `compare` adds a seed-renderer row per named prior."""
    sr = generator.sample_rate
    sps = generator.codec.steps_per_second
    # (row name, generator, render, adaptation steps, use prior): each row is one `generate`
    variants: list[tuple[str, Generator, str, int, bool]] = [
        ("synth", generator, "synth", 0, True), ("seed", generator, "seed", 0, True)]
    variants += [(f"seed, {name}", other, "seed", 0, True)
                 for name, other in (compare or {}).items()]
    variants.append(("seed, uniform prior", generator, "seed", 0, False))
    if config.adapt_steps:
        steps = config.adapt_steps
        variants += [(f"seed, adapt {steps}", generator, "seed", steps, True),
                     (f"synth, adapt {steps}", generator, "synth", steps, True)]
    rows: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in variants}
    rows["true continuation"] = []
    seams: dict[str, list[float]] = {name: [] for name, *_ in variants}
    for i, clip in enumerate(tqdm(clips, desc="generation", unit="seed")):
        truth_row = clip_metrics(clip.truth, clip, sr)
        truth_row.update(jumps_per_10s=0.0, longest_verbatim_s=float("nan"), render_s=math.nan,
                         prior_agreement=math.nan, prior_variance_share=math.nan)
        rows["true continuation"].append(truth_row)
        for (name, model, render, adapt, use_prior), r in itertools.product(
                variants, range(config.renders_per_seed)):
            # render r of seed i: random seeds never repeat across seeds or renders
            options = GenerateOptions(seconds=config.new_seconds, temperature=config.temperature,
                                      level_scales=tuple(config.level_scales),
                                      random_seed=config.random_seed + i + r * len(clips),
                                      render=render, adapt_steps=adapt, use_prior=use_prior)
            tic = time.perf_counter()
            result = model.generate((sr, clip.seed), options)
            elapsed = time.perf_counter() - tic
            audio, joins = result.audio, result.joins
            join = int(round(result.join_seconds * sr))
            new = audio[join: join + int(config.new_seconds * sr)]
            row = clip_metrics(new, clip, sr)
            new_joins = [j for j in joins if j > join]
            verbatim = metrics.longest_verbatim_run(result.codes, result.seed_codes)
            row.update(jumps_per_10s=metrics.jumps_per_10s(len(new_joins), len(new) / sr),
                       longest_verbatim_s=verbatim / sps, render_s=elapsed,
                       prior_agreement=_nan_if_none(result.info.get("prior_agreement")),
                       prior_variance_share=_nan_if_none(
                           result.info.get("prior_variance_share")))
            if result.source_pairs is not None:  # seed audio: against the seed playing on
                excess = metrics.splice_excess_values(audio, sr, joins, result.seed_audio,
                                                      result.source_pairs)
            else:  # synthesized: against the output's own level 30 ms either side
                d = int(0.03 * sr)
                excess = metrics.splice_excess_values(audio, sr, joins, audio,
                                                      [(j - d, j + d) for j in joins])
            seams[name].extend(excess.tolist())
            rows[name].append(row)
    report = {}
    # seeds with a clear beat (tempo kept is judged only there): a property of the seeds, the
    # same for every row, so counted once per seed (on the true continuation)
    clear = int(np.isfinite([r["tempo_kept"] for r in rows["true continuation"]]).sum())
    for name, values in rows.items():
        report[name] = {**_summarise(values), "clear_beat_seeds": clear}
        if name in seams and seams[name]:
            report[name]["seam_excess_p90_db"] = round(float(np.percentile(seams[name], 90)), 2)
    add_paired_ratios(report, rows, len(clips))
    return report


def evaluate(checkpoint_dir: str | Path, sources: Sequence[str],
             config: EvaluationConfig,
             compare: Sequence[str | Path] = ()) -> dict[str, Any]:
    """All figures for one checkpoint; `compare`: other prior checkpoints on the same codec
    whose seed-renderer rows go in the same table (on the same seeds)."""
    start = time.perf_counter()
    generator = Generator.load(checkpoint_dir)
    others: dict[str, Generator] = {}
    for folder in compare:
        other = Generator.load(folder)
        if other.codec.config != generator.codec.config:
            raise InputError(f"{Path(folder).name}: its codec differs from the checkpoint's, "
                             "so its rows would not be comparable")
        others[Path(folder).name] = other
    codec = generator.codec
    fraction = generator.bundle.meta.get("provenance", {}).get("train", {}).get(
        "heldout_fraction", 0.15)
    split = resolve_split(sources, fraction)
    cache_dir = config.cache_dir if config.cache_dir and Path(config.cache_dir).is_dir() else None
    report: dict[str, Any] = {
        "checkpoint": str(checkpoint_dir), "arch": generator.bundle.config.arch,
        # what steers the seed renderer's jumps: the beat chooser or (without one) the lookahead
        "steered_by": "beat chooser" if generator.bundle.chooser is not None else "lookahead",
        "heldout_tracks": len(split.heldout), "steps_per_second": round(codec.steps_per_second, 3)}
    if config.chain_windows > 0 or config.chain_only:
        chain_config = ChainConfig(windows=max(1, config.chain_windows),
                                   window_seconds=config.chain_seconds,
                                   max_track_seconds=config.max_track_seconds)
        try:
            report["chain"] = chain_report(codec, split.heldout, split.train, chain_config,
                                           cache_dir, log=lambda line: tqdm.write(line))
        except InputError as error:
            if config.chain_only:
                raise
            # Short held-out music still gets the rest of the evaluation.
            report["chain_skipped"] = str(error)
            tqdm.write(f"codec chain skipped: {error}")
    if config.chain_only:
        report.update(config=asdict(config), seconds=round(time.perf_counter() - start, 1))
        return report
    cache = MelCache(codec.features, Path(cache_dir) if cache_dir else None,
                     config.max_track_seconds)
    # Generation first: it is the part most likely to meet a surprise in new music.
    clips = pick_seeds(split.heldout, generator.sample_rate, config)
    generation = generation_report(generator, clips, config, others)
    next_beat = next_beat_report({Path(checkpoint_dir).name: generator, **others}, clips)
    heldout_mels = cache.load(split.heldout, "held-out log-mel")
    codec_figures, heldout_codes = codec_report(codec, heldout_mels)
    sps = codec.steps_per_second
    bits = prior_bits(generator, heldout_codes)
    prior_figures: dict[str, Any] = {"bits_per_step": round(bits, 3),
                                     "bits_per_second": round(bits * sps, 1)}
    if config.baselines:
        train_codes = [codec.encode_mel(m) for m in cache.load(split.train, "train log-mel")]
        baselines = evaluate_baselines(train_codes, heldout_codes, codec.config.codebook_size)
        prior_figures["baselines_bits_per_second"] = {k: round(v * sps, 1)
                                                      for k, v in baselines.items()}
        best = min(baselines.values())
        prior_figures["ratio_to_best_baseline"] = round(bits / best, 3)
    report.update(codec=codec_figures, prior=prior_figures, generation=generation,
                  next_beat=next_beat, config=asdict(config),
                  seconds=round(time.perf_counter() - start, 1))
    return report


GENERATION_COLUMNS = [
    ("static_share", "static"), ("change_ratio", "change×"), ("flatness_ratio", "flat×"),
    ("pulse_ratio", "pulse×"), ("tempo_kept_share", "tempo"), ("chroma_ratio", "chroma×"),
    ("loop_share", "loops"), ("jumps_per_10s", "jumps/10s"),
    ("longest_verbatim_s", "verbatim s"), ("seam_excess_p90_db", "seam p90"),
    ("silent_fraction", "silent"), ("jarring_share", "jarring"),
    ("prior_agreement", "agree"), ("prior_variance_share", "prior var"), ("render_s", "time s"),
]


def print_report(report: dict[str, Any]) -> None:
    print(f"checkpoint {report['checkpoint']} ({report['arch']}), "
          f"{report['heldout_tracks']} held-out tracks")
    if "chain" in report:
        synth = report.get("generation", {}).get("synth")
        for line in chain_lines(report["chain"], synth):
            print(line)
    if "codec" not in report:
        return
    c, p = report["codec"], report["prior"]
    print(f"codec: RMSE {c['rmse_db']} dB per mel bin; perplexity per level "
          f"{c['perplexity']} of {c['codebook_size']}")
    line = f"prior: {p['bits_per_step']} bits/step = {p['bits_per_second']} bits/s"
    if "baselines_bits_per_second" in p:
        line += "; baselines (bits/s) " + ", ".join(
            f"{k} {v}" for k, v in p["baselines_bits_per_second"].items())
        line += f"; ratio to best {p['ratio_to_best_baseline']}"
    print(line)
    config = report.get("config", {})
    print(f"generation: {config.get('seeds', '?')} held-out seeds x "
          f"{config.get('renders_per_seed', 1)} renders each, {config.get('new_seconds', '?')} s "
          "new (the true continuation once per seed)")
    header = f"{'generation (medians)':24s}" + "".join(f"{h:>11s}" for _, h in GENERATION_COLUMNS)
    print(header)
    for name, row in report["generation"].items():
        cells = "".join(f"{row.get(k, float('nan')):>11.3g}" for k, _ in GENERATION_COLUMNS)
        print(f"{name:24s}{cells}")
    print(f"steered by: {report.get('steered_by', 'lookahead')}; agree: share of decisions where "
          "the final choice is the model's favourite; prior var: the model term's share of the "
          "score's variance at decisions (medians)")
    for line in paired_lines(report["generation"]):
        print(line)
    if report.get("next_beat"):
        print(f"{'next beat (share right)':24s}{'beats':>8s}" + "".join(
            f"{name:>17s}" for name in CHOOSERS))
        for name, row in report["next_beat"].items():
            print(f"{name:24s}{row['beats']:>8d}" + "".join(
                f"{row[chooser]:>17.3f}" for chooser in CHOOSERS))
        print("next beat: after each beat of the true continuation, which of the seed's beats "
              "(same place in the bar) sounds most like the true next beat; each chooser's "
              "share of beats where its first choice was that one (chooser: the beat chooser "
              "that steers the seed renderer; prior: the code prior's lookahead)")
        for name, row in report["next_beat"].items():
            leads = [f"{chooser} {format_lead(pair)}" for chooser, pair in
                     row.get("over_costs", {}).items() if pair]
            if leads:
                print(f"{name} over the costs, points [90% interval over the seeds]: "
                      + "; ".join(leads))
