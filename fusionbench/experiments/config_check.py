"""Checks of a resolved config before anything trains, each failing with one line.

``python -m fusionbench train <config>`` runs :func:`check_config` first, so a config whose model
type nobody registered, whose model cannot be built (CEN with one modality, a bad fusion
option), or whose model asks for a modality the data set does not provide fails with a
:class:`~fusionbench.errors.ConfigError` naming the config file and the key -- not with a
traceback from deep inside mmengine's Runner or the first forward pass.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fusionbench.errors import ConfigError
from fusionbench.fidelity import apply_fidelity
from fusionbench.paths import config_path

if TYPE_CHECKING:
    import torch
    from mmengine.config import Config

    from fusionbench.experiments.protocols import Protocol

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def load_config(path: str):
    """``mmengine.Config.fromfile(path)``; a syntax error names the file and the line.

    mmengine parses the file without its name (the error says ``<unknown>``), so the file and
    then its ``_base_`` files are parsed again to find the culprit.
    """
    import ast

    from mmengine.config import Config

    try:
        return Config.fromfile(path)
    except SyntaxError as err:
        for candidate in [path, *_base_files(path)]:
            try:
                with open(candidate, encoding='utf-8') as f:
                    ast.parse(f.read(), filename=candidate)
            except SyntaxError as found:
                raise ConfigError(f'{candidate}: syntax error at line {found.lineno}: '
                                  f'{found.msg}; fix the config file') from err
            except OSError:
                continue
        raise ConfigError(f'{path}: syntax error ({err.msg}, line {err.lineno}) in it or one of '
                          'its _base_ files; fix the config file') from err


def resolve_config(config: str | Config, protocol: Protocol, seed: int,
                   overrides: dict | None = None, work_dir: str | None = None) -> Config:
    """The config that runs: the file, the row's overrides, the protocol, the fidelity mode
    (the config's ``fidelity`` key, :mod:`fusionbench.fidelity`), the seed.

    Lives here, not in the training module, so the preflight, the grid and the parameter table
    resolve configs without importing :mod:`fusionbench.experiments.run`.
    """
    if isinstance(config, str):
        source = config_path(config)
        cfg = load_config(source)  # a syntax error names the file
    else:
        cfg = config
        source = getattr(cfg, 'filename', None) or 'the config'
    if overrides:
        cfg.merge_from_dict(overrides)
    check_model_type(cfg, source)  # before the protocol asks the model class for its task
    cfg = protocol.apply(cfg)
    apply_fidelity(cfg, keep_l1_weight=protocol.l1_weight is not None)
    cfg.randomness = dict(seed=seed, deterministic=False)
    if work_dir is not None:
        cfg.work_dir = work_dir
    return cfg


def build_model(cfg: Config) -> torch.nn.Module:
    """Build ``cfg.model`` from fusionbench's registry (no weights loaded)."""
    from fusionbench import compat, registry

    compat.drop_closed_log_files()  # init_weights() outside a Runner logs to the current logger
    return registry.build(registry.MODELS, cfg.model.to_dict() if hasattr(cfg.model, 'to_dict')
                          else dict(cfg.model))


def _base_files(path: str) -> list[str]:
    """The ``_base_`` files a config names (read textually: the config does not parse)."""
    import os
    import re
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except OSError:
        return []
    folder = os.path.dirname(os.path.abspath(path))
    names = re.findall(r"['\"]([^'\"]+\.py)['\"]", text.split('_base_', 1)[-1]) \
        if '_base_' in text else []
    return [os.path.normpath(os.path.join(folder, n)) for n in names]


def datasets_in(dataset: Any) -> Iterator[dict]:
    """Every data set config in a loader's ``dataset``: itself, then those it wraps (mmengine's
    ``RepeatDataset`` / ``ClassBalancedDataset`` ``dataset``, ``ConcatDataset`` ``datasets``),
    depth first. Nothing for a missing or non-dict ``dataset``."""
    if not isinstance(dataset, dict):
        return
    yield dataset
    yield from datasets_in(dataset.get('dataset'))
    for inner in dataset.get('datasets') or ():
        yield from datasets_in(inner)


def check_model_type(cfg: Any, source: str) -> None:
    """``model.type`` is registered (fusionbench's models, then mmseg's)."""
    from fusionbench import registry

    model = cfg.get('model')
    if not isinstance(model, dict) or 'type' not in model:
        raise ConfigError(f'{source}: the config has no model.type; set model = dict(type=...)')
    try:
        registry.get(registry.MODELS, model['type'], kind='model type')
    except registry.UnknownNameError as err:
        raise ConfigError(f'{source}: model.type: {err}') from None


def check_modalities(cfg: Any, source: str) -> None:
    """Every modality of ``model.modalities`` is in each data set's ``modalities``, and each data
    set can provide the modalities it is asked for (its class's ``MODALITIES``)."""
    from fusionbench import registry

    wanted = list((cfg.get('model') or {}).get('modalities') or ())
    for loader in LOADERS:
        for dataset in datasets_in((cfg.get(loader) or {}).get('dataset')):
            given = dataset.get('modalities')
            if given is None:
                continue
            lacking = [m for m in wanted if m not in given]
            if lacking:
                raise ConfigError(
                    f'{source}: model.modalities {wanted} asks for {lacking}, which '
                    f'{loader}.dataset.modalities {list(given)} lacks; add them to the data set '
                    'or drop them from the model')
            cls = registry.DATASETS.get(dataset.get('type', '')) if dataset.get('type') else None
            known = getattr(cls, 'MODALITIES', None)
            unknown = [m for m in given if known is not None and m not in known]
            if unknown:
                raise ConfigError(f'{source}: {loader}.dataset.modalities {list(given)}: '
                                  f'{dataset["type"]} has no {unknown}; it has {list(known)}')


def check_model_builds(cfg: Any, source: str) -> None:
    """``model`` builds (no weights are loaded); a failure names the config and the reason."""
    try:
        build_model(cfg)
    except Exception as err:  # noqa: BLE001 - whatever the constructor rejects is a config error
        reason = ' '.join(str(err).split()) or type(err).__name__
        raise ConfigError(f'{source}: model does not build: {type(err).__name__}: {reason}') \
            from err


def check_config(cfg: Any, source: str, build: bool = True) -> None:
    """Run every check above on the resolved ``cfg`` of the config file ``source``.

    Raises :class:`~fusionbench.errors.ConfigError` (one line) on the first problem.
    """
    check_model_type(cfg, source)
    check_modalities(cfg, source)
    if build:
        check_model_builds(cfg, source)
