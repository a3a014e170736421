"""Command line: ``python -m harness [experiment=NAME] [group=option ...] [key=value ...]``."""
from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from harness.configs import CONFIG_DIR
from harness.common.errors import exit_code_of



@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    """Compose the config, run the experiment into Hydra's output folder."""
    from harness.entry.run import run

    from tqdm.contrib.logging import logging_redirect_tqdm

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with logging_redirect_tqdm():  # log lines go above a progress bar instead of through it
        code = exit_code_of(lambda: run(cfg, run_dir))
    if code:
        _remove_if_empty(run_dir)
        sys.exit(code)


def _remove_if_empty(run_dir: Path) -> None:
    """A run stopped by a configuration mistake leaves no folder with nothing in it (partial results stay)."""
    logging.shutdown()
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", "__main__.log"}:
        shutil.rmtree(run_dir, ignore_errors=True)


def check_group_choices(argv: list[str], config_dir: str = CONFIG_DIR) -> str | None:
    """One error line for a ``group=option`` override whose option does not exist (None if all exist).

    Hydra would stop too, but with a multi-line message; this names the group and its valid choices.
    """
    if any(arg.startswith("hydra.searchpath") for arg in argv):
        return None  # options may come from the user's own config folders: Hydra checks them
    for arg in argv:
        group, sep, value = arg.lstrip("+~").partition("=")
        folder = Path(config_dir) / group
        if not sep or "." in group or not folder.is_dir() or group == "hydra":
            continue
        choices = sorted(p.stem for p in folder.glob("*.yaml"))
        for option in value.split(","):  # a multirun sweep lists several
            if option and option != "null" and option not in choices:
                return f"unknown {group} '{option}'; valid choices: {', '.join(choices)}"
    return None


if __name__ == "__main__":
    problem = check_group_choices(sys.argv[1:])
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    main()
