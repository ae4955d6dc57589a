"""Progress of a grid (cells done / total, ran / failed, elapsed, ETA), drawn by tqdm.

On a terminal, a tqdm bar on stderr; while it is shown, ``sys.stdout`` and ``sys.stderr`` are
routed through :class:`AboveTheBar`, so mmengine's log lines (its loggers bind the stream current
when a run creates them), warnings and prints are written whole *above* the bar instead of
running into it. Without a terminal (a log file, a batch job, a pipe) there is no bar: every
:data:`PLAIN_EVERY_S` seconds one plain line (:meth:`GridProgress.line`) goes to stderr, with one
line per cell being trained giving its last logged iteration, loss and the run's length (read
from the run's ``vis_data/scalars.json``, which mmengine's ``LocalVisBackend`` appends at each
logger interval, :func:`latest_scalars`); otherwise stderr carries only the one-line errors and
the summary.

The ETA is the mean wall time of the cells run in this invocation times the cells left (tqdm
with ``smoothing=0`` and the skipped cells as ``initial``: its rate counts only cells run now).
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

#: tqdm's layout: label, bar, cells, elapsed<ETA, then ran / failed / the last cell's status.
BAR_FORMAT = ('{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} '
              '[{elapsed}<{remaining}]{postfix}')
#: The same without the bar (:meth:`GridProgress.line`).
LINE_FORMAT = '{desc}: {n_fmt}/{total_fmt} cells [{elapsed}<{remaining}]{postfix}'
#: Without a terminal, the period of the plain progress lines (seconds; our choice: a few lines
#: per minute-long cell, not one per logger line).
PLAIN_EVERY_S = 60.0


def latest_scalars(work_dir: str) -> dict | None:
    """The last record of the newest ``<work_dir>/<timestamp>/vis_data/scalars.json`` (one JSON
    object per logger interval: ``iter``, ``loss``, ``lr`` ...), or None when the run has logged
    none yet (or the file is being written: a partial last line is skipped)."""
    files = sorted(glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json')),
                   key=os.path.getmtime)
    if not files:
        return None
    try:
        with open(files[-1], encoding='utf-8') as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and 'iter' in record:
            return record
    return None


class _WholeLines:
    """A text stream over ``target`` that passes on complete lines only (:meth:`_emit`); a
    partial line waits for its newline (or :meth:`flush_pending`). Everything else
    (``fileno``, ``isatty``, ``encoding``) is the target's."""

    def __init__(self, target: TextIO):
        self._target, self._pending = target, ''

    def write(self, text: str) -> int:
        self._pending += text
        lines, newline, self._pending = self._pending.rpartition('\n')
        if newline:
            self._emit(lines + newline)
        return len(text)

    def _emit(self, lines: str) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        self._target.flush()

    def flush_pending(self) -> None:
        """Write a partial last line as it is (when the bar goes away)."""
        if self._pending:
            self._target.write(self._pending)
            self._pending = ''
        self._target.flush()

    def __getattr__(self, name: str):
        return getattr(self._target, name)


class AboveTheBar(_WholeLines):
    """``sys.stdout`` / ``sys.stderr`` of the process showing a bar on ``bar_stream``: lines are
    written inside tqdm's ``external_write_mode`` (the bar is cleared, the lines written, the
    bar redrawn below them)."""

    def __init__(self, target: TextIO, bar_stream: TextIO):
        super().__init__(target)
        self._bar_stream = bar_stream

    def _emit(self, lines: str) -> None:
        with tqdm.external_write_mode(file=self._bar_stream):
            self._target.write(lines)
            self._target.flush()


#: Carriage return + ANSI "erase line": a worker's line replaces the bar it would run into.
CLEAR_LINE = '\r\x1b[2K'


class ClearLineFirst(_WholeLines):
    """``sys.stdout`` / ``sys.stderr`` of a worker process whose parent shows a bar on the same
    terminal (the grid's ``--jobs`` pool): each line first clears the terminal line, so it
    replaces the bar instead of running into it; the parent redraws the bar below within
    :attr:`GridProgress.refresh_s`. A process cannot take the parent's lock, so two writes at
    the same instant may still meet on one line (rare: a cell logs a few lines)."""

    def _emit(self, lines: str) -> None:
        self._target.write(''.join(CLEAR_LINE + line for line in lines.splitlines(True)))
        self._target.flush()


class GridProgress:
    """Progress of :func:`~fusionbench.experiments.grid.run_grid` (its ``progress`` argument).

    ``start(total, done)`` (``done``: cells skipped as already done), ``advance(name, status)``
    per finished cell, ``close()`` at the end; also a context manager that closes on the way
    out, an exception included, so the streams are always given back. ``stream``: where the bar
    goes (default ``sys.stderr``; nothing is drawn unless it is a terminal); ``refresh_s``: how
    often the bar is redrawn between cells (its elapsed time moves, and it comes back below a
    worker's log line); ``clock``: seconds for :meth:`line` (``time.perf_counter``; tests pass
    their own).
    """

    def __init__(self, label: str, stream: TextIO | None = None, refresh_s: float = 1.0,
                 clock: Callable[[], float] = time.perf_counter,
                 plain_every_s: float = PLAIN_EVERY_S):
        self.label = label
        self.plain_every_s = plain_every_s
        self.watch: dict[str, tuple[str, int]] = {}
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, 'isatty', lambda: False)())
        self.refresh_s = refresh_s
        self.clock = clock
        self.total = self.done = self.skipped = self.ran = self.failed = 0
        self.last = ''
        self.start_time = clock()
        self._bar: tqdm | None = None
        self._redirect: contextlib.ExitStack | None = None
        self._wrappers: list[AboveTheBar] = []
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    def __enter__(self) -> GridProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self, total: int, done: int = 0,
              watch: dict[str, tuple[str, int]] | None = None) -> None:
        """``watch``: ``{cell name: (work dir, iterations)}`` of the cells to run, whose last
        logged iteration the plain lines show while they train."""
        self.total, self.done, self.skipped = total, done, done
        self.watch = dict(watch or {})
        self.start_time = self.clock()
        if not self.tty:
            if self.plain_every_s > 0:
                self._stop.clear()
                self._refresher = threading.Thread(target=self._plain, name='grid-progress',
                                                   daemon=True)
                self._refresher.start()
            return
        # a terminal that reports no width (0 columns: some ptys) gets the fallback width
        width = _columns(self.stream)
        self._bar = tqdm(total=total, initial=done, desc=self.label, unit='cell',
                         file=self.stream, smoothing=0, mininterval=0, miniters=1,
                         dynamic_ncols=width > 0,
                         ncols=None if width > 0 else shutil.get_terminal_size().columns,
                         bar_format=BAR_FORMAT, leave=True)
        self._bar.set_postfix_str(self.postfix())
        self._redirect = contextlib.ExitStack()
        self._wrappers = [AboveTheBar(sys.stdout, self.stream),
                          AboveTheBar(sys.stderr, self.stream)]
        self._redirect.enter_context(contextlib.redirect_stdout(self._wrappers[0]))
        self._redirect.enter_context(contextlib.redirect_stderr(self._wrappers[1]))
        self._stop.clear()
        self._refresher = threading.Thread(target=self._refresh, args=(self._bar,),
                                           name='grid-progress', daemon=True)
        self._refresher.start()

    @property
    def shows_bar(self) -> bool:
        """Whether a bar is on the terminal now (worker processes then use
        :class:`ClearLineFirst`)."""
        return self._bar is not None

    def _refresh(self, bar: tqdm) -> None:
        while not self._stop.wait(self.refresh_s):
            bar.refresh()

    def _plain(self) -> None:
        while not self._stop.wait(self.plain_every_s):
            self.stream.write(''.join(line + '\n' for line in self.plain_lines()))
            self.stream.flush()

    def plain_lines(self) -> list[str]:
        """:meth:`line`, then ``  <cell>: iteration i/n, loss l`` per watched cell that has
        logged an iteration and not finished (the lines written without a terminal)."""
        lines = [self.line()]
        for name, (folder, iterations) in list(self.watch.items()):
            last = latest_scalars(folder)
            if last is None:
                continue
            loss = last.get('loss')
            loss_text = f', loss {loss:.4g}' if isinstance(loss, (int, float)) else ''
            lines.append(f"  {name}: iteration {last['iter']}/{iterations}{loss_text}")
        return lines

    def advance(self, name: str, status: str) -> None:
        self.watch.pop(name, None)
        self.done += 1
        self.ran += 1
        self.failed += status != 'ok'
        self.last = f'{name} {status}'
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.update(1)

    def postfix(self) -> str:
        failed = f', {self.failed} failed' if self.failed else ''
        last = f', last {self.last}' if self.last else ''
        return f'ran {self.ran}{failed}{last}'

    def line(self) -> str:
        """The progress as one plain line, by tqdm's meter with the bar's settings: ``label:
        done/total cells [elapsed<eta], ran r[, f failed], last <cell> <status>`` (ETA ``?``
        before the first cell ran)."""
        return tqdm.format_meter(self.done, self.total, self.clock() - self.start_time,
                                 prefix=self.label, unit='cell', initial=self.skipped,
                                 bar_format=LINE_FORMAT, postfix=self.postfix())

    def close(self) -> None:
        """Put the streams back and leave the final bar on its own line (idempotent)."""
        if self._refresher is not None:
            self._stop.set()
            self._refresher.join()
            self._refresher = None
        if self._redirect is not None:
            self._redirect.close()
            self._redirect = None
            for wrapper in self._wrappers:
                wrapper.flush_pending()
            self._wrappers = []
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` is on (0 when unknown)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0
