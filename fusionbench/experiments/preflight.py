"""Preflight: every input a run needs from disk, checked before anything trains.

A config names its inputs by relative paths: data set roots under ``data/`` and ImageNet weights
under ``checkpoints/`` (e.g. ``data/nyudv2``, ``checkpoints/resnet101-63fe2227.pth``). They
resolve against two roots a user can move:

- ``data/...``        -> ``$FUSIONBENCH_DATA/...``    (default ``<repo>/data``)
- ``checkpoints/...`` -> ``$FUSIONBENCH_WEIGHTS/...`` (default ``<repo>/checkpoints``)

(absolute paths and other relative paths are used as written). :func:`resolve_paths` rewrites a
config's paths that way; :func:`find_missing` lists every missing data set root, split list or
folder, and weights file, each with what to put there; :func:`prepare` does both and raises
:class:`PreflightError` before a run starts (called by
:func:`fusionbench.experiments.run.train_and_evaluate`), so nothing fails deep inside a run.
``python -m fusionbench preflight <config | folder | table> [--protocol paper]`` prints the list.

Generated data (the synthetic scenes of the ``mini`` / ``smoke`` protocols) needs nothing.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fusionbench.errors import PreflightError
from fusionbench.experiments.config_check import datasets_in
from fusionbench.paths import (CONFIG_ROOT, DATA_ENV, DATA_PREFIX, REPO_ROOT, WEIGHTS_ENV,
                               WEIGHTS_PREFIX, data_root, weights_root)
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
GENERATED = ('SyntheticScenes',)

#: How to make each real data set: its display name and the command / layout for its root.
DATASET_HINTS = {
    'NYUDv2Dataset': (
        'NYUDv2',
        'run `python -m fusionbench data prepare nyudv2 --labeled-mat nyu_depth_v2_labeled.mat '
        '--splits splits.mat --mapping classMapping40.mat --out {root}` (the official NYU Depth v2 '
        'files)'),
    'SUNRGBDDataset': (
        'SUN RGB-D',
        'lay out train/ and test/ (5285 / 5050 images), each with rgb/ (.jpg), depth/ '
        '(SUN-encoded uint16 PNG, as the SUN RGB-D toolbox), label/ (0..37 PNG, 0 = unlabelled); '
        'see fusionbench/data/sunrgbd.py'),
    'TaskonomyDataset': ('Taskonomy', 'see fusionbench/data/taskonomy.py for the layout'),
}

#: torchvision's ImageNet (V1) ResNet checkpoints by file name.
TORCHVISION_WEIGHTS = {
    'resnet18-f37072fd.pth': 'resnet18', 'resnet34-b627a593.pth': 'resnet34',
    'resnet50-0676ba61.pth': 'resnet50', 'resnet101-63fe2227.pth': 'resnet101',
    'resnet152-394f9c45.pth': 'resnet152',
}


@dataclass(frozen=True)
class Missing:
    """One missing input: what it is, where it should be, how to get it there."""

    what: str
    path: str
    hint: str

    def __str__(self) -> str:
        return f'missing {self.what} {self.path}: {self.hint}'


# ----------------------------------------------------------------------------- paths
def resolve_path(path: str | None) -> str | None:
    """``data/x`` -> ``<data root>/x``, ``checkpoints/x`` -> ``<weights root>/x``; else as is."""
    if not isinstance(path, str) or not path or os.path.isabs(path):
        return path
    parts = path.replace('\\', '/').split('/')
    roots = {DATA_PREFIX: data_root, WEIGHTS_PREFIX: weights_root}
    if parts[0] in roots:
        return os.path.join(roots[parts[0]](), *[p for p in parts[1:] if p])
    return path


def _weights_fields(node: Any) -> Iterable[tuple[dict, str]]:
    """``(dict, key)`` of every weights path in a model config (``pretrained``, init_cfg's
    ``checkpoint``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'pretrained' and isinstance(value, str):
                yield node, key
            elif (key == 'checkpoint' and isinstance(value, str)
                  and node.get('type') == 'Pretrained'):
                yield node, key
            else:
                yield from _weights_fields(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _weights_fields(item)


#: The evaluators' key naming FID/KID's local InceptionV3 weights (the translation task's
#: :class:`~fusionbench.tasks.translation.evaluator.TranslationMetric`).
INCEPTION_FIELD = 'inception_weights'


def _evaluators(cfg: Any) -> Iterable[dict]:
    for key in ('val_evaluator', 'test_evaluator'):
        node = cfg.get(key)
        for item in node if isinstance(node, (list, tuple)) else [node]:
            if isinstance(item, dict):
                yield item


def _inception_missing(cfg: Any) -> list[Missing]:
    """FID/KID's Inception weights, where an evaluator takes them: its ``inception_weights``
    (else ``$FUSIONBENCH_INCEPTION``) must be a file when given; none given means the
    surrogate extractor (labelled so in every record)."""
    from fusionbench.paths import INCEPTION_ENV
    missing = []
    for evaluator in _evaluators(cfg):
        if INCEPTION_FIELD not in evaluator:
            continue
        path, source = evaluator.get(INCEPTION_FIELD), f'config key {INCEPTION_FIELD}'
        if not path:
            path, source = os.environ.get(INCEPTION_ENV) or None, f'${INCEPTION_ENV}'
        if path and not os.path.isfile(path):
            missing.append(Missing(
                'InceptionV3 weights for FID/KID', path,
                f"named by {source}: put torch-fidelity's weights-inception-2015-12-05-"
                f'6726825d.pth state dict there (fusionbench never downloads), or unset {source} '
                'to use the surrogate feature extractor (its numbers are labelled surrogate)'))
    return missing


def resolve_paths(cfg: Any) -> Any:
    """Rewrite ``cfg``'s data roots and weights paths in place (see the module doc); return it."""
    for evaluator in _evaluators(cfg):
        if isinstance(evaluator.get(INCEPTION_FIELD), str):
            evaluator[INCEPTION_FIELD] = resolve_path(evaluator[INCEPTION_FIELD])
    for loader in LOADERS:
        for dataset in datasets_in((cfg.get(loader) or {}).get('dataset')):
            if isinstance(dataset.get('data_root'), str):
                dataset['data_root'] = resolve_path(dataset['data_root'])
    for node, key in _weights_fields(cfg.get('model')):
        node[key] = resolve_path(node[key])
    if isinstance(cfg.get('load_from'), str):
        cfg['load_from'] = resolve_path(cfg['load_from'])
    return cfg


# ----------------------------------------------------------------------------- checks
def _dataset_class(name: str):
    from fusionbench import registry
    try:
        return registry.DATASETS.get(name)
    except Exception:  # noqa: BLE001 - an unknown type is the Runner's error, not ours
        return None


def _dataset_missing(dataset: dict) -> list[Missing]:
    kind = str(dataset.get('type', ''))
    root = dataset.get('data_root')
    if kind in GENERATED or not isinstance(root, str):
        return []
    cls = _dataset_class(kind)
    label, how = DATASET_HINTS.get(kind, (kind or 'data set', getattr(cls, 'LAYOUT', '') or
                                          'see the data set class for its layout'))
    if not os.path.isdir(root):
        return [Missing(f'{label} root', root, how.format(root=root))]
    splits = getattr(cls, 'SPLITS', {}) or {}
    split = dataset.get('split', 'train')
    if split not in splits:
        return []
    target = os.path.join(root, splits[split])
    missing = []
    if os.path.splitext(splits[split])[1]:  # a list file of ids
        if not os.path.isfile(target):
            missing.append(Missing(f'{label} {split} list', target,
                                   f'write the split list there ({how.format(root=root)})'))
        else:
            missing += _list_file_problems(target, f'{label} {split} list', how.format(root=root))
        folders = [os.path.join(root, m) for m in dataset.get('modalities') or ()]
        if kind == 'NYUDv2Dataset':
            masks = 'masks13' if dataset.get('num_classes') == 13 and os.path.isdir(
                os.path.join(root, 'masks13')) else 'masks'
            folders.append(os.path.join(root, masks))
    else:  # a folder per split, one subfolder per modality
        folders = [target] if not os.path.isdir(target) else [
            os.path.join(target, m) for m in (*(dataset.get('modalities') or ()),
                                              getattr(cls, 'LABEL_DIR', 'label'))]
    for folder in folders:
        if not os.path.isdir(folder):
            missing.append(Missing(f'{label} folder', folder, how.format(root=root)))
    return missing


def _list_file_problems(path: str, what: str, how: str) -> list[Missing]:
    """An existing list file that lists nothing, or is not UTF-8 text, is as good as missing."""
    from fusionbench.data.errors import DataError
    from fusionbench.data.fileio import read_text_lines

    try:
        lines = read_text_lines(path)
    except (DataError, OSError) as err:
        return [Missing(what, path, f'{err} ({how})')]
    if not any(line.split() and not line.split()[0].startswith('#') for line in lines):
        return [Missing(f'{what} (empty)', path,
                        f'the file lists no samples: write one sample id a line ({how})')]
    return []


def _weights_missing(path: str) -> list[Missing]:
    if os.path.isfile(path):
        return []
    arch = TORCHVISION_WEIGHTS.get(os.path.basename(path))
    if arch:
        hint = (f"save torchvision's ImageNet {arch} state dict there, e.g. "
                f"`torch.save(torchvision.models.{arch}(weights='IMAGENET1K_V1').state_dict(), "
                f"'{path}')` on a machine with internet (fusionbench never downloads)")
    else:
        hint = 'put the checkpoint there (fusionbench never downloads weights)'
    return [Missing('ImageNet weights' if arch else 'weights', path, hint)]


def find_missing(cfg: Any, resolve: bool = True) -> list[Missing]:
    """Every missing input of ``cfg`` (its paths resolved first unless ``resolve=False``)."""
    if resolve:
        import copy
        cfg = resolve_paths(copy.deepcopy(cfg))
    missing: list[Missing] = []
    for loader in LOADERS:
        for dataset in datasets_in((cfg.get(loader) or {}).get('dataset')):
            missing += _dataset_missing(dataset)
    for node, key in _weights_fields(cfg.get('model')):
        missing += _weights_missing(node[key])
    if isinstance(cfg.get('load_from'), str):
        missing += _weights_missing(cfg['load_from'])
    missing += _inception_missing(cfg)
    return unique(missing)


def unique(missing: Iterable[Missing]) -> list[Missing]:
    """``missing`` without repeats (first occurrence order)."""
    return list(dict.fromkeys(missing))


def format_missing(missing: list[Missing], what: str = 'the run') -> str:
    """First line: the count and the first item; then one line per missing input."""
    head = f'{len(missing)} missing input(s) for {what}; first: {missing[0]}'
    return '\n'.join([head, *(f'  {m}' for m in missing)])


def prepare(cfg: Any, what: str = 'the run') -> Any:
    """Resolve ``cfg``'s paths in place and raise :class:`PreflightError` if inputs are missing."""
    resolve_paths(cfg)
    missing = find_missing(cfg, resolve=False)
    if missing:
        raise PreflightError(format_missing(missing, what))
    return cfg


def roots_line() -> str:
    """Where ``data/`` and ``checkpoints/`` point now."""
    return (f'data/ = {data_root()} (${DATA_ENV}), checkpoints/ = {weights_root()} '
            f'(${WEIGHTS_ENV})')


# ----------------------------------------------------------------------------- targets
def config_files(folder: str) -> list[str]:
    """The leaf configs under ``folder`` (recursively; ``_base_`` folders skipped), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d != '_base_')
        found += [os.path.join(dirpath, f) for f in filenames if f.endswith('.py')]
    return sorted(found)


def check_target(target: str, protocol: str = 'paper') -> tuple[int, list[Missing]]:
    """``(number of configs checked, missing inputs)`` of a config file, a folder of configs
    (e.g. ``configs/paper``) or a registered table (its every cell) under ``protocol``."""
    from fusionbench import registry
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.config_check import resolve_config

    proto = get_protocol(protocol)
    if target in registry.list_names(registry.TABLES):
        from fusionbench.experiments.tables import get_table
        configs = [(cell.config, cell.overrides) for _, _, cell in get_table(target).cells()]
    else:
        folder = next((f for f in (target, os.path.join(CONFIG_ROOT, target),
                                   os.path.join(REPO_ROOT, target)) if os.path.isdir(f)), None)
        configs = ([(path, {}) for path in config_files(folder)] if folder is not None
                   else [(target, {})])
    missing: list[Missing] = []
    for config, overrides in configs:
        missing += find_missing(resolve_config(config, proto, seed=0, overrides=overrides))
    return len(configs), unique(missing)
