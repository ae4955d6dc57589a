"""The paths module finds configs and the paper's numbers in a checkout and in an installed wheel."""
import importlib.util
import os
import shutil
from pathlib import Path

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
    assert paths.PAPER_DIR == ROOT / 'results' / 'paper'
    assert paths.source_path('configs/paper') == str(ROOT / 'configs' / 'paper')
    assert paths.source_path('baselines') == str(ROOT / 'baselines')


def test_an_installed_package_reads_its_shipped_copies(tmp_path, monkeypatch):
    site = tmp_path / 'site-packages'
    (site / 'configs').mkdir(parents=True)  # another distribution's top-level folder: ignored
    installed = load_installed_copy(site)
    shipped = site / 'fusionbench' / '_shipped'
    assert not installed.IN_CHECKOUT
    assert installed.CONFIG_ROOT == str(shipped / 'configs')
    assert installed.PAPER_DIR == shipped / 'paper'
    assert installed.source_path('configs/table1') == str(shipped / 'configs' / 'table1')
    assert installed.source_path('fusionbench/models') == str(site / 'fusionbench' / 'models')
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

