"""User-facing errors.

A :class:`UserError` is a mistake in configuration or input that the user can fix.
The command-line entry point prints its message as one line (no traceback) and
exits with status 2; ``HYDRA_FULL_ERROR=1`` shows the full traceback instead.
"""


class UserError(Exception):
    """A problem in the user's configuration or data, with a one-line fix in its message."""


class CompensationError(RuntimeError):
    """A compensated model does not reproduce the original logits within tolerance."""
