"""Tasks: one sub-package per task (segmentation, translation), each registered in
:data:`fusionbench.registry.TASKS` (:mod:`fusionbench.tasks.base`)."""
