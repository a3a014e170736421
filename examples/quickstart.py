# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quick start: your model, your images, two robustness families and the scorecard
#
# `harness.evaluate` runs the engine of `python -m harness` on a model and images you already have in Python. This
# notebook makes both itself (a small CNN trained for a few seconds on generated images: nothing is downloaded),
# then asks two questions of four saliency methods:
#
# 1. **Input invariance** (Kindermans et al. 2017): does the map survive a brightness shift that a rewritten first
#    layer undoes exactly (`perturbation="brightness_shift"`)?
# 2. **Noise sensitivity** (Yeh et al. 2019): how far does the map move under small random noise
#    (`perturbation="noise"`)?
#
# and reads both against faithfulness (insertion, Petsiuk et al. 2018, and region perturbation, Samek et al. 2017) in the scorecard. Install with
# `pip install saliency-harness` (the import name is `harness`). It runs on a CPU in seconds.

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import nn

import harness
from harness.report.scorecard import scorecard, scorecard_markdown

torch.manual_seed(0)
print("harness", harness.__version__)

# %% [markdown]
# ## Your images and your model
#
# Pixel-space images `(N, C, H, W)` in `[0, 1]`: a bright square on a noisy background, in the left half (class 0)
# or the right half (class 1). Any `nn.Module` that maps model inputs to logits will do; here a small CNN.


# %%
def make_images(n: int, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n, 3, size, size)`` images in [0, 1] and their classes ``(n,)``: where the bright square is."""
    g = torch.Generator().manual_seed(seed)
    images = 0.3 * torch.rand(n, 3, size, size, generator=g)
    labels = torch.randint(0, 2, (n,), generator=g)
    for i, label in enumerate(labels.tolist()):
        row = int(torch.randint(1, size - 5, (1,), generator=g))
        col = int(torch.randint(1, size // 2 - 4, (1,), generator=g)) + label * size // 2
        images[i, :, row:row + 4, col:col + 4] = 0.9
    return images, labels


train_images, train_labels = make_images(128, seed=0)
test_images, test_labels = make_images(6, seed=1)

net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                    nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(32, 2))
optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
for epoch in range(20):
    loss = nn.functional.cross_entropy(net(train_images), train_labels)  # the "unit" encoding: inputs = pixels
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
accuracy = (net(test_images).argmax(1) == test_labels).float().mean().item()
print(f"training loss {loss.item():.3f}, test accuracy {accuracy:.2f}")

# %% [markdown]
# ## Two families through `harness.evaluate`
#
# The methods are names from `harness/configs/attribution/default.yaml`; an independent random map and a constant
# map are added as controls. Any command-line override can be given (`overrides=`); here one shift size, four
# noise draws per image, and insertion / region perturbation scored on every clean map. Each call returns one row per (image,
# method, condition, sample), the schema of `scores.csv`.

# %%
methods = ["saliency", "ixg", "ig_black", "gradcam"]
faithfulness = ["metrics.per_map=[insertion,region_perturbation]", "metrics.faithfulness.deletion_steps=8",
                "metrics.faithfulness.region_patch=16"]
invariance = harness.evaluate(net, test_images, labels=test_labels, methods=methods,
                              perturbation="brightness_shift",
                              overrides=["perturbation.magnitudes=[0.25]", "attribution.n_steps=8", *faithfulness])
noise = harness.evaluate(net, test_images, labels=test_labels, methods=methods, perturbation="noise",
                         overrides=["perturbation.radii=[0.05]", "perturbation.n_samples=4", "attribution.n_steps=8",
                                    "metrics.pairwise=[ssim,rel_change]", *faithfulness])
scores = pd.concat([invariance, noise], ignore_index=True)
scores[["image_id", "method", "perturbation", "regime", "magnitude", "sample", "ssim", "rel_change",
        "insertion_clean", "region_perturbation_clean"]].head(8)

# %% [markdown]
# Mean SSIM of the clean and the perturbed map, per method and condition (1 = the same map; the constant map has
# no pattern to compare: NaN). Under the compensated shift the network computes the same function: the gradient and
# Grad-CAM do not move, nor does IG with its black baseline carried through the shift, while Input×Gradient does
# (the input it multiplies by has moved). Without the compensation the network sees a shifted image, and every map
# may move.

# %%
table = scores.groupby(["method", "perturbation", "regime"])["ssim"].mean().unstack(["perturbation", "regime"])
table = table.reindex([*methods, "random_map", "constant_map"])  # methods first, then the controls
compensated = table[("brightness_shift", "compensated")]
assert (compensated[["saliency", "gradcam", "ig_black"]] > 0.999).all() and compensated["ixg"] < 0.99  # as claimed
table.round(3)

# %% [markdown]
# ## One figure

# %%
shown = table.drop(index="constant_map")
shown.columns = [f"{family}: {regime}" for family, regime in shown.columns]
fig, ax = plt.subplots(figsize=(8, 3))
shown.plot.bar(ax=ax, rot=0, ylim=(0, 1.05), width=0.8)
ax.set_xlabel("")
ax.set_ylabel("mean SSIM\n(clean vs perturbed map)")
ax.legend(title="condition", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
fig.tight_layout()

# %% [markdown]
# ## The scorecard
#
# Every family and faithfulness side by side: one row per method (controls marked), each criterion oriented so
# that higher is better, with a bootstrap 95% CI over the images and a rank. A constant map is perfectly robust
# and explains nothing, so robustness is read beside faithfulness (insertion and region perturbation, ranked per
# image and averaged: the two most reliable faithfulness measures on the default model).

# %%
card = scorecard(scores)
print(scorecard_markdown(card))
