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

from musicgen.checkpoint import checkpoint_root, find_checkpoints  # noqa: E402
from musicgen.errors import CheckpointError, InputError  # noqa: E402
from musicgen.generate import Generator  # noqa: E402
from musicgen.options import PAGE_LIMITS, request_options  # noqa: E402
from musicgen.webui import (  # noqa: E402
    live_updates,
    result_audio,
    result_info,
    result_spectrogram,
)

log = logging.getLogger("musicgen.app")

APP_DIR = Path(__file__).resolve().parent
ARCH_LABELS = {"lstm": "LSTM", "gru": "GRU"}
MAX_SECONDS = PAGE_LIMITS.max_seconds
MAX_ADAPT_STEPS = PAGE_LIMITS.max_adapt_steps
DESCRIPTION = """# musicgen: continue a piece of music

Upload or record a few seconds of music (or pick an example below) and a small Conv1D +
LSTM/GRU model over a learned audio codec continues it, on CPU. *Seed's own sound* builds the
continuation from slices of your clip, chosen one beat at a time; *Synthesized* renders the
model's own codes with a vocoder (rougher, but entirely new sound). The output starts with the
end of your seed so you can hear the join, marked by the white line in the spectrogram.
"""


def build_demo(generators: dict[str, Generator], examples: list[Path],
               streaming: bool | None = None) -> gr.Blocks:
    """The page; `generators` maps "lstm"/"gru" to a loaded model, `examples` are seed clips.

    `streaming` (default: when ffmpeg is on PATH, which Gradio's streamed audio needs) adds a
    player that plays the new audio as it is made."""
    if streaming is None:
        streaming = shutil.which("ffmpeg") is not None
    archs = [arch for arch in ARCH_LABELS if arch in generators]
    if not archs:
        raise ValueError(f"no generator for any of {list(ARCH_LABELS)}")
    default_arch = "gru" if "gru" in archs else archs[0]

    def prepare(architecture, temperature, seconds, top_k, top_p, random_seed, adapt_steps,
                render):
        if architecture not in generators:
            raise gr.Error(f"architecture must be one of {archs}, got {architecture!r}")
        try:
            options = request_options(seconds, temperature, top_k, top_p, random_seed,
                                      adapt_steps, render, PAGE_LIMITS)
        except InputError as error:
            raise gr.Error(str(error)) from error
        return generators[architecture], options

    @contextmanager
    def user_errors():
        try:
            yield
        except (InputError, CheckpointError) as error:
            raise gr.Error(str(error)) from error
        except gr.Error:
            raise
        except Exception as error:
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
                                        progress=lambda done, what: progress(done, desc=what))
            return result_audio(result), result_spectrogram(generator, result), result_info(result)

    def generate_live(seed_audio, architecture, temperature, seconds, top_k, top_p,
                      random_seed, adapt_steps, render,
                      progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:  # noqa: B008
        """The page's Generate: the live player gets WAV chunks as they are made; the file,
        spectrogram and info follow at the end (the same output as /generate)."""
        generator, options = prepare(architecture, temperature, seconds, top_k, top_p,
                                     random_seed, adapt_steps, render)
        with user_errors():
            for live, final in live_updates(generator, seed_audio, options,
                                            lambda done, what: progress(done, desc=what)):
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
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
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
                         api_visibility="private", show_progress_on=results)
            # ... and /generate, from a hidden trigger, returns the finished outputs at once
            api_trigger = gr.Button(visible=False, elem_id="api-generate")
            api_trigger.click(generate, api_name="generate", inputs=inputs, outputs=results)
        else:
            button.click(generate, api_name="generate", inputs=inputs, outputs=results)
    return demo.queue(default_concurrency_limit=1, max_size=16)


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
    threading.Thread(target=warm_up, args=(generators,), daemon=True).start()
    examples = sorted((APP_DIR / "examples").glob("*.ogg"))
    build_demo(generators, examples).launch(allowed_paths=[str(APP_DIR / "examples")])


def warm_up(generators: dict[str, Generator]) -> None:
    for arch, generator in generators.items():
        try:
            log.info("warmed up the %s model in %.1f s", arch, generator.warmup())
        except Exception:  # never fatal: the first request is only slower
            log.exception("warm-up of the %s model failed", arch)


if __name__ == "__main__":
    main()
