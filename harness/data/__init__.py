"""Images in pixel space ``[0, 1]`` with labels and masks, split into train / val / test."""
