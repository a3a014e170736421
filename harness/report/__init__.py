"""Tables and figures, rebuilt from a run's saved files (never by recomputing attributions)."""
import matplotlib

matplotlib.use("Agg")  # figures are files; no display needed
