"""Tasks beside semantic segmentation (one sub-package per task)."""
