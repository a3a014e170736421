"""Procedural rock / paper / scissors hand-gesture images.

A stand-in for the Kaggle "rockpaperscissors" photos (hands on a green backdrop),
rendered deterministically from a seed, in memory. Each hand is a signed-distance
silhouette in a canonical frame (palm centred at the origin, fingers towards
``+y``, palm half-width about 0.9 units): an elliptic palm, a tapered forearm
running off towards an image edge, and five finger capsules (index, middle, ring,
little, thumb), each either extended or folded into a knuckle bump:

* rock (0): all fingers folded, thumb folded along the side of the fist;
* paper (1): all five fingers extended and spread, thumb shorter and offset;
* scissors (2): index and middle extended in a V, the others folded.

Per image the pose (position, rotation, scale, handedness), skin tone (drawn
independently of the class), background green, a smooth multiplicative lighting
gradient, a soft contact shadow and Gaussian sensor noise are random, so colour
statistics carry (almost) no class information; the class is in the shape.

As in the Kaggle photos the arm enters from the right, here within 57 degrees either way,
and the hand fills much of the frame. These ranges, and the moderate background
and lighting ranges, are tuned so that the project's plain 9-layer CNN (PyTorch
default init, no normalisation) leaves its initial plateau within an epoch or two;
with full-circle rotation or small hands it stays at chance for many epochs.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from harness.data.base import ImageSet, ImageSplits

CLASSES = ("rock", "paper", "scissors")

_MIN_SIZE = 16
_CHUNK_PIXELS = 1 << 20  # pixels rendered per vectorised chunk (bounds memory)
_SMOOTH_K = 0.12  # smooth-union radius (canonical units) joining fingers to palm

# Finger order: index, middle, ring, little, thumb; thumb side is -x. Extended fingers
# start at _BASE and point at _EXT_ANGLE radians from +y (positive: towards the thumb).
_BASE = np.array([[-0.56, 0.62], [-0.19, 0.72], [0.18, 0.68], [0.52, 0.56], [-0.62, -0.30]])
_EXT_ANGLE = {1: [0.22, 0.04, -0.15, -0.34, 1.0], 2: [0.30, -0.12, 0.0, 0.0, 0.0]}
_EXT_LENGTH = np.array([1.60, 1.75, 1.62, 1.28, 1.20])
_EXT_RADIUS = np.array([[0.19, 0.16], [0.19, 0.16], [0.185, 0.155], [0.17, 0.14], [0.23, 0.19]])
_EXTENDED = np.array([[0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=bool)
# Skin-tone anchors from deep brown to pale (RGB in [0, 1]), interpolated at random.
_SKIN = np.array([[0.30, 0.19, 0.13], [0.47, 0.30, 0.20], [0.64, 0.45, 0.33],
                  [0.80, 0.60, 0.48], [0.92, 0.75, 0.64], [0.98, 0.86, 0.78]])


def _is_int(value: object) -> bool:
    """Whether ``value`` is a Python or NumPy integer (bools excluded)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _parse_size(image_size: int | Sequence[int]) -> tuple[int, int]:
    """``(H, W)`` from an int (square) or an ``[H, W]`` pair (any sequence), validated."""
    if _is_int(image_size):
        size = (int(image_size), int(image_size))
    else:
        pair = np.asarray(None if isinstance(image_size, (str, bytes)) else image_size, dtype=object)
        if pair.shape != (2,) or not all(_is_int(v) for v in pair):
            raise ValueError(f"image_size must be an int or an [H, W] pair of ints, got {image_size!r}")
        size = (int(pair[0]), int(pair[1]))
    if min(size) < _MIN_SIZE:
        raise ValueError(f"image_size must be at least {_MIN_SIZE} px per side, got {size}")
    return size


def _check_seed(seed: int) -> int:
    """The seed as a non-negative int, validated."""
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _check_labels(labels: np.ndarray) -> np.ndarray:
    """Labels as a 1-D int64 array with values in ``{0, 1, 2}``."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"labels must be a 1-D integer array, got dtype {arr.dtype} shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= len(CLASSES)):
        raise ValueError(f"labels must lie in 0..{len(CLASSES) - 1}")
    return arr.astype(np.int64)


def _finger_capsules(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Finger capsules in the canonical frame.

    Returns:
        ``(N, 5, 6)`` float32: segment start ``(x, y)``, end ``(x, y)``, radius at
        start and at end, for index, middle, ring, little finger and thumb.
    """
    n = len(labels)
    base = _BASE[None] + rng.normal(0.0, 0.025, (n, 5, 2))
    angle = np.zeros((n, 5))
    for cls, template in _EXT_ANGLE.items():
        angle[labels == cls] = template
    angle += rng.normal(0.0, 0.07, (n, 5)) + rng.uniform(-0.06, 0.1, (n, 1)) * np.sign(angle)
    length = _EXT_LENGTH * rng.uniform(0.88, 1.08, (n, 1)) * rng.uniform(0.95, 1.05, (n, 5))
    tip = base + length[..., None] * np.stack([-np.sin(angle), np.cos(angle)], axis=-1)
    # Folded fingers: short stubs forming knuckle bumps; the folded thumb lies along the fist.
    fold_start = base - [0.0, 0.1]
    fold_end = base * [1.05, 1.0] + [0.0, 0.36]
    fold_start[:, 4], fold_end[:, 4] = [-0.78, -0.35], [-0.36, 0.42]
    ext = _EXTENDED[labels][..., None]
    start, end = np.where(ext, base, fold_start), np.where(ext, tip, fold_end)
    radius = np.broadcast_to(_EXT_RADIUS, (n, 5, 2)) * rng.uniform(0.92, 1.1, (n, 1, 1))
    radius = np.where(ext, radius, [0.215, 0.2])
    return np.concatenate([start, end, radius], axis=-1).astype(np.float32)


def _sample_pose(n: int, height: int, width: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-image similarity transform (pixels per canonical unit, rotation, centre, mirror)."""
    scale = rng.uniform(0.17, 0.21, n) * min(height, width)
    theta = np.pi / 2 + rng.uniform(-1.0, 1.0, n)  # fingers point left, arm from the right
    # Place the middle of palm+fingers (0.8 units up the hand axis) so the hand stays in view.
    margin = 2.0 * scale
    mid_x = rng.uniform(margin, width - margin)
    mid_y = rng.uniform(margin, height - margin)
    up_x, up_y = -np.sin(theta), np.cos(theta)
    pose = {"scale": scale, "cos": np.cos(theta), "sin": np.sin(theta),
            "cx": mid_x - 0.8 * scale * up_x, "cy": mid_y - 0.8 * scale * up_y,
            "mirror": rng.choice([-1.0, 1.0], n), "palm_a": rng.uniform(0.85, 0.95, n),
            "arm": rng.uniform(-0.3, 0.3, n)}
    return {k: v.astype(np.float32) for k, v in pose.items()}


def _sample_appearance(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-image colours and lighting, all independent of the class."""
    pos = rng.uniform(0.0, len(_SKIN) - 1.0, n)
    lo = np.minimum(pos.astype(int), len(_SKIN) - 2)
    frac = (pos - lo)[:, None]
    skin = (1 - frac) * _SKIN[lo] + frac * _SKIN[lo + 1]
    skin = np.clip(skin * rng.uniform(0.93, 1.07, (n, 3)), 0.0, 1.0)
    green = rng.uniform(0.45, 0.8, n)
    bg = green[:, None] * np.stack([rng.uniform(0.08, 0.4, n), np.ones(n), rng.uniform(0.08, 0.45, n)], 1)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    look = {"skin": skin, "bg": bg, "gain": rng.uniform(0.85, 1.05, n),
            "grad_x": rng.uniform(0.0, 0.3, n) * np.cos(phi), "grad_y": rng.uniform(0.0, 0.3, n) * np.sin(phi),
            "shadow": rng.uniform(0.0, 0.35, n), "noise": rng.uniform(0.01, 0.04, n)}
    return {k: v.astype(np.float32) for k, v in look.items()}


def _segment_sdf(u: np.ndarray, v: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Signed distance to a capsule whose radius varies linearly along its segment.

    Args:
        u, v: ``(n, H, W)`` canonical coordinates.
        seg: ``(n, 6)`` start ``(x, y)``, end ``(x, y)``, start radius, end radius.
    """
    ax, ay, bx, by, r0, r1 = (seg[:, i, None, None] for i in range(6))
    dx, dy = bx - ax, by - ay
    pu, pv = u - ax, v - ay
    h = np.clip((pu * dx + pv * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(pu - h * dx, pv - h * dy) - (r0 + h * (r1 - r0))


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (a rounded union of two distance fields)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + h * (a - b) - k * h * (1.0 - h)


def _hand_sdf(u: np.ndarray, v: np.ndarray, palm_a: np.ndarray, arm: np.ndarray,
              fingers: np.ndarray) -> np.ndarray:
    """Signed distance (canonical units) to the hand silhouette, ``(n, H, W)``."""
    a = palm_a[:, None, None]
    dist = (np.hypot(u / a, v) - 1.0) * a  # approximate ellipse distance, semi-axes (a, 1)
    n = len(arm)
    length = np.float32(9.0)
    forearm = np.stack([np.zeros(n), np.full(n, -0.55), length * np.sin(arm), -0.55 - length * np.cos(arm),
                        np.full(n, 0.6), np.full(n, 0.85)], 1).astype(np.float32)
    dist = _smooth_min(dist, _segment_sdf(u, v, forearm), 2 * _SMOOTH_K)
    for i in range(fingers.shape[1]):
        dist = _smooth_min(dist, _segment_sdf(u, v, fingers[:, i]), _SMOOTH_K)
    return dist


def _col(x: np.ndarray) -> np.ndarray:
    """``(n,)`` -> ``(n, 1, 1)`` for broadcasting against ``(n, H, W)``."""
    return x[:, None, None]


def _render_chunk(pose: dict[str, np.ndarray], look: dict[str, np.ndarray], fingers: np.ndarray,
                  noise: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 3, H, W)`` float32 and masks ``(n, H, W)`` bool for one chunk."""
    y = (np.arange(height, dtype=np.float32) + 0.5)[None, :, None]
    x = (np.arange(width, dtype=np.float32) + 0.5)[None, None, :]
    dx, dy = x - _col(pose["cx"]), y - _col(pose["cy"])
    scale = _col(pose["scale"])
    u = (dx * _col(pose["cos"]) + dy * _col(pose["sin"])) / scale * _col(pose["mirror"])
    v = (dy * _col(pose["cos"]) - dx * _col(pose["sin"])) / scale
    dist = _hand_sdf(u, v, pose["palm_a"], pose["arm"], fingers)
    dist_px = dist * scale
    cover = np.clip(0.5 - dist_px, 0.0, 1.0)[:, None]  # one-pixel anti-aliasing ramp
    rim = (0.78 + 0.22 * np.clip(-dist / 0.35, 0.0, 1.0))[:, None]  # darker towards the outline
    shadow = 1.0 - _col(look["shadow"]) * np.exp(-np.maximum(dist, 0.0) / 0.6)
    skin = look["skin"][:, :, None, None] * rim
    bg = look["bg"][:, :, None, None] * shadow[:, None]
    xn, yn = 2.0 * x / width - 1.0, 2.0 * y / height - 1.0
    light = _col(look["gain"]) * (1.0 + _col(look["grad_x"]) * xn + _col(look["grad_y"]) * yn)
    img = (cover * skin + (1.0 - cover) * bg) * light[:, None]
    img = np.clip(img + noise * look["noise"][:, None, None, None], 0.0, 1.0)
    return img.astype(np.float32), dist_px < 0.0


def render(labels: np.ndarray, image_size: int | Sequence[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N,3,H,W) float32 in [0,1] and masks (N,H,W) bool for the given class labels.

    Args:
        labels: ``(N,)`` integer class indices (0 rock, 1 paper, 2 scissors).
        image_size: side of a square image, or an ``[H, W]`` pair; at least 16 px.
        seed: non-negative seed; the output depends only on the arguments.

    Returns:
        ``images`` ``(N, 3, H, W)`` float32 in ``[0, 1]`` and ``masks``
        ``(N, H, W)`` bool, true where the hand (palm, fingers, forearm) covers more
        than half of the pixel.

    Raises:
        ValueError: on malformed labels, image size or seed.
    """
    labels = _check_labels(labels)
    height, width = _parse_size(image_size)
    shape_ss, look_ss, noise_ss = np.random.SeedSequence(_check_seed(seed)).spawn(3)
    n = len(labels)
    shape_rng = np.random.default_rng(shape_ss)
    fingers = _finger_capsules(labels, shape_rng)
    pose = _sample_pose(n, height, width, shape_rng)
    look = _sample_appearance(n, np.random.default_rng(look_ss))
    noise_rng = np.random.default_rng(noise_ss)
    images = np.empty((n, 3, height, width), np.float32)
    masks = np.empty((n, height, width), bool)
    step = max(1, _CHUNK_PIXELS // (height * width))
    for lo in range(0, n, step):
        part = slice(lo, min(lo + step, n))
        noise = noise_rng.standard_normal((part.stop - lo, 3, height, width), dtype=np.float32)
        images[part], masks[part] = _render_chunk({k: p[part] for k, p in pose.items()},
                                                  {k: p[part] for k, p in look.items()},
                                                  fingers[part], noise, height, width)
    return torch.from_numpy(images), torch.from_numpy(masks)


def _balanced_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n,)`` int64 labels with class counts differing by at most one, shuffled."""
    labels = np.arange(n, dtype=np.int64) % len(CLASSES)
    rng.shuffle(labels)
    return labels


def make_splits(n_train: int = 1500, n_val: int = 300, n_test: int = 300, image_size: int | Sequence[int] = 64,
                seed: int = 0) -> ImageSplits:
    """Balanced classes (labels shuffled), each split rendered from its own seed derived from `seed`.

    Args:
        n_train, n_val, n_test: number of images per split (non-negative).
        image_size: side of a square image, or an ``[H, W]`` pair; at least 16 px.
        seed: non-negative master seed.

    Returns:
        Train / val / test :class:`ImageSet` s with images ``(N, 3, H, W)`` float32
        in ``[0, 1]``, labels ``(N,)`` int64 and hand masks ``(N, H, W)`` bool.

    Raises:
        ValueError: on negative or non-integer counts, a bad image size or seed.
    """
    counts = {"n_train": n_train, "n_val": n_val, "n_test": n_test}
    for name, count in counts.items():
        if not _is_int(count) or count < 0:
            raise ValueError(f"{name} must be a non-negative int, got {count!r}")
    size = _parse_size(image_size)
    children = np.random.SeedSequence(_check_seed(seed)).spawn(len(counts))
    sets = []
    for count, child in zip(counts.values(), children):
        label_ss, render_ss = child.spawn(2)
        labels = _balanced_labels(int(count), np.random.default_rng(label_ss))
        images, masks = render(labels, size, int(render_ss.generate_state(1)[0]))
        sets.append(ImageSet(images, torch.from_numpy(labels), masks))
    return ImageSplits(*sets, classes=CLASSES)
