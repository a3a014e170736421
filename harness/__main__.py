"""Command line: ``python -m harness [experiment=NAME] [group=option ...] [key=value ...]``."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from harness.errors import find_user_error

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    """Compose the config, run the experiment into Hydra's output folder."""
    from harness.run import run

    try:
        run(cfg, HydraConfig.get().runtime.output_dir)
    except Exception as exc:
        problem = find_user_error(exc)
        if problem is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
