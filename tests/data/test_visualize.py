"""Label colouring, depth colour map, sample panels, PNG saving."""
from __future__ import annotations

import numpy as np
import pytest

from fusionbench.data.base import voc_palette
from fusionbench.data.fileio import read_image
from fusionbench.data.visualize import colorize_label, depth_to_rgb, sample_panel, save_png


def test_colorize_label():
    palette = voc_palette(3)
    label = np.array([[0, 1], [2, 255]])
    out = colorize_label(label, palette)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert tuple(out[0, 1]) == palette[1] and tuple(out[1, 1]) == (0, 0, 0)
    assert len(set(map(tuple, voc_palette(40)))) == 40 and (0, 0, 0) not in voc_palette(40)
    with pytest.raises(ValueError, match='outside the palette'):
        colorize_label(np.array([[3]]), palette)


def test_depth_to_rgb_holes_black():
    depth = np.linspace(0.5, 8.0, 20, dtype=np.float32).reshape(4, 5)
    depth[0, 0] = 0
    depth[1, 1] = np.nan
    out = depth_to_rgb(depth[..., None])
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (0, 0, 0) and tuple(out[1, 1]) == (0, 0, 0)
    assert out[3, 4].any() and tuple(out[3, 4]) != tuple(out[0, 1])   # far differs from near
    assert not depth_to_rgb(np.zeros((2, 2))).any()


def test_sample_panel_and_save(tmp_path):
    modalities = {'rgb': np.full((6, 8, 3), 200, np.uint8),
                  'depth': np.random.uniform(1, 3, (6, 8, 1)).astype(np.float32),
                  'normal': np.random.uniform(-1, 1, (6, 8, 3)).astype(np.float32)}
    label = np.random.randint(0, 5, (6, 8))
    panel = sample_panel(modalities, label, prediction=label, palette=voc_palette(5))
    assert panel.shape == (6, 5 * 8, 3) and panel.dtype == np.uint8
    np.testing.assert_array_equal(panel[:, 32:], panel[:, 24:32])     # label == prediction
    np.testing.assert_array_equal(panel[:, :8], modalities['rgb'])
    with pytest.raises(ValueError, match='palette'):
        sample_panel(modalities, label)
    save_png(tmp_path / 'sub' / 'panel.png', panel)
    np.testing.assert_array_equal(read_image(tmp_path / 'sub' / 'panel.png'), panel)
