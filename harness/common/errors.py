"""User-facing errors.

A :class:`UserError` is a mistake in configuration or input that the user can fix.
The command-line entry point prints its message as one line (no traceback) and
exits with status 2; ``HYDRA_FULL_ERROR=1`` shows the full traceback instead.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem in the user's configuration or data, with a one-line fix in its message."""


class CompensationError(RuntimeError):
    """A compensated model does not reproduce the original logits within tolerance."""


def find_user_error(exc: BaseException) -> Exception | None:
    """The :class:`UserError` or :class:`CompensationError` behind ``exc``, if any.

    Hydra's ``instantiate`` wraps exceptions raised by constructors, so the
    cause chain is searched.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (UserError, CompensationError)):
            return exc
        if type(exc).__name__ == "MissingMandatoryValue":  # a required config value (???) was not given
            return UserError(f"{str(exc).splitlines()[0]}; set it on the command line, e.g. data.root=PATH")
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def exit_code_of(action: Callable[[], object]) -> int:
    """Run ``action``; a user mistake becomes one ``error: ...`` line on stderr and exit code 2.

    Any other exception propagates (a bug deserves its traceback), and so does a user mistake when
    ``HYDRA_FULL_ERROR=1``.
    """
    try:
        action()
    except Exception as exc:
        problem = find_user_error(exc)
        if problem is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {str(problem).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0
