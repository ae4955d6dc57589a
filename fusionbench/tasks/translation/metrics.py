"""Translation metrics: FID and KID (through torch-fidelity), L1, PSNR and SSIM.

**FID / KID** (Heusel et al. 2017; Binkowski et al. 2018) compare the generated and the real RGB
images of the evaluation set in a feature space; KID is reported × 100, as the paper's Tables 4-5
("KID (×10^-2)"). Both run through ``torch_fidelity.calculate_metrics`` on in-memory uint8
datasets (no file cache, no worker processes), with ``kid_subsets`` subsets of
``min(kid_subset_size, #images)`` samples drawn from ``numpy.random.RandomState(seed)``.

Two feature extractors, and every number says which one produced it (keys ``fid_<label>``,
``kid_<label>``, ``kid_std_<label>`` and ``extractor``):

* ``inception`` -- torch-fidelity's ``inception-v3-compat`` (the standard FID network, 2048-d
  pool features). Its weights are never downloaded: they come from a local file given by the
  config key ``inception_weights`` or the environment variable ``FUSIONBENCH_INCEPTION``
  (torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` state dict).
* ``surrogate`` -- when no Inception weights are given: :class:`SurrogateFeatures`
  (``fusionbench-randconv-v1``), a small fixed convolutional network whose weights are
  *random and deterministic*: drawn once from ``torch.Generator().manual_seed(0)`` (Kaiming
  normal) at construction, so there is no file to produce or ship and every machine gets the
  same network. Our choice, because it needs neither a download nor a training run, is cheap
  (measured interleaved on one CPU thread of a loaded 2-core machine: 1.8 ms per 64 x 64 image
  vs 672 ms for InceptionV3, ~380x), and random convolutional
  embeddings are sensitive to distribution differences (Naeem et al., ICML 2020, §5 use random
  embeddings for fidelity metrics). Its values are **not comparable** with the paper's
  Inception FID/KID -- only rankings between methods are meaningful.

**L1, PSNR, SSIM** against the ground-truth RGB (which the synthetic scenes provide), on images
in ``[0, 1]``: L1 = mean absolute error; PSNR = ``10 log10(1 / MSE)`` per image, averaged (dB;
``inf`` for identical images); SSIM = Wang et al. (2004) with an 11 x 11 Gaussian window
(σ = 1.5), K1 = 0.01, K2 = 0.03, data range 1, 'valid' window positions, averaged over channels
and images (the usual settings, as ``skimage.metrics.structural_similarity(...,
gaussian_weights=True, use_sample_covariance=False)``).
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from fusionbench.paths import INCEPTION_ENV
from fusionbench.tasks.translation.generator import ENSEMBLE

SURROGATE_NAME = 'fusionbench-randconv-v1'
SURROGATE_SEED = 0
KID_SCALE = 100.0


class SurrogateFeatures(nn.Module):
    """The surrogate FID/KID feature extractor (module docstring), as a torch-fidelity extractor.

    uint8 ``[N, 3, H, W]`` -> resized (bilinear) to 64 x 64, scaled to ``[-1, 1]`` -> four
    3x3 stride-2 convs (3-32-64-96-128 channels) with ReLU -> global average pool: feature
    ``'128'`` ``[N, 128]``. Weights: Kaiming normal from ``torch.Generator().manual_seed(0)``,
    biases 0; frozen.

    Built by :func:`surrogate_extractor_class` (torch-fidelity subclass); this class holds the
    network only, so it can be used without torch-fidelity too.
    """

    INPUT_SIZE = 64
    WIDTHS = (3, 32, 64, 96, 128)

    def __init__(self, seed: int = SURROGATE_SEED):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        convs = []
        for c_in, c_out in zip(self.WIDTHS[:-1], self.WIDTHS[1:]):
            conv = nn.Conv2d(c_in, c_out, 3, 2, 1)
            with torch.no_grad():
                conv.weight.normal_(0.0, math.sqrt(2.0 / (c_in * 9)), generator=gen)
                conv.bias.zero_()
            convs += [conv, nn.ReLU()]
        self.body = nn.Sequential(*convs)
        self.requires_grad_(False)
        self.eval()

    def embed(self, x: Tensor) -> Tensor:
        """uint8 ``[N, 3, H, W]`` -> float32 ``[N, 128]``."""
        x = x.float()
        x = F.interpolate(x, size=(self.INPUT_SIZE, self.INPUT_SIZE), mode='bilinear',
                          align_corners=False)
        return self.body((x - 127.5) / 127.5).mean(dim=(2, 3))


def surrogate_extractor_class() -> type:
    """The torch-fidelity ``FeatureExtractorBase`` subclass wrapping :class:`SurrogateFeatures`,
    registered under :data:`SURROGATE_NAME` in torch-fidelity's registry on first call."""
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if SURROGATE_NAME in FEATURE_EXTRACTORS_REGISTRY:
        return FEATURE_EXTRACTORS_REGISTRY[SURROGATE_NAME]

    class FidelitySurrogate(FeatureExtractorBase):
        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list)
            self.net = SurrogateFeatures()

        @staticmethod
        def get_provided_features_list():
            return ('128',)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return {'fid': '128', 'kid': '128', 'prc': '128'}[metric]

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return torch.zeros(1, 3, 4, 4, dtype=torch.uint8)

        def forward(self, x):
            if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
                raise ValueError(f'{SURROGATE_NAME}: expects uint8 [N, 3, H, W], got '
                                 f'{x.dtype} {list(x.shape)}')
            return (self.net.embed(x),)

    register_feature_extractor(SURROGATE_NAME, FidelitySurrogate)
    return FidelitySurrogate


def resolve_extractor(inception_weights: str | None = None) -> dict:
    """Which extractor to use: ``dict(label, name, weights)``.

    ``inception_weights`` (config key) wins over ``$FUSIONBENCH_INCEPTION``; with neither, the
    surrogate. Raises ``FileNotFoundError`` (one line naming the path, where it came from, and the
    fix) when a given path is not a file.
    """
    source, path = 'inception_weights', inception_weights
    if not path:
        source, path = f'${INCEPTION_ENV}', os.environ.get(INCEPTION_ENV) or None
    if not path:
        return dict(label='surrogate', name=SURROGATE_NAME, weights=None)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f'{source}={path!r} is not a file: give the path of torch-fidelity\'s InceptionV3 '
            f'state dict (weights-inception-2015-12-05-6726825d.pth), or unset {source} to use the '
            f'surrogate extractor {SURROGATE_NAME!r}')
    return dict(label='inception', name='inception-v3-compat', weights=path)


class _ImageSet(Dataset):
    """uint8 ``[N, 3, H, W]`` tensor as the Dataset torch-fidelity reads."""

    def __init__(self, images: Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Tensor:
        return self.images[i]


def to_uint8(images: Tensor) -> Tensor:
    """``[-1, 1]`` float ``[N, 3, H, W]`` -> uint8 ``[N, 3, H, W]`` (rounded, clamped)."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def fid_kid(fake: Tensor, real: Tensor, inception_weights: str | None = None,
            kid_subsets: int = 100, kid_subset_size: int = 1000, seed: int = 0,
            batch_size: int = 64, cuda: bool | None = None) -> dict:
    """FID and KID × 100 of ``fake`` vs ``real`` (uint8 ``[N, 3, H, W]`` each).

    Returns ``{'fid_<label>', 'kid_<label>', 'kid_std_<label>', 'extractor'}`` with ``label``
    ``'inception'`` or ``'surrogate'`` (:func:`resolve_extractor`) and ``extractor`` the
    torch-fidelity extractor name. Raises ``ValueError`` for non-uint8 / wrongly shaped input or
    fewer than 2 images per side.
    """
    for name, x in (('fake', fake), ('real', real)):
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f'fid_kid: {name} must be uint8 [N, 3, H, W], got {x.dtype} '
                             f'{list(x.shape)} (use to_uint8 on [-1, 1] images)')
        if len(x) < 2:
            raise ValueError(f'fid_kid: {name} needs at least 2 images, got {len(x)}')
    import torch_fidelity

    ext = resolve_extractor(inception_weights)
    if ext['label'] == 'surrogate':
        surrogate_extractor_class()
    cuda = torch.cuda.is_available() if cuda is None else cuda
    raw = torch_fidelity.calculate_metrics(
        input1=_ImageSet(fake), input2=_ImageSet(real), fid=True, kid=True,
        feature_extractor=ext['name'], feature_extractor_weights_path=ext['weights'],
        kid_subsets=int(kid_subsets), kid_subset_size=min(int(kid_subset_size), len(fake),
                                                          len(real)),
        rng_seed=int(seed), batch_size=int(batch_size), cuda=cuda, cache=False,
        save_cpu_ram=True, samples_shuffle=False, verbose=False)
    label = ext['label']
    return {f'fid_{label}': float(raw['frechet_inception_distance']),
            f'kid_{label}': KID_SCALE * float(raw['kernel_inception_distance_mean']),
            f'kid_std_{label}': KID_SCALE * float(raw['kernel_inception_distance_std']),
            'extractor': ext['name']}


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(x: Tensor, y: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM per image (module docstring) of ``[N, C, H, W]`` images in ``[0, 1]`` -> ``[N]``.

    Raises ``ValueError`` when the images are smaller than the window.
    """
    if x.shape[-1] < window or x.shape[-2] < window:
        raise ValueError(f'ssim: images {list(x.shape[-2:])} are smaller than the '
                         f'{window}x{window} window')
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    n, c = x.shape[:2]
    w = _gaussian_window(window, sigma).to(x.device).expand(c, 1, window, window)
    x, y = x.double(), y.double()

    def blur(t):
        return F.conv2d(t, w, groups=c)
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.view(n, -1).mean(1).float()


def pixel_metrics(fake: Tensor, real: Tensor) -> dict[str, float]:
    """``{'l1', 'psnr', 'ssim'}`` of ``[N, 3, H, W]`` images in ``[-1, 1]`` (compared in
    ``[0, 1]``; module docstring). Raises ``ValueError`` for different shapes."""
    if fake.shape != real.shape:
        raise ValueError(f'pixel_metrics: fake {list(fake.shape)} and real {list(real.shape)} '
                         'differ in shape')
    a = (fake.detach().float().clamp(-1, 1) + 1) / 2
    b = (real.detach().float().clamp(-1, 1) + 1) / 2
    mse = ((a - b) ** 2).flatten(1).mean(1)
    psnr = torch.where(mse > 0, 10 * torch.log10(1.0 / mse), torch.full_like(mse, math.inf))
    return {'l1': float((a - b).abs().mean()), 'psnr': float(psnr.mean()),
            'ssim': float(ssim(a, b).mean())}


def ranking_agreement(first: Mapping[str, float], second: Mapping[str, float]) -> dict:
    """Do two extractors rank the same methods alike? (The issue asks for this when both the
    Inception and the surrogate numbers exist.)

    Args:
        first / second: ``{method: score}`` (lower is better), e.g. FID with each extractor.

    Returns ``{'kendall_tau', 'p_value', 'same_order', 'methods'}`` over the methods both
    score (``scipy.stats.kendalltau``; ``same_order``: identical rankings). Raises
    ``ValueError`` with fewer than 2 common methods.
    """
    from scipy.stats import kendalltau

    methods = sorted(set(first) & set(second))
    if len(methods) < 2:
        raise ValueError(f'ranking_agreement: need >= 2 methods scored by both, got {methods}')
    a = [float(first[m]) for m in methods]
    b = [float(second[m]) for m in methods]
    res = kendalltau(a, b)
    return {'kendall_tau': float(res.statistic), 'p_value': float(res.pvalue),
            'same_order': sorted(methods, key=first.__getitem__) == sorted(
                methods, key=second.__getitem__),
            'methods': methods}


@torch.no_grad()
def generate(model: nn.Module, batches: Iterable[Mapping], head: str | None = None
             ) -> tuple[Tensor, Tensor]:
    """Run a translation model over ``batches`` in eval mode without gradients.

    Args:
        model: a :class:`~.model.MultiDomainPix2Pix` (its training mode is restored after).
        batches: data dicts as ``model.val_step`` takes (``inputs``, ``target``).
        head: output to collect (default: ``model.primary_head()``, the α-ensemble for M >= 2).

    Returns ``(fake, real)``: float ``[N, 3, H, W]`` in ``[-1, 1]`` on the CPU.
    """
    was_training = model.training
    model.eval()
    head = head or model.primary_head()
    fakes, reals = [], []
    try:
        for data in batches:
            samples = model.val_step(data)
            fakes.append(torch.stack([s['pred'][head] for s in samples]).cpu())
            reals.append(torch.stack([s['target'] for s in samples]).cpu())
    finally:
        model.train(was_training)
    return torch.cat(fakes), torch.cat(reals)


def evaluate_translation(model: nn.Module, batches: Iterable[Mapping], head: str | None = None,
                         inception_weights: str | None = None, kid_subsets: int = 100,
                         kid_subset_size: int = 1000, seed: int = 0) -> dict:
    """:func:`generate`, then :func:`fid_kid` on the uint8 images and :func:`pixel_metrics`.

    Returns one flat dict: FID/KID labelled by extractor, ``extractor``, ``l1``, ``psnr``,
    ``ssim``, ``head`` and ``num_images``.
    """
    head = head or model.primary_head()
    fake, real = generate(model, batches, head)
    out = fid_kid(to_uint8(fake), to_uint8(real), inception_weights, kid_subsets,
                  kid_subset_size, seed)
    out.update(pixel_metrics(fake, real), head=head, num_images=len(fake))
    return out


__all__ = ['SurrogateFeatures', 'surrogate_extractor_class', 'resolve_extractor', 'fid_kid',
           'ssim', 'pixel_metrics', 'generate', 'ranking_agreement', 'evaluate_translation',
           'to_uint8',
           'INCEPTION_ENV', 'SURROGATE_NAME', 'KID_SCALE', 'ENSEMBLE']
