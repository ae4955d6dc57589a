"""Data: procedural scenes, real-dataset readers, multimodal transforms."""
from fusionbench.data import transforms  # noqa: F401  (registers the transforms)
from fusionbench.data import nyudv2, sunrgbd, synthetic, taskonomy  # noqa: F401  (datasets)
