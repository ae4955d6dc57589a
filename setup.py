"""Build step: ship the top-level ``configs/`` and ``results/paper/`` inside the wheel.

They stay at the top level of the source tree (the project's layout); ``build_py`` copies them
to ``fusionbench/_shipped/{configs,paper}`` in the build, where :mod:`fusionbench.paths` finds
them when the package is installed. An editable install reads the checkout directly and copies
nothing. All metadata lives in ``pyproject.toml``.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

#: source folder (relative to this file) -> name under ``fusionbench/_shipped/``.
SHIPPED = {'configs': 'configs', 'results/paper': 'paper'}


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


setup(cmdclass={'build_py': BuildPyWithData})
