"""The protocol report: verdicts first, our numbers beside the paper's, plots, provenance."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from fusionbench.analysis.claims import Claim
from fusionbench.experiments.aggregate import load_records
from fusionbench.experiments.outputs import table_outputs
from fusionbench.report.markdown import SYNTHETIC_WARNING, render_index, render_report

ROWS1 = ('private_bn_l1_half', 'cen', 'cen_l1_all')
CLAIMS1 = [Claim('table1.exchange_helps', 'table1', 'Exchanging helps', 'greater',
                 'ensemble_miou', ('cen', 'private_bn_l1_half')),
           Claim('table1.half_beats_all_channels', 'table1', 'Half beats all', 'greater',
                 'ensemble_miou', ('cen', 'cen_l1_all')),
           Claim('table1.contradicted', 'table1', 'Exchanging hurts', 'less',
                 'ensemble_miou', ('cen', 'private_bn_l1_half'))]
SPEC1 = SimpleNamespace(
    name='table1', title='Table 1 — CEN variants',
    rows=[SimpleNamespace(id=r, label=r.upper(), paper_row=r, note='') for r in ROWS1],
    metrics=[('rgb_miou', 'rgb', 'mIoU'), ('ensemble_miou', 'ensemble', 'mIoU')],
    paper_columns={'rgb_miou': 'rgb_miou', 'ensemble_miou': 'ensemble_miou'},
    constant_columns={'params_total_m': lambda r: r['params']['total'] / 1e6},
    claims=CLAIMS1)
SPEC5 = SimpleNamespace(
    name='table5',
    rows=[SimpleNamespace(id='depth', label='Depth', paper_row='depth', note=''),
          SimpleNamespace(id='depth_normal', label='Depth+Normal', paper_row='depth_normal',
                          note=''),
          SimpleNamespace(id='extra', label='Extra', paper_row=None, note='ours only')],
    metrics=[('fid', 'rgb', 'FID')], paper_columns={'fid': 'fid'}, constant_columns={},
    claims=[Claim('table5.lower', 'table5', 'More modalities, lower FID', 'monotone_decreasing',
                  'fid', ('depth', 'depth_normal'))])
ENSEMBLE = {'private_bn_l1_half': [45.0, 45.2, 45.4], 'cen': [48.0, 48.3, 48.6],
            'cen_l1_all': [47.0, 49.0, 51.0]}


def record(table, row, seed, metrics, status='ok', dirty=False):
    return {'schema': 1, 'run_id': f'{table}-{row}-{seed}', 'table': table, 'row': row,
            'protocol': 'mini', 'seed': seed, 'status': status,
            'error': None if status == 'ok' else 'diverged', 'synthetic': True,
            'dataset': 'synthetic-scenes-v1', 'metrics': metrics,
            'params': {'total': 118_200_000, 'fusion': 0}, 'wall_time_s': 10.0,
            'device': 'cpu', 'config': {}, 'git': {'commit': 'abc1234', 'dirty': dirty},
            'versions': {'python': '3.11.7', 'torch': '2.14.1'},
            'started_at': f'2026-11-24T22:0{seed}:00+00:00',
            'finished_at': f'2026-11-24T22:1{seed}:00+00:00'}


@pytest.fixture
def layout(tmp_path):
    runs = tmp_path / 'results' / 'mini' / 'runs'
    runs.mkdir(parents=True)
    records = [record('table1', row, seed, {'rgb': {'mIoU': value - 2}, 'ensemble': {'mIoU': value}},
                      dirty=seed == 2)
               for row, values in ENSEMBLE.items() for seed, value in enumerate(values)]
    records += [record('table1', 'cen', 3, {}, status='failed'),
                record('table5', 'depth', 0, {'rgb': {'FID': 120.123}}),
                record('table5', 'depth_normal', 0, {'rgb': {'FID': 90.5}})]
    for r in records:
        (runs / f'{r["run_id"]}.json').write_text(json.dumps(r))
    (runs / 'half-written.json.tmp').write_text('{')
    return tmp_path


def render(root, specs=(SPEC1, SPEC5)):
    """The report's leg of the pipeline: records -> table outputs -> markdown."""
    runs = root / 'results' / 'mini' / 'runs'
    names = {spec.name for spec in specs}
    records = [r for r in (load_records(runs) if runs.is_dir() else []) if r['table'] in names]
    tables = [table_outputs([r for r in records if r['table'] == spec.name], spec,
                            root / 'results' / 'mini') for spec in specs]
    return render_report('mini', root / 'reports', tables, records,
                         'Synthetic scenes, ResNet-18 LW-RefineNet, 2 epochs',
                         {'rendered by': 'pytest'})


def test_report_structure(layout):
    path = render(layout)
    assert path == layout / 'reports' / 'mini.md'
    lines = path.read_text(encoding='utf-8').splitlines()
    assert lines[0] == '# fusionbench report — protocol `mini`'
    assert lines[2] == 'Synthetic scenes, ResNet-18 LW-RefineNet, 2 epochs'
    assert SYNTHETIC_WARNING in lines
    verdicts = [i for i, line in enumerate(lines) if line.startswith(('- ✅', '- ❌', '- ❔'))]
    first_table = lines.index('## Table 1 — CEN variants')
    assert len(verdicts) == 4 and max(verdicts) < first_table
    assert lines.index('## Claims') < min(verdicts)
    assert lines.index('## table5') > first_table
    assert lines.index('## Provenance') > lines.index('## table5')


def test_verdicts(layout):
    text = render(layout).read_text(encoding='utf-8')
    assert ('- ✅ **reproduced** — Exchanging helps (`table1.exchange_helps`): '
            'cen − private_bn_l1_half = +3.1 [95% paired t CI +2.9, +3.3] on ensemble_miou '
            '(n = 3 paired seeds, p < 0.001); paper: cen − private_bn_l1_half = +3.4') in text
    assert '- ❔ **undecided** — Half beats all' in text
    assert '- ❌ **contradicted** — Exchanging hurts' in text
    assert "- ❔ **undecided** — More modalities, lower FID (`table5.lower`): row 'depth' has 1 " \
        'seed(s)' in text


def test_tables_show_paper_numbers_and_no_delta_on_synthetic_data(layout):
    text = render(layout).read_text(encoding='utf-8')
    cen = next(line for line in text.splitlines() if line.startswith('| CEN (`cen`)'))
    cells = [c.strip() for c in cen.strip('|').split('|')]
    # row, seeds, rgb ours, paper, ensemble ours, paper, params: no Δ (synthetic vs NYUDv2)
    assert cells[1] == '3 (+1 failed)'
    assert cells[2] == '46.3 ± 0.3' and cells[3] == '49.7'  # ± = std over seeds
    assert cells[4].startswith('48.3 ± ') and cells[5] == '51.1'
    assert cells[6] == '118.2'
    assert '| Depth (`depth`) | 1 | 120.12 | 113.91 |' in text  # FID: 2 decimals; 1 seed
    assert '| Extra (`extra`) | 0 | — | — | ours only |' in text
    assert 'reported (Wang et al., NeurIPS 2020, Table 1)' in text
    assert 'No Δ = ours − paper' in text


def test_real_data_tables_show_the_difference_to_the_paper(tmp_path):
    records = [{**record('table1', 'cen', s, {'rgb': {'mIoU': 46.0}, 'ensemble': {'mIoU': v}}),
                'synthetic': False} for s, v in enumerate((50.0, 51.0))]
    tables = [table_outputs(records, SPEC1, tmp_path / 'results')]
    text = render_report('paper', tmp_path / 'reports', tables, records, 'd').read_text(
        encoding='utf-8')
    cen = next(line for line in text.splitlines() if line.startswith('| CEN (`cen`)'))
    cells = [c.strip() for c in cen.strip('|').split('|')]
    assert cells[2:5] == ['46.0 ± 0.0', '49.7', '-3.7'] and cells[6:8] == ['51.1', '-0.6']
    assert 'Δ = ours − paper.' in text


def test_the_report_shows_paper_reference_and_yours(tmp_path, monkeypatch):
    """A results root that is not the reference: per cell the paper's number, the reference's
    and yours, and the equivalence section; the reference's own report has no such columns."""
    from fusionbench import paths
    from fusionbench.experiments.outputs import render_reports

    def write(root, values):
        runs = root / 'mini' / 'runs' / 'table1'
        runs.mkdir(parents=True)
        for seed, value in enumerate(values):
            r = {**record('table1', 'cen', seed, {'rgb': {'mIoU': 30.0}, 'depth': {'mIoU': 31.0},
                                                  'ensemble': {'mIoU': value}}), 'cell': 'main'}
            (runs / f'{r["run_id"]}.json').write_text(json.dumps(r))

    write(tmp_path / 'reference', [40.0, 41.0, 42.0])
    write(tmp_path / 'results', [40.5, 41.5])
    monkeypatch.setattr(paths, 'REFERENCE_DIR', tmp_path / 'reference')
    render_reports('mini', root=str(tmp_path / 'results'), reports_dir=str(tmp_path / 'reports'))
    lines = (tmp_path / 'reports' / 'mini.md').read_text(encoding='utf-8').splitlines()
    header = next(line for line in lines if line.startswith('| row | seeds | reference seeds'))
    assert ('| ensemble_miou paper | ensemble_miou reference | ensemble_miou yours |'
            in header)
    cells = [c.strip() for c in next(
        line for line in lines if '(`cen`)' in line).strip('|').split('|')]
    ensemble = header.strip('|').split('|').index(' ensemble_miou paper ')
    assert cells[1:3] == ['2', '3']                              # seeds: yours, reference
    assert cells[ensemble:ensemble + 3] == ['51.1', '41.0 ± 1.0', '41.0 ± 0.7']
    assert '## Against the reference' in lines
    # a row the reference never ran: its reference cells are empty
    unshared = [c.strip() for c in next(
        line for line in lines if '(`unshared`)' in line).strip('|').split('|')]
    assert unshared[1:3] == ['0', '0'] and unshared[ensemble + 1] == '—'
    # the reference's own report: no reference column, no section
    render_reports('mini', root=str(tmp_path / 'reference'), reports_dir=str(tmp_path / 'ref'))
    own = (tmp_path / 'ref' / 'mini.md').read_text(encoding='utf-8')
    assert 'reference seeds' not in own and '## Against the reference' not in own


def test_a_smoke_report_says_the_reference_is_another_protocol(tmp_path, monkeypatch):
    """Yours on smoke, the reference on mini only: no reference column (nothing set beside a
    different protocol), one sentence saying why in the report and on the terminal; the
    written paths include the per-class CSV the report's table pass wrote."""
    from fusionbench import paths
    from fusionbench.experiments.outputs import render_reports

    def write(root, protocol):
        runs = root / protocol / 'runs' / 'table1'
        runs.mkdir(parents=True)
        for seed in range(2):
            heads = {h: {'mIoU': 30.0 + seed, 'IoU.wall': 50.0} for h in
                     ('rgb', 'depth', 'ensemble')}
            r = {**record('table1', 'cen', seed, heads), 'cell': 'main', 'protocol': protocol}
            (runs / f'{r["run_id"]}.json').write_text(json.dumps(r))

    write(tmp_path / 'reference', 'mini')
    write(tmp_path / 'results', 'smoke')
    monkeypatch.setattr(paths, 'REFERENCE_DIR', tmp_path / 'reference')
    said = []
    written = render_reports('smoke', root=str(tmp_path / 'results'),
                             reports_dir=str(tmp_path / 'reports'), say=said.append)
    gap = ("The project's reference has no `smoke` runs (it has `mini`): no reference column "
           'and nothing compared; the reference is compared only with runs of its own protocol '
           '(`python -m fusionbench run <table>` with that protocol).')
    assert said == [f'smoke: {gap}']
    lines = (tmp_path / 'reports' / 'smoke.md').read_text(encoding='utf-8').splitlines()
    assert not any('reference seeds' in line or ' reference |' in line for line in lines)
    at = lines.index('## Against the reference')
    assert lines[at + 2] == gap and lines.index('## Provenance') > at
    assert tmp_path / 'results' / 'smoke' / 'table1_per_class.csv' in written


def test_plots_are_linked_relatively(layout):
    text = render(layout).read_text(encoding='utf-8')
    link = '](../results/mini/plots/table1.png)'
    assert link in text
    assert (layout / 'results' / 'mini' / 'plots' / 'table1.png').stat().st_size > 0
    assert not (layout / 'results' / 'mini' / 'plots' / 'table1_heads.png').exists()
    assert (layout / 'results' / 'mini' / 'table1.csv').is_file()


def test_provenance_and_failures(layout):
    text = render(layout).read_text(encoding='utf-8')
    assert '- git commits: abc1234 (clean) × 9, abc1234 (dirty) × 3' in text
    assert '- devices: cpu × 12' in text
    assert '- versions: python 3.11.7; torch 2.14.1' in text
    assert '- rendered by: pytest' in text
    assert '- dates: 2026-11-24T22:00:00+00:00 → 2026-11-24T22:13:00+00:00' in text
    assert '| table1 | `cen` | 3 | diverged |' in text


def test_output_is_deterministic(layout):
    first = render(layout).read_bytes()
    assert render(layout).read_bytes() == first


def test_no_runs_yet(tmp_path):
    text = render(tmp_path, specs=[SPEC1]).read_text(encoding='utf-8')
    assert SYNTHETIC_WARNING not in text
    assert 'No results yet for this table.' in text
    assert "row 'cen' has no results" in text


def test_index_lists_the_reports(layout):
    render(layout)
    index = render_index(layout / 'reports')
    text = index.read_text(encoding='utf-8')
    assert index.name == 'README.md'
    assert '[fusionbench report — protocol `mini`](mini.md)' in text
    assert 'claims: 1 ✅ 1 ❌ 2 ❔ — synthetic data' in text
    assert render_index(layout / 'reports').read_text(encoding='utf-8') == text


def test_a_protocol_without_runs_gets_one_line_and_no_file(tmp_path):
    from fusionbench.experiments.outputs import render_reports
    (tmp_path / 'results' / 'smoke' / 'runs' / 'table1').mkdir(parents=True)
    said = []
    written = render_reports(None, root=str(tmp_path / 'results'),
                             reports_dir=str(tmp_path / 'reports'), say=said.append)
    assert written == [] and len(said) == 1 and said[0].startswith('smoke: no run records')
    assert not (tmp_path / 'reports').exists()
    assert not (tmp_path / 'results' / 'smoke' / 'table1.csv').exists()



def test_provenance_names_the_dataset_from_the_resolved_config(tmp_path):
    """Run records carry the resolved config, not a ``dataset`` key: the provenance line reads
    the test data set from it (it said ``datasets: None`` for every real record)."""
    from fusionbench.report.markdown import provenance_summary
    synthetic = {k: v for k, v in record('table1', 'cen', 0, {}).items() if k != 'dataset'}
    synthetic['config'] = {'test_dataloader': {'dataset': {'type': 'SyntheticScenes'}}}
    real = {**synthetic, 'config': {'test_dataloader': {'dataset': {
        'type': 'NYUDv2Dataset', 'data_root': 'data/nyudv2'}}}}
    bare = {**synthetic, 'config': {}}
    summary = provenance_summary([synthetic, synthetic, real, bare])
    assert summary['datasets'] == ('NYUDv2Dataset (data/nyudv2) × 1, SyntheticScenes × 2, '
                                   'unknown × 1')


def test_caveats_name_unconverged_runs_and_gamma_lockstep(tmp_path):
    """The runs' own checks (plateau, γ lockstep) appear under the claims they qualify."""
    def with_checks(row, seed, gain, lockstep):
        r = record('table1', row, seed, {'ensemble': {'mIoU': 40.0 + seed}})
        r['plateau'] = {'plateaued': gain < 1.0, 'gain': gain, 'threshold': 1.0}
        if lockstep is not None:
            r['gamma_dynamics'] = {'layers': {f'l{i}': {} for i in range(16)},
                                   'lockstep_layers': [f'l{i}' for i in range(lockstep)]}
        return r

    records = [with_checks('cen', 0, 3.8, 16), with_checks('cen', 1, 0.2, 16),
               with_checks('cen_l1_all', 0, -0.5, 14), with_checks('cen_l1_all', 1, 0.1, 15),
               with_checks('private_bn_l1_half', 0, 2.5, 0), with_checks('unshared', 0, 0.0, None)]
    tables = [table_outputs(records, SPEC1, tmp_path / 'results')]
    lines = render_report('mini', tmp_path / 'reports', tables, records, 'd').read_text(
        encoding='utf-8').splitlines()
    caveats = lines.index('## Caveats from the run records')
    assert lines.index('## Claims') < caveats < lines.index('## Table 1 — CEN variants')
    assert lines[caveats + 2] == (
        '- **not converged**: 2 of 6 runs had not plateaued (validation mIoU still improved by '
        '≥ 1.0 points over the last fifth of training; up to +3.8): `cen` × 1, '
        '`private_bn_l1_half` × 1; a difference between rows may then be one of speed, not of '
        'end point, and a verdict can change with the training budget')
    assert lines[caveats + 3].startswith("- **γ lockstep**: in 4 of 5 runs with CEN's γ dynamics")
    assert lines[caveats + 3].endswith(
        'points in lockstep per run: `cen` 16 of 16, `cen_l1_all` 14–15 of 16')


def test_no_caveats_section_when_the_checks_are_clean(layout):
    assert '## Caveats' not in render(layout).read_text(encoding='utf-8')


def test_the_report_says_whether_records_belong_to_this_code(monkeypatch):
    from fusionbench.experiments import fingerprint, outputs
    monkeypatch.setattr(fingerprint, 'run_fingerprint',
                        lambda root, config, memo=None: 'now000000000')
    same = {'code_fingerprint': 'now000000000', 'config': {}}
    old = {'code_fingerprint': 'old000000000', 'config': {}}
    assert outputs.code_match([same, same]) == \
        'all 2 records were made by the code of this checkout (same fingerprint)'
    line = outputs.code_match([same, old, {'config': {}}])
    assert line.startswith('1 of 3 records made by the code of this checkout; 1 by other code')
    assert line.endswith('1 without a code fingerprint to compare')


def test_seeds_needed_by_hand():
    import math

    from scipy import stats

    from fusionbench.analysis.stats import paired_sd, seeds_needed
    assert seeds_needed(1.0, 2.0) == 5  # n = 4: 3.182 + 0.978 > 4.0; n = 5: 3.717 <= 4.472
    assert seeds_needed(0.0, 2.0) == 2 and seeds_needed(math.nan, 2.0) is None
    assert seeds_needed(50.0, 0.1) is None  # more than 100
    # the sd behind a paired t-interval: half-width 1.0 of 4 seeds
    assert paired_sd(-1.0, 1.0, 4) == pytest.approx(2 / stats.t.ppf(0.975, 3))
    assert math.isnan(paired_sd(0.0, 1.0, 1))


def test_the_seed_section_sizes_each_paired_claim():
    from fusionbench.analysis.claims import Claim, Comparison, Verdict
    from fusionbench.report.markdown import _seed_section
    from scipy import stats
    half = stats.t.ppf(0.975, 2) * 1.0 / 3 ** 0.5  # sd 1.0 over 3 seeds
    claim = Claim('t.c', 't', 'a beats b', 'greater', 'ensemble_miou', ('a', 'b'))
    paired = Comparison('a', 'b', 3.0, 3.0 - half, 3.0 + half, 3, 3, 'reproduced')
    welch = Comparison('a', 'c', 3.0, 1.0, 5.0, 3, 2, 'reproduced', method='Welch t')
    text = '\n'.join(_seed_section([(claim, Verdict('reproduced', '', (paired, welch)))]))
    assert '| `t.c` | a − b | 3 | 1.00 | 5 |' in text and 'a − c' not in text
    assert 'The largest need is 5 seeds.' in text
    assert _seed_section([(claim, Verdict('undecided', '', (welch,)))]) == []
    # a test across columns is named by its label (both settings of Table 2 stay apart)
    across = Comparison('a', 'b', 3.0, 3.0 - half, 3.0 + half, 3, 3, 'reproduced',
                        label='a − b (common_miou)')
    text = '\n'.join(_seed_section([(claim, Verdict('reproduced', '', (paired, across)))]))
    assert '| `t.c` | a − b | 3 |' in text and '| `t.c` | a − b (common_miou) | 3 |' in text


def test_the_report_holds_each_tables_claims_together(layout):
    # Table 1's three claims: exchange helps (+3.0, sd 0.1) and its inverse (contradicted) are
    # decided with p << 0.01 and stand under Holm; half-vs-all is undecided. Table 5 has one
    # claim: no family.
    text = render(layout).read_text(encoding='utf-8')
    section = text.split('### Held together per table', 1)[1].split('\n## ', 1)[0]
    assert "Holm's correction, family-wise α = 0.05" in section
    assert '- `table1` (3 claims): 2 of 2 decided verdicts stand' in section
    assert '`table1.exchange_helps` ✅' in section and '`table1.contradicted` ❌' in section
    assert '`table5`' not in section


def test_count_columns_print_as_integers():
    """Table 2's exact fusion-parameter count is averaged over seeds as a float; it prints
    without decimals, while parameters in M keep the paper's 0.1 M."""
    from fusionbench.experiments.tables import get_table
    from fusionbench.report.markdown import _decimals, fmt
    spec = get_table('table2')
    assert fmt(10304.0, _decimals(spec, 'fusion_params_count')) == '10304'
    assert _decimals(spec, 'fusion_params_m') == 1
