"""``python -m fusionbench run table2 --protocol smoke`` end to end on a subset of rows.

One uni-modal row (its commonly-used columns read its only cell) and one baseline in both
settings (separate networks merged after stage 2; shared convs with every stream kept): records,
the table CSV, the plots and the report. The whole table takes one run per cell (35).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from fusionbench.cli import main
from fusionbench.experiments.outputs import render_reports

ROWS = ['unimodal_depth', 'concat_early']


@pytest.mark.slow
def test_run_table2_smoke_subset_end_to_end(one_thread):
    assert main(['run', 'table2', '--protocol', 'smoke', '--seeds', '1', '--rows', *ROWS]) == 0
    out = Path(os.environ['FUSIONBENCH_RESULTS']) / 'smoke'
    records = sorted((out / 'runs' / 'table2').glob('*.json'))
    assert len(records) == 3
    df = pd.read_csv(out / 'table2.csv').set_index('row')
    assert df.loc[ROWS, 'n_seeds'].tolist() == [1, 1]
    uni, concat = df.loc['unimodal_depth'], df.loc['concat_early']
    assert uni['common_miou_mean'] == uni['depth_miou_mean']  # read from the only cell
    assert pd.isna(uni['rgb_miou_mean']) and pd.isna(uni['ensemble_miou_mean'])
    assert concat[['common_miou_mean', 'rgb_miou_mean', 'depth_miou_mean',
                   'ensemble_miou_mean']].notna().all()
    # two encoders up to stage 2 > shared convs (+ the fusion conv) >= one network (0.1 M steps)
    assert concat['params_common_m'] > concat['params_same_m'] >= uni['params_same_m']
    assert concat['method'] == 'concat' and concat['stage'] == 'early'
    same = next(r for r in map(json.loads, (p.read_text() for p in records))
                if r['row'] == 'concat_early' and r['cell'] == 'same')
    assert same['params']['fusion'] == 2 * 16 * 16 + 2 * 2 * 16  # 1×1 conv 2C→C + 2 BNs, C = 16
    for name in ('table2.png', 'table2_miou_vs_fusion_params.png',
                 'table2_common_miou_vs_fusion_params.png'):
        assert (out / 'plots' / name).is_file()
    written = render_reports('smoke')
    assert written[-1].name == 'README.md' and out / 'table2.csv' in written
    report = written[-2].read_text(encoding='utf-8')
    assert 'Table 2' in report and 'table2.cen_outperforms_in_both_settings' in report
    assert 'table2.cen_outperforms_average' in report
