"""The pinned stack's workarounds (fusionbench.compat), one test each."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from fusionbench import compat


def test_mmcv_ext_stub_lets_mmseg_models_import_and_ops_fail_loudly():
    assert compat.install_mmcv_ext_stub() is True
    import mmcv._ext as ext
    import mmseg.models  # noqa: F401  (asserts that mmcv.ops' symbols exist in mmcv._ext)

    with pytest.raises(NotImplementedError, match='roi_align'):
        ext.roi_align_forward(torch.zeros(1))


def _mmengine_like_checkpoint():
    from mmengine.config import ConfigDict
    from mmengine.logging import HistoryBuffer

    buffer = HistoryBuffer()
    buffer.update(1.5)
    return {
        'state_dict': {'w': torch.ones(2)},
        'message_hub': {'log_scalars': {'loss': buffer}},
        'meta': {'seed': np.int64(3), 'cfg': ConfigDict(a=1), 'arr': np.arange(3, dtype=np.float32),
                 'dtype': np.dtype('float32')},
    }


def test_mmengine_checkpoint_loads_weights_only(tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save(_mmengine_like_checkpoint(), path)
    loaded = compat.load_checkpoint(str(path))
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))
    assert loaded['message_hub']['log_scalars']['loss'].mean() == 1.5
    assert loaded['meta']['seed'] == 3 and loaded['meta']['cfg'].a == 1


def test_real_mmengine_runner_checkpoint_loads(tmp_path):
    from mmengine.runner import save_checkpoint
    from mmengine.logging import MessageHub

    hub = MessageHub.get_instance('compat-test')
    hub.update_scalar('train/loss', 0.5)
    save_checkpoint({'state_dict': {'w': torch.zeros(1)}, 'message_hub': hub.state_dict(),
                     'meta': {'epoch': np.int64(1)}}, str(tmp_path / 'c.pth'))
    assert 'message_hub' in compat.load_checkpoint(str(tmp_path / 'c.pth'))


class _Evil:
    def __reduce__(self):
        return (os.system, ('true',))


def test_weights_only_stays_on_for_other_globals(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        compat.load_checkpoint(str(path))


def test_getattr_allow_list_is_restricted_to_history_buffer_statistics():
    from mmengine.logging import HistoryBuffer

    assert compat.history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        compat.history_buffer_getattr(os, 'system')


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        compat.load_checkpoint(str(tmp_path / 'nope.pth'))


def test_distributed_init_is_a_no_op_outside_torchrun(monkeypatch):
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    assert compat.init_distributed() is False


def test_distributed_init_uses_gloo_on_cpu(monkeypatch, tmp_path):
    import torch.distributed as dist

    if torch.cuda.is_available():
        pytest.skip('checks the CPU path')
    monkeypatch.setenv('WORLD_SIZE', '2')
    calls = {}
    monkeypatch.setattr(dist, 'is_initialized', lambda: False)
    monkeypatch.setattr(dist, 'init_process_group',
                        lambda backend, timeout: calls.setdefault('backend', backend))
    assert compat.init_distributed() is True
    assert calls['backend'] == 'gloo'
    assert compat.model_wrapper_cfg()['device_ids'] is None


def test_closed_log_files_are_dropped_so_init_weights_works_outside_a_runner(tmp_path):
    import logging

    from mmengine.logging import MMLogger

    from fusionbench import compat
    logger = MMLogger.get_instance(f'closed-{tmp_path.name}', log_file=str(tmp_path / 'x.log'))
    handler = next(h for h in logger.handlers if isinstance(h, logging.FileHandler))
    handler.close()  # what a finished, cleaned-up run leaves behind: stream is None
    assert handler.stream is None
    assert compat.drop_closed_log_files() >= 1
    assert handler not in logger.handlers
    assert MMLogger.get_current_instance() is logger
    from mmengine.model import BaseModule
    module = BaseModule(init_cfg=dict(type='Constant', val=0.0, layer='Linear'))
    module.fc = torch.nn.Linear(2, 2)
    module.init_weights()  # writes its init summary to the current logger's file handlers


def test_known_noise_of_the_stack_is_dropped_and_other_warnings_kept():
    import logging

    from mmengine.logging import MMLogger, print_log

    from fusionbench import compat
    logger = MMLogger.get_instance(f'noise-test-{id(object())}', log_level='INFO')
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger.addHandler(Keep())
    compat.silence_known_noise(logger)
    compat.silence_known_noise(logger)  # idempotent
    assert sum(isinstance(f, compat.KnownNoiseFilter) for f in logger.filters) == 1
    print_log('The prefix is not set in metric class MultiHeadIoUMetric.', logger=logger,
              level=logging.WARNING)
    print_log('Did not find last_checkpoint to be resumed.', logger=logger)
    print_log('a real warning', logger=logger, level=logging.WARNING)
    assert records == ['a real warning']
