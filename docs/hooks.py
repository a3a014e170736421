"""MkDocs hooks: the site shows the files that live elsewhere in the repository, without copies.

- ``experiments/<name>/`` (its ``README.md``: question, command, reference results; the figures and tables it
  shows) becomes the page ``experiments/<name>/``, listed under "Experiments" in the navigation, in name order: a
  new experiment folder appears without editing ``mkdocs.yml``.
- ``CHANGELOG.md`` becomes ``changelog.md``.
- Links that are right when read in the repository (an experiment README's ``../../docs/page.md``, a page's
  ``../experiments/<name>/README.md``) point at the site's pages.
"""
from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"
#: The files of an experiment folder the site shows (its README links to them).
SHOWN = {".md", ".png", ".svg", ".jpg", ".csv"}
#: The navigation entry the experiments are listed under (its overview page first).
SECTION, OVERVIEW = "Experiments", "experiments.md"


def experiments() -> list[Path]:
    """The experiment folders that have a README, in name order."""
    return sorted(p.parent for p in EXPERIMENTS.glob("*/README.md"))


def title(readme: Path) -> str:
    """The README's first heading (``# experiment: bias_shift — ...`` → its text), or the folder's name."""
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return readme.parent.name


def on_config(config):
    """List every experiment under :data:`SECTION`, after the overview page."""
    pages = [{title(folder / "README.md"): f"experiments/{folder.name}/README.md"} for folder in experiments()]
    for i, entry in enumerate(config.nav):
        if isinstance(entry, dict) and SECTION in entry:
            config.nav[i] = {SECTION: [{"Overview": OVERVIEW}, *pages]}
    return config


def on_files(files: Files, config) -> Files:
    """Add the experiments' files and the changelog to the site's files."""
    for folder in experiments():
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix in SHOWN:
                files.append(File(f"experiments/{folder.name}/{path.name}", str(EXPERIMENTS.parent), config.site_dir,
                                  config.use_directory_urls))
    files.append(File.generated(config, "changelog.md", abs_src_path=str(ROOT / "CHANGELOG.md")))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """An experiment README's links into ``docs/``, and a page's links to ``../experiments/``, lead to the site's
    pages."""
    if page.file.src_uri.startswith("experiments/"):
        return markdown.replace("](../../docs/", "](../../")
    if "/" not in page.file.src_uri:  # a top-level page's link as read in the repository
        return markdown.replace("](../experiments/", "](experiments/")
    return markdown
