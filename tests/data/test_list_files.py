"""List files: a UTF-8 byte-order mark is read, other encodings fail naming the file, and
preflight reports an empty list as a problem."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fusionbench.cli import main
from fusionbench.data.errors import DataError
from fusionbench.data.nyudv2 import NYUDv2Dataset

from .fixtures import write_nyu_layout

CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'


def write_list_layout(root: Path, list_bytes: bytes) -> Path:
    write_nyu_layout(root)
    (root / 'val.txt').write_bytes(list_bytes)
    return root


def test_list_file_with_a_bom_reads_the_ids(tmp_path):
    root = write_list_layout(tmp_path, '\ufeff000001\n000002\n'.encode('utf-8'))
    dataset = NYUDv2Dataset(str(root), split='val')
    assert [d['sample_id'] for d in dataset.list_samples()] == ['000001', '000002']
    assert Path(dataset.list_samples()[0]['modality_paths']['rgb']).name == '000001.png'


def test_non_utf8_list_file_names_the_file(tmp_path):
    root = write_list_layout(tmp_path, 'caf\xe9\n000001\n'.encode('latin-1'))
    with pytest.raises(DataError) as info:
        NYUDv2Dataset(str(root), split='val')
    assert str(info.value) == (f"list file {root / 'val.txt'} is not UTF-8 text (byte 0xe9 at "
                               'offset 3); save it as UTF-8')


def test_preflight_reports_an_empty_list_file(tmp_path, capsys, monkeypatch):
    data = tmp_path / 'data'
    write_list_layout(data / 'nyudv2', b'# no ids yet\n\n')
    (data / 'nyudv2' / 'train.txt').write_text('000001\n')
    monkeypatch.setenv('FUSIONBENCH_DATA', str(data))
    weights = tmp_path / 'weights'
    weights.mkdir()
    torch.save({}, weights / 'resnet101-63fe2227.pth')
    monkeypatch.setenv('FUSIONBENCH_WEIGHTS', str(weights))
    assert main(['preflight', CEN]) == 1
    out = capsys.readouterr().out
    assert (f"missing NYUDv2 val list (empty) {data / 'nyudv2' / 'val.txt'}: the file lists no "
            'samples: write one sample id a line') in out
    assert 'all inputs present' not in out
