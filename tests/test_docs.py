"""The documentation site builds in strict mode (a broken link, anchor or API reference fails), and it documents
what the package has: every module in the API reference, every perturbation family, every measure of the registry.
The README's relative links point at files that exist."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.metrics.registry import MEASURES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _text(*pages: str) -> str:
    return "\n".join((DOCS / p).read_text(encoding="utf-8") for p in pages)


def test_docs_build_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                           cwd=ROOT, capture_output=True, text=True, env=env)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert (tmp_path / "site" / "experiments" / "bias_shift" / "index.html").exists()  # the hook's pages
    assert "harness.entry.api.evaluate" in (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")


def test_every_module_is_in_the_reference():
    package = ROOT / "harness"
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in package.rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")}
    documented = set(re.findall(r"^::: (\S+)", _text(*[p.relative_to(DOCS) for p in DOCS.rglob("*.md")]), re.M))
    assert not modules - documented, f"add to a page of docs/reference/: {sorted(modules - documented)}"


def test_every_family_and_measure_is_documented():
    families = {p.stem for p in (ROOT / "harness" / "configs" / "perturbation").glob("*.yaml")}
    text = _text("families.md", "randomisation.md", "equivariance.md", "corruptions.md")
    assert not {f for f in families if f"`{f}`" not in text}, "a perturbation config missing from docs/families.md"
    derived = {f"{m}_{r}" for m in MEASURES for r in ("mean", "min")}  # aggregates of every similarity, listed once
    derived |= {m.name for m in MEASURES.values() if m.shape == "split"}  # consistency_<m>, responsiveness_<m>
    measures = _text("measures.md")
    missing = [m for m in MEASURES if m not in derived and f"`{m}`" not in measures]
    assert not missing, f"measures missing from docs/measures.md: {missing}"


def test_readme_links_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", readme)
             if not link.startswith(("http://", "https://", "#"))]
    assert links, "the README links to the documentation"
    assert not [link for link in links if not (ROOT / link).exists()]
