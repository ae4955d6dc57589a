"""The grid's progress: tqdm's bar on a terminal (log lines above it, never inside it), plain
lines elsewhere, the ETA from the cells run in this invocation."""
from __future__ import annotations

import io
import logging
import re
import sys
import time

import pytest

from fusionbench.experiments.progress import GridProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_eta_counts_only_the_cells_run_now_and_no_terminal_means_quiet():
    stream, clock = io.StringIO(), Clock()
    progress = GridProgress('table1', stream=stream, clock=clock)
    progress.start(4, done=1)  # one cell already done: not counted in the rate
    clock.now = 10.0
    progress.advance('cen/common/seed0', 'ok')
    # 1 cell in 10 s, 2 left -> 20 s
    assert progress.line() == 'table1: 2/4 cells [00:10<00:20], ran 1, last cen/common/seed0 ok'
    clock.now = 25.0
    progress.advance('concat/early/seed0', 'failed')
    # 2 cells in 25 s, 1 left -> 12.5 s (shown 00:12)
    assert progress.line() == ('table1: 3/4 cells [00:25<00:12], ran 2, 1 failed, '
                               'last concat/early/seed0 failed')
    progress.close()
    assert stream.getvalue() == '' and not progress.shows_bar  # stderr keeps one-line errors


def test_without_a_terminal_plain_lines_show_the_cells_in_training(tmp_path):
    import json

    running, waiting = tmp_path / 'cen', tmp_path / 'unshared'
    logs = running / '20261130_120000' / 'vis_data'
    logs.mkdir(parents=True)
    (logs / 'scalars.json').write_text(
        json.dumps({'lr': 0.01, 'loss': 1.5, 'iter': 150}) + '\n'
        + json.dumps({'lr': 0.01, 'loss': 0.8125, 'iter': 300}) + '\n' + '{"lr": 0.0')  # partial
    stream, clock = io.StringIO(), Clock()
    progress = GridProgress('table1', stream=stream, clock=clock, plain_every_s=0.05)
    progress.start(3, done=1, watch={'cen/main/seed0': (str(running), 600),
                                     'unshared/main/seed0': (str(waiting), 600)})
    assert progress.plain_lines() == ['table1: 1/3 cells [00:00<?], ran 0',
                                      '  cen/main/seed0: iteration 300/600, loss 0.8125']
    deadline = time.monotonic() + 5
    while 'iteration 300/600' not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)  # the plain lines come from a thread, every plain_every_s
    assert '  cen/main/seed0: iteration 300/600, loss 0.8125\n' in stream.getvalue()
    progress.advance('cen/main/seed0', 'ok')  # a finished cell is no longer shown
    assert progress.plain_lines()[1:] == []
    progress.close()
    written = stream.getvalue()
    time.sleep(0.1)
    assert stream.getvalue() == written  # closed: no more lines


def test_before_any_cell_ran_the_eta_is_unknown():
    progress = GridProgress('t', stream=io.StringIO(), clock=Clock())
    progress.start(3, done=2)
    assert progress.line() == 't: 2/3 cells [00:00<?], ran 0'


def test_on_a_terminal_log_lines_go_above_the_bar_and_the_streams_come_back(monkeypatch):
    from mmengine.logging import MMLogger

    terminal = Terminal()
    monkeypatch.setattr(sys, 'stdout', terminal)  # the bar and the logs share one terminal
    monkeypatch.setattr(sys, 'stderr', terminal)
    with GridProgress('table1', stream=terminal) as progress:
        progress.start(3, done=1)
        print('a print')
        # a logger made while the bar is shown, as each run's mmengine logger is
        logger = MMLogger.get_instance(f'progress-test-{id(terminal)}', log_level='INFO')
        logger.info('an mmengine line')
        handler = logging.StreamHandler(sys.stderr)
        plain = logging.getLogger(f'progress-test-{id(terminal)}')
        plain.addHandler(handler)
        plain.warning('a warning line')
        plain.removeHandler(handler)
        sys.stdout.write('partial ')
        progress.advance('cen/common/seed0', 'ok')
        sys.stdout.write('line\n')
        progress.advance('cen/common/seed1', 'ok')
    assert sys.stdout is terminal and sys.stderr is terminal
    out = terminal.getvalue()
    segments = [s.strip() for s in re.split(r'[\r\n]', out)]
    for text in ('a print', 'a warning line', 'partial line'):
        assert text in segments, (text, out)
    assert any(s.endswith('an mmengine line') for s in segments)
    # no log text ever shares a line with the bar
    assert not [s for s in segments if 'table1:' in s and ('print' in s or 'line' in s)]
    assert '3/3' in segments[-2] and 'ran 2, last cen/common/seed1 ok' in segments[-2]
    assert out.endswith('\n')


def test_an_error_inside_the_grid_gives_the_streams_back(monkeypatch):
    terminal = Terminal()
    stdout, stderr = sys.stdout, sys.stderr
    with pytest.raises(RuntimeError, match='boom'):
        with GridProgress('t', stream=terminal) as progress:
            progress.start(2)
            assert sys.stdout is not stdout
            print('half a line', end='')
            raise RuntimeError('boom')
    assert sys.stdout is stdout and sys.stderr is stderr
    progress.close()  # idempotent


def test_a_worker_under_the_bar_clears_the_terminal_line_before_each_line():
    from fusionbench.experiments.progress import CLEAR_LINE, ClearLineFirst
    terminal = Terminal()
    worker = ClearLineFirst(terminal)
    worker.write('one\ntw')
    assert terminal.getvalue() == CLEAR_LINE + 'one\n'
    worker.write('o\nthree\n')
    assert terminal.getvalue() == ''.join(CLEAR_LINE + s for s in ('one\n', 'two\n', 'three\n'))
    assert worker.isatty()


def test_the_bar_is_redrawn_between_cells_and_workers_are_told_about_it():
    terminal = Terminal()
    with GridProgress('t', stream=terminal, refresh_s=0.01) as progress:
        assert not progress.shows_bar
        progress.start(2)
        assert progress.shows_bar
        before = terminal.getvalue().count('\r')
        deadline = time.monotonic() + 5
        while terminal.getvalue().count('\r') < before + 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert terminal.getvalue().count('\r') >= before + 3  # redrawn with no cell finished
    assert not progress.shows_bar
