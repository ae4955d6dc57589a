"""The memory format the CPU training step runs in: channels-last activations.

On CPU (oneDNN, one thread) the convolutions of the small protocols' networks run 1.1-1.6×
faster over channels-last (NHWC) activations than over contiguous NCHW ones (measured at the
``mini`` shapes: 16 channels at 16×16, batch 32, 3×3: forward + backward 6.0 -> 3.7 ms), and the
rest of the step keeps the format: the private norms normalise channels-last slices, CEN's
exchange swaps them, the decoder's max-pool is already computed over NHWC. Only the memory
layout changes, not the tensors' shapes or what is computed; the convolutions sum the same
products in another order (float rounding, ~1e-7 relative per value). CPU results stay
deterministic at a fixed thread count. Our choice, for speed.

On CUDA the layout is the recorded ``channels_last`` performance switch (weights and inputs,
:mod:`fusionbench.experiments.run`), not this function.
"""
from __future__ import annotations

import torch
from torch import Tensor


def cpu_channels_last(x: Tensor) -> Tensor:
    """``[B, C, H, W]`` on the CPU -> the same values in channels-last memory format (a copy
    unless already so); any other tensor (another device, another rank) is returned as is."""
    if x.device.type != 'cpu' or x.dim() != 4:
        return x
    return x.contiguous(memory_format=torch.channels_last)
