"""The Hydra configs, shipped inside the package so that an installed wheel finds them.

One group per stage (``data/``, ``model/``, ``train/``, ``perturbation/``, ``attribution/``, ``metrics/``,
``report/``), ``experiment/`` overrides, ``bench/`` for ``python -m harness.bench``; ``config.yaml`` composes them.
"""
from pathlib import Path

#: Absolute path of this folder (Hydra's ``config_path``; works from any working directory).
CONFIG_DIR = str(Path(__file__).resolve().parent)
