"""Saliency methods (Captum), IG baselines, and channel reduction to ``(B, H, W)`` maps."""
