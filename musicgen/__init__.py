"""musicgen: continue a piece of music from a short seed clip, on CPU."""

import logging
import os

from musicgen import quiet

# Quiet by default: TensorFlow's C++ start-up lines (absl, CPU features) are only silenced if
# this is set before TensorFlow is first imported, and every entry point imports this package
# first; the lines TF_CPP_MIN_LOG_LEVEL misses are kept off stderr by `quiet`.
# MUSICGEN_VERBOSE=1 (or the CLI's --verbose) keeps them.
if os.environ.get("MUSICGEN_VERBOSE", "").lower() not in ("1", "true", "yes"):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet.install()
    # TF's Python warnings (e.g. tf.function retracing) go to the "tensorflow" logger, which
    # also has its own handler: printed twice once an app configures logging.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)

from musicgen.errors import CheckpointError, InputError  # noqa: E402

__all__ = ["CheckpointError", "InputError"]
__version__ = "0.1.0"
