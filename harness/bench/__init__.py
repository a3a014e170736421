"""The benchmark (``python -m harness.bench``): every unit of work against the hardware's forward(+backward) limit.

- :mod:`harness.bench.suite`: the settings, the limit, the methods' and measures' rows, the tables;
- :mod:`harness.bench.conditions`: the families' units of work (noise views, meta-evaluation loop, attack step,
  faithfulness);
- :mod:`harness.bench.whole_run`: the whole default run against its passes at the limit.
"""
