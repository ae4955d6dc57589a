"""configs/paper/metafile.yaml lists every paper config and agrees with results/paper/table3.csv."""
import csv
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _metafile():
    with open(os.path.join(ROOT, 'configs', 'paper', 'metafile.yaml')) as f:
        return yaml.safe_load(f)


def test_metafile_lists_every_paper_config():
    names = {m['Name'] for m in _metafile()['Models']}
    folder = os.path.join(ROOT, 'configs', 'paper')
    configs = {f[:-3] for f in os.listdir(folder) if f.endswith('.py')}
    assert names == configs
    for model in _metafile()['Models']:
        assert os.path.isfile(os.path.join(ROOT, model['Config'])), model['Config']


def test_metafile_numbers_are_the_paper_csv():
    with open(os.path.join(ROOT, 'results', 'paper', 'table3.csv')) as f:
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
    assert checked == 36  # 12 configs with a reported row (6 per data set), 3 metrics each
