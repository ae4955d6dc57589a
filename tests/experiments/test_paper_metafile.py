"""configs/paper/metafile.yaml lists every paper config and agrees with reported/table3.csv."""
import csv
import json
import os

import yaml

from fusionbench.experiments.tables import MULTISCALE_TEST, get_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _metafile():
    with open(os.path.join(ROOT, 'configs', 'paper', 'metafile.yaml')) as f:
        return yaml.safe_load(f)


def _plain(value):
    """Tuples as lists, as YAML writes them."""
    return json.loads(json.dumps(value))


def test_metafile_lists_every_paper_config():
    # one model per config file, and one `_ms` model per config: the file + MULTISCALE_TEST
    models = _metafile()['Models']
    folder = os.path.join(ROOT, 'configs', 'paper')
    configs = {f[:-3] for f in os.listdir(folder) if f.endswith('.py')}
    assert {m['Name'] for m in models if 'Overrides' not in m} == configs
    assert {m['Name'] for m in models if 'Overrides' in m} == {f'{c}_ms' for c in configs}
    for model in models:
        assert os.path.isfile(os.path.join(ROOT, model['Config'])), model['Config']
        stem = os.path.basename(model['Config'])[:-3]
        if 'Overrides' in model:
            assert model['Name'] == f'{stem}_ms'
            assert model['Overrides'] == _plain(MULTISCALE_TEST), model['Name']
        else:
            assert model['Name'] == stem


def test_metafile_models_are_table3_cells():
    # every Table 3 row with a paper row is the metafile model naming that row: same config file,
    # same overrides
    by_row = {(m['Paper']['Row'], m['Dataset'].startswith('NYUDv2')): m
              for m in _metafile()['Models'] if 'Paper' in m}
    checked = 0
    for table in ('table3', 'table3_sunrgbd'):
        for row, _, cell in get_table(table).cells():
            if row.paper_row is None:
                continue
            model = by_row[(row.paper_row, table == 'table3')]
            assert model['Config'] == f'configs/{cell.config}', row.id
            assert model.get('Overrides', {}) == _plain(cell.overrides), row.id
            checked += 1
    assert checked == 12


def test_metafile_numbers_are_the_paper_csv():
    with open(os.path.join(ROOT, 'reported', 'table3.csv')) as f:
        rows = {r['row']: r for r in csv.DictReader(f)}
    checked = 0
    for model in _metafile()['Models']:
        if 'Results' not in model:
            continue
        prefix = 'nyu' if model['Dataset'].startswith('NYUDv2') else 'sun'
        row = rows[model['Paper']['Row']]
        for metric, column in (('aAcc', 'pixel_acc'), ('mAcc', 'mean_acc'), ('mIoU', 'miou')):
            value = row[f'{prefix}_{column}']
            assert model['Results']['Metrics'].get(metric) == (float(value) if value else None), \
                (model['Name'], metric)
            checked += 1
    assert checked == 36  # 12 models with a reported row (6 per data set), 3 metrics each
