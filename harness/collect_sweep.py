"""``python -m harness.collect_sweep MULTIRUN_DIR``: the command's name; the code is :mod:`harness.entry.sweep`."""
import sys

from harness.entry.sweep import main

if __name__ == "__main__":
    sys.exit(main())
