"""A test-only table whose first cell diverges (NaN) before a fine one, as a script prefix.

Shared by the grid and the distributed tests: ``python -c NAN_TABLE run nan_probe ...``.
"""
from fusionbench.experiments.tables import T1, T1_UNSHARED

#: Table 1's unshared row: the private-BN config with one encoder per modality.
UNSHARED, UNSHARED_OVERRIDES = T1.format('private-bn'), T1_UNSHARED

NAN_TABLE = f'''
import sys
from fusionbench import registry
from fusionbench.experiments.tables import MAIN_CELL, Cell, Metric, Row, TableSpec

@registry.TABLES.register_module(name='nan_probe')
def nan_probe():
    unshared = {UNSHARED_OVERRIDES!r}
    diverging = {{'optim_wrapper.optimizer.weight_decay': 1e30}}  # parameters explode at step 1
    return TableSpec('nan_probe', 'test table: a diverging cell before a fine one', [
        Row('diverges', 'weight decay 1e30',
            {{MAIN_CELL: Cell({UNSHARED!r}, {{**unshared, **diverging}})}}),
        Row('fine', 'as configured', {{MAIN_CELL: Cell({UNSHARED!r}, unshared)}})],
        [Metric('rgb_miou', 'rgb')], {{}})

from fusionbench.cli import main
sys.exit(main(sys.argv[1:]))
'''
