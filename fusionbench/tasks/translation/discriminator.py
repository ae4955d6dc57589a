"""The pix2pix 70x70 PatchGAN discriminator (Isola et al., CVPR 2017, appendix 6.1.2).

``C64-C128-C256-C512`` (4x4 convs, stride 2, 2, 2, 1; LeakyReLU 0.2; no norm on the first) then
a 4x4 stride-1 conv to one logit per patch: every output logit sees a 70 x 70 input patch. The
norm is instance norm without affine parameters (pix2pix's ``--norm instance``; the paper's §4.2
replaces BN by IN), and a conv followed by a norm has a bias, as pix2pix does then.

It is conditional: it sees the M input domains concatenated along channels beside the (real or
generated) image, ``[N, M*C + C_out, H, W]``.
"""
from __future__ import annotations

from torch import Tensor, nn

from fusionbench import registry


@registry.MODELS.register_module()
class PatchDiscriminator(nn.Module):
    """pix2pix PatchGAN (70x70 patches with 3 layers), conditional on the input domains.

    Args:
        in_channels: input channels (``M*C + C_out`` for the conditional discriminator).
        ndf: base width (64).
        num_layers: stride-2 layers after the first (3 -> 70x70 receptive field; 1 -> 16x16,
            2 -> 34x34).

    Shapes: ``[N, in_channels, H, W]`` -> logits ``[N, 1, H', W']`` with ``H' = H/8 - 2`` for
    ``num_layers = 3`` (30 x 30 at 256 px). Raises ``ValueError`` if the input is smaller than the
    receptive field allows (no output pixel).
    """

    def __init__(self, in_channels: int, ndf: int = 64, num_layers: int = 3):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'PatchDiscriminator needs num_layers >= 1, got {num_layers}')
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = ndf
        for k in range(1, num_layers + 1):
            c_out = ndf * min(2 ** k, 8)
            stride = 2 if k < num_layers else 1
            layers += [nn.Conv2d(width, c_out, 4, stride, 1), nn.InstanceNorm2d(c_out),
                       nn.LeakyReLU(0.2)]
            width = c_out
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.body = nn.Sequential(*layers)
        self.in_channels = in_channels
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    @staticmethod
    def receptive_field(num_layers: int = 3) -> int:
        """Input patch size seen by one output logit (70 for 3 layers)."""
        rf = 1
        for stride in reversed([2] * num_layers + [1, 1]):   # layers from the output backwards
            rf = (rf - 1) * stride + 4
        return rf

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'PatchDiscriminator expects [N, {self.in_channels}, H, W], got '
                             f'{list(x.shape)}')
        sizes = self.layer_sizes(x.shape[-2:])
        if min(min(hw) for hw in sizes) < 1 or any(h * w < 2 for h, w in sizes[1:-1]):
            raise ValueError(f'PatchDiscriminator: input {list(x.shape[-2:])} is too small for '
                             f'its {len(sizes) - 2} down-sampling layers (layer sizes {sizes})')
        return self.body(x)

    def layer_sizes(self, size) -> list[tuple[int, int]]:
        """Spatial size after each conv (4x4, padding 1) for an input of ``size`` (H, W)."""
        out, (h, w) = [], size
        for conv in (m for m in self.body if isinstance(m, nn.Conv2d)):
            s = conv.stride[0]
            h, w = (h - 2) // s + 1, (w - 2) // s + 1
            out.append((h, w))
        return out
