"""How a protocol rewrites a segmentation config (:class:`SegmentationAdapter`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from fusionbench.paths import cache_root
from fusionbench.tasks.base import Protocol, ProtocolAdapter
from fusionbench.tasks.segmentation.pipelines import synthetic_pipelines

if TYPE_CHECKING:
    from mmengine.config import Config

#: Hooks tuned to the protocol's iteration budget: ``{type: samples per run}``.
#: ``GammaSparsityHook`` logs the γ sparsity 4 times a run; ``GammaDynamicsHook`` samples the
#: exchanged shares ~50 times a run (our choice: enough points for the curve, few records).
HOOK_SAMPLES = {'GammaSparsityHook': 4, 'GammaDynamicsHook': 48}
#: Top-level variables of the real-data ``_base_`` dataset and model configs that only build the
#: paper's loaders and head (``configs/_base_/datasets/*_rgbd.py``); a protocol that replaces the
#: loaders drops them, so a record's stored config is the config that ran (no 500×500 crop or
#: 40 classes beside the synthetic loaders).
PAPER_DATA_KEYS = ('dataset_type', 'data_root', 'data_modalities', 'crop_size', 'normalize',
                   'train_pipeline', 'test_pipeline', 'num_classes')
#: The same for the paper's schedule (``configs/_base_/schedules/*``): its rates, replaced by
#: the protocol's in the optimiser.
PAPER_SCHEDULE_KEYS = ('encoder_lr', 'decoder_lr')


class SegmentationAdapter(ProtocolAdapter):
    """The segmentation side of a protocol (models such as
    :class:`~fusionbench.models.segmentor.MultiModalSegmentor`).

    - model: the protocol's dotted scale overrides (e.g. ``backbone.depth``,
      ``decode_head.width``), then ``depth_map`` on the config's original ``backbone.depth``,
      ``from_scratch`` (drops ``backbone.pretrained``) and ``l1_weight`` (``model.fusion``'s λ,
      where the fusion has one);
    - data: ``SyntheticScenes`` splits with :func:`~.pipelines.synthetic_pipelines`;
      ``model.num_classes`` set to the scenes' classes; the paper's data variables
      (:data:`PAPER_DATA_KEYS`) dropped;
    - optimiser: the decoder's rate as the base rate, the encoder's as the backbone's
      ``lr_mult``, clipping (the paper's rate variables, :data:`PAPER_SCHEDULE_KEYS`, dropped);
    - hooks: :data:`HOOK_SAMPLES`.
    """

    def apply_model(self, protocol: Protocol, cfg: Config) -> None:
        original_depth = (cfg.model.get('backbone') or {}).get('depth')
        super().apply_model(protocol, cfg)
        if original_depth in protocol.depth_map:
            cfg.model.backbone.depth = protocol.depth_map[original_depth]
        if protocol.from_scratch and (cfg.model.get('backbone') or {}).get('pretrained'):
            cfg.model.backbone.pretrained = None
        fusion = cfg.model.get('fusion') or {}
        if protocol.l1_weight is not None and 'l1_weight' in fusion:
            fusion['l1_weight'] = protocol.l1_weight

    def datasets(self, protocol: Protocol, cfg: Config) -> dict[str, dict]:
        modalities = tuple(cfg.model.modalities)
        train_pipeline, test_pipeline = synthetic_pipelines(modalities)
        splits = {'train': train_pipeline, 'val': test_pipeline}
        if protocol.data.test_scenes:  # a held-out split for the reported numbers
            splits['test'] = test_pipeline
        out = {}
        for split, pipeline in splits.items():
            scenes, seed = protocol.data.split(split)
            out[split] = dict(type='SyntheticScenes', cache_dir=cache_root(), num_scenes=scenes,
                              height=protocol.data.size, width=protocol.data.size, seed=seed,
                              modalities=modalities, pipeline=pipeline)
        if cfg.get('shuffle_train_labels'):  # the shuffled-label control (a config key)
            out['train']['label_shuffle_seed'] = int(cfg.shuffle_train_labels)
        return out

    def apply_data(self, protocol: Protocol, cfg: Config) -> None:
        from fusionbench.data.scenes import CLASSES
        cfg.model.num_classes = len(CLASSES)
        for key in PAPER_DATA_KEYS:
            cfg.pop(key, None)

    def apply_optimizer(self, protocol: Protocol, cfg: Config) -> None:
        for key in PAPER_SCHEDULE_KEYS:  # the paper's rates; the optimiser gets the protocol's
            cfg.pop(key, None)
        cfg.optim_wrapper.optimizer.lr = protocol.decoder_lr
        cfg.optim_wrapper.paramwise_cfg = dict(
            custom_keys={'backbone': dict(lr_mult=protocol.encoder_lr / protocol.decoder_lr)})
        if protocol.clip_grad is not None:  # the norm-free decoder spikes early when from scratch
            cfg.optim_wrapper.clip_grad = dict(max_norm=protocol.clip_grad)

    def apply_hooks(self, protocol: Protocol, cfg: Config) -> None:
        for hook in cfg.custom_hooks:
            if hook['type'] in HOOK_SAMPLES:
                hook['interval'] = max(1, protocol.max_iters // HOOK_SAMPLES[hook['type']])
