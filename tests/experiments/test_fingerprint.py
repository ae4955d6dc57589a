"""Records belong to their code: the run id carries a fingerprint of the result-affecting source."""
import json
import os

import pytest

from fusionbench.experiments import grid
from fusionbench.experiments.fingerprint import (CORE_SOURCES, RESULT_SOURCES, code_fingerprint,
                                                 method_sources, run_fingerprint, run_sources,
                                                 short_hash, source_files, stale_records)
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import REPO_ROOT
from fusionbench.experiments.tables import get_table


@pytest.fixture
def tree(tmp_path):
    """A miniature source tree with every result source, plus report and CLI code."""
    for source in RESULT_SOURCES:
        path = tmp_path / source
        if source.endswith('.py'):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f'# {source}\n')
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / 'a.py').write_text('x = 1\n')
    (tmp_path / 'fusionbench' / 'report').mkdir()
    (tmp_path / 'fusionbench' / 'report' / 'markdown.py').write_text('# report\n')
    (tmp_path / 'fusionbench' / 'cli.py').write_text('# cli\n')
    (tmp_path / 'README.md').write_text('docs\n')
    return tmp_path


def test_fingerprint_follows_result_code_only(tree):
    before = code_fingerprint(str(tree))
    assert len(before) == 12 and before == code_fingerprint(str(tree))
    # report, CLI and docs do not change results
    (tree / 'fusionbench' / 'report' / 'markdown.py').write_text('# report, reworded\n')
    (tree / 'fusionbench' / 'cli.py').write_text('# cli v2\n')
    (tree / 'README.md').write_text('more docs\n')
    (tree / 'fusionbench' / 'models' / '__pycache__').mkdir()
    (tree / 'fusionbench' / 'models' / '__pycache__' / 'a.py').write_text('junk\n')
    assert code_fingerprint(str(tree)) == before
    # model code, a config, a new baseline do; CRLF checkouts agree
    (tree / 'fusionbench' / 'models' / 'a.py').write_text('x = 2\n')
    changed = code_fingerprint(str(tree))
    assert changed != before
    (tree / 'fusionbench' / 'models' / 'a.py').write_bytes(b'x = 2\r\n')
    assert code_fingerprint(str(tree)) == changed
    (tree / 'baselines' / 'new.py').write_text('y = 1\n')
    assert 'baselines/new.py' in source_files(str(tree))
    assert code_fingerprint(str(tree)) not in (before, changed)
    # config files are not hashed: the run id hashes the resolved config (test_grid)
    latest = code_fingerprint(str(tree))
    (tree / 'configs').mkdir()
    (tree / 'configs' / 'a.py').write_text('lr = 0.1\n')
    assert code_fingerprint(str(tree)) == latest


def test_missing_source_is_named(tree):
    (tree / 'fusionbench' / 'hooks.py').unlink()
    with pytest.raises(FileNotFoundError, match='hooks.py'):
        code_fingerprint(str(tree))


def test_the_repository_has_every_result_source():
    files = source_files(REPO_ROOT)
    assert 'fusionbench/models/resnet.py' in files and 'fusionbench/fusion/cen.py' in files
    assert not any(f.startswith(('fusionbench/report/', 'fusionbench/cli.py')) for f in files)


def test_plan_puts_the_fingerprint_in_the_run_id(monkeypatch):
    spec, smoke = get_table('table1'), get_protocol('smoke')
    monkeypatch.setattr(grid, 'run_fingerprint', lambda root, resolved, memo=None: 'aaaaaaaaaaaa')
    old = grid.plan(spec, smoke, 1, rows=['cen'])[0]
    monkeypatch.setattr(grid, 'run_fingerprint', lambda root, resolved, memo=None: 'bbbbbbbbbbbb')
    new = grid.plan(spec, smoke, 1, rows=['cen'])[0]
    assert (old.code, new.code) == ('aaaaaaaaaaaa', 'bbbbbbbbbbbb')
    assert old.run_id != new.run_id and old.resolved == new.resolved
    assert new.run_id == grid.hash_config(new.resolved, 'smoke', 0, 'bbbbbbbbbbbb')


def test_a_record_from_other_code_is_not_reused(monkeypatch, tmp_path):
    """The grid reruns a cell whose only record came from another fingerprint and keeps it."""
    ran = []

    def fake_execute(job, root=None, launcher='none', fresh=False, performance=None):
        ran.append(job.code)
        record = {'schema': 1, 'run_id': job.run_id, 'table': job.table, 'row': job.row,
                  'cell': job.cell, 'seed': job.seed, 'protocol': job.protocol,
                  'status': 'ok', 'code_fingerprint': job.code,
                  'metrics': {'primary': {'mIoU': 1.0}}, 'params': {'total': 1}}
        grid.write_json_atomic(os.path.join(grid.runs_dir(job.protocol, job.table, root),
                                            job.record_name), record)
        return record

    monkeypatch.setattr(grid, 'execute', fake_execute)
    monkeypatch.setattr(grid, 'run_fingerprint', lambda root, resolved, memo=None: 'aaaaaaaaaaaa')
    first = grid.run_grid('table1', 'smoke', seeds=1, rows=['cen'], root=str(tmp_path))
    assert (first['ran'], first['skipped'], first['stale']) == (1, 0, [])
    again = grid.run_grid('table1', 'smoke', seeds=1, rows=['cen'], root=str(tmp_path))
    assert (again['ran'], again['skipped']) == (0, 1)
    monkeypatch.setattr(grid, 'run_fingerprint', lambda root, resolved, memo=None: 'bbbbbbbbbbbb')
    changed = grid.run_grid('table1', 'smoke', seeds=1, rows=['cen'], root=str(tmp_path))
    assert (changed['ran'], changed['skipped']) == (1, 0)
    assert ran == ['aaaaaaaaaaaa', 'bbbbbbbbbbbb']
    [old_path] = changed['stale']
    assert json.loads(open(old_path).read())['code_fingerprint'] == 'aaaaaaaaaaaa'  # kept
    job = changed['jobs'][0]
    assert stale_records([job], lambda j: grid.runs_dir(j.protocol, j.table, str(tmp_path))) \
        == [old_path]
    assert grid.finished_record(job, str(tmp_path)).endswith(job.record_name)


def test_fingerprint_is_the_same_when_baselines_ship_inside_the_package(tree, tmp_path_factory):
    """An installed package keeps baselines/ as fusionbench/baselines/: same names, same hash."""
    import shutil
    (tree / 'baselines' / 'b.py').write_text('z = 3\n')
    flat = code_fingerprint(str(tree))
    shipped = tmp_path_factory.mktemp('shipped')
    shutil.move(str(tree / 'baselines'), str(shipped / 'baselines'))

    def locate(relative):
        head, _, rest = relative.partition('/')
        return str(shipped / relative) if head == 'baselines' else str(tree / relative)

    assert code_fingerprint(locate) == flat
    assert 'baselines/b.py' in source_files(locate)


def test_the_checkout_fingerprint_does_not_depend_on_how_sources_are_located():
    from fusionbench.paths import source_path
    assert code_fingerprint(source_path) == code_fingerprint(REPO_ROOT)


def test_a_run_hashes_its_task_and_its_methods_only(tree):
    """Translation code and other methods' files leave a segmentation run's fingerprint alone."""
    for task in ('segmentation', 'translation'):
        (tree / 'fusionbench' / 'tasks' / task).mkdir(parents=True)
        (tree / 'fusionbench' / 'tasks' / task / 'task.py').write_text(f'# {task}\n')
    (tree / 'baselines' / 'concat.py').write_text('c = 1\n')
    seg = run_sources('segmentation')
    concat = run_sources('segmentation', ['baselines/concat.py'])
    assert seg[:len(CORE_SOURCES)] == CORE_SOURCES and seg[-1] == 'fusionbench/tasks/segmentation'
    before = {name: code_fingerprint(str(tree), s) for name, s in (('seg', seg), ('concat', concat))}
    assert before['seg'] != before['concat']
    (tree / 'fusionbench' / 'tasks' / 'translation' / 'task.py').write_text('# changed\n')
    (tree / 'baselines' / 'average.py').write_text('a = 2\n')  # a new method
    assert code_fingerprint(str(tree), seg) == before['seg']
    assert code_fingerprint(str(tree), concat) == before['concat']
    (tree / 'baselines' / 'concat.py').write_text('c = 2\n')  # the method's own file
    assert code_fingerprint(str(tree), seg) == before['seg']
    assert code_fingerprint(str(tree), concat) != before['concat']
    (tree / 'fusionbench' / 'tasks' / 'segmentation' / 'task.py').write_text('# changed\n')
    assert code_fingerprint(str(tree), seg) != before['seg']


def test_method_sources_name_the_baseline_files_a_config_uses():
    cen = {'model': {'type': 'MultiModalSegmentor', 'fusion': {'type': 'cen'}}}
    assert method_sources(cen) == []  # CEN's code is core
    concat = {'model': {'type': 'MultiModalSegmentor', 'fusion': {'type': 'concat'}},
              'hooks': [{'type': 'concat'}]}
    files = method_sources(concat)
    assert 'baselines/concat.py' in files and all(f.startswith('baselines/') for f in files)
    assert 'baselines/average.py' not in files


def test_table1_and_table2_runs_get_their_own_fingerprints():
    smoke = get_protocol('smoke')
    [cen] = grid.plan(get_table('table1'), smoke, 1, rows=['cen'])
    memo = {}
    assert cen.code == run_fingerprint(REPO_ROOT, cen.resolved, memo) and len(memo) == 1
    concat = [j for j in grid.plan(get_table('table2'), smoke, 1)
              if (j.resolved['model'].get('fusion') or {}).get('type') == 'concat'][0]
    assert concat.code != cen.code


def test_short_hash_is_canonical():
    assert short_hash({'a': 1, 'b': [1, 2]}) == short_hash({'b': [1, 2], 'a': 1})
    assert len(short_hash({'a': 1})) == 12 and short_hash({'a': 1}) != short_hash({'a': 2})


def test_a_run_made_for_another_table_is_adopted_not_retrained(monkeypatch, tmp_path):
    """The λ sweep's ×1 cells are Table 1's runs (same run id): adopted with provenance."""
    mini = get_protocol('mini')
    [cen] = grid.plan(get_table('table1'), mini, 1, rows=['cen'])
    [cen_x1] = grid.plan(get_table('lambda_sweep'), mini, 1, rows=['cen_x1'])
    assert cen.run_id == cen_x1.run_id
    record = {'schema': 1, 'run_id': cen.run_id, 'table': 'table1', 'row': 'cen',
              'cell': cen.cell, 'seed': 0, 'protocol': 'mini', 'status': 'ok',
              'code_fingerprint': cen.code, 'metrics': {'primary': {'mIoU': 40.0}},
              'params': {'total': 1}}
    grid.write_json_atomic(os.path.join(grid.runs_dir('mini', 'table1', str(tmp_path)),
                                        cen.record_name), record)
    monkeypatch.setattr(grid, 'execute', lambda *a, **k: pytest.fail('must not train'))
    summary = grid.run_grid('lambda_sweep', 'mini', seeds=1, rows=['cen_x1'],
                            root=str(tmp_path))
    assert (summary['ran'], summary['skipped']) == (0, 1)
    path = grid.finished_record(cen_x1, str(tmp_path))
    adopted = json.loads(open(path).read())
    assert (adopted['table'], adopted['row'], adopted['metrics']) == \
        ('lambda_sweep', 'cen_x1', record['metrics'])
    assert adopted['reused_from'] == f'table1/{cen.record_name}'


def test_a_method_package_inside_the_core_is_hashed_only_by_its_runs():
    """The ablation variants live under fusionbench/fusion/ but enter only their own runs."""
    core = source_files(REPO_ROOT, run_sources('segmentation'))
    assert 'fusionbench/fusion/cen.py' in core
    assert not any(f.startswith('fusionbench/fusion/ablations/') for f in core)
    assert 'fusionbench/fusion/ablations/fixed_exchange.py' in source_files(REPO_ROOT)
    fixed = {'model': {'type': 'MultiModalSegmentor', 'fusion': {'type': 'fixed_exchange'}}}
    assert 'fusionbench/fusion/ablations/fixed_exchange.py' in method_sources(fixed)
    assert 'fusionbench/fusion/ablations/random_exchange.py' not in method_sources(fixed)
