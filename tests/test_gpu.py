"""Device parity on a GPU (run with `pytest -m gpu` on a machine with CUDA; skipped elsewhere)."""
import numpy as np
import pytest
import torch

from harness.attribution.gradcam import GradCAM
from harness.attribution.methods import IntegratedGradients, Saliency
from harness.metrics import torch_similarity as ts
from harness.metrics.scorer import Scorer
from harness.models.rps_cnn import build_rps_cnn
from harness.perturbations.affine import AffineMap
from harness.perturbations.compensate import compensate

pytestmark = pytest.mark.gpu


def test_torch_metrics_on_gpu_match_reference():
    rng = np.random.default_rng(0)
    a = rng.random((8, 32, 32))
    b = np.maximum(a + rng.normal(scale=0.3, size=a.shape), 0)
    ref = Scorer(backend="reference").score(a, b)
    got = Scorer(backend="auto").score(torch.tensor(a).cuda(), torch.tensor(b).cuda())
    for r, g in zip(ref, got):
        for k in Scorer().columns:
            assert abs(r[k] - g[k]) < 1e-6, k
    assert ts.kendall(torch.tensor(a).cuda(), torch.tensor(b).cuda()).is_cuda


def test_methods_and_compensation_on_gpu_match_cpu():
    torch.manual_seed(0)
    net = build_rps_cnn(32, 0.25).eval()
    z, t = torch.rand(4, 3, 32, 32), torch.zeros(4, dtype=torch.long)
    amap = AffineMap.translation(torch.full((3,), 0.5))
    for method in (Saliency(), GradCAM(), IntegratedGradients(None, n_steps=8)):
        b = torch.zeros_like(z) if method.needs_baseline else None
        cpu = method.attribute(net, z, t, b)
        gpu = method.attribute(net.cuda(), z.cuda(), t.cuda(), None if b is None else b.cuda()).cpu()
        net.cpu()
        assert torch.allclose(cpu, gpu, rtol=1e-3, atol=1e-4)
    comp = compensate(net.cuda(), amap, (3, 32, 32))
    assert torch.allclose(comp(amap(z.cuda())), net(z.cuda()), atol=1e-4)


def test_batcher_fits_free_gpu_memory_and_the_engine_matches_cpu():
    from harness.attribution.batching import Batcher
    from harness.attribution.engine import View, attribute_views
    from harness.attribution.runtime import use_exact_float32

    use_exact_float32()
    torch.manual_seed(0)
    net = build_rps_cnn(32, 0.25).eval().requires_grad_(False)
    z, t = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    assert Batcher(max_batch=7).fit(net.cuda(), z[0].cuda()) == 7
    fitted = Batcher().fit(net.cuda(), z[0].cuda())
    assert fitted >= 8  # a 32×32 CNN fits many inputs into a GPU
    methods = {"saliency": Saliency(), "gradcam": GradCAM(), "ig": IntegratedGradients(None, n_steps=8)}

    def views(device):
        zd, td, b = z.to(device), t.to(device), torch.zeros_like(z).to(device)
        seeds = torch.zeros(4, 2, dtype=torch.long, device=device)
        return [View("clean", zd, td, seeds, {"ig": [(("carried", "fixed"), b)]}),
                View("s", zd + 0.5, td, seeds, {"ig": [(("carried",), b + 0.5), (("fixed",), b)]})]

    cpu = attribute_views(methods, net.cpu(), views("cpu"), reduction="sum_abs")
    gpu = attribute_views(methods, net.cuda(), views("cuda"), reduction="sum_abs", batcher=Batcher())
    for view in ("clean", "s"):
        for key, m in cpu[view].maps.items():
            assert torch.allclose(m, gpu[view].maps[key].cpu(), rtol=1e-4, atol=1e-5), (view, key)


def test_noise_draws_and_randomised_networks_are_the_same_on_cpu_and_gpu():
    from harness.models.encoding import Encoding
    from harness.perturbations.base import Batch
    from harness.perturbations.noise import NoiseCondition
    from harness.perturbations.randomisation import randomise

    enc, x = Encoding.named("unit"), torch.rand(2, 3, 8, 8)
    cond = NoiseCondition("gaussian", 0.1, n_samples=2)
    on = lambda d: Batch(x.to(d), x.to(d), torch.arange(2, device=d), torch.zeros(2, dtype=torch.long, device=d), enc)
    assert torch.allclose(cond.transform_inputs(on("cpu"), 1), cond.transform_inputs(on("cuda"), 1).cpu())
    net = build_rps_cnn(32, 0.25)
    a, b = randomise(net, ["20", "0"], seed=3), randomise(net.cuda(), ["20", "0"], seed=3)
    assert all(torch.equal(p, q.cpu()) for p, q in zip(a.parameters(), b.parameters()))
