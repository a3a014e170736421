"""What every stage uses, below all of them: the files' schema (:mod:`~harness.common.schema`), seeds
(:mod:`~harness.common.seeding`), user errors (:mod:`~harness.common.errors`), config value checks
(:mod:`~harness.common.config_checks`) and progress bars (:mod:`~harness.common.progress`)."""
