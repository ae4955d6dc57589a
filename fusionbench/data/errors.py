"""The one error type of the data layer.

Everything that is wrong with a data set on disk -- a missing root, list file or sample file, a
corrupt PNG, a depth map of the wrong bit depth, modalities of different sizes, label values
outside the class range -- raises :class:`DataError` with a one-line message naming the file or
sample, at data set construction or sample load time (never deep inside a model).
"""
from __future__ import annotations


class DataError(ValueError):
    """A data set on disk, or one sample of it, is not what the reader expects.

    ``str(error)`` is a single line; newlines in the message are replaced by spaces.
    """

    def __init__(self, message: str):
        super().__init__(' '.join(str(message).split('\n')))
