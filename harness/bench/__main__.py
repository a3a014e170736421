"""``python -m harness.bench``: throughput against the hardware's limit (:mod:`harness.bench.suite`)."""
import numpy as np

from harness.bench.suite import main

if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
