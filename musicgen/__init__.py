"""musicgen: continue a piece of music from a short seed clip, on CPU."""

from musicgen.errors import CheckpointError, InputError

__all__ = ["CheckpointError", "InputError"]
__version__ = "0.1.0"
