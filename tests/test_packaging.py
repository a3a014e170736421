"""The distribution: one version (pyproject.toml) read by ``harness.__version__`` and recorded in run_info.json; the
sdist and the wheel build, pass ``twine check`` and carry pyproject.toml's metadata and the configs (``pytest -m
slow``; CI also installs the wheel in a clean environment, ``.ci/run``)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import harness
from harness._version import UNKNOWN, checkout_version

ROOT = Path(__file__).resolve().parent.parent


def _check_metadata():
    spec = importlib.util.spec_from_file_location("check_metadata", ROOT / ".ci" / "check_metadata.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_version_is_pyprojects():
    assert harness.DISTRIBUTION == "saliency-harness"
    assert harness.__version__ == checkout_version(ROOT / "pyproject.toml") != UNKNOWN


def test_checkout_version_reads_the_project_table_only(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.x]\nversion = "9"\n[project]\nname = "a"\nversion = "1.2.3"\n'
                                             '[tool.y]\nversion = "8"\n')
    assert checkout_version(tmp_path / "pyproject.toml") == "1.2.3"
    (tmp_path / "pyproject.toml").write_text('[tool.x]\nversion = "9"\n')
    assert checkout_version(tmp_path / "pyproject.toml") == UNKNOWN
    assert checkout_version(tmp_path / "missing.toml") == UNKNOWN


@pytest.mark.slow
def test_sdist_and_wheel_build_and_pass_twine(tmp_path):
    pytest.importorskip("build")
    pytest.importorskip("setuptools", minversion="77")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "-o", str(tmp_path), str(ROOT)], check=True,
                   capture_output=True, cwd=tmp_path)
    version = harness.__version__
    wheel = tmp_path / f"saliency_harness-{version}-py3-none-any.whl"
    sdist = tmp_path / f"saliency_harness-{version}.tar.gz"
    assert wheel.exists() and sdist.exists(), sorted(p.name for p in tmp_path.iterdir())
    twine = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
                           capture_output=True, text=True)
    assert twine.returncode == 0, twine.stdout + twine.stderr
    checker = _check_metadata()
    checker.check(checker.wheel_metadata(wheel), ROOT / "pyproject.toml")
    names = zipfile.ZipFile(wheel).namelist()
    configs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "harness" / "configs").rglob("*.yaml")}
    assert configs <= set(names), sorted(configs - set(names))
    assert not any(n.startswith(("tests/", "experiments/", "docs/")) for n in names)
    with tarfile.open(sdist) as tar:  # the sdist is the source: it rebuilds the docs and runs the tests
        held = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"CHANGELOG.md", "mkdocs.yml", "docs/hooks.py", "examples/quickstart.ipynb", "tests/conftest.py",
            "tests/fixtures/road_reference.npz", "experiments/bias_shift/README.md"} <= held
