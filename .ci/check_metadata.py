"""Check a built or installed distribution's metadata against ``pyproject.toml``: name, version, Python, runtime
dependencies and extras, and that the installed ``harness.__version__`` agrees.

Usage: ``python .ci/check_metadata.py PYPROJECT [WHEEL]`` (without a wheel: the installed distribution, whose
``harness`` must then import). Also imported by ``tests/test_packaging.py``.
"""
from __future__ import annotations

import email
import re
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def wheel_metadata(wheel: Path) -> email.message.Message:
    """The METADATA file of a wheel."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
        return email.message_from_bytes(z.read(name))


def _requirements(lines: list[str]) -> set[tuple[str, str, str]]:
    reqs = [Requirement(line) for line in lines]
    return {(r.name.lower(), str(r.specifier), str(r.marker or "")) for r in reqs}


def check(meta: email.message.Message, pyproject: Path) -> str:
    """Raise AssertionError where ``meta`` disagrees with ``pyproject``; return a one-line description."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    assert meta["Name"] == project["name"], (meta["Name"], project["name"])
    assert meta["Version"] == project["version"], (meta["Version"], project["version"])
    assert meta["Requires-Python"] == project["requires-python"], meta["Requires-Python"]
    requires = meta.get_all("Requires-Dist") or []
    runtime = [r for r in requires if "extra ==" not in r]
    assert _requirements(runtime) == _requirements(project["dependencies"]), sorted(runtime)
    extras = set(meta.get_all("Provides-Extra") or [])
    assert extras == set(project.get("optional-dependencies", {})), extras
    return f"{meta['Name']} {meta['Version']}: {len(runtime)} runtime dependencies, extras {sorted(extras)}"


if __name__ == "__main__":
    pyproject = Path(sys.argv[1])
    if len(sys.argv) > 2:
        print(check(wheel_metadata(Path(sys.argv[2])), pyproject))
    else:
        import harness

        meta = metadata.metadata(harness.DISTRIBUTION)
        assert harness.__version__ == meta["Version"], (harness.__version__, meta["Version"])
        print(check(meta, pyproject))
