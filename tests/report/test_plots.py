"""Figures are written as non-empty PNGs and say when the data are synthetic."""
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from fusionbench.report.plots import plot_heads, plot_metric_vs_params

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def aggregated(synthetic=True):
    """A small table in :func:`aggregate`'s layout, plus method / stage columns."""
    mean = np.array([47.0, 48.0, 50.0, np.nan])
    return pd.DataFrame({
        'row': ['concat_early', 'self_att_all', 'cen', 'average_all'],
        'label': ['Concat (early)', 'Self-att. (all)', 'CEN', 'Average (all)'],
        'n_seeds': [3, 3, 3, 0], 'n_failed': [0, 0, 0, 0],
        'ensemble_miou_mean': mean, 'ensemble_miou_ci95_t_low': mean - 0.5,
        'ensemble_miou_ci95_t_high': mean + 0.7, 'ensemble_miou_std': [0.4] * 3 + [np.nan],
        'params_fusion_m': [0.6, 112.8, 0.0, np.nan], 'method': ['concat', 'self_att', 'cen', None],
        'stage': ['early', 'all', None, None], 'synthetic': [synthetic] * 3 + [False]})


SPEC = SimpleNamespace(
    name='table2', metrics=[('ensemble_miou', 'ensemble', 'mIoU')],
    rows=[SimpleNamespace(id=r, label=r, paper_row=r if r != 'average_all' else None, note='')
          for r in ('concat_early', 'self_att_all', 'cen', 'average_all')],
    paper_columns={'ensemble_miou': 'same_ensemble_miou'}, constant_columns={}, claims=[])


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000


def test_plot_heads_writes_a_png(tmp_path):
    path = plot_heads(aggregated(), SPEC, tmp_path / 'plots' / 'table2_heads.png')
    assert path == tmp_path / 'plots' / 'table2_heads.png'
    assert_png(path)


def test_plot_metric_vs_params_writes_a_png(tmp_path):
    path = plot_metric_vs_params(aggregated(), 'params_fusion_m', 'ensemble_miou', 'method',
                                 'stage', tmp_path / 'scatter.png')
    assert_png(path)


def test_titles_say_synthetic(tmp_path, monkeypatch):
    titles = []
    monkeypatch.setattr(matplotlib.axes.Axes, 'set_title',
                        lambda self, text, *a, **k: titles.append(text))
    plot_heads(aggregated(synthetic=True), SPEC, tmp_path / 'a.png')
    plot_heads(aggregated(synthetic=False), SPEC, tmp_path / 'b.png')
    plot_metric_vs_params(aggregated(synthetic=True), 'params_fusion_m', 'ensemble_miou',
                          'method', 'stage', tmp_path / 'c.png')
    assert ['synthetic data' in t for t in titles] == [True, False, True]


def test_missing_columns_fail_clearly(tmp_path):
    with pytest.raises(KeyError, match='hue'):
        plot_metric_vs_params(aggregated(), 'params_fusion_m', 'ensemble_miou', 'hue', 'stage',
                              tmp_path / 'x.png')


def test_pyplot_is_left_alone(tmp_path):
    import matplotlib.pyplot as plt
    before = plt.get_fignums()
    plot_heads(aggregated(), SPEC, tmp_path / 'a.png')
    assert plt.get_fignums() == before
