"""Similarity of clean vs perturbed saliency maps (SSIM, rank correlations, top-k overlap)."""
