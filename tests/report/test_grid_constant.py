"""Figures draw a map that is constant up to precision flat and say so, instead of stretching its rounding noise."""
import numpy as np

from harness.report import grid


def test_a_rounding_noise_map_is_drawn_flat_and_labelled(tmp_path):
    noisy = np.full((8, 8), 29.783028, dtype=np.float32)
    noisy[::2, ::3] = np.nextafter(noisy[::2, ::3], np.float32(np.inf))
    tile, note = grid._tile(noisy)
    assert note == "constant" and np.ptp(tile) == 0
    structured = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    assert isinstance(grid._tile(structured), np.ndarray)
    examples = {"clean/image": np.zeros((1, 3, 8, 8)), "clean/gradcam/-": noisy[None],
                "clean/saliency/-": structured[None]}
    assert grid.grid(examples, [], tmp_path / "g.png").is_file()
