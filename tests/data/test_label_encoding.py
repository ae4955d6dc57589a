"""NYUDv2 label encoding: recorded by the converter, checked once per data set by the reader.

Raw NYU masks (0 = unlabelled, 1..40) read as ``label - 1`` masks are off by one in every
frame; only frames that contain class 40 failed the per-frame range check.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fusionbench.data import nyudv2
from fusionbench.data.errors import DataError
from fusionbench.data.fileio import write_png
from fusionbench.data.nyudv2 import NYUDv2Dataset, check_label_encoding, write_label_encoding

from .fixtures import write_nyu_layout

IDS = ('000001', '000002')


def write_raw_masks(root: Path, with_forty: bool) -> None:
    """Raw NYU labels: 0 = unlabelled, 1..39 (and 40 in the second frame if ``with_forty``)."""
    rng = np.random.default_rng(0)
    for k, sample_id in enumerate(IDS):
        top = 41 if with_forty and k == 1 else 40
        write_png(root / 'masks' / f'{sample_id}.png',
                  rng.integers(0, top, (24, 32)).astype(np.uint8))


def test_raw_masks_are_refused_even_without_label_40(tmp_path):
    write_nyu_layout(tmp_path, ids=IDS)
    write_raw_masks(tmp_path, with_forty=False)   # no frame holds 40: no per-frame check fires
    with pytest.raises(DataError, match=r'looks like raw NYU labels .*255 \(unlabelled\) never'):
        NYUDv2Dataset(tmp_path, split='val')


def test_raw_masks_are_refused_for_every_frame_when_one_holds_40(tmp_path):
    write_nyu_layout(tmp_path, ids=IDS)
    write_raw_masks(tmp_path, with_forty=True)
    write_png(tmp_path / 'masks' / '000001.png', np.full((24, 32), 255, np.uint8))  # has 255
    with pytest.raises(DataError, match='value 40 occurs in the 2 masks'):
        NYUDv2Dataset(tmp_path, split='val')


def test_error_is_one_line_with_the_fix(tmp_path):
    write_nyu_layout(tmp_path, ids=IDS)
    write_raw_masks(tmp_path, with_forty=False)
    with pytest.raises(DataError) as info:
        NYUDv2Dataset(tmp_path, split='val')
    message = str(info.value)
    assert '\n' not in message and 'fusionbench data prepare nyudv2' in message
    assert 'label_encoding.json' in message


def test_converted_masks_pass_the_scan_and_the_record(tmp_path, monkeypatch):
    write_nyu_layout(tmp_path, ids=IDS)
    assert NYUDv2Dataset(tmp_path, split='val').label_encoding_checked == 'scanned'
    write_label_encoding(str(tmp_path), 'masks', 40)
    reads = []
    import fusionbench.data.fileio as fileio
    real = fileio.read_image
    monkeypatch.setattr(fileio, 'read_image', lambda p: reads.append(p) or real(p))
    dataset = NYUDv2Dataset(tmp_path, split='val')
    assert dataset.label_encoding_checked == 'recorded' and reads == []  # no mask read


def test_a_record_of_another_encoding_is_refused(tmp_path):
    write_nyu_layout(tmp_path, ids=IDS)
    (tmp_path / nyudv2.LABEL_ENCODING_FILE).write_text(json.dumps(
        {'masks': {'masks': {'encoding': 'raw', 'num_classes': 40}}}))
    with pytest.raises(DataError, match="recorded as 'raw'"):
        NYUDv2Dataset(tmp_path, split='val')
    (tmp_path / nyudv2.LABEL_ENCODING_FILE).write_text('{not json')
    with pytest.raises(DataError, match='unreadable label encoding record'):
        NYUDv2Dataset(tmp_path, split='val')
    (tmp_path / nyudv2.LABEL_ENCODING_FILE).write_text(json.dumps(
        {'masks': {'masks': {'encoding': 'label-1', 'num_classes': 13}}}))
    with pytest.raises(DataError, match='recorded with 13 classes'):
        NYUDv2Dataset(tmp_path, split='val')


def test_record_keeps_other_mask_folders(tmp_path):
    write_label_encoding(str(tmp_path), 'masks', 40)
    path = write_label_encoding(str(tmp_path), 'masks13', 13)
    assert sorted(json.loads(Path(path).read_text())['masks']) == ['masks', 'masks13']
    assert check_label_encoding(str(tmp_path), 'masks13', 13, []) == 'recorded'


@pytest.mark.real_data
def test_real_raw_frames_without_label_40_are_refused(nyu_sample: Path, tmp_path):
    """The real sample's raw label40/ frames that lack class 40, copied in as masks/."""
    import shutil

    from fusionbench.data.fileio import read_image
    ids = [i for i in (nyu_sample / 'test.txt').read_text().split()
           if 40 not in np.unique(read_image(nyu_sample / 'label40' / f'{i}.png'))]
    assert ids, 'the sample has frames without class 40'
    for sample_id in ids:
        for folder, source in (('rgb', 'rgb'), ('depth', 'depth'), ('masks', 'label40')):
            (tmp_path / folder).mkdir(exist_ok=True)
            shutil.copyfile(nyu_sample / source / f'{sample_id}.png',
                            tmp_path / folder / f'{sample_id}.png')
    (tmp_path / 'val.txt').write_text('\n'.join(ids) + '\n')
    with pytest.raises(DataError, match='looks like raw NYU labels'):
        NYUDv2Dataset(tmp_path, split='val')
