"""Expected errors: what a user can fix, each reported as one line naming the file or key.

:class:`FusionbenchError` and its kinds carry a one-line message; :func:`one_line` turns every
*expected* error kind (these, the data layer's :class:`~fusionbench.data.errors.DataError`,
missing inputs, unknown registry names, unimportable ``$FUSIONBENCH_PLUGINS``, config syntax
errors, write failures) into the line
``python -m fusionbench`` prints before exiting with status 2 (``--debug`` adds the traceback).
Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import errno
import math
from collections.abc import Callable

#: ``errno`` values of a failed write: the disk, the quota or the file system said no.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM,
                          errno.EFBIG, errno.EIO, errno.ENOTDIR})


class FusionbenchError(Exception):
    """An expected error; ``str()`` is one line (newlines in the message become spaces)."""

    def __init__(self, message: str):
        super().__init__(' '.join(str(message).split('\n')))


class ConfigError(FusionbenchError):
    """A config that cannot run: names the config file and the key, and the fix."""


class WriteError(FusionbenchError):
    """Writing results, checkpoints or logs failed: ``cannot write <path>: <reason>``."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f'cannot write {path}: {reason}')

    def __reduce__(self):  # crosses process boundaries (pool workers) intact
        return type(self), (self.path, self.reason)


class RecordError(FusionbenchError):
    """A run record on disk that is not a valid record (truncated, old, missing keys)."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f'invalid run record {path}: {reason}')

    def __reduce__(self):
        return type(self), (self.path, self.reason)



class PreflightError(RuntimeError):
    """Inputs of a run are missing; the first line counts them, one line per input follows
    (raised by :func:`fusionbench.experiments.preflight.prepare`)."""


def is_write_error(err: BaseException) -> bool:
    """An ``OSError`` a write raises when the disk is full or the folder read-only."""
    return isinstance(err, OSError) and err.errno in WRITE_ERRNOS


def write_error(err: OSError, fallback_path: str) -> WriteError:
    """:class:`WriteError` for ``err``, naming its file or else ``fallback_path``."""
    return WriteError(str(err.filename or fallback_path), err.strerror or str(err))


def _first_line(err: BaseException) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return lines[0].strip() if lines else type(err).__name__


def _data_error_line(err: BaseException) -> str:
    # A DataError raised in a DataLoader worker comes back carrying the worker's traceback
    # (flattened onto one line by DataError); the message is what follows the last 'DataError: '.
    text = str(err)
    if 'Original Traceback' in text and 'DataError: ' in text:
        return text.rsplit('DataError: ', 1)[1].strip()
    return _first_line(err)


def _syntax_error_line(err: BaseException) -> str:
    line = _first_line(err)
    filename = getattr(err, 'filename', None)
    return line if not filename or filename in line else f'{filename}: {line}'


def _os_error_line(err: BaseException) -> str:
    if is_write_error(err) and getattr(err, 'filename', None):
        return f'cannot write {err.filename}: {err.strerror}'
    return _first_line(err)


def expected_errors() -> dict[type, Callable[[BaseException], str]]:
    """Each expected error type and how it becomes one line (most specific types first)."""
    from fusionbench.compat import CheckpointError
    from fusionbench.data.errors import DataError
    from fusionbench.registry import PluginImportError, UnknownNameError

    return {
        FusionbenchError: _first_line,
        DataError: _data_error_line,
        PreflightError: _first_line,       # the head line counts them and names the first
        CheckpointError: _first_line,
        UnknownNameError: _first_line,
        PluginImportError: _first_line,    # names the module and $FUSIONBENCH_PLUGINS
        SyntaxError: _syntax_error_line,   # mmengine names the config file in the message
        FileNotFoundError: _first_line,
        OSError: _os_error_line,
    }


def one_line(err: BaseException) -> str | None:
    """The line to print for an expected error, ``None`` for anything else (a bug)."""
    for kind, line in expected_errors().items():
        if isinstance(err, kind) and (kind is not OSError or is_write_error(err)):
            return line(err)
    return None


def number_type(option: str, convert, valid, expects: str):
    """An argparse type: ``convert(text)`` (None or ValueError: not a number) that must satisfy
    ``valid``; otherwise ``needs <expects>, got '<text>'`` (``option`` names the flag in argparse's
    message)."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f'needs {expects}, got {text!r}')
        return value
    parse.__name__ = option.lstrip('-')
    return parse


def _signed_whole(text: str) -> int | None:
    """``int(text)`` when ``text`` is written as a whole number (``+`` and spaces allowed)."""
    value = int(text)
    return value if str(value) == text.strip().lstrip('+') else None


def positive_int(option: str):
    """An argparse type: a whole number >= 1."""
    return number_type(option, _signed_whole, lambda v: v >= 1,
                       'a whole number >= 1 (valid: 1, 2, 3, ...)')


def non_negative_int(option: str):
    """An argparse type: a whole number >= 0, digits only."""
    return number_type(option, lambda t: int(t) if t.strip().isdigit() else None,
                       lambda v: v >= 0, 'a whole number >= 0 (0, 1, 2, ...)')


def positive_float(option: str):
    """An argparse type: a finite number > 0."""
    return number_type(option, float, lambda v: 0 < v < math.inf,
                       'a number > 0 (e.g. 0.25, 1.0)')
