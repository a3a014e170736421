"""The package's version, defined once in ``pyproject.toml``: read from the installed distribution's metadata, or,
in a source checkout that is not installed (``PYTHONPATH=.``), from the ``pyproject.toml`` beside the package."""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

#: The distribution name on PyPI (``pip install saliency-harness``); the import name is ``harness``.
DISTRIBUTION = "saliency-harness"
#: The version of a checkout whose version cannot be read.
UNKNOWN = "0+unknown"


def version() -> str:
    """The installed version of :data:`DISTRIBUTION`; without one, the checkout's ``pyproject.toml`` version."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return checkout_version(Path(__file__).resolve().parent.parent / "pyproject.toml")


def checkout_version(pyproject: Path) -> str:
    """``version = "..."`` of the ``[project]`` table of a ``pyproject.toml`` (:data:`UNKNOWN` if there is none)."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return UNKNOWN
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, flags=re.M | re.S)
    found = project and re.search(r'^version\s*=\s*"([^"]+)"\s*$', project.group(1), flags=re.M)
    return found.group(1) if found else UNKNOWN
