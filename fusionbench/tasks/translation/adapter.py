"""How a protocol rewrites a translation config (:class:`TranslationAdapter`).

A translation config (``configs/_base_/models/pix2pix_unet256.py`` and the Table 4-5 configs)
names its input domains once, in ``model.data_preprocessor.domains`` (Taskonomy's names, e.g.
``('depth_zbuffer', 'normal')``), and its output domain in ``model.data_preprocessor.target``
(``'rgb'``). On the synthetic protocols the adapter

- **data**: builds ``SyntheticScenes`` splits that render the input domains plus the target
  (Taskonomy's ``depth_zbuffer`` is the scenes' ``depth``, :data:`SCENE_DOMAINS`; the
  preprocessor's ranges follow), at the protocol's image size, with a random horizontal flip
  (normals' x negated) for training and no augmentation for evaluation;
- **model**: applies the protocol's dotted overrides (``generator.depth``, ``generator.ngf``,
  ``discriminator.ndf`` ...: a smaller U-Net at the small protocols' image sizes; the fusion
  stages early / middle / late / all are mapped onto the smaller U-Net's levels by
  :func:`~fusionbench.tasks.translation.generator.fusion_layers`) and checks that the image
  size is divisible by ``2^depth``;
- **optimiser**: Adam with the protocol's rate (``decoder_lr``; pix2pix: 2e-4 for both
  networks) for the generator and the discriminator, β's as the config (pix2pix: 0.5, 0.999);
- **CEN's λ and γ rate** (small protocols only: where the protocol sets ``l1_weight``): λ per
  exchange level from the protocol, and the γ's of the encoder's norms learn at the rate with
  which Adam could move a γ by :data:`GAMMA_TRAVEL` over the run (:func:`gamma_lr_mult`);
- **evaluator**: :class:`~fusionbench.tasks.translation.evaluator.TranslationMetric` with the
  domain names (heads are reported as ``depth``, ``normal`` ..., ``ensemble``) and the config's
  ``inception_weights`` (else ``$FUSIONBENCH_INCEPTION``, else the surrogate extractor).

Every problem with the config is a :class:`~fusionbench.errors.ConfigError` of one line that
names the key.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from fusionbench.errors import ConfigError
from fusionbench.paths import cache_root
from fusionbench.tasks.base import Protocol, ProtocolAdapter, mean_lr_factor

if TYPE_CHECKING:
    from mmengine.config import Config

#: Taskonomy's domain names -> the procedural scenes' (:data:`fusionbench.data.scenes.
#: MODALITIES`); names not listed are the same in both.
SCENE_DOMAINS = {'depth_zbuffer': 'depth'}
#: How far (in γ units) Adam may move a γ of CEN's exchange levels over a small protocol's run
#: when the ℓ1 term wins every step. Our choice, the same travel as segmentation's fine-tuning
#: (:mod:`fusionbench.experiments.pretrain`, ``l1_travel``; the initial |γ| is ≈ 1 by pix2pix's
#: init): Adam moves a parameter by about its learning rate per step whatever the gradient's
#: scale, so at pix2pix's 2e-4 a 300-iteration run moves a γ by at most ~0.035 and no γ reaches
#: θ = 1e-2 -- the paper's 200 epochs of Taskonomy give Adam thousands of times more steps.
GAMMA_TRAVEL = 1.5
#: Top-level config key: the local InceptionV3 weights file for FID/KID (None: the environment
#: variable, else the surrogate extractor; :func:`~.metrics.resolve_extractor`).
INCEPTION_KEY = 'inception_weights'


def _preprocessor(cfg: Config) -> dict:
    pre = (cfg.get('model') or {}).get('data_preprocessor') or {}
    if not pre.get('domains'):
        raise ConfigError('translation config: model.data_preprocessor.domains is missing; name '
                          "the input domains there, e.g. domains=('depth_zbuffer', 'normal')")
    return pre


def config_domains(cfg: Config) -> tuple[str, ...]:
    """The input domains a translation config names (``model.data_preprocessor.domains``).

    Raises :class:`ConfigError` (one line) when they are missing or disagree with
    ``model.generator.num_modalities``.
    """
    domains = tuple(_preprocessor(cfg)['domains'])
    generator = cfg.model.get('generator') or {}
    m = generator.get('num_modalities', 2)
    if m != len(domains):
        raise ConfigError(f'translation config: model.generator.num_modalities is {m} but '
                          f'model.data_preprocessor.domains names {len(domains)} domains '
                          f'{list(domains)}; make them agree')
    return domains


def _cen_fusion(cfg: Config) -> dict | None:
    """The generator's fusion config when it is CEN's (it has a λ), else None."""
    fusion = ((cfg.get('model') or {}).get('generator') or {}).get('fusion') or {}
    return fusion if 'l1_weight' in fusion else None


def gamma_lr_mult(lr: float, iterations: int, halvings: int) -> float:
    """The γ learning rate, as a multiple of ``lr``, with which Adam moves a γ by
    :data:`GAMMA_TRAVEL` over ``iterations`` of the step schedule (``halvings`` halvings):
    ``GAMMA_TRAVEL / (lr · iterations · mean LR factor)``.

    Hand check: 2e-4, 300 iterations, 2 halvings (factor 7/12): 1.5 / 0.035 = 42.86.
    """
    return GAMMA_TRAVEL / (lr * iterations * mean_lr_factor(halvings))


class TranslationAdapter(ProtocolAdapter):
    """The translation side of a protocol (:class:`~.model.MultiDomainPix2Pix`); module doc."""

    def apply_model(self, protocol: Protocol, cfg: Config) -> None:
        """The protocol's scale overrides, and its λ on a CEN generator (where it sets one)."""
        super().apply_model(protocol, cfg)
        config_domains(cfg)
        fusion = _cen_fusion(cfg)
        if protocol.l1_weight is not None and fusion is not None:
            fusion['l1_weight'] = copy.deepcopy(protocol.l1_weight)

    def apply_evaluator(self, cfg: Config) -> None:
        """The task's evaluator, told the domain names and the config's Inception weights (a
        config's own evaluator is kept, with ``domains`` / ``inception_weights`` filled in where
        it has none)."""
        super().apply_evaluator(cfg)
        domains = config_domains(cfg)
        for key in ('val_evaluator', 'test_evaluator'):
            evaluator = cfg.get(key)
            if isinstance(evaluator, dict) and evaluator.get('type') == 'TranslationMetric':
                evaluator.setdefault('domains', domains)
                evaluator.setdefault(INCEPTION_KEY, cfg.get(INCEPTION_KEY))

    def datasets(self, protocol: Protocol, cfg: Config) -> dict[str, dict]:
        from fusionbench.data.scenes import MODALITIES

        pre = _preprocessor(cfg)
        domains = [SCENE_DOMAINS.get(d, d) for d in config_domains(cfg)]
        target = SCENE_DOMAINS.get(pre.get('target', 'rgb'), pre.get('target', 'rgb'))
        unknown = [d for d in (*domains, target) if d not in MODALITIES]
        if unknown:
            raise ConfigError(f'translation config: model.data_preprocessor.domains/target name '
                              f'{unknown}, which the synthetic scenes do not render (they render '
                              f'{sorted(MODALITIES)}); run it with --protocol paper')
        depth = (cfg.model.get('generator') or {}).get('depth', 8)
        size = protocol.data.size
        if size % 2 ** depth:
            raise ConfigError(f'protocol {protocol.name!r}: image size {size} is not divisible '
                              f'by 2^model.generator.depth = {2 ** depth}; lower '
                              'model.generator.depth or raise the size')
        modalities = tuple(dict.fromkeys((*domains, target)))
        train = [dict(type='MultiModalRandomFlip', prob=0.5), dict(type='PackMultiModalInputs')]
        test = [dict(type='PackMultiModalInputs')]
        splits = {'train': train, 'val': test}
        if protocol.data.test_scenes:
            splits['test'] = test
        out = {}
        for split, pipeline in splits.items():
            scenes, seed = protocol.data.split(split)
            out[split] = dict(type='SyntheticScenes', cache_dir=cache_root(), num_scenes=scenes,
                              height=size, width=size, seed=seed, modalities=modalities,
                              pipeline=copy.deepcopy(pipeline))
        return out

    def apply_data(self, protocol: Protocol, cfg: Config) -> None:
        """The preprocessor reads the scenes' names of the domains (same order)."""
        pre = _preprocessor(cfg)
        pre['domains'] = tuple(SCENE_DOMAINS.get(d, d) for d in pre['domains'])
        pre['target'] = SCENE_DOMAINS.get(pre.get('target', 'rgb'), pre.get('target', 'rgb'))
        for key in ('val_evaluator', 'test_evaluator'):
            evaluator = cfg.get(key)
            if isinstance(evaluator, dict) and evaluator.get('domains'):
                evaluator['domains'] = pre['domains']

    def apply_optimizer(self, protocol: Protocol, cfg: Config) -> None:
        """The protocol's rate (``decoder_lr``) for both networks' optimisers; on a CEN
        generator under a protocol that sets λ, the encoder norms' γ's at the rate of
        :func:`gamma_lr_mult` (mmengine ``paramwise_cfg.custom_keys``)."""
        wrapper = cfg.get('optim_wrapper') or {}
        for network in ('generator', 'discriminator'):
            optimizer = (wrapper.get(network) or {}).get('optimizer')
            if optimizer is None:
                raise ConfigError(f'translation config: optim_wrapper.{network}.optimizer is '
                                  'missing (one optimiser per network, '
                                  "constructor='PerNetworkOptimWrapperConstructor')")
            optimizer['lr'] = protocol.decoder_lr
        if protocol.l1_weight is None or _cen_fusion(cfg) is None:
            return
        mult = gamma_lr_mult(protocol.decoder_lr, protocol.max_iters, protocol.lr_halvings)
        # ConfigDict.setdefault returns a copy: assign the paramwise config back
        generator = wrapper['generator']
        paramwise = dict(generator.get('paramwise_cfg') or {})
        keys = dict(paramwise.get('custom_keys') or {})
        keys['.norm.weight'] = dict(lr_mult=mult)  # the encoder's private norms (down blocks)
        paramwise['custom_keys'] = keys
        generator['paramwise_cfg'] = paramwise

    def apply_hooks(self, protocol: Protocol, cfg: Config) -> None:
        """The γ hooks sample as often per run as segmentation's (:data:`~fusionbench.tasks.
        segmentation.adapter.HOOK_SAMPLES`)."""
        from fusionbench.tasks.segmentation.adapter import HOOK_SAMPLES
        for hook in cfg.get('custom_hooks') or []:
            if hook['type'] in HOOK_SAMPLES:
                hook['interval'] = max(1, protocol.max_iters // HOOK_SAMPLES[hook['type']])
