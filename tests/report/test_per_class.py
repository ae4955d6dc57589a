"""The report's per-class IoU section from hand-built records."""
from fusionbench.experiments.tables import get_table
from fusionbench.report.per_class import class_means, per_class_section, row_head


def rec(row, seed, heads, status='ok'):
    return {'table': 'table1', 'row': row, 'seed': seed, 'status': status,
            'metrics': {head: {'mIoU': 1.0, **{f'IoU.{c}': v for c, v in values.items()}}
                        for head, values in heads.items()}}


def test_means_over_the_seeds_that_have_the_class():
    records = [rec('cen', 0, {'rgb': {'wall': 10.0}, 'ensemble': {'wall': 40.0, 'bed': 20.0}}),
               rec('cen', 1, {'ensemble': {'wall': 50.0}})]
    assert row_head(records) == 'ensemble'
    assert class_means(records, 'ensemble') == {'wall': (45.0, 2), 'bed': (20.0, 1)}
    assert row_head([rec('x', 0, {'rgb': {'wall': 1.0}})]) == 'rgb'
    assert row_head([{'metrics': {'rgb': {'mIoU': 3.0}}}]) is None


def test_section_lists_rows_with_per_class_results_only():
    records = [rec('cen', 0, {'ensemble': {'wall': 40.0, 'bed': 20.0}}),
               rec('cen', 1, {'ensemble': {'wall': 50.0}}),
               rec('unshared', 0, {'ensemble': {'bed': 5.0}}),
               rec('unshared', 1, {'ensemble': {'bed': 99.0}}, status='failed'),
               {'table': 'table1', 'row': 'shared_bn', 'seed': 0, 'status': 'ok',
                'metrics': {'ensemble': {'mIoU': 3.0}}}]  # an old record: no per-class keys
    text = '\n'.join(per_class_section([get_table('table1')], records))
    assert text.startswith('## Per-class IoU')
    assert '| row | head | seeds | wall | bed |' in text
    assert '| `cen` | ensemble | 2 | 45.0 | 20.0 |' in text
    assert '| `unshared` | ensemble | 1 | — | 5.0 |' in text
    assert text.index('`unshared`') < text.index('`cen`')  # the table's row order
    assert 'shared_bn' not in text
    assert per_class_section([get_table('table1')], records[-1:]) == []
