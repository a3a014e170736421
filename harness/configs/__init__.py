"""The Hydra configs, shipped inside the package so that an installed wheel finds them.

One group per stage (``data/``, ``model/``, ``train/``, ``perturbation/``, ``attribution/``, ``metrics/``,
``report/``), ``experiment/`` overrides, ``bench/`` for ``python -m harness.bench``; ``config.yaml`` composes them.
"""
from pathlib import Path

#: Absolute path of this folder (Hydra's ``config_path``; works from any working directory).
CONFIG_DIR = str(Path(__file__).resolve().parent)


def _register_resolvers() -> None:
    """``${harness.job_dir:...}``: the folder of a sweep's job (:func:`harness.sharding.job_dir`), registered when
    the configs are imported (``import harness`` imports them)."""
    from omegaconf import OmegaConf

    from harness.sharding import job_dir

    if not OmegaConf.has_resolver("harness.job_dir"):
        OmegaConf.register_new_resolver("harness.job_dir", job_dir)


_register_resolvers()
