"""Shared fixtures: config composition and a small trained classifier."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.configs.compose import compose
from harness.data.synthetic_rps import make_splits
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.models.rps_cnn import build_rps_cnn
from harness.models.train import TrainConfig, accuracy, fit, init_weights


#: overrides that make the app run in seconds: the ``debug=tiny`` config group (``harness/configs/debug/``), a
#: narrower network, one magnitude, no figures
TINY = ["debug=tiny", "model.network.width=0.25", "perturbation.magnitudes=[0.5]", "report.figures=false"]


@pytest.fixture
def compose_config():
    """``compose_config(overrides)``: the app's config, as ``python -m harness`` would compose it."""
    return compose


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One model cache for the whole test session: every test that runs the app with the same data and model
    configuration shares one trained model (the cache is keyed by the configuration)."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture
def run_app(compose_config, tmp_path, model_cache):
    """``run_app(overrides, name, cache=None)``: run the app in-process into ``tmp_path/name``; models come from the
    session's shared cache, or from ``cache`` (e.g. ``tmp_path / "cache"``) for a test that checks training."""
    from harness.entry.run import run

    def _run(overrides: list[str], name: str = "run", cache: Path | None = None) -> Path:
        cfg = compose_config([*overrides, f"cache_dir={cache or model_cache}"])
        run(cfg, tmp_path / name)
        return tmp_path / name

    return _run


@pytest.fixture
def readme_shard_command() -> list[str]:
    """The arguments of the README's sharding example (``python -m harness ... attribution.shards=3 ... -m``)."""
    import shlex

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("python -m harness ") and "attribution.shards=" in ln)
    return shlex.split(line.split("#")[0])[3:]


@pytest.fixture
def tiny():
    """Overrides that make the app run in seconds."""
    return list(TINY)


@pytest.fixture(scope="module")
def one_thread():
    """PyTorch on one thread for a module's tests (``pytestmark = pytest.mark.usefixtures("one_thread")``): timings
    and iteration counts that do not depend on the machine's cores; restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def small_splits():
    """Synthetic RPS at 32×32, enough to train a usable small model in seconds."""
    return make_splits(n_train=600, n_val=60, n_test=60, image_size=32, seed=0)


@pytest.fixture(scope="session")
def trained_model(small_splits):
    """A small RPS CNN trained for a few epochs (the default architecture at width 0.25, 32×32)."""
    torch.manual_seed(0)
    net = build_rps_cnn(image_size=32, width=0.25)
    init_weights(net, 0)
    model = EncodedClassifier(net, Encoding.named("unit"))
    fit(model, small_splits.train, small_splits.val, TrainConfig(epochs=4, batch_size=32, lr=2e-3), torch.device("cpu"))
    model.eval()
    model.test_accuracy = accuracy(model, small_splits.test, torch.device("cpu"))
    return model


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need CUDA: skip them (with a reason) on machines without it."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
