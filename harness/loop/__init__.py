"""The evaluation loop, batch by batch: **plan** the views (:mod:`~harness.loop.planning`), **compute** their maps
and **score** them (:mod:`~harness.loop.evaluation`, :mod:`~harness.loop.scoring`), **store** each finished piece
(:mod:`~harness.loop.store`); the logit and accuracy checks of the conditions (:mod:`~harness.loop.checks`)."""
