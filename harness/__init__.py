"""harness: robustness evaluation of saliency maps (distributed on PyPI as ``saliency-harness``).

Data flow (one subpackage per stage): ``data`` → ``models`` → ``perturbations`` → ``attribution`` → ``metrics``,
driven batch by batch by ``loop`` into ``results``, read by ``report``. ``entry`` holds the front ends:
:func:`harness.entry.run.run` for the command line (``python -m harness``), :func:`harness.evaluate` (the same
engine for a model and images in Python), the sweep's collection and shards; ``bench`` measures all of it against
the hardware's limit; ``common`` is below every stage (the files' schema, seeds, errors, progress).
"""
from harness._version import DISTRIBUTION, version

__version__ = version()
__all__ = ["DISTRIBUTION", "__version__", "evaluate"]


def __getattr__(name: str):
    if name == "evaluate":  # imported on first use: ``python -m harness --help`` stays fast
        from harness.entry.api import evaluate

        return evaluate
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


# registers the configs' resolver (the folder of a sweep's job) wherever harness is imported: in the app, and in a
# launcher's job (joblib, submitit), which unpickles harness functions before it resolves its folder
from harness.entry.sharding import register_resolver as _register_resolver  # noqa: E402

_register_resolver()
