"""Tables and figures, rebuilt from a run's saved files (never by recomputing attributions)."""
import os

import matplotlib

# Figures are files: no display needed (Agg), unless a backend was chosen in MPLBACKEND, as a Jupyter kernel does
# for its inline figures (a notebook that imports harness keeps drawing inline).
if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
