"""The analysis layer: the paper's numbers, interval statistics and claim verdicts, as data.

Below both :mod:`fusionbench.experiments` (which turns run records into DataFrames) and
:mod:`fusionbench.report` (which formats DataFrames and verdicts): it imports neither.
"""
