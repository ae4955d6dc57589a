"""Packages and build step: ``baselines/`` as ``fusionbench.baselines``; ``configs/`` and
``reported/`` (the paper's numbers) and ``reference/`` (the project's reference results) shipped inside the wheel.

All three stay at the top level of the source tree (the project's layout). The baselines are a
subpackage of ``fusionbench`` by a ``package_dir`` mapping (never a global ``baselines``
package): a wheel holds them in ``fusionbench/baselines/``, an editable install maps the name to
the checkout's folder. ``build_py`` copies the three data trees to
``fusionbench/_shipped/{configs,paper,reference}`` in the build, where :mod:`fusionbench.paths` finds them
when the package is installed; an editable install reads the checkout directly and copies
nothing. All other metadata lives in ``pyproject.toml``.
"""
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

#: source folder (relative to this file) -> name under ``fusionbench/_shipped/``.
SHIPPED = {'configs': 'configs', 'reported': 'paper', 'reference': 'reference'}


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        here = Path(__file__).resolve().parent
        for source, name in SHIPPED.items():
            target = Path(self.build_lib) / 'fusionbench' / '_shipped' / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(here / source, target,
                            ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


#: Import name -> source folder, for the packages that do not sit where their name says.
PACKAGE_DIR = {'fusionbench.baselines': 'baselines'}
PACKAGES = (find_packages(include=['fusionbench', 'fusionbench.*'])
            + [f'{name}.{sub}' if sub else name for name, folder in PACKAGE_DIR.items()
               for sub in [''] + find_packages(folder)])

setup(packages=PACKAGES, package_dir=PACKAGE_DIR, cmdclass={'build_py': BuildPyWithData})
