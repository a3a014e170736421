"""The Hydra configs, shipped inside the package so that an installed wheel finds them.

One group per stage (``data/``, ``model/``, ``train/``, ``perturbation/``, ``attribution/``, ``metrics/``,
``report/``), ``experiment/`` overrides, ``family/`` (one family's settings for a scorecard job), ``debug/`` (tiny
settings for a smoke test), ``bench/`` for ``python -m harness.bench``; ``config.yaml`` composes them. The resolver
``${harness.job_dir:...}`` that ``config.yaml`` uses is registered by ``import harness``
(:func:`harness.entry.sharding.register_resolver`).
"""
from pathlib import Path

#: Absolute path of this folder (Hydra's ``config_path``; works from any working directory).
CONFIG_DIR = str(Path(__file__).resolve().parent)
