"""The entry points, on top of everything: ``run(cfg)`` for the command line (:mod:`~harness.entry.run`),
``harness.evaluate`` for Python (:mod:`~harness.entry.api`), a sweep's collection (:mod:`~harness.entry.sweep`,
``python -m harness.collect_sweep``) and the split of a run into shards (:mod:`~harness.entry.sharding`)."""
