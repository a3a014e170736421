"""The app's config composed in Python, as ``python -m harness`` composes it: the one place that does it (the
Python API, the benchmark's whole-run row and the tests all call :func:`compose`)."""
from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig

from harness.common.errors import UserError
from harness.configs import CONFIG_DIR


def compose(overrides: Sequence[str] = (), config_dir: str = CONFIG_DIR, config_name: str = "config") -> DictConfig:
    """``config_name`` (``config.yaml``) of ``config_dir`` with ``overrides`` (Hydra's syntax), also from inside another Hydra app:
    Hydra's global state is set aside while composing and restored after.

    Raises:
        UserError: an override Hydra refuses (an unknown key or option), in one line.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from hydra.initialize import get_gh_backup, restore_gh_from_backup

    backup = get_gh_backup()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=config_dir):
            return hydra_compose(config_name=config_name, overrides=list(overrides))
    except HydraException as exc:
        raise UserError(f"bad override: {str(exc).splitlines()[0]}") from exc
    finally:
        restore_gh_from_backup(backup)
