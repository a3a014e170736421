"""Tables and figures, rebuilt from a run's saved files."""
