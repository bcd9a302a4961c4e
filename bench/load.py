"""The shipped app under load, over loopback HTTP: `python -m bench.load [--clients 24]`.

Starts `python app.py` (the shipped checkpoints) on a free port and reports, as JSON: cold
start (until the page answers, and until a first request is done), idle RSS, then N clients x
M requests of 5 s with a third of them identical (same seed file and random seed) - failed or
truncated downloads, refusals and their messages, peak RSS - and whether the server is alive
after; then the hostile uploads (an hour of AAC, one over the size limit, a 1 Hz WAV) and the
median latency of 10 s requests. Loops are bounded; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf

from bench.timing import ROOT
from musicgen.options import PAGE_LIMITS
from musicgen.toymusic import click_and_chords, hour_of_aac


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Peak(threading.Thread):
    """Samples the server's RSS every 0.2 s until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.peak = max(self.peak, _rss_mb(self.pid))


def _call(url: str, seed: Path, **kwargs) -> dict[str, Any]:
    """One /generate request and its download, checked; never raises."""
    from gradio_client import Client, handle_file

    tic = time.perf_counter()
    try:
        wav, _, info = Client(url, verbose=False).predict(handle_file(str(seed)),
                                                          api_name="/generate", **kwargs)
        audio, sr = sf.read(wav, dtype="int16")
        expected = info["join_seconds"] + info["new_seconds"]
        whole = abs(len(audio) / sr - expected) < 0.05
        return {"ok": whole, "truncated": not whole, "seconds": time.perf_counter() - tic,
                "bytes": Path(wav).read_bytes(), "info": info}
    except Exception as error:  # a refusal or a failure: the message says which
        return {"ok": False, "error": f"{type(error).__name__}: {error}",
                "seconds": time.perf_counter() - tic}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="musicgen-load-"))
    sr = 22050
    seed = work / "seed.wav"
    sf.write(seed, click_and_chords(8, sr, bpm=120, seed=3), sr)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(work / "server.log", "w")  # noqa: SIM115 (closed below)
    tic = time.perf_counter()
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    report: dict[str, Any] = {}
    try:
        for _ in range(600):  # at most 120 s
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"the server exited; see {work / 'server.log'}")
            time.sleep(0.2)
        report["page_answers_s"] = round(time.perf_counter() - tic, 2)
        first = _call(url, seed, seconds=10, random_seed=1)
        report["first_request_done_s"] = round(time.perf_counter() - tic, 2)
        report["first_request_ok"] = first["ok"]
        time.sleep(2)
        idle = report["idle_rss_mb"] = round(_rss_mb(server.pid), 1)

        peak = _Peak(server.pid)
        peak.start()
        jobs = [(c, r) for c in range(args.clients) for r in range(args.requests)]

        def client(c: int) -> list[dict[str, Any]]:
            out = []
            for r in range(args.requests):
                same = (c * args.requests + r) % 3 == 0  # a third identical
                out.append({"same": same, **_call(url, seed, seconds=5,
                                                  random_seed=7 if same else 1000 + c * 10 + r)})
            return out

        tic = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = [x for batch in pool.map(client, range(args.clients)) for x in batch]
        peak.done.set()
        peak.join()
        same = {x["bytes"] for x in results if x["same"] and x["ok"]}
        errors = [x["error"] for x in results if "error" in x]
        report["load"] = {
            "requests": len(jobs), "wall_s": round(time.perf_counter() - tic, 1),
            "ok": sum(x["ok"] for x in results),
            "truncated": sum(x.get("truncated", False) for x in results),
            "refused_or_failed": len(errors),
            "messages": sorted({e[:120] for e in errors}),
            "identical_results_distinct_files": len(same),
            "peak_rss_mb": round(peak.peak, 1), "peak_over_idle": round(peak.peak / idle, 2),
        }
        report["alive_after"] = _call(url, seed, seconds=1, random_seed=2)["ok"]

        if shutil.which("ffmpeg"):
            hour = hour_of_aac(work, sample_rate=44100, channels=2, bitrate="32k")
            answer = _call(url, hour, seconds=5, random_seed=1)
            report["hour_of_aac"] = {"mb": round(hour.stat().st_size / 1e6, 2),
                                     "ok": answer["ok"], "error": answer.get("error"),
                                     "seconds": round(answer["seconds"], 2)}
        tic = time.perf_counter()
        big = httpx.post(url + "gradio_api/upload", timeout=60, files={
            "files": ("big.wav", b"\0" * (PAGE_LIMITS.max_upload_bytes + 1), "audio/wav")})
        report["oversize_upload"] = {"status": big.status_code, "message": big.text[:100],
                                     "seconds": round(time.perf_counter() - tic, 2)}
        one_hz = work / "one-hertz.wav"
        sf.write(one_hz, np.sin(np.arange(20.0)), 1)
        report["one_hz_wav"] = _call(url, one_hz, seconds=1).get("error")
        tens = [_call(url, seed, seconds=10, random_seed=i) for i in range(7)]
        report["request_10s_median_s"] = {  # a new client each: it fetches the API first
            "client_round_trip": round(statistics.median(x["seconds"] for x in tens), 3),
            "server_total": round(statistics.median(
                x["info"]["timings"]["total_s"] for x in tens if x["ok"]), 3)}
        report["alive_at_end"] = server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
