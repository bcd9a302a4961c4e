"""Exceptions the library raises for problems a user can fix."""


class InputError(ValueError):
    """Bad user input (seed audio, options, data folder): the message says what to fix."""


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or of a format version this code does not know."""
