"""Perturbations of the model input and the exact compensation of a network for them."""
