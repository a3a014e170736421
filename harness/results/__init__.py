"""A run's saved files: written by the loop and the run (atomically), read back by the report and a sweep's
collection. Below both, so that the loop never imports the report."""
