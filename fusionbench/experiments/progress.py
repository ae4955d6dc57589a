"""Progress for the grid: cells done / total, elapsed, ETA; quiet when not on a terminal."""
from __future__ import annotations

import sys
import time
from typing import TextIO


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours:d}:{minutes:02d}:{secs:02d}' if hours else f'{minutes:02d}:{secs:02d}'


class GridProgress:
    """A one-line bar on ``stream`` (stderr) when it is a terminal, else nothing.

    ETA is the mean wall time of the runs done in this invocation times the runs left.
    """

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 24):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, 'isatty') and self.stream.isatty()
        self.width = width
        self.total = self.done = self.ran = self.failed = 0
        self.start_time = time.perf_counter()
        self.last = ''

    def start(self, total: int, done: int = 0) -> None:
        self.total, self.done = total, done
        self.start_time = time.perf_counter()
        self._draw()

    def advance(self, name: str, status: str) -> None:
        self.done += 1
        self.ran += 1
        self.failed += status != 'ok'
        self.last = f'{name} {status}'
        self._draw()

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start_time
        left = self.total - self.done
        eta = format_seconds(elapsed / self.ran * left) if self.ran and left else '--:--'
        filled = int(self.width * self.done / self.total) if self.total else self.width
        bar = '#' * filled + '.' * (self.width - filled)
        failed = f' {self.failed} failed' if self.failed else ''
        return (f'{self.label} [{bar}] {self.done}/{self.total}{failed} '
                f'elapsed {format_seconds(elapsed)} eta {eta}  {self.last}')

    def _draw(self) -> None:
        if self.enabled:
            self.stream.write('\r\x1b[2K' + self.line())
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write('\n')
            self.stream.flush()
