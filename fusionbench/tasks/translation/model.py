"""Multi-domain pix2pix: the U-Net generator, the PatchGAN, their losses and a two-optimiser
training step mmengine drives.

Losses (pix2pix, Isola et al. 2017, Eq. 4; the paper's §4.2 keeps pix2pix's setup):

* discriminator: ``½ [GAN(D(x, y), real) + mean_m GAN(D(x, G_m(x)), fake)]`` with ``x`` the
  input domains (concatenated along channels), ``y`` the real RGB, ``G_m(x)`` the output of
  domain ``m``'s stream (detached);
* generator: ``Σ_m [GAN(D(x, G_m(x)), real) + λ_L1 |G_m(x) - y|_1] + λ_L1 |ensemble - y|_1``
  ``+ fusion terms`` (CEN's ``λ Σ|γ|``), λ_L1 = 100. Summing over the per-domain heads and
  adding the α-ensemble's own term mirrors the segmentor (our choice, Eq. 2-3 of the paper).

``gan_mode``: ``'vanilla'`` (pix2pix's default: sigmoid cross-entropy on logits) or ``'lsgan'``
(least squares), from :data:`GAN_LOSSES`.

:meth:`MultiDomainPix2Pix.train_step` runs one discriminator update and then one generator
update, each through its own optim wrapper of an ``OptimWrapperDict`` (keys ``'generator'``,
``'discriminator'``), built by :class:`PerNetworkOptimWrapperConstructor`, e.g.::

    optim_wrapper = dict(
        constructor='PerNetworkOptimWrapperConstructor',
        generator=dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
        discriminator=dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))))

The discriminator step sees the generator's outputs detached; during the generator step the
discriminator's parameters do not require gradients, so each step changes only its network.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.modal import split_modalities, stack_modalities
from fusionbench.tasks.translation.generator import ENSEMBLE


def _vanilla(logits: Tensor, real: bool) -> Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def _lsgan(logits: Tensor, real: bool) -> Tensor:
    return F.mse_loss(logits, torch.ones_like(logits) if real else torch.zeros_like(logits))


GAN_LOSSES: dict[str, Callable[[Tensor, bool], Tensor]] = {'vanilla': _vanilla, 'lsgan': _lsgan}


def condition(inputs: Tensor, num_modalities: int) -> Tensor:
    """``[M*N, C, H, W]`` -> ``[N, M*C, H, W]`` (domain ``m`` in channels ``m*C..(m+1)*C``)."""
    y = split_modalities(inputs, num_modalities)
    return y.transpose(0, 1).reshape(y.shape[1], -1, *y.shape[3:])


@registry.MODELS.register_module()
class MultiDomainPix2Pix(BaseModel):
    """pix2pix (U-Net + PatchGAN, GAN + 100 L1) from M stacked domains to RGB; two optimisers.

    Args:
        generator: :class:`~.generator.UNetGenerator` config (``num_modalities``, ``in_channels``
            are read from it).
        discriminator: :class:`~.discriminator.PatchDiscriminator` config without
            ``in_channels`` (set to ``M*C + out_channels``).
        gan_mode: key of :data:`GAN_LOSSES`.
        l1_weight: λ_L1 (pix2pix: 100).
        data_preprocessor: data preprocessor config, e.g. :class:`~.preprocess.
            TranslationDataPreprocessor` for packed multimodal batches (default: mmengine's, which
            only moves tensors to the model's device: the data is already in the model's format).

    Data (``train_step`` / ``val_step`` / ``forward``): ``dict(inputs=..., target=...)`` with
    ``inputs`` the stacked domains ``[M*N, C, H, W]`` or a list of ``M`` tensors ``[N, C, H, W]``,
    ``target`` the RGB ``[N, 3, H, W]``, all in ``[-1, 1]``.
    """

    task = 'translation'  # its registry.TASKS entry (metrics)

    def __init__(self, generator: dict, discriminator: dict | None = None,
                 gan_mode: str = 'vanilla', l1_weight: float = 100.0,
                 data_preprocessor: dict | None = None):
        if isinstance(data_preprocessor, dict):   # built here: no default scope needed
            data_preprocessor = registry.build(registry.MODELS, data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor)
        if gan_mode not in GAN_LOSSES:
            raise ValueError(f'gan_mode must be one of {sorted(GAN_LOSSES)}, got {gan_mode!r}')
        self.generator = registry.build(registry.MODELS, {'type': 'UNetGenerator', **generator})
        m, c = self.generator.num_modalities, self.generator.in_channels
        out_channels = self.generator.out_channels
        disc_cfg = dict(type='PatchDiscriminator', **dict(discriminator or {}))
        disc_cfg['in_channels'] = m * c + out_channels
        self.discriminator = registry.build(registry.MODELS, disc_cfg)
        self.num_modalities = m
        self.gan_loss = GAN_LOSSES[gan_mode]
        self.gan_mode = gan_mode
        self.l1_weight = float(l1_weight)

    # -- data -------------------------------------------------------------------------------
    def _unpack(self, data: dict) -> tuple[Tensor, Tensor | None]:
        if not isinstance(data, dict) or 'inputs' not in data:
            raise KeyError("MultiDomainPix2Pix expects a data dict with key 'inputs' (and "
                           "'target' for training)")
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != self.num_modalities:
                raise ValueError(f'got {len(inputs)} input domains, the generator has '
                                 f'{self.num_modalities}')
            inputs = stack_modalities(list(inputs))
        return inputs, data.get('target')

    # -- losses -----------------------------------------------------------------------------
    def _fakes(self, outputs: dict[str, Tensor]) -> Tensor:
        """The per-domain outputs stacked: ``[M*N, C_out, H, W]``."""
        return stack_modalities([outputs[str(k)] for k in range(self.num_modalities)])

    def _judge(self, cond: Tensor, images: Tensor) -> Tensor:
        """D on ``images`` ``[K*N, C_out, H, W]`` under ``cond`` ``[N, M*C, H, W]``."""
        reps = images.shape[0] // cond.shape[0]
        return self.discriminator(torch.cat([cond.repeat(reps, 1, 1, 1), images], dim=1))

    def discriminator_loss(self, inputs: Tensor, outputs: dict[str, Tensor],
                           target: Tensor) -> dict[str, Tensor]:
        """``{'loss_d_real', 'loss_d_fake'}`` (each already halved); fakes are detached."""
        cond = condition(inputs, self.num_modalities)
        return {'loss_d_real': 0.5 * self.gan_loss(self._judge(cond, target), True),
                'loss_d_fake': 0.5 * self.gan_loss(
                    self._judge(cond, self._fakes(outputs).detach()), False)}

    def generator_loss(self, inputs: Tensor, outputs: dict[str, Tensor], target: Tensor,
                       fusion_losses: dict[str, Tensor]) -> dict[str, Tensor]:
        """GAN and λ_L1·L1 per domain head, λ_L1·L1 of the ensemble, and the fusion terms."""
        losses = dict(fusion_losses)
        cond = condition(inputs, self.num_modalities)
        logits = split_modalities(self._judge(cond, self._fakes(outputs)), self.num_modalities)
        for k in range(self.num_modalities):
            losses[f'loss_gan_{k}'] = self.gan_loss(logits[k], True)
        for head, image in outputs.items():
            losses[f'loss_rec_{head}'] = self.l1_weight * F.l1_loss(image, target)
        return losses

    # -- mmengine interface -----------------------------------------------------------------
    def forward(self, inputs: Tensor, target: Tensor | None = None, mode: str = 'tensor'):
        """``'tensor'``: ``{head: [N, C_out, H, W]}``; ``'predict'``: the same without gradient;
        ``'loss'``: the generator's losses (needs ``target``)."""
        if mode == 'loss':
            outputs, fusion_losses = self.generator(inputs)
            return self.generator_loss(inputs, outputs, target, fusion_losses)
        if mode == 'predict':
            with torch.no_grad():
                return self.generator(inputs)[0]
        if mode == 'tensor':
            return self.generator(inputs)[0]
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def primary_head(self) -> str:
        """The head evaluated by default: the ensemble, or the only domain's output."""
        return ENSEMBLE if self.generator.use_ensemble else '0'

    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> dict[str, Tensor]:
        """One discriminator update, then one generator update; returns the log variables."""
        data = self.data_preprocessor(data, True)
        inputs, target = self._unpack(data)
        if target is None:
            raise KeyError("MultiDomainPix2Pix.train_step needs data['target'] (the RGB)")
        g_wrapper, d_wrapper = optim_wrapper['generator'], optim_wrapper['discriminator']
        with g_wrapper.optim_context(self.generator):
            outputs, fusion_losses = self.generator(inputs)
        with d_wrapper.optim_context(self.discriminator):
            loss_d, log_d = self.parse_losses(self.discriminator_loss(inputs, outputs, target))
        d_wrapper.update_params(loss_d)
        self.discriminator.requires_grad_(False)
        try:
            with g_wrapper.optim_context(self.generator):
                loss_g, log_g = self.parse_losses(
                    self.generator_loss(inputs, outputs, target, fusion_losses))
            g_wrapper.update_params(loss_g)
        finally:
            self.discriminator.requires_grad_(True)
        log_g['loss_g'] = log_g.pop('loss')
        log_d['loss_d'] = log_d.pop('loss')
        # 'loss': both networks' losses, read by FiniteLossHook to stop a diverged run
        return {k: v.detach() for k, v in {**log_d, **log_g,
                                            'loss': log_d['loss_d'] + log_g['loss_g']}.items()}

    def val_step(self, data: dict) -> list[dict]:
        """Generated images per sample, as mmengine's evaluators take them:
        ``[{'pred': {head: [C_out, H, W]}, 'target': [3, H, W] or None}] * N`` in ``[-1, 1]``
        (no gradient; eval mode is the caller's: mmengine's loops set it)."""
        data = self.data_preprocessor(data, False)
        inputs, target = self._unpack(data)
        outputs = self(inputs, mode='predict')
        n = next(iter(outputs.values())).shape[0]
        return [{'pred': {head: image[i] for head, image in outputs.items()},
                 'target': None if target is None else target[i]} for i in range(n)]

    test_step = val_step


@registry.PLAIN_CHILDREN['OPTIM_WRAPPER_CONSTRUCTORS'].register_module()
class PerNetworkOptimWrapperConstructor:
    """One optim wrapper per named sub-network of the model -> ``OptimWrapperDict``.

    Args:
        optim_wrapper_cfg: ``{submodule name: optim wrapper config}`` (each as mmengine's
            ``DefaultOptimWrapperConstructor`` takes it; ``type`` defaults to ``OptimWrapper``).
        paramwise_cfg: must be None (give ``paramwise_cfg`` inside each sub-config).

    Raises ``ValueError`` for a name that is not a sub-module of the model, or an empty config.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None):
        if paramwise_cfg is not None:
            raise ValueError('PerNetworkOptimWrapperConstructor: put paramwise_cfg inside each '
                             "network's optim wrapper config")
        cfg = {k: v for k, v in dict(optim_wrapper_cfg).items() if k != 'constructor'}
        if not cfg:
            raise ValueError('PerNetworkOptimWrapperConstructor: no network configs given')
        self.cfgs = cfg

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        model = getattr(model, 'module', model)    # DDP-wrapped models
        wrappers = {}
        for name, cfg in self.cfgs.items():
            sub = getattr(model, name, None)
            if not isinstance(sub, nn.Module):
                raise ValueError(f'optim_wrapper.{name}: the model has no sub-network {name!r}')
            cfg = dict(cfg)
            paramwise = cfg.pop('paramwise_cfg', None)
            cfg.setdefault('type', 'OptimWrapper')
            wrappers[name] = DefaultOptimWrapperConstructor(cfg, paramwise)(sub)
        return OptimWrapperDict(**wrappers)
