"""Web demo: continue a short seed clip with musicgen on CPU.  Run `python app.py`.

Checkpoints are read from `checkpoints/prior-*` next to this file (or $MUSICGEN_CHECKPOINTS);
the server honours Gradio's GRADIO_SERVER_NAME / GRADIO_SERVER_PORT.
"""

from __future__ import annotations

import os

# Before NumPy loads: a request's matrix products are small, and OpenBLAS's extra threads only
# fight TensorFlow's for the cores (one thread halves a 10 s synth request on 2 cores).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import logging  # noqa: E402
import shutil  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402

from musicgen.checkpoint import checkpoint_root, find_checkpoints  # noqa: E402
from musicgen.errors import CheckpointError, InputError  # noqa: E402
from musicgen.generate import Generator  # noqa: E402
from musicgen.options import PAGE_LIMITS, PAGE_QUEUE_SIZE, request_options  # noqa: E402
from musicgen.webui import ResultFiles, live_updates  # noqa: E402

log = logging.getLogger("musicgen.app")

APP_DIR = Path(__file__).resolve().parent
ARCH_LABELS = {"lstm": "LSTM", "gru": "GRU"}
MAX_SECONDS = PAGE_LIMITS.max_seconds
MAX_ADAPT_STEPS = PAGE_LIMITS.max_adapt_steps
# Every event that runs the models joins this one group: one request at a time, whichever
# button or endpoint it came from (Gradio queues the rest, up to PAGE_QUEUE_SIZE).
MODELS = {"concurrency_id": "models", "concurrency_limit": 1}
DESCRIPTION = """# musicgen: continue a piece of music

Upload or record a few seconds of music (or pick an example below) and a small Conv1D +
LSTM/GRU model over a learned audio codec continues it, on CPU. *Seed's own sound* builds the
continuation from slices of your clip, chosen one beat at a time; *Synthesized* renders the
model's own codes with a vocoder (rougher, but entirely new sound). The output starts with the
end of your seed so you can hear the join, marked by the white line in the spectrogram.
"""


def build_demo(generators: dict[str, Generator], examples: list[Path],
               streaming: bool | None = None, ready: threading.Event | None = None
               ) -> gr.Blocks:
    """The page; `generators` maps "lstm"/"gru" to a loaded model, `examples` are seed clips.

    `streaming` (default: when ffmpeg is on PATH, which Gradio's streamed audio needs) adds a
    player that plays the new audio as it is made. Requests wait for `ready` (set when the
    warm-up is done), so that they never run the models at the same time as it."""
    if streaming is None:
        streaming = shutil.which("ffmpeg") is not None
    archs = [arch for arch in ARCH_LABELS if arch in generators]
    if not archs:
        raise ValueError(f"no generator for any of {list(ARCH_LABELS)}")
    default_arch = "gru" if "gru" in archs else archs[0]
    files = ResultFiles(Path(get_upload_folder()) / "musicgen")

    def prepare(architecture, temperature, seconds, top_k, top_p, random_seed, adapt_steps,
                render):
        if architecture not in generators:
            raise refusal(f"architecture must be one of {archs}, got {architecture!r}")
        try:
            options = request_options(seconds, temperature, top_k, top_p, random_seed,
                                      adapt_steps, render, PAGE_LIMITS)
        except InputError as error:
            raise refusal(str(error)) from error
        if ready is not None:
            ready.wait()
        return generators[architecture], options

    @contextmanager
    def user_errors():
        """A visitor's mistake: one log line and its message. Anything else: the traceback
        in the log and a generic message (it may quote server paths or internals)."""
        try:
            yield
        except InputError as error:
            raise refusal(str(error)) from error
        except gr.Error:
            raise
        except Exception as error:  # CheckpointError too: its message names server paths
            log.exception("generation failed")
            raise gr.Error("Generation failed with an internal error (it has been logged). "
                           "Please try again or try another seed clip.") from error

    def generate(seed_audio: str | None, architecture: str = default_arch,
                 temperature: float = 1.0, seconds: float = 10.0, top_k: int = 0,
                 top_p: float = 1.0, random_seed: int = -1, adapt_steps: int = 0,
                 render: str = "seed", progress: gr.Progress = gr.Progress()):  # noqa: B008
        """Continue the seed clip; returns (WAV: seed tail + new audio, spectrogram, info)."""
        generator, options = prepare(architecture, temperature, seconds, top_k, top_p,
                                     random_seed, adapt_steps, render)
        with user_errors():
            result = generator.generate(seed_audio, options,
                                        lambda done, what: progress(done, desc=what),
                                        PAGE_LIMITS)
            return files.write(generator, result)

    def generate_live(seed_audio, architecture, temperature, seconds, top_k, top_p,
                      random_seed, adapt_steps, render,
                      progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:  # noqa: B008
        """The page's Generate: the live player gets WAV chunks as they are made; the file,
        spectrogram and info follow at the end (the same output as /generate)."""
        generator, options = prepare(architecture, temperature, seconds, top_k, top_p,
                                     random_seed, adapt_steps, render)
        with user_errors():
            for live, final in live_updates(generator, seed_audio, options, files,
                                            lambda done, what: progress(done, desc=what),
                                            limits=PAGE_LIMITS):
                yield (gr.skip() if live is None else live, *(final or [gr.skip()] * 3))

    with gr.Blocks(title="musicgen", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(DESCRIPTION)
        with gr.Row():
            with gr.Column():
                seed_audio = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                      label="Seed", elem_id="seed-audio")
                if examples:  # loading one fills the Seed; it never runs the model
                    gr.Examples([[str(p)] for p in examples], inputs=[seed_audio],
                                cache_examples=False, api_visibility="private",
                                example_labels=[p.stem for p in examples])
                architecture = gr.Radio([(ARCH_LABELS[a], a) for a in archs], value=default_arch,
                                        label="Architecture")
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature",
                                        info="low = the model's safest choice, "
                                        "high = more adventurous (both sounds)")
                seconds = gr.Slider(1, MAX_SECONDS, value=10, step=1, elem_id="seconds",
                                    label="Seconds of new audio")
                render = gr.Radio([("Seed's own sound", "seed"), ("Synthesized", "synth")],
                                  value="seed", label="Sound")
                with gr.Accordion("Advanced", open=False):
                    top_k = gr.Number(0, precision=0, minimum=0, label="Top-k (0 = off)")
                    top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p (1.0 = off)")
                    random_seed = gr.Number(-1, precision=0, minimum=-1,
                                            label="Random seed (-1 = random)")
                    adapt_steps = gr.Number(0, precision=0, minimum=0, maximum=MAX_ADAPT_STEPS,
                                            label="Seed adaptation steps (0 = off)")
                button = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                if streaming:
                    live_audio = gr.Audio(label="Listen as it is made", streaming=True,
                                          autoplay=True, interactive=False,
                                          elem_id="live-audio")
                output_audio = gr.Audio(label="Output audio", format="wav",
                                        interactive=False, elem_id="output-audio")
                spectrogram = gr.Image(label="Spectrogram", type="pil", format="png",
                                       interactive=False, elem_id="spectrogram")
                info = gr.JSON(label="Info", elem_id="info")
        inputs = [seed_audio, architecture, temperature, seconds, top_k, top_p, random_seed,
                  adapt_steps, render]
        results = [output_audio, spectrogram, info]
        if streaming:  # the button streams into the live player (not an API endpoint) ...
            button.click(generate_live, inputs=inputs, outputs=[live_audio, *results],
                         api_visibility="private", show_progress_on=results, **MODELS)
            # ... and /generate, from a hidden trigger, returns the finished outputs at once
            api_trigger = gr.Button(visible=False, elem_id="api-generate")
            api_trigger.click(generate, api_name="generate", inputs=inputs, outputs=results,
                              **MODELS)
        else:
            button.click(generate, api_name="generate", inputs=inputs, outputs=results,
                         **MODELS)
    return demo.queue(default_concurrency_limit=1, max_size=PAGE_QUEUE_SIZE)


def refusal(message: str) -> gr.Error:
    """A visitor's mistake: one log line, their message, and no traceback from Gradio."""
    log.info("refused: %s", message)
    return gr.Error(message, print_exception=False)


def launch(demo: gr.Blocks, **kwargs) -> None:
    """Serve `demo` with the page's limits: uploads over `PAGE_LIMITS.max_upload_bytes` are
    refused (HTTP 413) before any of them is stored."""
    demo.launch(max_file_size=PAGE_LIMITS.max_upload_bytes, **kwargs)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    root = checkpoint_root(APP_DIR)
    generators: dict[str, Generator] = {}
    for arch, folder in find_checkpoints(root).items():
        try:
            generators[arch] = Generator.load(folder)
            log.info("loaded %s prior from %s", arch, folder)
        except CheckpointError as error:
            log.error("cannot load %s: %s", folder, error)
    if not generators:
        raise SystemExit(f"No usable prior checkpoint (prior-*/musicgen.json) under {root}; "
                         "train one with `musicgen train` or set MUSICGEN_CHECKPOINTS.")
    # Lazy imports, JIT compiles and Keras's first calls cost seconds once per process: pay
    # them in the background while the server starts, not in the first user's request.
    # Requests that arrive meanwhile wait for `ready`: the models never run twice at once.
    ready = threading.Event()
    threading.Thread(target=warm_up, args=(generators, ready), daemon=True).start()
    examples = sorted((APP_DIR / "examples").glob("*.ogg"))
    launch(build_demo(generators, examples, ready=ready),
           allowed_paths=[str(APP_DIR / "examples")])


def warm_up(generators: dict[str, Generator], ready: threading.Event) -> None:
    try:
        for arch, generator in generators.items():
            try:
                log.info("warmed up the %s model in %.1f s", arch, generator.warmup())
            except Exception:  # never fatal: the first request is only slower
                log.exception("warm-up of the %s model failed", arch)
    finally:
        ready.set()


if __name__ == "__main__":
    main()
