"""Peak memory is set by the batch size, not by the number of images: the loop streams batches (maps, views and
samples are dropped once scored; only score rows, a few floats each, and the images themselves accumulate).

Each case runs in a subprocess of its own (a clean resident set): a torchvision ResNet-18 (random weights) at
112 px, saliency and Input×Gradient under noise (2 draws), SSIM and relative change; the peak resident set above
the one before the loop (:class:`harness.bench.memory.PeakMemory`).
"""
import subprocess
import sys

PROBE = """
import sys, gc, torch
torch.set_num_threads(1)
import torchvision
from harness.attribution.methods import InputXGradient, Saliency
from harness.bench.memory import PeakMemory
from harness.data.base import ImageSet
from harness.loop.evaluation import Evaluator
from harness.metrics.scorer import Scorer
from harness.models.classifier import EncodedClassifier
from harness.models.encoding import Encoding
from harness.perturbations.noise import NoiseCondition
n, batch = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
model = EncodedClassifier(torchvision.models.resnet18(weights=None, num_classes=5), Encoding.named("unit")).eval()
g = torch.Generator().manual_seed(0)
data = ImageSet(torch.rand(n, 3, 112, 112, generator=g), torch.randint(0, 5, (n,), generator=g))
loop = Evaluator({"saliency": Saliency(), "ixg": InputXGradient()}, Scorer(pairwise=["ssim", "rel_change"]),
                 batch_size=batch)
gc.collect()
with PeakMemory(torch.device("cpu")) as peak:
    before = peak.mib
    rows = loop(model, data, [NoiseCondition("uniform", 0.02, n_samples=2, clip=True)]).rows
assert len(rows) == n * 2 * 2, len(rows)
print(peak.mib - before)
"""


def _peaks(cases):
    procs = [subprocess.Popen([sys.executable, "-c", PROBE, str(n), str(b)], stdout=subprocess.PIPE, text=True)
             for n, b in cases]
    out = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), out
    return [float(o.strip().splitlines()[-1]) for o in out]


def test_peak_memory_is_flat_in_the_images_and_set_by_the_batch():
    few, many, wider = _peaks([(4, 4), (16, 4), (16, 8)])
    # 4× the images at the same batch: the same peak, within the 12 images' own bytes (0.14 MiB each) and noise
    assert many - few < 0.1 * few + 10, (few, many)
    # twice the batch: a higher peak (the activations of twice the inputs per pass)
    assert wider > 1.3 * many, (many, wider)
