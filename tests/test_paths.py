"""The paths module finds configs and the paper's numbers in a checkout and in an installed wheel;
the baselines are ``fusionbench.baselines`` in both, never a global ``baselines`` package."""
import importlib.util
import os
import runpy
import shutil
import sys
from pathlib import Path

import pytest
import setuptools

import fusionbench.paths as paths

ROOT = Path(__file__).resolve().parents[1]


def load_installed_copy(site: Path):
    """``fusionbench/paths.py`` as it sits in ``site`` (a fake ``site-packages``)."""
    package = site / 'fusionbench'
    (package / '_shipped' / 'configs' / 'table1').mkdir(parents=True)
    (package / '_shipped' / 'configs' / 'table1' / 'cen.py').write_text('x = 1\n')
    (package / '_shipped' / 'paper').mkdir()
    shutil.copy(ROOT / 'fusionbench' / 'paths.py', package / 'paths.py')
    spec = importlib.util.spec_from_file_location('installed_paths', package / 'paths.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_checkout_reads_the_top_level_trees():
    assert paths.IN_CHECKOUT
    assert paths.CONFIG_ROOT == str(ROOT / 'configs')
    assert paths.PAPER_DIR == ROOT / 'reported'
    assert paths.REFERENCE_DIR == ROOT / 'reference'
    assert paths.source_path('configs/paper') == str(ROOT / 'configs' / 'paper')
    assert paths.source_path('baselines') == str(ROOT / 'baselines')
    assert paths.BASELINES_DIR == str(ROOT / 'baselines')


def test_an_installed_package_reads_its_shipped_copies(tmp_path, monkeypatch):
    site = tmp_path / 'site-packages'
    (site / 'configs').mkdir(parents=True)  # another distribution's top-level folder: ignored
    installed = load_installed_copy(site)
    shipped = site / 'fusionbench' / '_shipped'
    assert not installed.IN_CHECKOUT
    assert installed.CONFIG_ROOT == str(shipped / 'configs')
    assert installed.PAPER_DIR == shipped / 'paper'
    assert installed.REFERENCE_DIR == shipped / 'reference'
    assert installed.source_path('configs/table1') == str(shipped / 'configs' / 'table1')
    assert installed.source_path('fusionbench/models') == str(site / 'fusionbench' / 'models')
    assert installed.source_path('baselines') == str(site / 'fusionbench' / 'baselines')
    assert installed.config_path('table1/cen.py') == str(shipped / 'configs' / 'table1' / 'cen.py')
    # the user's roots follow the working directory, never site-packages
    work = tmp_path / 'project'
    work.mkdir()
    monkeypatch.chdir(work)
    for name in (paths.RESULTS_ENV, paths.REPORTS_ENV, paths.DATA_ENV, paths.WEIGHTS_ENV):
        monkeypatch.delenv(name, raising=False)
    assert installed.results_root() == os.path.join(str(work), 'results')
    assert installed.reports_root() == os.path.join(str(work), 'reports')
    assert installed.data_root() == os.path.join(str(work), 'data')
    assert installed.weights_root() == os.path.join(str(work), 'checkpoints')
    monkeypatch.setenv(paths.RESULTS_ENV, str(tmp_path / 'elsewhere'))
    assert installed.results_root() == str(tmp_path / 'elsewhere')



def test_the_build_installs_the_baselines_as_a_subpackage(monkeypatch):
    """``setup.py`` maps the top-level ``baselines/`` to ``fusionbench.baselines`` and declares no
    top-level package but ``fusionbench`` (what a wheel's ``top_level.txt`` lists)."""
    captured = {}
    monkeypatch.setattr(setuptools, 'setup', lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / 'setup.py'))
    assert captured['package_dir'] == {'fusionbench.baselines': 'baselines'}
    assert 'fusionbench.baselines' in captured['packages']
    assert {p.split('.')[0] for p in captured['packages']} == {'fusionbench'}
    # every folder of the source package is shipped
    assert 'fusionbench.experiments' in captured['packages']


def test_the_registry_imports_the_baselines_under_the_package_namespace():
    from fusionbench.registry import FUSIONS
    import fusionbench.baselines

    assert fusionbench.baselines.__file__ == str(ROOT / 'baselines' / '__init__.py')
    for name in ('concat', 'average', 'align_mmd', 'self_attention'):
        assert FUSIONS.get(name).__module__.startswith('fusionbench.baselines.')
    assert not [m for m in sys.modules if m == 'baselines' or m.startswith('baselines.')]


def test_the_checkout_finder_answers_for_the_baselines_only(tmp_path):
    finder = paths.CheckoutBaselinesFinder(str(tmp_path))
    (tmp_path / '__init__.py').write_text('')
    spec = finder.find_spec('fusionbench.baselines')
    assert spec.origin == str(tmp_path / '__init__.py')
    assert spec.submodule_search_locations == [str(tmp_path)]
    assert finder.find_spec('baselines') is None
    assert finder.find_spec('fusionbench.baselines.concat') is None


def test_runs_never_write_into_the_reference(tmp_path, monkeypatch, capsys):
    from fusionbench import paths
    from fusionbench.cli import main
    monkeypatch.setattr(paths, 'REFERENCE_DIR', tmp_path / 'reference')
    for inside in (tmp_path / 'reference', tmp_path / 'reference' / 'sub'):
        with pytest.raises(ValueError, match='committed reference'):
            paths.check_not_reference(inside)
    paths.check_not_reference(tmp_path / 'results')          # anywhere else: fine
    monkeypatch.setenv(paths.RESULTS_ENV, str(tmp_path / 'reference'))
    assert main(['run', 'table1', '--protocol', 'smoke']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'FUSIONBENCH_RESULTS' in err[0]
    assert not (tmp_path / 'reference').exists()             # nothing written
