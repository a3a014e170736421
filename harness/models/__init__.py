"""Networks, input encodings, training, checkpoints and the checkpoint cache."""
