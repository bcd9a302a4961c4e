"""The model card's and README's figure tables, rendered from the checkpoints' musicgen.json.

A document marks each generated table with `<!-- generated: NAME -->` ... `<!-- /generated -->`;
`python -m musicgen card` rewrites what lies between, and `--check` (and a test) fails when a
document and the JSON disagree, so a figure can only change by re-running the command that
measured it (`train`, `evaluate --update-checkpoint`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musicgen.checkpoint import read_meta
from musicgen.codec_eval import CHAIN_COLUMNS
from musicgen.errors import InputError
from musicgen.intervals import format_lead, format_ratio

MARKER = re.compile(r"(<!-- generated: ([a-z0-9-]+) -->\n)(.*?)(<!-- /generated -->)", re.S)
DASH = "–"


@dataclass
class Shipped:
    """What the tables are made of: the codec's and each prior's JSON, and file sizes."""

    root: Path
    codec: dict[str, Any]
    priors: dict[str, dict[str, Any]]  # arch -> meta, in the card's order

    @classmethod
    def read(cls, root: str | Path) -> Shipped:
        root = Path(root)
        priors = {}
        for arch in ("gru", "lstm"):
            if (root / f"prior-{arch}").is_dir():
                priors[arch] = read_meta(root / f"prior-{arch}")
        return cls(root, read_meta(root / "codec"), priors)

    def evaluation(self, arch: str) -> dict[str, Any]:
        figures = self.priors.get(arch, {}).get("metrics", {}).get("evaluate")
        if not figures:
            raise InputError(f"prior-{arch} has no evaluate figures: run "
                             f"`python -m musicgen evaluate --update-checkpoint` on it")
        return figures


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    return f"{value:.{digits}f}"


def _share(value: Any) -> str:
    return DASH if _num(value) == DASH else f"{100 * value:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def models_section(s: Shipped) -> str:
    rows = []
    folders = [("codec", s.codec, "codec")] + [(f"prior-{a}", m, "prior") for a, m in
                                                 s.priors.items()]
    for name, meta, kind in folders:
        files = sorted(p for p in (s.root / name).iterdir() if p.suffix in (".keras", ".npy"))
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in files)
        m = meta.get("metrics", {})
        rows.append([f"`{name}/`", sizes, str(m.get(f"{kind}_epochs", DASH)),
                     _num(m.get(f"{kind}_train_seconds", math.nan) / 60, 1)])
    return _table(["folder", "files", "epochs", "training minutes"], rows)


def codec_section(s: Shipped) -> str:
    arch = next(iter(s.priors))
    e = s.evaluation(arch)
    c = e["codec"]
    return _table(["held-out tracks", "log-mel round-trip RMSE (dB per mel bin)",
                   f"code perplexity per level (of {c['codebook_size']})"],
                  [[str(e["heldout_tracks"]), _num(c["rmse_db"]),
                    ", ".join(f"{p:.0f}" for p in c["perplexity"])]])


CHAIN_HEADER = ["chain", "mel RMSE dB", "flatness × true", "pulse × true", "change × true",
                "static"]


def chain_section(s: Shipped) -> str:
    arch = next(iter(s.priors))
    e = s.evaluation(arch)
    chain = e.get("chain")
    if not chain:
        return (f"Not measured for these checkpoints yet: `python -m musicgen evaluate "
                f"--checkpoint checkpoints/prior-{arch} --data data/corpus/manifest.json "
                f"--chain-only --update-checkpoint`.\n")
    rows = [[name, _num(r["rmse_db"]), _num(r["flatness_ratio"]), _num(r["pulse_ratio"]),
             _num(r["change_ratio"]), _share(r["static_share"])]
            for name, r in chain["rows"].items()]
    synth = e.get("generation", {}).get("synth")
    if synth:
        rows.append([f"synth continuation, prior-{arch} (pulse × the seed's)", DASH,
                     *(_num(synth.get(k)) for k in CHAIN_COLUMNS[1:4]),
                     _share(synth.get("static_share"))])
    note = (f"\n{len(chain['windows'])} held-out windows of "
            f"{chain['config']['window_seconds']:g} s ({', '.join(chain['windows'])}); "
            f"the codec carries {chain['codec_bits_per_second']} bit/s.\n")
    return _table(CHAIN_HEADER, rows) + note


def prior_section(s: Shipped) -> str:
    first = s.evaluation(next(iter(s.priors)))
    sps = first["steps_per_second"]
    rows = [[name, _num(bps / sps, 1), _num(bps, 1), ""]
            for name, bps in first["prior"].get("baselines_bits_per_second", {}).items()]
    for arch in s.priors:
        p = s.evaluation(arch)["prior"]
        rows.append([f"prior-{arch}", _num(p["bits_per_step"]), _num(p["bits_per_second"], 1),
                     _num(p.get("ratio_to_best_baseline"), 3)])
    return _table(["model", "bits/step", "bits/s", "ratio to best n-gram"], rows)


GENERATION = [("static_share", "static", _share), ("change_ratio", "change×", _num),
              ("flatness_ratio", "flatness×", _num), ("pulse_ratio", "pulse×", _num),
              ("tempo_kept_share", "tempo", lambda v: _share(v).replace(".0%", "%")),
              ("chroma_ratio", "chroma×", _num), ("loop_share", "loops", _num),
              ("jumps_per_10s", "jumps/10 s", _num), ("longest_verbatim_s", "verbatim s", _num),
              ("seam_excess_p90_db", "seam p90 dB", _num),
              ("jarring_share", "jarring", lambda v: _num(v, 3)),
              ("prior_agreement", "agree", _num), ("prior_variance_share", "prior var", _num),
              ("render_s", "time s", _num)]


def generation_section(arch: str) -> Callable[[Shipped], str]:
    def render(s: Shipped) -> str:
        rows = [[name] + [fmt(row.get(key)) for key, _, fmt in GENERATION]
                for name, row in s.evaluation(arch)["generation"].items()]
        return _table([arch.upper()] + [h for _, h, _ in GENERATION], rows)
    return render


# `next_beat_eval.CHOOSERS` (not imported: it loads Keras), in the table's order
NEXT_BEAT_COLUMNS = ("chance", "prior", "chooser", "costs", "prior + costs", "chooser + costs",
                     "latest in seed")


def _not_measured(arch: str) -> str:
    """A section's text while a prior's stored evaluation lacks its figures."""
    return (f"Not measured for prior-{arch} yet: `python -m musicgen evaluate "
            f"--checkpoint checkpoints/prior-{arch} --data data/corpus/manifest.json "
            "--update-checkpoint`.\n")


def next_beat_section(s: Shipped) -> str:
    """Each prior's own next-beat figures (`next_beat_eval`), chance and the costs beside, and
    how far the renderer's score (chooser + costs) leads the costs alone, with its interval."""
    rows = []
    for arch in s.priors:
        figures = s.evaluation(arch).get("next_beat", {}).get(f"prior-{arch}")
        if figures is None:
            return _not_measured(arch)
        lead = figures.get("over_costs", {}).get("chooser + costs")
        rows.append([f"prior-{arch}", str(figures["beats"]),
                     *(_share(figures.get(chooser)) for chooser in NEXT_BEAT_COLUMNS),
                     format_lead(lead)])
    return _table(["prior", "beats judged", *NEXT_BEAT_COLUMNS,
                   "chooser + costs − costs, points [90%]"], rows)


def chooser_section(s: Shipped) -> str:
    """Each prior's beat chooser as `train-chooser` fitted it: how often its first choice was
    the beat the music played next, on windows of the choosing tracks (not the held-out)."""
    rows, missing = [], []
    for arch, meta in s.priors.items():
        chooser = meta.get("chooser")
        if chooser is None:
            missing.append(arch)
            rows.append([f"prior-{arch}", "none", *[DASH] * 5])
            continue
        m, p = chooser.get("metrics", {}), chooser.get("provenance", {})
        rows.append([f"prior-{arch}", str(chooser.get("config", {}).get("arch", DASH)).upper(),
                     f"{m.get('decisions', DASH)} ({p.get('train_tracks', DASH)} tracks)",
                     f"{m.get('validation_decisions', DASH)} "
                     f"({p.get('choosing_tracks', DASH)} tracks)",
                     _share(m.get("validation_chance")),
                     _share(m.get("validation_costs_top_share")),
                     _share(m.get("validation_top_share"))])
    note = "".join(f"\nprior-{arch} has no beat chooser yet: `python -m musicgen train-chooser "
                   f"--checkpoint checkpoints/prior-{arch} --data data/corpus/manifest.json`.\n"
                   for arch in missing)
    return _table(["prior", "chooser", "decisions fitted", "decisions judged", "chance",
                   "costs", "chooser"], rows) + note


def protocol_section(s: Shipped) -> str:
    """How the generation tables were measured, from the stored evaluate config; one sentence
    sits above every prior's table, so their protocols must agree."""
    if not s.priors:
        raise InputError(f"{s.root} has no prior-* checkpoints to describe")
    keys = ("seeds", "renders_per_seed", "seed_seconds", "new_seconds", "temperature")
    protocols = {}
    for arch in s.priors:
        e = s.evaluation(arch)
        config = e.get("config", {})
        truth = e.get("generation", {}).get("true continuation", {})
        protocols[arch] = tuple(config.get(k, 1 if k == "renders_per_seed" else None)
                                for k in keys) + (truth.get("clear_beat_seeds"),)
    if len(set(protocols.values())) > 1:
        raise InputError("the priors' generation figures were measured differently "
                         f"({protocols}): evaluate them with the same options")
    seeds, renders, seed_s, new_s, temperature, clear = next(iter(protocols.values()))

    def text(value: Any, spec: str = "g") -> str:
        return DASH if value is None else format(value, spec)

    each = f" x {renders} random seeds each" if renders > 1 else " (one random seed each)"
    pooled = f"medians over the {seeds * renders} renders" if seeds else "medians"
    return (f"**Generation**: {text(seeds)} seeds ({text(seed_s)} s) from the held-out "
            f"tracks{each}, {text(new_s)} s of new audio, T = {text(temperature, '.1f')}; "
            f"{pooled} (the true continuation: over the seeds). \"tempo\" = share of the "
            f"renders of the {text(clear)} seeds with a clear beat whose tempo was kept within "
            "8%; \"seam p90\" over all joins. Ratios are to the true continuation (change, "
            "flatness, chroma) or to the seed (pulse).\n")


def renderers_section(s: Shipped) -> str:
    rows = []
    for arch in s.priors:
        generation = s.evaluation(arch)["generation"]
        for render in ("seed", "synth"):
            g = generation[render]
            rows.append([f"prior-{arch}", f"`{render}`", _share(g["static_share"]),
                         _num(g["flatness_ratio"]), _num(g["pulse_ratio"])])
    return _table(["prior", "renderer", "static", "flatness × true continuation",
                   "pulse × seed"], rows)


INF = math.inf


@dataclass(frozen=True)
class Target:
    """One target of the codec and steering issues: figure `key` of `where` ("codec",
    "prior", "chain" = the quantized round trip, or a generation row), divided by the same
    figure of generation row `over` when given, must lie in [lo, hi]."""

    label: str
    where: str
    key: str
    lo: float = -INF
    hi: float = INF
    over: str | None = None

    def figure(self, e: dict[str, Any]) -> float | None:
        if self.where == "chain":
            block = e.get("chain", {}).get("rows", {}).get("codec round trip, quantized", {})
        elif self.where in ("codec", "prior"):
            block = e.get(self.where, {})
        else:
            block = e.get("generation", {}).get(self.where, {})
        value = block.get(self.key)
        if self.over is None or value is None:
            return value
        other = e.get("generation", {}).get(self.over, {}).get(self.key)
        return value / other if other else None


UNIFORM = "seed, uniform prior"
# Held-out tracks, T = 1.
TARGETS = [
    Target("codec round trip: mel RMSE dB (all held-out tracks) ≤ 4.5", "codec", "rmse_db",
           hi=4.5),
    Target("codec round trip: flatness × true ≤ 4", "chain", "flatness_ratio", hi=4),
    Target("codec round trip: pulse × true ≥ 0.95", "chain", "pulse_ratio", lo=0.95),
    Target("codec round trip: change × true ≥ 0.85", "chain", "change_ratio", lo=0.85),
    Target("prior: bits/s ÷ best n-gram's ≤ 0.7", "prior", "ratio_to_best_baseline", hi=0.7),
    Target("synth: static ≤ 5%", "synth", "static_share", hi=0.05),
    Target("synth: change × true 0.6–1.4", "synth", "change_ratio", lo=0.6, hi=1.4),
    Target("synth: flatness × true ≤ 5", "synth", "flatness_ratio", hi=5),
    Target("synth: pulse × seed ≥ 0.6", "synth", "pulse_ratio", lo=0.6),
    Target("synth: chroma × true ≥ 0.9", "synth", "chroma_ratio", lo=0.9),
    Target("seed: static ≤ 2%", "seed", "static_share", hi=0.02),
    Target("seed: flatness × true 0.7–1.3", "seed", "flatness_ratio", lo=0.7, hi=1.3),
    Target("seed: longest verbatim s ≤ 4", "seed", "longest_verbatim_s", hi=4),
    Target("seed: seam p90 dB ≤ 1", "seed", "seam_excess_p90_db", hi=1),
    Target("seed: jarring ÷ the true continuation's ≤ 1.15", "seed", "jarring_share",
           hi=1.15, over="true continuation"),
    Target("seed: jarring ÷ the uniform choice's ≤ 0.75", "seed", "jarring_share", hi=0.75,
           over=UNIFORM),
    Target("seed: pulse ÷ the uniform choice's ≥ 0.95", "seed", "pulse_ratio", lo=0.95,
           over=UNIFORM),
    Target("seed: loops ÷ the uniform choice's ≤ 1", "seed", "loop_share", hi=1, over=UNIFORM),
    Target("seed: tempo kept ÷ the uniform choice's ≥ 1", "seed", "tempo_kept_share", lo=1,
           over=UNIFORM),
]


def targets_section(s: Shipped) -> str:
    """Each target with each prior's figure and whether it is met, from the JSON alone."""
    rows = []
    for target in TARGETS:
        cells = []
        for arch in s.priors:
            value = target.figure(s.evaluation(arch))
            if value is None or not math.isfinite(value):
                cells.append(DASH)
                continue
            shown = _share(value) if "%" in target.label else _num(value, 3)
            met = target.lo <= value <= target.hi
            cells.append(f"{shown} {'met' if met else '**missed**'}")
        rows.append([target.label, *cells])
    return _table(["target (held-out, T = 1)", *(f"prior-{a}" for a in s.priors)], rows)


# (figure, reference) columns of the paired table (`musicgen.intervals.PAIRED_FIGURES`)
PAIRED_COLUMNS = [("jarring_share", "uniform", "jarring ÷ uniform's"),
                  ("jarring_share", "true", "jarring ÷ true's"),
                  ("pulse_ratio", "uniform", "pulse ÷ uniform's"),
                  ("loop_share", "uniform", "loops ÷ uniform's"),
                  ("tempo_kept", "uniform", "tempo kept ÷ uniform's")]


def paired_section(s: Shipped) -> str:
    """The targets' ratios as means with 90% intervals over the seeds (`musicgen.intervals`):
    each prior's seed row, then the uniform choice (the costs alone) once."""
    rows = []
    for arch in s.priors:
        generation = s.evaluation(arch).get("generation", {})
        names = [("seed", f"prior-{arch}")] + ([(UNIFORM, "uniform choice")]
                                                if arch == next(iter(s.priors)) else [])
        for name, label in names:
            paired = generation.get(name, {}).get("paired")
            if paired is None:
                return _not_measured(arch)
            rows.append([label, _num(paired["jarring_share"]["mean"], 3),
                         *(format_ratio(paired.get(key, {}).get(reference))
                           for key, reference, _ in PAIRED_COLUMNS)])
    rows.sort(key=lambda row: row[0] == "uniform choice")  # the priors first
    return _table(["seed renderer", "mean jarring", *(h for *_, h in PAIRED_COLUMNS)], rows)


SECTIONS: dict[str, Callable[[Shipped], str]] = {
    "targets": targets_section,
    "models": models_section, "codec": codec_section, "chain": chain_section,
    "prior": prior_section, "generation-gru": generation_section("gru"),
    "generation-lstm": generation_section("lstm"), "renderers": renderers_section,
    "generation-protocol": protocol_section, "next-beat": next_beat_section,
    "chooser": chooser_section, "paired": paired_section,
}


def render_document(text: str, shipped: Shipped) -> str:
    """`text` with every generated section re-rendered; unknown names are an error."""
    def replace(match: re.Match) -> str:
        name = match.group(2)
        if name not in SECTIONS:
            raise InputError(f"unknown generated section {name!r}; known: {sorted(SECTIONS)}")
        return match.group(1) + SECTIONS[name](shipped) + match.group(4)
    return MARKER.sub(replace, text)


def update_documents(root: str | Path, documents: list[Path], check: bool = False
                     ) -> list[Path]:
    """Re-render the documents (or with `check`, only compare); returns those that differed."""
    shipped = Shipped.read(root)
    stale = []
    for path in documents:
        text = path.read_text()
        if not MARKER.search(text):
            raise InputError(f"{path} has no <!-- generated: NAME --> sections")
        rendered = render_document(text, shipped)
        if rendered != text:
            stale.append(path)
            if not check:
                path.write_text(rendered)
    return stale
