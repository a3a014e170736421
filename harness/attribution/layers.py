"""Which layer a layer method (Grad-CAM, Guided Grad-CAM, Captum's layer methods) explains: a named module, or by
default the rectified feature maps of the last convolution.

Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391, take the feature maps *after* the layer's ReLU (see
:class:`~harness.attribution.gradcam.GradCAM`); :func:`resolve_layer` finds that module in any network.
"""
from __future__ import annotations

import logging
import weakref

import torch
import torch.nn as nn

from harness.common.errors import UserError

log = logging.getLogger(__name__)

#: Modules that rectify (or smoothly gate) feature maps: Grad-CAM's default layer is one of these.
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
               nn.Hardswish, nn.Softplus)
#: Modules allowed between a convolution and its activation (conv → norm → ReLU).
_NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)
#: The smallest feature map (each side) that gives Grad-CAM a spatial pattern: a 1×1 map is one number broadcast.
MIN_SIDE = 2
#: network → {(requested name, input (H, W)): (layer name, feature map (h, w), note)}
_resolved: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()
_logged: set[str] = set()


def resolve_layer(network: nn.Module, name: str | None, sample: torch.Tensor | None = None) -> nn.Module:
    """The module called ``name``; ``None`` / ``"auto"``: the network's default Grad-CAM layer.

    The default is the network's ``gradcam_layer`` if it names one (torchvision architectures: the last
    stage, whose output is already rectified), else the activation module that follows the last
    convolution in the forward pass (normalisation layers in between are skipped), found by running
    ``sample`` ``(1, C, H, W)`` through the network once. If the network applies its activation
    functionally (or reuses the module), the convolution itself is used and the log says so once.

    The layer's feature map must be at least :data:`MIN_SIDE` pixels a side at the sample's size, or Grad-CAM is one
    number broadcast over the image (a ResNet's ``layer4`` at 32×32 inputs is 1×1). A layer named by the user that
    is smaller is a :class:`~harness.common.errors.UserError` naming the layers that would do; for the default, the
    deepest module before it whose feature map is large enough is used instead (a stage at the same level, e.g.
    ``layer3``, or an activation), logged once and reported by :func:`layer_info`.
    """
    return dict(network.named_modules())[_resolve(network, name, sample)[0]]


def layer_info(network: nn.Module, name: str | None, sample: torch.Tensor | None = None) -> dict:
    """What :func:`resolve_layer` chose: ``{"layer": name, "feature_map": [h, w]}`` (and a ``note`` if the default
    was replaced by a layer with spatial extent)."""
    layer, size, note = _resolve(network, name, sample)
    return {"layer": layer, "feature_map": list(size) if size else None, **({"note": note} if note else {})}


def _resolve(network: nn.Module, name: str | None, sample: torch.Tensor | None) -> tuple[str, tuple | None, str]:
    sample = sample if sample is not None else _probe(network)
    cache = _resolved.setdefault(network, {})
    key = (name, tuple(sample.shape[-2:]))
    if key not in cache:
        cache[key] = _choose(network, name, sample)
    return cache[key]


def _choose(network: nn.Module, name: str | None, sample: torch.Tensor) -> tuple[str, tuple | None, str]:
    convs = [n for n, m in network.named_modules() if isinstance(m, nn.Conv2d)]
    explicit = name not in (None, "auto")
    if not explicit:
        name = getattr(network, "gradcam_layer", None)
    calls = _trace(network, sample)
    if name in (None, "auto"):
        if not convs:
            raise UserError("Grad-CAM needs a convolutional layer, and the network has none")
        name = _activation_after_last_conv(network, calls) or convs[-1]
    if name not in dict(network.named_modules()):
        raise UserError(f"no layer '{name}' for Grad-CAM; convolutional layers: {', '.join(convs)}")
    sizes = {n: size for n, _, size in calls if size is not None}
    size = sizes.get(name)
    if size is None or min(size) >= MIN_SIDE:
        return name, size, ""
    h, w = sample.shape[-2:]
    before = [n for n, _, _ in calls[:next(i for i, c in enumerate(calls) if c[0] == name)]]
    options = _stand_ins(network, name, [n for n in before if n in sizes and min(sizes[n]) >= MIN_SIDE])[-3:]
    listed = ", ".join(f"{n}: {sizes[n][0]}×{sizes[n][1]}" for n in reversed(options))
    fix = f"name an earlier layer ({listed}) or use larger images (data.image_size)" if options else \
        "use larger images (data.image_size)"
    if explicit or not options:
        raise UserError(f"Grad-CAM layer '{name}' has a {size[0]}×{size[1]} feature map at {h}×{w} inputs, so its map "
                        f"would be one number broadcast over the image; {fix}")
    note = (f"the default layer '{name}' has a {size[0]}×{size[1]} feature map at {h}×{w} inputs; using "
            f"'{options[-1]}' ({sizes[options[-1]][0]}×{sizes[options[-1]][1]}), the deepest layer with spatial extent")
    if note not in _logged:
        _logged.add(note)
        log.warning("Grad-CAM: %s", note)
    return options[-1], sizes[options[-1]], note


def _stand_ins(network: nn.Module, default: str, candidates: list[str]) -> list[str]:
    """Of ``candidates`` (modules with spatial extent run before the ``default`` layer's output is complete, in
    order), those that can stand in for it, by preference: modules at the same level (sibling stages, e.g.
    ``layer3`` for a ResNet's ``layer4``), else the default's own stages (its children, e.g. a block of a
    ``features`` sequence), else any activation module. The deepest is last."""
    parent = default.rpartition(".")[0]
    kinds = [lambda n: n.rpartition(".")[0] == parent and not n.startswith(default + "."),
             lambda n: n.rpartition(".")[0] == default,
             lambda n: isinstance(network.get_submodule(n), ACTIVATIONS)]
    for kind in kinds:
        chosen = [n for n in candidates if kind(n)]
        if chosen:
            return chosen
    return []


def _trace(network: nn.Module, sample: torch.Tensor) -> list[tuple[str, nn.Module, tuple[int, int] | None]]:
    """Every module call of one forward pass of ``sample``, in the order the calls finish: name, module, and the
    spatial size of a 4-D output (else None). A module called several times appears several times."""
    names = {m: n for n, m in network.named_modules()}
    calls: list = []

    def record(mod, _inputs, out):
        size = tuple(out.shape[-2:]) if isinstance(out, torch.Tensor) and out.dim() == 4 else None
        calls.append((names[mod], mod, size))

    hooks = [m.register_forward_hook(record) for m in network.modules() if m is not network]
    was_training = network.training
    try:
        with torch.no_grad():
            network.eval()(sample)
    finally:
        network.train(was_training)
        for h in hooks:
            h.remove()
    counts: dict = {}
    for n, _, _ in calls:
        counts[n] = counts.get(n, 0) + 1
    return [(n, m, s if counts[n] == 1 else None) for n, m, s in calls]  # a reused module has no one feature map


def _activation_after_last_conv(network: nn.Module, calls: list) -> str | None:
    """Name of the activation module run right after the last convolution (None, logged, if there is none)."""
    leaves = [(n, m) for n, m, _ in calls if not any(True for _ in m.children())]
    mods = [m for _, m in leaves]
    last = max(i for i, m in enumerate(mods) if isinstance(m, nn.Conv2d))
    following = [(n, m) for n, m in leaves[last + 1:] if not isinstance(m, _NORMS)]
    if following and isinstance(following[0][1], ACTIVATIONS) and mods.count(following[0][1]) == 1:
        return following[0][0]
    message = (f"Grad-CAM: no activation module follows the last convolution '{leaves[last][0]}' (applied "
               "functionally?); using the convolution's output, which is not rectified")
    if message not in _logged:
        _logged.add(message)
        log.warning(message)
    return None


def _probe(network: nn.Module) -> torch.Tensor:
    """A zero input ``(1, C, 32, 32)`` for a network whose first convolution takes ``C`` channels."""
    first = next(m for m in network.modules() if isinstance(m, nn.Conv2d))
    p = next(network.parameters())
    return torch.zeros(1, first.in_channels, 32, 32, device=p.device, dtype=p.dtype)
