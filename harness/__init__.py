"""harness: robustness evaluation of saliency maps (distributed on PyPI as ``saliency-harness``).

Data flow (one subpackage per stage): ``data`` → ``models`` → ``perturbations`` → ``attribution`` → ``metrics``
→ ``report``. :func:`harness.run.run` wires them for the command line (``python -m harness``);
:func:`harness.evaluate` is the same engine for a model and images in Python.
"""
from harness._version import DISTRIBUTION, version

__version__ = version()
__all__ = ["DISTRIBUTION", "__version__", "evaluate"]


def __getattr__(name: str):
    if name == "evaluate":  # imported on first use: ``python -m harness --help`` stays fast
        from harness.api import evaluate

        return evaluate
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


# registers the configs' resolver (the folder of a sweep's job) wherever harness is imported: in the app, and in a
# launcher's job (joblib, submitit), which unpickles harness functions before it resolves its folder
from harness import configs as _configs  # noqa: E402,F401
