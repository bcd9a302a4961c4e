"""App cold start, measured in fresh interpreters: import app + load every checkpoint, then
+ `warmup()`, and the first request's latency (part of `python -m bench.generation`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.timing import ROOT, median

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
