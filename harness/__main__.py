"""Command line: ``python -m harness [experiment=NAME] [group=option ...] [key=value ...]``."""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from harness.errors import exit_code_of

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    """Compose the config, run the experiment into Hydra's output folder."""
    from harness.run import run

    code = exit_code_of(lambda: run(cfg, HydraConfig.get().runtime.output_dir))
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
