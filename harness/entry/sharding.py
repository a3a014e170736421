"""Shards of the explained test images: one study cut into jobs whose merged scores are the unsharded run's.

``attribution.shards=N attribution.shard=i`` (0-based) explains the i-th of N contiguous blocks of the explained
images; a Hydra multirun over ``attribution.shard`` sends each block to its own job (joblib locally, submitit/SLURM
on a cluster) and the sweep collector (:mod:`harness.entry.sweep`) merges them. Blocks are whole attribution
batches where there are enough of them, and runs of images otherwise (:func:`shard_range`); a shard computes whole
batches of the unsharded run (:func:`computed_range`) and keeps its own images' rows. With the seeds derived from
the run's seed and the image's position in the test split (:mod:`harness.common.seeding`), and every batch holding the
same images as in the unsharded run, each shard's rows are the unsharded run's rows for its images, value for
value.
"""
from __future__ import annotations

import hashlib
from typing import Any

from harness.common.errors import UserError


def _count(value: Any, name: str) -> int:
    """``value`` as an int (a bool, a float with a fraction or text is refused with one line naming ``name``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise UserError(f"attribution.{name} must be a whole number, got {value!r}")
    return value


def check_shard(shards: Any, shard: Any) -> tuple[int, int]:
    """``(shards, shard)`` as ints: ``shards >= 1`` and ``0 <= shard < shards`` (else one clear :class:`UserError`)."""
    shards = 1 if shards is None else _count(shards, "shards")
    shard = 0 if shard is None else _count(shard, "shard")
    if shards < 1:
        raise UserError(f"attribution.shards={shards}: the number of shards must be >= 1 (1 = no sharding)")
    if not 0 <= shard < shards:
        raise UserError(f"attribution.shard={shard} but attribution.shards={shards}: shards are numbered 0 to "
                        f"{shards - 1}; sweep them with attribution.shard=range(0,{shards}) -m")
    return shards, shard


def shard_range(n_images: int, batch_size: int, shards: Any = 1, shard: Any = 0) -> tuple[int, int]:
    """``(start, stop)``: the positions of shard ``shard`` of ``shards`` among ``n_images`` explained images.

    With at least as many attribution batches (``B = ceil(n_images / batch_size)``) as shards, the batches are
    dealt out in contiguous runs whose sizes differ by at most one batch (shard ``i`` gets batches
    ``[i·B // N, (i+1)·B // N)``): every shard computes its own batches only. With fewer batches than shards
    (e.g. the default 16 images in one batch of 16, cut in 3), the images are dealt out in contiguous runs whose
    sizes differ by at most one image (shard ``i`` gets ``[i·n // N, (i+1)·n // N)``), and a shard computes the
    whole batches its images belong to (:func:`computed_range`), keeping the rows of its own images only. More
    shards than images is one clear :class:`UserError`.

    Args:
        n_images: How many test images the unsharded run explains.
        batch_size: Images per attribution batch.
        shards: How many shards (N).
        shard: Which one (0-based).
    """
    shards, shard = check_shard(shards, shard)
    if shards > max(n_images, 1):
        raise UserError(f"attribution.shards={shards} but only {n_images} image(s) are explained "
                        f"(attribution.n_images): use at most {n_images} shards")
    n_batches = -(-n_images // batch_size)
    if shards > n_batches:
        return shard * n_images // shards, (shard + 1) * n_images // shards
    first, last = shard * n_batches // shards, (shard + 1) * n_batches // shards
    return min(first * batch_size, n_images), min(last * batch_size, n_images)


def computed_range(start: int, stop: int, n_images: int, batch_size: int) -> tuple[int, int]:
    """``(start, stop)`` widened to whole attribution batches of the unsharded run (``[k·batch_size, (k+1)·
    batch_size)``, the last one cut at ``n_images``): the images a shard computes, so that each of its batches
    holds the same images as in the unsharded run and even the floating-point arithmetic of a stacked batch (a
    convolution's, a matrix product's) is the same."""
    return start // batch_size * batch_size, min(-(-stop // batch_size) * batch_size, n_images)


#: overrides that say where a job runs, not what it computes: they do not name a shard's folder (a failed shard may
#: be rerun on another device)
_WHERE = ("device", "threads", "cache_dir", "attribution.shard")


def job_dir(number: Any, shards: Any, shard: Any, overrides: Any) -> str:
    """The folder of a multirun job in its sweep (``hydra.sweep.subdir``).

    A job's number, as Hydra numbers them; for a shard (``attribution.shards > 1``),
    ``shard_<i>-of-<N>_<hash of the job's other overrides>`` (e.g. ``shard_03-of-12_5c1e9a0f``), so that a shard
    rerun alone (the failed ones of a sweep, into the same ``hydra.sweep.dir``) finds its own folder and resumes
    there whatever its number in the new sweep, and the shards of different jobs (e.g. the scorecard's families)
    never share one.

    Args:
        number: ``hydra.job.num``.
        shards: ``attribution.shards``.
        shard: ``attribution.shard``.
        overrides: ``hydra.overrides.task``, the job's command-line overrides.
    """
    if shards is None or str(shards) in ("1", "None"):
        return str(number)
    other = sorted(str(o) for o in overrides or () if str(o).split("=", 1)[0].lstrip("+~") not in _WHERE)
    digest = hashlib.sha256("\n".join(other).encode()).hexdigest()[:8]
    width = len(str(int(shards) - 1))
    return f"shard_{int(shard):0{width}d}-of-{int(shards)}_{digest}"


def register_resolver() -> None:
    """Register ``${harness.job_dir:...}`` (:func:`job_dir`), the folder of a sweep's job in ``config.yaml``."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("harness.job_dir"):
        OmegaConf.register_new_resolver("harness.job_dir", job_dir)
