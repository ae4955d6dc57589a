"""The qualitative figure of a segmentation table: inputs, ground truth and predictions.

:func:`plot_qualitative` draws a :class:`~fusionbench.analysis.qualitative.QualitativeGrid`:
one row per fixed test scene; columns: each input modality (RGB as captured, depth colour-mapped
near = blue to far = red, holes black), the ground truth, then one column per prediction (a
table row's ensemble, or each head of one row). Class maps use the split's fixed palette
(unlabelled pixels black), and each prediction panel states its pixel accuracy on that scene
(labelled pixels only). The legend lists the classes present in the panels. Written as
``results/<protocol>/plots/<table>_qualitative.{png,svg,pdf}`` by the ``qualitative`` command.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from fusionbench.analysis.qualitative import QualitativeGrid
from fusionbench.data.visualize import colorize_label, depth_to_rgb, sample_panel
from fusionbench.report.figures import save_figure

#: Inches per panel side (our choice: a 4 × 10 grid stays within a page width at 300 dpi).
PANEL_IN = 1.45

#: Modality column titles (others are shown by their name).
_TITLES = {'rgb': 'RGB input', 'depth': 'depth input', 'depth_zbuffer': 'depth input'}


def plot_path(results_dir: str | Path, table: str) -> Path:
    """``<results_dir>/plots/<table>_qualitative.png`` (with ``.svg`` / ``.pdf`` beside it)."""
    return Path(results_dir) / 'plots' / f'{table}_qualitative.png'


def input_tile(name: str, array: np.ndarray) -> np.ndarray:
    """One input ``[H, W, C]`` (before normalisation) as ``uint8 [H, W, 3]``: RGB clipped to
    ``0..255``, depth colour-mapped (:func:`~fusionbench.data.visualize.depth_to_rgb`), other
    modalities min-max scaled (:func:`~fusionbench.data.visualize.sample_panel`)."""
    array = np.asarray(array)
    if name == 'rgb':
        return np.clip(np.rint(array), 0, 255).astype(np.uint8)[..., :3]
    if 'depth' in name:
        return depth_to_rgb(array)
    return sample_panel({name: array})


def wrap_id(text: str, width: int = 20) -> str:
    """A row id over lines of at most ``width`` characters, broken after underscores (a
    longer part stays whole): ``'self_attention_middle'`` -> ``'self_attention_'``,
    ``'middle'``. Our choice: 20 characters of 8 pt fit a panel's width."""
    lines = ['']
    for part in text.replace('_', '_\0').split('\0'):
        if lines[-1] and len(lines[-1]) + len(part) > width:
            lines.append('')
        lines[-1] += part
    return '\n'.join(lines)


def pixel_accuracy(label: np.ndarray, prediction: np.ndarray, ignore_index: int) -> float:
    """Share of labelled pixels predicted right, in %; NaN when nothing is labelled."""
    labelled = label != ignore_index
    if not labelled.any():
        return float('nan')
    return 100.0 * float((prediction[labelled] == label[labelled]).mean())


def plot_qualitative(grid: QualitativeGrid, path: str | Path, title: str = '') -> Path:
    """Draw ``grid`` (see the module docstring) to ``path`` and its SVG and PDF copies; returns
    the PNG path. Raises ``ValueError`` (from the palette) for a class id outside it."""
    modalities = list(grid.inputs)
    titles = ([_TITLES.get(m, m) for m in modalities] + ['ground truth']
              + [f'{wrap_id(c.row)}\n{c.head}' for c in grid.columns])
    rows, cols = len(grid.indices), len(titles)
    fig = Figure(figsize=(PANEL_IN * cols, PANEL_IN * rows + 1.2), layout='constrained')
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    present: set[int] = set()
    for r in range(rows):
        label = grid.labels[r]
        tiles = [input_tile(m, grid.inputs[m][r]) for m in modalities]
        tiles.append(colorize_label(label, grid.palette))
        present.update(np.unique(label).tolist())
        notes = [''] * (len(modalities) + 1)
        for column in grid.columns:
            prediction = column.predictions[r]
            tiles.append(colorize_label(prediction, grid.palette))
            present.update(np.unique(prediction).tolist())
            notes.append(f'pixel acc. {pixel_accuracy(label, prediction, grid.ignore_index):.0f} %')
        for c, (ax, tile) in enumerate(zip(axes[r], tiles)):
            ax.imshow(tile, interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            if notes[c]:
                ax.set_xlabel(notes[c], fontsize=7, labelpad=2)
            if r == 0:
                ax.set_title(titles[c], fontsize=8)
        axes[r, 0].set_ylabel(f'{grid.scene_ids[r]}\n(test #{grid.indices[r]})', fontsize=7)
    unlabelled = grid.ignore_index in present
    handles = [Patch(facecolor=grid.palette[k] / 255.0, edgecolor='0.4', linewidth=0.5,
                     label=grid.classes[k] if k < len(grid.classes) else str(k))
               for k in sorted(present - {grid.ignore_index})]
    if unlabelled:
        handles.append(Patch(facecolor='black', label='unlabelled'))
    fig.legend(handles=handles, loc='outside lower center', ncol=min(len(handles), 8),
               fontsize=7, frameon=False, title='classes present', title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def qualitative_section(out_dir: str | Path, reports_dir: str | Path,
                        tables: Iterable[str]) -> list[str]:
    """The report's section linking each of ``tables``' qualitative figures that the
    ``qualitative`` command left in ``out_dir`` (:func:`plot_path`); [] when there is none.
    Links are relative to ``reports_dir``. The figure is not redrawn here (it needs the trained
    weights): its title names the seed, and it shows the cells as they were when it was drawn.
    """
    found = [(table, plot_path(out_dir, table)) for table in tables]
    found = [(table, path) for table, path in found if path.is_file()]
    if not found:
        return []
    lines = ['## Predictions on fixed test scenes', '',
             'Inputs, ground truth and each row\'s prediction (pixel accuracy per panel) on test '
             'scenes at fixed positions of the split, drawn by `python -m fusionbench qualitative '
             '<table>` from the trained cells (the title names the protocol and seed; run it '
             'again after retraining).', '']
    for table, path in found:
        link = Path(os.path.relpath(path, reports_dir)).as_posix()
        lines += [f'![{path.stem}]({link})', '']
    return lines


__all__ = ['PANEL_IN', 'input_tile', 'pixel_accuracy', 'plot_path', 'plot_qualitative',
           'qualitative_section', 'wrap_id']
