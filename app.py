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

from musicgen.audio import load_audio  # noqa: E402
from musicgen.checkpoint import checkpoint_root, find_checkpoints  # noqa: E402
from musicgen.errors import CheckpointError, InputError  # noqa: E402
from musicgen.generate import Generator  # noqa: E402
from musicgen.options import PAGE_LIMITS, PAGE_QUEUE_SIZE, request_options  # noqa: E402
from musicgen.webui import (  # noqa: E402
    ResultFiles,
    example_credits,
    example_labels,
    live_updates,
)

log = logging.getLogger("musicgen.app")

APP_DIR = Path(__file__).resolve().parent
ARCH_LABELS = {"lstm": "LSTM", "gru": "GRU"}
MAX_SECONDS = PAGE_LIMITS.max_seconds
MAX_ADAPT_STEPS = PAGE_LIMITS.max_adapt_steps
# Every event that runs the models joins this one group: one request at a time, whichever
# button or endpoint it came from (Gradio queues the rest, up to PAGE_QUEUE_SIZE).
MODELS = {"concurrency_id": "models", "concurrency_limit": 1}
DESCRIPTION = """# musicgen: continue a piece of music

Click an example below to hear a real piece of music carried on, or upload or record a few
seconds of your own. A small model (a learned audio codec and a Conv1D + LSTM/GRU network)
continues it on CPU, faster than real time. The output starts with the end of your clip so you
can hear the join, marked by the white line in the spectrogram.
"""
EXAMPLES_NOTE = ("Real music from held-out tracks the model never trained on (free game "
                 "soundtracks packaged by Debian; full credits in `examples/README.md`), then "
                 "three synthesized test clips:")
# One line of help under each control (Gradio's `info`).
HELP = {
    "architecture": "The network that picks what comes next: GRU and LSTM are two kinds of "
                    "recurrent network with a memory of the music so far, trained on the same "
                    "music (in Seed's own sound, to pick which beat of your clip the music "
                    "plays next). They choose differently; try both.",
    "temperature": "Low: the model's safest choice at every step (steady, repetitive); high: "
                   "more adventurous. It changes which slice of your clip comes next (Seed's "
                   "own sound) or which sound codes are drawn (Synthesized).",
    "seconds": "How much new music to make. The file also starts with your clip's last 3 s.",
    "render": "Seed's own sound: slices of your clip, rearranged on its beat (clean, same "
              "instruments). Synthesized: new sound made from the model's codes (rougher).",
    "top_k": "Allow only the k likeliest choices at each step (0 = all).",
    "top_p": "Allow only the likeliest choices that together hold this much probability.",
    "random_seed": "The same number with the same settings gives the same output again.",
    "adapt_steps": "Fine-tune the code model on your clip for this many steps first: closer "
                   "to your clip, slower (Synthesized, and clips without a steady beat).",
}


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
                           "Please try again or try another seed clip.",
                           duration=None) from error

    def generate(seed_audio: str | None, architecture: str = default_arch,
                 temperature: float = 1.0, seconds: float = 10.0, top_k: int = 0,
                 top_p: float = 1.0, random_seed: int = -1, adapt_steps: int = 0,
                 render: str = "seed", progress: gr.Progress = gr.Progress()):  # noqa: B008
        """Continue a piece of music from a short seed clip, on CPU, faster than real time.

        Args:
            seed_audio: The clip to continue: an audio file (WAV, FLAC, OGG, MP3...), >= 0.5 s.
            architecture: The model: "gru" (default) or "lstm", trained on the same music.
            temperature: 0.1-2.0: low = the model's safest choices, high = adventurous.
            seconds: Seconds of new audio, 1-60 (default 10), after the seed's last 3 s.
            top_k: Allow only the k likeliest choices at each step; 0 = off (default).
            top_p: Allow only the choices holding this probability, 0.05-1.0; 1.0 = off.
            random_seed: Makes the output reproducible; -1 (default) draws one.
            adapt_steps: Fine-tune on the seed for this many steps first (0-200; 0 = off).
            render: "seed" (default): the seed's own sound; "synth": synthesized sound.

        Returns:
            a WAV file: the seed's last 3 s, then the new audio
            a PNG spectrogram with the join marked and a time axis in seconds
            an info dict: "summary" is one plain-language line, then the details
        """
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

    sample_rate = next(iter(generators.values())).sample_rate

    def check_seed(seed_audio):
        """At upload: the message the library would give at Generate, on the Seed itself."""
        if seed_audio is None:
            return gr.validate(True, "")
        try:
            load_audio(seed_audio, sample_rate, max_channels=PAGE_LIMITS.max_channels,
                       rate_range=PAGE_LIMITS.rate_range,
                       decode_budget_s=PAGE_LIMITS.max_decode_seconds)
        except InputError as error:
            return gr.validate(False, str(error))
        return gr.validate(True, "")

    with gr.Blocks(title="musicgen", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(DESCRIPTION)
        with gr.Row():
            with gr.Column():
                seed_audio = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                      label="Seed", elem_id="seed-audio")
                example_set = None
                if examples:  # a click fills the Seed and runs Generate with the settings below
                    paths, labels = example_labels(examples)
                    example_set = gr.Examples([[str(p)] for p in paths], inputs=[seed_audio],
                                              cache_examples=False, api_visibility="private",
                                              example_labels=labels, label="Examples",
                                              elem_id="examples")
                    gr.Markdown(EXAMPLES_NOTE + "\n\n" + example_credits(paths),
                                elem_id="examples-note")
                architecture = gr.Radio([(ARCH_LABELS[a], a) for a in archs], value=default_arch,
                                        label="Architecture", info=HELP["architecture"])
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature",
                                        info=HELP["temperature"])
                seconds = gr.Slider(1, MAX_SECONDS, value=10, step=1, elem_id="seconds",
                                    label="Seconds of new audio", info=HELP["seconds"])
                render = gr.Radio([("Seed's own sound", "seed"), ("Synthesized", "synth")],
                                  value="seed", label="Sound", info=HELP["render"])
                with gr.Accordion("Advanced", open=False):
                    top_k = gr.Number(0, precision=0, minimum=0, label="Top-k (0 = off)",
                                      info=HELP["top_k"])
                    top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p (1.0 = off)",
                                      info=HELP["top_p"])
                    random_seed = gr.Number(-1, precision=0, minimum=-1,
                                            label="Random seed (-1 = random)",
                                            info=HELP["random_seed"])
                    adapt_steps = gr.Number(0, precision=0, minimum=0, maximum=MAX_ADAPT_STEPS,
                                            label="Seed adaptation steps (0 = off)",
                                            info=HELP["adapt_steps"])
                button = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                if streaming:
                    live_audio = gr.Audio(label="Listen as it is made", streaming=True,
                                          autoplay=True, interactive=False,
                                          elem_id="live-audio")
                summary = gr.Markdown("*Your result will be described here.*",
                                      elem_id="summary")
                output_audio = gr.Audio(label="Output audio", format="wav",
                                        interactive=False, elem_id="output-audio")
                spectrogram = gr.Image(label="Spectrogram", type="pil", format="png",
                                       interactive=False, elem_id="spectrogram")
                with gr.Accordion("All the details (JSON)", open=False, elem_id="details"):
                    info = gr.JSON(label="Info", elem_id="info")
        inputs = [seed_audio, architecture, temperature, seconds, top_k, top_p, random_seed,
                  adapt_steps, render]
        results = [output_audio, spectrogram, info]
        # Progress and any error badge go on the summary line: a failed request leaves the
        # outputs as they were, and its message stays up until it is closed.
        if streaming:  # the button streams into the live player (not an API endpoint) ...
            live = dict(fn=generate_live, inputs=inputs, outputs=[live_audio, *results],
                        api_visibility="private", show_progress_on=[summary], **MODELS)
            button.click(**live)
            if example_set is not None:  # a click on an example runs it too
                example_set.load_input_event.then(**live)
            # ... and /generate, from a hidden trigger, returns the finished outputs at once
            api_trigger = gr.Button(visible=False, elem_id="api-generate")
            api_trigger.click(generate, api_name="generate", inputs=inputs, outputs=results,
                              **MODELS)
        else:
            button.click(generate, api_name="generate", inputs=inputs, outputs=results,
                         show_progress_on=[summary], **MODELS)
            if example_set is not None:
                example_set.load_input_event.then(generate, inputs=inputs, outputs=results,
                                                  api_visibility="private",
                                                  show_progress_on=[summary], **MODELS)
        seed_audio.upload(lambda audio: gr.skip(), inputs=seed_audio, outputs=summary,
                          validator=check_seed, api_visibility="private",
                          show_progress="hidden")
        info.change(lambda value: f"**{value['summary']}**" if value else gr.skip(),
                    inputs=info, outputs=summary, api_visibility="private", queue=False,
                    show_progress="hidden")
    return demo.queue(default_concurrency_limit=1, max_size=PAGE_QUEUE_SIZE)


def refusal(message: str) -> gr.Error:
    """A visitor's mistake: one log line, their message, and no traceback from Gradio."""
    log.info("refused: %s", message)
    return gr.Error(message, duration=None, print_exception=False)  # stays until closed


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
    # mcp_server: agents (MCP clients) get `generate` as a tool at /gradio_api/mcp/
    launch(build_demo(generators, examples, ready=ready),
           allowed_paths=[str(APP_DIR / "examples")], mcp_server=True)


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
