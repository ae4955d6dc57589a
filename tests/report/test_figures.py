"""Figures: the multi-format writer (report.figures) and the qualitative figure (its scene
positions, pixel accuracy, and the ``qualitative`` command end to end on the smoke protocol
with untrained cells injected in place of trained ones)."""
from __future__ import annotations

import re
import sys
import types

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fusionbench.report.figures import FORMATS, figure_paths, save_figure


def small_figure() -> Figure:
    fig = Figure(figsize=(2, 2))
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([0, 1], [1, 0], label='line')
    return fig


# ----------------------------------------------------------------------------- the writer
def test_save_figure_writes_every_format_and_no_temporary_file(tmp_path):
    path = save_figure(small_figure(), tmp_path / 'plots' / 't.png')
    assert path == tmp_path / 'plots' / 't.png' and FORMATS == ('png', 'svg', 'pdf')
    assert sorted(p.name for p in (tmp_path / 'plots').iterdir()) == ['t.pdf', 't.png', 't.svg']
    assert (tmp_path / 'plots' / 't.png').read_bytes().startswith(b'\x89PNG')
    assert (tmp_path / 'plots' / 't.pdf').read_bytes().startswith(b'%PDF')
    svg = (tmp_path / 'plots' / 't.svg').read_text()
    assert '<svg' in svg and '<text' in svg  # text kept as text (svg.fonttype none)
    assert '<dc:date>' not in svg
    # a redraw of the same figure is byte-identical (no dates, fixed SVG ids)
    before = {p.name: p.read_bytes() for p in (tmp_path / 'plots').iterdir()}
    save_figure(small_figure(), tmp_path / 'plots' / 't.svg')   # any suffix names the stem
    assert {p.name: p.read_bytes() for p in (tmp_path / 'plots').iterdir()} == before
    assert figure_paths('a/b.png', ('png', 'pdf')) == [figure_paths('a/b.x')[0],
                                                       figure_paths('a/b.x')[2]]


def test_save_figure_failure_leaves_the_old_files_and_nothing_else(tmp_path, monkeypatch):
    folder = tmp_path / 'plots'
    save_figure(small_figure(), folder / 't.png')
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real = Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        if kwargs.get('format') == 'pdf':   # the last format fails (a full disk)
            raise OSError(28, 'No space left on device')
        return real(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, 'savefig', savefig)
    fig = small_figure()
    fig.axes[0].set_title('changed')
    with pytest.raises(OSError, match='No space'):
        save_figure(fig, folder / 't.png')
    # no temporary file, and not a new PNG beside an old PDF: all formats as they were
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    with pytest.raises(ValueError, match='cannot write format'):
        save_figure(small_figure(), folder / 'u.png', formats=('png', 'nope'))
    assert not list(folder.glob('u.*')) and not list(folder.glob('.u.*'))


def test_table_plots_come_in_every_format(tmp_path):
    """The experiment layer's plot writer (every table plot goes through it) leaves the three
    formats and removes a killed writer's leftover temporary files of each."""
    import os
    import time

    from fusionbench.experiments.outputs import STALE_TEMP_S, _atomic_plot
    from fusionbench.report.plots import _save

    folder = tmp_path / 'plots'
    folder.mkdir()
    leftover = folder / '.t.4194999.0123abcd.tmp.svg'
    leftover.write_bytes(b'')
    old = time.time() - STALE_TEMP_S - 5
    os.utime(leftover, (old, old))
    assert _atomic_plot(folder / 't.png', lambda p: _save(small_figure(), p)) == folder / 't.png'
    assert sorted(p.name for p in folder.iterdir()) == ['t.pdf', 't.png', 't.svg']


# ----------------------------------------------------------------------------- qualitative
def test_scene_indices_are_fixed_and_spread():
    from fusionbench.analysis.qualitative import scene_indices

    assert scene_indices(16, 4) == [0, 4, 8, 12]
    assert scene_indices(10, 3) == [0, 3, 6]
    assert scene_indices(5, 5) == [0, 1, 2, 3, 4]
    for bad in (0, 17):
        with pytest.raises(ValueError, match='test split has 16 scenes; use 1..16'):
            scene_indices(16, bad)


def test_row_ids_wrap_after_underscores():
    from fusionbench.report.qualitative import wrap_id

    assert wrap_id('cen') == 'cen'
    assert wrap_id('cen_shuffled_labels') == 'cen_shuffled_labels'  # 19 characters fit
    assert wrap_id('self_attention_middle') == 'self_attention_\nmiddle'
    assert wrap_id('a_b_c', width=2) == 'a_\nb_\nc'
    assert wrap_id('averylongid_x', width=4) == 'averylongid_\nx'  # a long part stays whole


def test_pixel_accuracy_counts_labelled_pixels_only():
    from fusionbench.report.qualitative import pixel_accuracy

    label = np.array([[0, 1], [255, 2]])
    assert pixel_accuracy(label, np.array([[0, 2], [7, 2]]), 255) == pytest.approx(200 / 3)
    assert np.isnan(pixel_accuracy(np.full((2, 2), 255), np.zeros((2, 2)), 255))


def test_the_report_links_the_qualitative_figures_it_finds(tmp_path):
    """`report` links the figure `qualitative <table>` left (relative to the reports folder);
    a table without one, or no figure at all: nothing."""
    from fusionbench.report.qualitative import plot_path, qualitative_section
    out, reports = tmp_path / 'results' / 'mini', tmp_path / 'reports'
    assert qualitative_section(out, reports, ['table1', 'table2']) == []
    path = plot_path(out, 'table1')
    path.parent.mkdir(parents=True)
    path.write_bytes(b'png')
    lines = qualitative_section(out, reports, ['table1', 'table2'])
    assert lines[0] == '## Predictions on fixed test scenes'
    assert [line for line in lines if line.startswith('![')] == [
        '![table1_qualitative](../results/mini/plots/table1_qualitative.png)']


@pytest.fixture
def untrained_cells(monkeypatch):
    """``load_trained`` answering with the untrained smoke model of the asked cell (its
    resolved config, seeded weights): the command's own work, without training."""
    import torch
    from mmengine.config import Config

    from fusionbench.experiments.checkpoints import find_job
    from fusionbench.experiments.config_check import build_model

    calls = []

    def load_trained(table, row, seed=0, *, protocol='mini', cell='main', **kwargs):
        calls.append((table, row, seed, protocol, cell))
        cfg = Config(find_job(table, row, seed, protocol, cell).resolved)
        torch.manual_seed(seed)
        return types.SimpleNamespace(model=build_model(cfg).eval(), cfg=cfg, checkpoint='',
                                     record={'run_id': 'abc123'})

    module = types.ModuleType('fusionbench.experiments.checkpoints')
    module.load_trained = load_trained
    monkeypatch.setitem(sys.modules, 'fusionbench.experiments.checkpoints', module)
    return calls


def _images(svg_path) -> int:
    """Raster panels (``imshow``) in a written SVG."""
    return len(re.findall(r'<image\b', svg_path.read_text()))


def test_qualitative_command_end_to_end(untrained_cells, tmp_path, monkeypatch, capsys,
                                        one_thread):
    from fusionbench.cli import main

    results = tmp_path / 'results'
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(results))
    assert main(['qualitative', 'table1', '--protocol', 'smoke', '--rows', 'cen', 'unshared',
                 '--scenes', '3']) == 0
    assert untrained_cells == [('table1', 'unshared', 0, 'smoke', 'main'),
                               ('table1', 'cen', 0, 'smoke', 'main')]  # the table's row order
    plots = results / 'smoke' / 'plots'
    assert sorted(p.name for p in plots.iterdir()) == [
        'table1_qualitative.pdf', 'table1_qualitative.png', 'table1_qualitative.svg']
    out = capsys.readouterr().out
    assert 'test scenes 0, 5, 10' in out and 'table1_qualitative.png' in out  # 16 // 3 = 5
    # 3 scenes × (RGB, depth, ground truth, unshared: ensemble, cen: ensemble)
    svg = (plots / 'table1_qualitative.svg').read_text()
    assert _images(plots / 'table1_qualitative.svg') == 3 * 5
    # column titles: the row id over the head (one <text> per line)
    assert svg.count('>ensemble</text>') == 2 and '>unshared</text>' in svg
    assert '>cen</text>' in svg and '>ground truth</text>' in svg and 'classes present' in svg
    assert 'synthetic data' in svg and svg.count('pixel acc. ') == 3 * 2

    # one row: a column per head (rgb, depth, ensemble)
    untrained_cells.clear()
    assert main(['qualitative', 'table1', '--protocol', 'smoke', '--rows', 'cen',
                 '--scenes', '2']) == 0
    assert untrained_cells == [('table1', 'cen', 0, 'smoke', 'main')]
    svg = (plots / 'table1_qualitative.svg').read_text()
    assert _images(plots / 'table1_qualitative.svg') == 2 * (3 + 3)
    assert [svg.count(f'>{head}</text>') for head in ('rgb', 'depth', 'ensemble')] == [1, 1, 1]


def test_qualitative_command_bad_input(untrained_cells, tmp_path, monkeypatch, capsys):
    from fusionbench.cli import main

    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'results'))
    cases = [(['--rows', 'nope'], "unknown row(s) ['nope'] for table1; valid: unshared, "),
             (['--scenes', '17'], 'test split has 16 scenes; use 1..16'),
             (['--rows', 'cen', '--cell', 'same'], 'no common cell same')]
    for extra, message in cases:
        assert main(['qualitative', 'table1', '--protocol', 'smoke', *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    assert main(['qualitative', 'table5', '--protocol', 'smoke']) == 2
    assert 'translation table' in capsys.readouterr().err
    assert untrained_cells == []                       # nothing trained for bad input
    assert not (tmp_path / 'results' / 'smoke' / 'plots').exists()


@pytest.mark.parametrize('argv', [['qualitative', 'table1', '--rows', 'cen'], ['figure3']])
def test_drawing_commands_never_train_into_the_reference(argv, tmp_path, monkeypatch, capsys):
    """`qualitative` / `figure3` with the results root in the committed reference and a cell
    without a checkpoint there: one line naming the cell and the variable, exit 2, nothing
    trained or written (as `run`, which refuses such a root)."""
    from fusionbench import paths
    from fusionbench.cli import main
    from fusionbench.experiments import grid

    reference = tmp_path / 'reference'
    (reference / 'mini').mkdir(parents=True)
    monkeypatch.setattr(paths, 'REFERENCE_DIR', reference)
    monkeypatch.setattr(grid, 'execute', lambda *a, **k: pytest.fail('trained into reference'))
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(reference))
    assert main([*argv, '--protocol', 'smoke']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f'fusionbench: no checkpoint for table1/cen seed 0 (smoke) in the results root '
                   f'{reference}, the committed reference, and nothing is trained there: point '
                   '$FUSIONBENCH_RESULTS at your own results root'], err
    assert [p.relative_to(reference).as_posix() for p in reference.rglob('*')] == ['mini']
