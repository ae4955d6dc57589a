"""Every data problem fails early with ONE line naming the file or sample."""
from __future__ import annotations

import numpy as np
import pytest

from fusionbench.data.errors import DataError
from fusionbench.data.fileio import write_png
from fusionbench.data.nyudv2 import NYUDv2Dataset, write_label_encoding

from .fixtures import write_nyu_layout

LOAD = [dict(type='LoadMultiModalFromFiles'), dict(type='LoadSegLabel')]


def raises_one_line(match: str):
    """``pytest.raises(DataError)`` that also checks the message is one line."""
    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(DataError, match=match)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            suppressed = self.ctx.__exit__(*exc)
            assert '\n' not in str(self.info.value), str(self.info.value)
            assert isinstance(self.info.value, ValueError)
            return suppressed
    return _Check()


@pytest.fixture
def nyu(tmp_path):
    write_nyu_layout(tmp_path)
    return tmp_path


def test_missing_data_root(tmp_path):
    missing = tmp_path / 'nowhere'
    with raises_one_line(rf'data root not found: {missing}.*expected rgb/, depth/'):
        NYUDv2Dataset(missing, split='val')


def test_missing_list_file(nyu):
    with raises_one_line(r'list file not found: .*train\.txt \(expected one NYU id a line'):
        NYUDv2Dataset(nyu, split='train')


def test_unknown_split_and_modality(nyu):
    with raises_one_line(r"unknown split 'validation'"):
        NYUDv2Dataset(nyu, split='validation')
    with raises_one_line(r"bad modalities \['rgb', 'thermal'\]"):
        NYUDv2Dataset(nyu, split='val', modalities=('rgb', 'thermal'))


def test_list_entry_with_missing_file(nyu):
    (nyu / 'depth' / '000002.png').unlink()
    with raises_one_line(r'missing file .*depth[/\\]000002\.png: sample 000002 is listed in '
                         r'.*val\.txt'):
        NYUDv2Dataset(nyu, split='val')


def test_malformed_list_line(nyu):
    (nyu / 'val.txt').write_text('000001\nrgb/000002.png depth/000002.png masks/000002.png\n')
    with raises_one_line(r'val\.txt:2: expected'):
        NYUDv2Dataset(nyu, split='val')


def test_modality_sizes_disagree(nyu):
    write_png(nyu / 'depth' / '000001.png', np.ones((12, 32), np.uint16))
    dataset = NYUDv2Dataset(nyu, split='val', pipeline=LOAD)
    with raises_one_line(r'sample 000001: modality sizes disagree: rgb 24x32 .*depth 12x32'):
        dataset[0]


def test_label_size_disagrees(nyu):
    write_png(nyu / 'masks' / '000003.png', np.zeros((24, 30), np.uint8))
    dataset = NYUDv2Dataset(nyu, split='val', pipeline=LOAD)
    with raises_one_line(r'sample 000003: label .*000003\.png does not match .*label 24x30'):
        dataset[2]


def test_label_values_out_of_range(nyu):
    mask = np.zeros((24, 32), np.uint8)
    mask[0, :3] = (40, 41, 200)
    write_png(nyu / 'masks' / '000002.png', mask)
    write_label_encoding(str(nyu), 'masks', 40)  # recorded: the per-frame range check acts
    dataset = NYUDv2Dataset(nyu, split='val', pipeline=LOAD)
    with raises_one_line(r'sample 000002: label .*000002\.png has values outside \[0, 40\) '
                         r'and 255.*: 40, 41, 200'):
        dataset[1]


def test_colour_label(nyu):
    write_png(nyu / 'masks' / '000001.png', np.zeros((24, 32, 3), np.uint8))
    with raises_one_line(r'000001\.png has 3 channels'):
        NYUDv2Dataset(nyu, split='val', pipeline=LOAD)[0]


def test_truncated_png(nyu):
    path = nyu / 'rgb' / '000002.png'
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    dataset = NYUDv2Dataset(nyu, split='val', pipeline=LOAD)
    with raises_one_line(r'corrupt or truncated image file .*rgb[/\\]000002\.png'):
        dataset[1]
    path.write_bytes(b'not a png at all')
    with raises_one_line(r'corrupt or truncated image file .*000002\.png'):
        dataset[1]


def test_eight_bit_depth(nyu):
    write_png(nyu / 'depth' / '000003.png', np.full((24, 32), 50, np.uint8))
    dataset = NYUDv2Dataset(nyu, split='val', pipeline=LOAD)
    with raises_one_line(r'depth file .*depth[/\\]000003\.png: expected a 16-bit image, found '
                         r'8-bit \(uint8\)'):
        dataset[2]


def test_error_messages_are_flattened():
    assert str(DataError('a\nb')) == 'a b'
