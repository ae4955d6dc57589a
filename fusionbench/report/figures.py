"""The one writer of fusionbench's figures: a PNG for the reports plus vector copies for papers.

:func:`save_figure` writes a matplotlib figure as ``<stem>.png``, ``<stem>.svg`` and
``<stem>.pdf`` beside each other. Every format goes to a temporary file in the same folder
first (``.<stem>.<pid>.<hex>.tmp.<ext>``) and is renamed over its target only when all formats
were drawn, so a reader (a report, another shard redrawing the same plot) never sees half a
file, and a failed draw leaves neither a temporary file nor a mix of old and new formats.
(A writer killed by ``SIGKILL`` can leave its temporary files; the experiment layer's
``outputs._atomic_plot`` removes such leftovers before it draws.)

The vector copies keep their text as text (our choice, for editing a figure for a paper):
``svg.fonttype='none'`` (``<text>`` elements) and ``pdf.fonttype=42`` (embedded TrueType;
many venues reject the Type 3 fonts matplotlib embeds by default). The files carry no date or
software version, so a redraw of the same data is byte-identical and leaves ``git status``
clean.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

#: Formats every figure is written in; the first is the one reports link.
FORMATS = ('png', 'svg', 'pdf')

#: Resolution of the raster format (dots per inch).
DPI = 120

#: Per format: the metadata keys matplotlib would fill with a date or its version, unset.
_METADATA = {'png': {'Software': None},
             'svg': {'Date': None, 'Creator': None},
             'pdf': {'CreationDate': None, 'Creator': None, 'Producer': None}}

#: Settings of the vector formats (see the module docstring); ``svg.hashsalt`` fixes the ids
#: SVG elements get (random per process otherwise).
_RC = {'svg.fonttype': 'none', 'svg.hashsalt': 'fusionbench', 'pdf.fonttype': 42}

def figure_paths(path: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """``path`` with each of ``formats`` as its suffix: ``plots/t.png`` -> ``[plots/t.png,
    plots/t.svg, plots/t.pdf]`` (the suffix ``path`` has is ignored)."""
    path = Path(path)
    return [path.with_suffix(f'.{fmt}') for fmt in formats]


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI,
                formats: Sequence[str] = FORMATS) -> Path:
    """Write ``fig`` as ``path`` in every one of ``formats`` (:func:`figure_paths`), atomically.

    Returns ``path`` with the first format's suffix (the PNG that reports link). Raises
    ``ValueError`` for a format matplotlib cannot write (before anything is written) and
    whatever ``savefig`` raises (an ``OSError`` for a full disk); on any error no target is
    touched and no temporary file stays behind.
    """
    supported = fig.canvas.get_supported_filetypes()
    unknown = [fmt for fmt in formats if fmt not in supported]
    if unknown or not formats:
        raise ValueError(f'save_figure: cannot write format(s) {unknown or formats} for '
                         f'{path}; supported: {", ".join(sorted(supported))}')
    targets = figure_paths(path, formats)
    targets[0].parent.mkdir(parents=True, exist_ok=True)
    temps = []
    try:
        with matplotlib.rc_context(_RC):
            for fmt, target in zip(formats, targets):
                tmp = target.with_name(f'.{target.stem}.{os.getpid()}.{uuid.uuid4().hex}'
                                       f'.tmp{target.suffix}')
                temps.append(tmp)
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=_METADATA.get(fmt))
        for tmp, target in zip(temps, targets):
            os.replace(tmp, target)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    return targets[0]


__all__ = ['DPI', 'FORMATS', 'figure_paths', 'save_figure']
