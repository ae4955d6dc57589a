"""``python -m fusionbench run | bench | report | compare | params | list | train | preflight |
pretrain | figure3 | qualitative | data``."""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
import traceback
import warnings

from fusionbench import registry
from fusionbench.errors import positive_int


class _OneLineParser(argparse.ArgumentParser):
    """argparse without the usage block on a bad argument: the error is one line (``--help``
    still shows the usage). Subcommand parsers inherit the class (``add_subparsers``)."""

    def error(self, message: str):
        self.exit(2, f'{self.prog}: error: {message} (see python -m {self.prog} --help)\n')


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split('/'))
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f'needs i/n with whole numbers 0 <= i < n (e.g. 0/2, 1/2), got {text!r}') \
            from err
    if not 0 <= index < count:
        valid = ', '.join(f'{i}/{count}' for i in range(min(count, 4))) if count > 0 else '0/1'
        raise argparse.ArgumentTypeError(
            f'needs i/n with 0 <= i < n, got {text!r}; valid: {valid}'
            f'{", ..." if count > 4 else ""}')
    return index, count


_positive_int = positive_int  # the argparse type lives in fusionbench.errors (bench uses it too)


#: Options whose values may start with '-' (argparse would read ``--shard -1/2`` as two flags).
_VALUE_OPTIONS = ('--shard', '--seeds', '--jobs', '--seed')


def _glue_option_values(argv: list[str]) -> list[str]:
    """``['--shard', '-1/2']`` -> ``['--shard=-1/2']``, so the value reaches its check."""
    out: list[str] = []
    items = iter(argv)
    for item in items:
        if item in _VALUE_OPTIONS:
            value = next(items, None)
            out.append(item if value is None else f'{item}={value}')
        else:
            out.append(item)
    return out


#: ``run --list``: what ``run`` does with a cell, by the state of its record on disk.
_LIST_STATES = {'ok': 'done', 'missing': 'to-run', 'failed': 'rerun-failed',
                'invalid': 'rerun-invalid'}


def _check_rows(table: str, rows: list[str] | None) -> None:
    """Every ``--rows`` id is a row of ``table`` (one line listing the valid ids otherwise)."""
    from fusionbench.errors import FusionbenchError
    from fusionbench.experiments.tables import get_table

    if rows is None:
        return
    valid = [row.id for row in get_table(table).rows]
    unknown = [r for r in rows if r not in valid]
    if unknown or not rows:
        what = f'unknown row(s) {unknown}' if unknown else '--rows needs at least one row id'
        raise FusionbenchError(f'{what} for {table}; valid: {", ".join(valid)}')


@contextlib.contextmanager
def _naming_write_errors(folder: str):
    """A write error without a file name (a full disk mid-write) names ``folder`` instead."""
    from fusionbench.errors import is_write_error, write_error
    try:
        yield
    except OSError as err:
        if not is_write_error(err):
            raise
        raise write_error(err, folder) from err


def cmd_list(args: argparse.Namespace) -> int:
    from fusionbench.fusion.base import FusionModule, fusion_cards

    if args.what == 'fusions':  # $FUSIONBENCH_PLUGINS included; the tables each card enters
        for card in fusion_cards():
            tables = ','.join(card.tables) or '-'
            print(f'{card.name:16s} {card.position:6s} {"/".join(card.settings):12s} '
                  f'{tables:8s} {card.summary}')
        return 0
    if args.what == 'models':
        names = [n for n in registry.list_names(registry.MODELS)
                 if n not in registry.list_names(registry.FUSIONS, FusionModule)]
    else:
        names = registry.list_names(registry.REGISTRIES[args.what])
    for name in names:
        obj = registry.REGISTRIES[args.what].get(name)
        summary = (obj.__doc__ or '').strip().split('\n\n')[0]  # the first paragraph, whole
        print(f'{name:28s} {plain_text(" ".join(summary.split()))}')
    return 0


#: ``:role:`target``` (``~`` keeps the last dotted part) and ````literal```` in reST docstrings.
_REST_ROLE = re.compile(r':[a-z]+:`(~?)([^`]+)`')
_REST_LITERAL = re.compile(r'``([^`]+)``')


def plain_text(line: str) -> str:
    """A docstring line without reST markup, for a terminal: ``:class:`~a.B``` -> ``B``,
    ``:func:`f``` -> ``f``, double-backtick literals -> their text."""
    line = _REST_ROLE.sub(lambda m: m.group(2).rpartition('.')[2] if m.group(1) else m.group(2),
                          line)
    return _REST_LITERAL.sub(r'\1', line)


def _shown(path) -> str:
    """``path`` relative to the working directory when inside it (so a written comparison names
    no machine path), else as given."""
    from pathlib import Path

    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def cmd_compare(args: argparse.Namespace) -> int:
    """Yours (the results root) against a reference results root, cell by cell: paired TOST
    with Holm's correction (:mod:`fusionbench.experiments.equivalence`). Exit 0 when every
    testable comparison is equivalent (and there is one), 1 otherwise, 2 on bad input."""
    from pathlib import Path

    from fusionbench.experiments.equivalence import (compare_tables, markdown_lines,
                                                     numerics_paragraph)
    from fusionbench.analysis.files import atomic_write_text
    from fusionbench.errors import FusionbenchError
    from fusionbench.experiments.aggregate import load_records
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.tables import get_table
    from fusionbench.paths import REFERENCE_DIR, RESULTS_ENV, results_root

    protocol = get_protocol(args.protocol).name
    yours = Path(results_root())
    reference = Path(args.reference or REFERENCE_DIR)
    if yours.resolve() == reference.resolve():
        raise FusionbenchError(
            f'yours and the reference are the same folder ({reference}): point ${RESULTS_ENV} '
            'at the results root of your run, or --reference at the one to compare with')
    if not 0 < args.margin < float('inf'):  # an infinite margin would call every cell equivalent
        raise FusionbenchError(f'--margin must be a finite number > 0, got {args.margin}')
    if not 0 < args.alpha < 0.5:
        raise FusionbenchError(f'--alpha must lie in (0, 0.5), got {args.alpha}')
    loaded = {}
    for name, root in (('yours', yours), ('reference', reference)):
        runs = root / protocol / 'runs'
        if not runs.is_dir():
            raise FusionbenchError(_no_runs_line(name, root, protocol))
        loaded[name] = load_records(runs)
    tables = args.tables or sorted({r.get('table') for r in loaded['yours']}
                                   & {r.get('table') for r in loaded['reference']})
    specs = [get_table(t) for t in tables]
    comparisons = compare_tables(loaded['yours'], loaded['reference'], specs, args.margin,
                                 args.alpha)
    if not comparisons:
        raise FusionbenchError(f'no (table, row, cell, seed) run is in both {yours} and '
                               f'{reference} for {", ".join(tables) or "any table"}')
    notes = numerics_paragraph(loaded['yours'], loaded['reference'])
    lines = [f'# {protocol}: yours ({_shown(yours)}) against the reference '
             f'({_shown(reference)})', '', *([notes, ''] if notes else []),
             *markdown_lines(comparisons, args.margin, args.alpha)]
    print('\n'.join(lines))
    if args.out:
        atomic_write_text(args.out, '\n'.join(lines) + '\n')
    testable = [c for c in comparisons if c.equivalent is not None]
    return 0 if testable and all(c.equivalent for c in testable) else 1


def _no_runs_line(name: str, root, protocol: str) -> str:
    """``compare``'s one line when ``root`` (``name``: yours or the reference) has no
    ``<protocol>/runs/``: the protocols it does have runs of, and which option to change.
    Never "run a table there" for the reference: ``run`` refuses the committed one."""
    from pathlib import Path

    from fusionbench.experiments.outputs import protocols_with_runs
    from fusionbench.paths import RESULTS_ENV

    root = Path(root)
    others = protocols_with_runs(root)
    runs = root / protocol / 'runs'
    if others:
        has = ', '.join(others)
        fix = (f'it has runs of {has}: pass --protocol {others[0]}' if name == 'yours' else
               f'it has runs of {has} only: pass --protocol {others[0]}, or --reference a '
               f'results root with {protocol} runs')
    elif name == 'yours':
        fix = (f'run a table with --protocol {protocol} there first, or point ${RESULTS_ENV} '
               'at the results root of your run')
    else:
        fix = f'pass --reference a results root holding {protocol}/runs/'
    return f'{name}: no run records under {runs}; {fix}'


@contextlib.contextmanager
def _or_a_table(target: str):
    """A target that is neither a config file nor a table: one line naming both kinds."""
    try:
        yield
    except FileNotFoundError as error:
        if os.path.isfile(target) or target.endswith('.py'):
            raise
        from fusionbench.errors import FusionbenchError
        raise FusionbenchError(f'{error}; or name a table: '
                               f'{", ".join(registry.list_names(registry.TABLES))}') from None


def cmd_params(args: argparse.Namespace) -> int:
    from fusionbench.evaluation.params import parameter_counts
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.run import build_model, resolve_config

    if args.target in registry.list_names(registry.TABLES):
        from fusionbench.experiments.param_table import print_param_table
        return print_param_table(args.target, get_protocol(args.protocol))
    with _or_a_table(args.target):
        cfg = resolve_config(args.target, get_protocol(args.protocol), seed=0)
    counts = parameter_counts(build_model(cfg))
    print(f'{args.target} ({args.protocol} protocol)')
    for key, value in counts.items():
        print(f'  {key:12s} {value:>13,d}  ({value / 1e6:.1f} M)')
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from fusionbench.experiments.grid import failure_summary, plan, run_grid
    from fusionbench.experiments.outputs import write_outputs
    from fusionbench.experiments.progress import GridProgress
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.tables import get_table

    if not args.list:  # the reference is written by copying a clean commit's runs only
        from fusionbench.paths import check_not_reference, results_root
        try:
            check_not_reference(results_root())
        except ValueError as error:
            from fusionbench.errors import FusionbenchError
            raise FusionbenchError(str(error)) from None
    if args.table in _EVALUATIONS:  # evaluations of another table's trained cells
        return _EVALUATIONS[args.table](args)
    if args.of_table or args.corruptions or args.no_train:
        from fusionbench.errors import FusionbenchError
        raise FusionbenchError(f'--table, --corruptions and --no-train belong to `run '
                               f'{" / ".join(_EVALUATIONS)}`, not to `run {args.table}`')
    start = time.perf_counter()  # what the summary line reports: the whole command
    protocol = get_protocol(args.protocol)
    # the table's task may run the protocol with its own default seeds (Protocol.tasks)
    seeds = args.seeds or protocol.for_task(get_table(args.table).task).seeds
    _check_rows(args.table, args.rows)
    if args.list:  # the cells, each with what `run` would do with it (stdout: one per line)
        from collections import Counter

        from fusionbench.experiments.grid import record_state
        states = Counter()
        for job in plan(get_table(args.table), protocol, seeds, args.shard, args.rows):
            state = 'rerun' if args.force else _LIST_STATES[record_state(job)[0]]
            states[state] += 1
            print(f'{job.run_id}  {job.key:40s} {job.config}  {state}')
        print(f'{args.table} [{args.protocol}]: {sum(states.values())} cell(s): '
              + ', '.join(f'{n} {state}' for state, n in sorted(states.items())),
              file=sys.stderr)
        return 0
    from fusionbench.experiments.preflight import find_missing, format_missing, unique
    jobs = plan(get_table(args.table), protocol, 1, args.shard, args.rows)
    missing = unique(m for job in jobs for m in find_missing(job.resolved))
    if missing:  # fail before the first run, not inside every one
        print(format_missing(missing, f'{args.table} [{args.protocol}]'), file=sys.stderr)
        return 2
    if args.submit:  # to a scheduler through submitit (fusionbench.experiments.scheduler)
        from fusionbench.experiments.scheduler import SchedulerError, parse_options, submit_grid
        if args.shard != (0, 1) or args.jobs not in (None, 1) or args.launcher != 'none':
            print('fusionbench: --submit sends every missing cell as its own job; drop --shard, '
                  '--jobs and --launcher', file=sys.stderr)
            return 2
        try:
            summary = submit_grid(args.table, args.protocol, args.submit, seeds, args.rows,
                                  args.force, parameters=parse_options(args.scheduler_opt),
                                  wait=not args.no_wait)
        except SchedulerError as err:
            print(f'fusionbench: {err}', file=sys.stderr)
            return 2
        print(f"{args.table} [{args.protocol}]: {len(summary['submitted'])} cell(s) submitted "
              f"({args.submit}), {summary['skipped']} already done")
        if args.no_wait and summary['submitted']:  # with nothing submitted, the table is due
            print('  run the same command again when they are done: cells with a record are '
                  'skipped and the table is written')
            return 0
    else:
        from fusionbench.experiments.grid import default_parallelism
        if args.launcher != 'none':  # one job per rank (run_grid rejects --jobs > 1 there)
            jobs, threads = args.jobs or 1, args.threads or 1
        else:
            jobs, threads = default_parallelism(args.jobs, args.threads)
        print(f'{args.table} [{args.protocol}]: {jobs} process(es) × {threads} thread(s) '
              '(--jobs / --threads to change)')
        with GridProgress(args.table) as progress:  # closed (streams given back) on errors too
            summary = run_grid(args.table, args.protocol, seeds, jobs, args.shard, args.force,
                               args.rows, progress=progress, launcher=args.launcher,
                               threads=threads, performance=_performance_args(args))
    from fusionbench.experiments.grid import _is_main_process
    if not _is_main_process():  # under torchrun: rank 0 writes and reports
        return 1 if summary['failed'] else 0
    # The CSV covers the whole table (every row, every shard) from the records on disk, so a
    # shard or a --rows subset adds to it instead of replacing it; the last writer has it all.
    everything = plan(get_table(args.table), protocol, seeds)
    from fusionbench.paths import results_root
    with _naming_write_errors(os.path.join(results_root(), args.protocol)):
        outputs = write_outputs(args.table, args.protocol, everything)
    elapsed = time.perf_counter() - start
    claimed = f", {len(summary['claimed'])} running elsewhere" if summary.get('claimed') else ''
    retried = f" ({len(summary['retried'])} failed before, retried)" if summary.get(
        'retried') else ''
    print(f"{args.table} [{args.protocol}]: {summary['planned']} runs planned, "
          f"{summary['skipped']} already done, {summary['ran']} ran{retried}, "
          f"{len(summary['failed'])} failed{claimed}, {elapsed:.1f} s")
    if summary['skipped'] and not summary['ran'] and not summary['failed']:
        print(f"  nothing trained: all {summary['skipped']} finished cell(s) were reused from "
              'their records of this code in this results root (--force retrains)')
    for path in outputs:
        print(f'  wrote {os.path.relpath(path)}')
    if summary.get('stale'):
        print(f"  {len(summary['stale'])} stale record(s) from other code or configs kept, not "
              f"reused (e.g. {os.path.relpath(summary['stale'][0])})")
    for problem in summary.get('invalid', []):
        print(f'fusionbench: {problem} (its cell was rerun)', file=sys.stderr)
    for record in summary.get('claimed', []):
        print(f"fusionbench: {record['row']}/{record['cell']}/seed{record['seed']} is being run "
              f"by {record['holder']}; rerun later to include it", file=sys.stderr)
    if summary['failed']:
        print(failure_summary(summary['failed']), file=sys.stderr)
        return 1
    return 0


def cmd_robustness(args: argparse.Namespace) -> int:
    """``run robustness``: the trained cells of ``--table`` (default table1) under missing and
    degraded modalities (:mod:`fusionbench.experiments.robustness`); trains missing cells
    first unless ``--no-train``. Writes the CSV and the curves; exit 0."""
    from fusionbench.errors import FusionbenchError
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.robustness import run_robustness, write_robustness
    from fusionbench.paths import results_root

    if args.force or args.list or args.submit or args.shard != (0, 1) or args.launcher != 'none':
        raise FusionbenchError('run robustness evaluates trained cells: it takes --protocol, '
                               '--table, --rows, --seeds, --corruptions and --no-train only')
    get_protocol(args.protocol)  # an unknown name is one line naming the registered ones
    table = args.of_table or 'table1'
    start, cpu = time.perf_counter(), time.process_time()
    df = run_robustness(table, args.protocol, args.seeds or 1, args.rows, args.corruptions,
                        train_missing=not args.no_train)
    with _naming_write_errors(os.path.join(results_root(), args.protocol)):
        paths = write_robustness(df, table, args.protocol)
    cells = len(set(zip(df['row'], df['seed'])))
    conditions = len(set(zip(df['corruption'], df['modality'], df['severity'])))
    print(f'robustness {table} [{args.protocol}]: {cells} cell(s), {conditions} conditions, '
          f'{time.perf_counter() - start:.1f} s ({time.process_time() - cpu:.1f} CPU-s of this '
          'process)')
    for path in paths:
        print(f'  wrote {os.path.relpath(path)}')
    return 0


#: ``run <name>`` commands that evaluate another table's trained cells instead of training one.
_EVALUATIONS = {'robustness': cmd_robustness}


def cmd_bench(args: argparse.Namespace) -> int:
    from fusionbench.experiments import speed
    args.argv = list(sys.argv[1:]) if args.argv is None else args.argv
    return speed.main(args)


def _performance_args(args: argparse.Namespace) -> dict:
    """The speed switches given on the command line (the protocol's defaults for the rest)."""
    given = {'amp': args.amp, 'channels_last': args.channels_last,
             'compile': args.compile or None, 'deterministic': args.deterministic or None}
    return {k: v for k, v in given.items() if v is not None}


def _add_performance_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('--amp', choices=['bf16', 'fp32'], default=None,
                   help="autocast precision on CUDA (default: the protocol's: bf16 for the "
                        'small protocols, fp32 for paper)')
    p.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=None,
                   help="channels-last weights on CUDA (default: the protocol's)")
    p.add_argument('--compile', action='store_true', help='torch.compile the model')
    p.add_argument('--deterministic', action='store_true',
                   help='deterministic algorithms (slower on CUDA; recorded)')


def cmd_report(args: argparse.Namespace) -> int:
    """Exit 0 when a report was written; 2 (one line per protocol on stderr) when there was
    nothing to report: an empty or missing results root, a protocol without records."""
    from fusionbench.experiments.outputs import render_reports
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.paths import RESULTS_ENV, reports_root, results_root

    root = results_root()
    if args.protocol is not None:
        get_protocol(args.protocol)  # an unknown name is one line naming the registered ones
    if os.path.exists(root) and not os.path.isdir(root):
        print(f'fusionbench: results root {root} (${RESULTS_ENV}) is not a folder; point '
              f'${RESULTS_ENV} at the folder holding <protocol>/runs/', file=sys.stderr)
        return 2
    lines: list[str] = []
    with _naming_write_errors(reports_root()):
        paths = render_reports(args.protocol, say=lines.append)
    if not paths:
        for line in lines or [f'no run records under {root} (${RESULTS_ENV}); nothing to '
                              'report (python -m fusionbench run <table> first)']:
            print(f'fusionbench: {line}', file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    for path in paths:
        print(f'wrote {os.path.relpath(path)}')
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from fusionbench.experiments.config_check import check_config
    from fusionbench.experiments.grid import check_writable
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.run import config_path, resolve_config, train_and_evaluate

    protocol = get_protocol(args.protocol)
    cfg = resolve_config(args.config, protocol, args.seed, work_dir=args.work_dir)
    source = config_path(args.config)
    check_config(cfg, source)
    from fusionbench.experiments.preflight import prepare
    prepare(cfg)  # missing data / weights: one line, before the work dir exists
    if not cfg.get('work_dir'):
        cfg.work_dir = default_work_dir(source, cfg, protocol.name, args.seed)
        print(f'work dir: {os.path.relpath(cfg.work_dir)}')
    check_writable(cfg.work_dir)
    result = train_and_evaluate(cfg, launcher=args.launcher, performance={
        **protocol.default_performance(), **_performance_args(args)})
    from fusionbench.experiments.grid import _is_main_process
    if _is_main_process():
        for head, values in result['metrics'].items():
            print(f'{head:10s} ' + '  '.join(f'{k} {v:.2f}' for k, v in values.items()))
        print(f"wall time {result['wall_time_s']:.1f} s on {result['device']}"
              f" ({result['world_size']} process{'es' if result['world_size'] > 1 else ''})")
    return 0


def default_work_dir(source: str, cfg, protocol: str, seed: int) -> str:
    """``<results>/<protocol>/work/train/<config name>-<run id>``: the same config, protocol and
    seed resume in the same folder; any change of the config gets a new one."""
    import json

    from fusionbench.experiments.grid import hash_config
    from fusionbench.paths import results_root

    resolved = json.loads(json.dumps(cfg.to_dict(), default=str))
    name = os.path.splitext(os.path.basename(source))[0]
    return os.path.join(results_root(), protocol, 'work', 'train',
                        f'{name}-{hash_config(resolved, protocol, seed)}')


def cmd_preflight(args: argparse.Namespace) -> int:
    from fusionbench.experiments.preflight import check_target, roots_line

    with _or_a_table(args.target):
        count, missing = check_target(args.target, args.protocol)
    print(f'preflight {args.target} [{args.protocol}]: {count} config(s); {roots_line()}')
    for item in missing:
        print(item)
    print(f'{len(missing)} missing input(s)' if missing else 'all inputs present')
    return 1 if missing else 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from fusionbench.experiments.pretrain import ensure_artifact
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.run import train_and_evaluate

    protocol = get_protocol(args.protocol)
    if protocol.pretraining is None:
        print(f'fusionbench: protocol {args.protocol!r} trains from scratch; nothing to '
              'pretrain', file=sys.stderr)
        return 2
    for seed in range(args.seeds or protocol.seeds):
        made = ensure_artifact(protocol, seed, train_and_evaluate, args.depth)
        median = made['median_gradient']
        print(f"seed {seed}: {made['dir']}  pretraining mIoU (val, ensemble) "
              f"{made['metrics']['ensemble']['mIoU']:.1f}, {made['cpu_time_s']:.0f} CPU-s; "
              f'λ per layer {min(median.values()):.1e} … {max(median.values()):.1e}')
    return 0


def _trained_cell(table: str, row: str, seed: int, protocol: str, cell: str = 'main'):
    """:func:`~fusionbench.experiments.checkpoints.load_trained` for the commands that draw
    from trained cells (``figure3``, ``qualitative``). In the committed reference (the results
    root is :data:`~fusionbench.paths.REFERENCE_DIR` or inside it) they may read checkpoints
    already there but never train a missing cell into it, as ``run`` never does: one line
    naming the cell and the variable to change instead."""
    from fusionbench.errors import ConfigError
    from fusionbench.experiments.checkpoints import load_trained
    from fusionbench.paths import RESULTS_ENV, check_not_reference, results_root

    try:
        check_not_reference(results_root())
    except ValueError:
        try:
            return load_trained(table, row, seed, protocol=protocol, cell=cell,
                                train_missing=False)
        except ConfigError:
            where = f'{table}/{row}' + ('' if cell == 'main' else f'/{cell}')
            raise ConfigError(
                f'no checkpoint for {where} seed {seed} ({protocol}) in the results root '
                f'{results_root()}, the committed reference, and nothing is trained there: '
                f'point ${RESULTS_ENV} at your own results root') from None
    return load_trained(table, row, seed, protocol=protocol, cell=cell)


#: ``figure3 --scenes`` default (64 of mini's 160 test scenes); a protocol with a smaller
#: test split (smoke: 16) uses all of it instead of failing on the default.
FIGURE3_SCENES = 64


def cmd_figure3(args: argparse.Namespace) -> int:
    """The paper's Figure 3 for a trained CEN cell, with its edge correlations
    (:mod:`fusionbench.analysis.figure3`); trains the cell first when it has no checkpoint."""
    from pathlib import Path

    from fusionbench.analysis import figure3
    from fusionbench.errors import ConfigError
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.paths import results_root
    from fusionbench.report.figure3 import write_figure3

    protocol = get_protocol(args.protocol)
    if not protocol.synthetic or protocol.data is None:  # before any training, not after it
        raise ConfigError(f"figure3 needs the procedural scenes' ground truth (depth, normals, "
                          f'albedo); protocol {protocol.name} uses real data: use mini or smoke')
    split = protocol.data.split('test' if protocol.data.test_scenes else 'val')[0]
    if args.scenes is None:  # 64, or the whole test split of a smaller protocol (smoke: 16)
        args.scenes = min(FIGURE3_SCENES, split)
    if args.scenes > split:
        raise ConfigError(f'figure3 --scenes {args.scenes}: the {protocol.name} protocol\'s test '
                          f'split has {split} scenes; use --scenes {split} or fewer')
    cell = _trained_cell('table1', args.row, args.seed, protocol.name)
    try:
        dataset = figure3.test_dataset(cell.cfg)
        reference = figure3.initial_model(cell.cfg)  # the control: same groups, no training
        result = figure3.analyse(cell.model, dataset, args.scenes, stage=args.stage or 1,
                                 point=args.point, reference=reference)
    except (ValueError, FileNotFoundError) as err:
        raise ConfigError(f'figure3 table1/{args.row} [{protocol.name}]: {err}') from err
    out_dir = Path(results_root(), protocol.name)
    meta = {'protocol': protocol.name, 'table': 'table1', 'row': args.row, 'seed': args.seed,
            'run_id': cell.record.get('run_id'), 'commit': cell.record.get('commit')}
    with _naming_write_errors(str(out_dir)):
        written = write_figure3(result, out_dir, meta, shown=min(args.show, args.scenes))
    verdict = result.verdict
    if not (result.group_sizes['depth_dominant'] and result.group_sizes['rgb_dominant']):
        print(f'figure3: no γ of one modality is under θ at {", ".join(result.points)}: the '
              'groups cannot be compared there (try another --stage)', file=sys.stderr)
    sizes = ', '.join(f'{k} {v}' for k, v in result.group_sizes.items())
    print(f'figure3 table1/{args.row} seed {args.seed} [{protocol.name}]: {len(result.points)} '
          f'exchange point(s), channels per group: {sizes}; {args.scenes} scenes')
    print(f"verdict: {verdict['verdict']} ({verdict['reason']})")
    beyond = result.beyond_inputs
    print(f"beyond the input streams (trained − initial weights): {beyond['verdict']} "
          f"({beyond['reason']})")
    for path in written:
        print(f'  wrote {os.path.relpath(path)}')
    return 0


def cmd_qualitative(args: argparse.Namespace) -> int:
    """Inputs, ground truth and predictions of a segmentation table's trained cells on fixed
    test scenes (:mod:`fusionbench.analysis.qualitative`); trains a cell first when it has no
    checkpoint."""
    from pathlib import Path

    from fusionbench.analysis import qualitative
    from fusionbench.errors import ConfigError
    from fusionbench.experiments.outputs import _atomic_plot
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.tables import get_table
    from fusionbench.paths import results_root
    from fusionbench.report.qualitative import plot_path, plot_qualitative

    spec, protocol = get_table(args.table), get_protocol(args.protocol)
    if spec.task != 'segmentation':  # checked before anything trains
        raise ConfigError(f'qualitative draws class maps; {spec.name} is a {spec.task} table '
                          '(its generated images are not drawn yet): use a segmentation table')
    _check_rows(spec.name, args.rows)
    rows = [r for r in spec.rows if args.rows is None or r.id in args.rows]
    cell = args.cell or next((c for c in rows[0].cells if all(c in r.cells for r in rows)), None)
    missing = [r.id for r in rows if cell not in r.cells]
    if cell is None or missing:
        raise ConfigError(f'qualitative {spec.name}: rows {missing or [r.id for r in rows]} have '
                          f'no common cell {cell or ""}; pick rows that share one or set --cell')
    if protocol.synthetic and protocol.data is not None:
        split = protocol.data.split('test' if protocol.data.test_scenes else 'val')[0]
        try:
            qualitative.scene_indices(split, args.scenes)
        except ValueError as err:
            raise ConfigError(f'qualitative {spec.name} [{protocol.name}]: {err}') from err
    cells = [(r.id, _trained_cell(spec.name, r.id, args.seed, protocol.name, cell)) for r in rows]
    try:
        grid = qualitative.collect(cells, args.scenes, all_heads=args.all_heads or None)
    except ValueError as err:
        raise ConfigError(f'qualitative {spec.name} [{protocol.name}]: {err}') from err
    out_dir = Path(results_root(), protocol.name)
    title = (f'{spec.name} [{protocol.name}], seed {args.seed}'
             + ('' if cell == 'main' else f', {cell} cell')
             + (' — synthetic data' if protocol.synthetic else ''))
    with _naming_write_errors(str(out_dir)):
        path = _atomic_plot(plot_path(out_dir, spec.name),
                            lambda target: plot_qualitative(grid, target, title))
    print(f'qualitative {spec.name} seed {args.seed} [{protocol.name}]: {len(grid.columns)} '
          f'prediction column(s) on test scenes {", ".join(map(str, grid.indices))}')
    for written in (path, path.with_suffix('.svg'), path.with_suffix('.pdf')):
        print(f'  wrote {os.path.relpath(written)}')
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from fusionbench.data import converters
    return converters.run_prepare(args) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog='fusionbench', description=__doc__)
    parser.add_argument('--debug', action='store_true',
                        help='show the traceback of an error (default: one line)')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('run', help='train and evaluate every cell of a table (or `run '
                                   'robustness`: evaluate trained cells under corruptions)')
    p.add_argument('table', help='table name (see `list tables`), or robustness')
    p.add_argument('--protocol', default='mini', help='smoke | mini (default) | paper')
    p.add_argument('--seeds', type=_positive_int('--seeds'), default=None,
                   help="seeds per cell, >= 1 (protocol's default)")
    p.add_argument('--jobs', type=_positive_int('--jobs'), default=None,
                   help='local processes, >= 1 (default: one per GPU, else one per core)')
    p.add_argument('--threads', type=_positive_int('--threads'), default=None,
                   help='torch threads per process, >= 1 (default: 1 on CPU)')
    _add_performance_arguments(p)
    p.add_argument('--shard', type=_parse_shard, default=(0, 1), help='i/n: run every n-th cell')
    p.add_argument('--rows', nargs='*', default=None, help='only these row ids')
    p.add_argument('--force', action='store_true', help='rerun cells that have a record')
    p.add_argument('--list', action='store_true', help='print the cells and exit')
    p.add_argument('--launcher', default='none', choices=['none', 'pytorch', 'slurm'],
                   help='under torchrun: every cell trains on all ranks, rank 0 records')
    p.add_argument('--submit', default=None, choices=['slurm', 'local'],
                   help='send each missing cell to a scheduler through submitit (slurm: one job '
                        'array; local: local processes) instead of running here')
    p.add_argument('--scheduler-opt', action='append', default=None, metavar='KEY=VALUE',
                   help="submitit's update_parameters, e.g. slurm_partition=gpu gpus_per_node=1 "
                        'timeout_min=1440 (repeatable)')
    p.add_argument('--no-wait', action='store_true', help='with --submit: return once submitted')
    p.add_argument('--table', dest='of_table', default=None, metavar='TABLE',
                   help='run robustness: the table whose trained cells are evaluated (default '
                        'table1; --seeds then defaults to 1)')
    p.add_argument('--corruptions', nargs='+', default=None, metavar='NAME',
                   help='run robustness: only these corruptions (zeros, mean, noise, holes; '
                        'default: all)')
    p.add_argument('--no-train', action='store_true',
                   help='run robustness: fail on a cell without a checkpoint instead of '
                        'training it first')
    p.set_defaults(func=cmd_run)

    p = sub.add_parser('bench', help='training-step speed: stacked vs per-modality lists vs '
                                     'the unimodal ceiling, or a whole table\'s cost')
    from fusionbench.experiments import speed
    speed.add_arguments(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser('report', help='write each table\'s CSV and plots and render '
                                      'reports/<protocol>.md from the run records')
    p.add_argument('--protocol', default=None,
                   help='one protocol (default: every protocol with a runs/ folder under the '
                        'results root, $FUSIONBENCH_RESULTS)')
    p.set_defaults(func=cmd_report)

    p = sub.add_parser('compare', help='does your run agree with a reference? paired '
                                       'equivalence tests (TOST, Holm) over every cell')
    p.add_argument('--reference', default=None,
                   help="the reference's results root (default: the project's committed "
                        'reference, reference/ in a checkout); yours is the results root '
                        '($FUSIONBENCH_RESULTS)')
    p.add_argument('--protocol', default='mini', help='the protocol compared (default: mini)')
    p.add_argument('--tables', nargs='+', default=None,
                   help='tables to compare (default: every table both have runs of)')
    p.add_argument('--margin', type=float, default=1.0,
                   help='equivalence margin δ in the metric unit (default: 1.0 point of mIoU)')
    p.add_argument('--alpha', type=float, default=0.05,
                   help='family-wise error level (default: 0.05)')
    p.add_argument('--out', default=None, help='also write the comparison to this markdown file')
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser('params', help='parameter counts of a config, or a table beside the paper')
    p.add_argument('target', help='config path (relative to configs/) or a table name')
    p.add_argument('--protocol', default='paper',
                   help="the protocol whose model scale is counted (default: paper, the "
                        "paper's models; see `list protocols`)")
    p.set_defaults(func=cmd_params)

    p = sub.add_parser('list', help='what is registered')
    p.add_argument('what', choices=['fusions', *registry.REGISTRIES],
                   help='which registry to list (fusions: with their position, settings and '
                        'tables)')
    p.set_defaults(func=cmd_list)

    p = sub.add_parser('train', help='train and evaluate one config (torchrun-friendly)')
    p.add_argument('config', help='config path (absolute, relative to the working directory or '
                                  'to configs/), e.g. table1/cen-directed-l1half_refinenet-r101_300e_'
                                  'nyudv2-40.py')
    p.add_argument('--protocol', default='mini',
                   help='the protocol whose data, scale, budget and seeds rewrite the config '
                        '(default: mini; see `list protocols`)')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the data order, augmentation and initial weights (default: 0)')
    p.add_argument('--work-dir', default=None,
                   help='checkpoints and logs (default: results/<protocol>/work/train/'
                        '<config>-<run id>)')
    p.add_argument('--launcher', default='none', choices=['none', 'pytorch', 'slurm'],
                   help="mmengine's launcher: pytorch under torchrun, slurm under srun "
                        '(default: none, one process)')
    _add_performance_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser('preflight', help='list the missing data sets / weights of a config, a '
                                         'folder of configs or a table, with what to put there')
    p.add_argument('target', help='config path, folder (e.g. configs/paper) or table name')
    p.add_argument('--protocol', default='paper',
                   help='the protocol whose inputs are checked (default: paper, the real data '
                        'and ImageNet weights)')
    p.set_defaults(func=cmd_preflight)

    p = sub.add_parser('pretrain', help="make (or show) a protocol's pretrained encoders and "
                       'per-layer λ calibration, one per seed (runs do it themselves)')
    p.add_argument('--protocol', default='mini', help='a protocol with pretraining (mini)')
    p.add_argument('--seeds', type=_positive_int('--seeds'), default=None,
                   help="seeds 0..K-1 (protocol's default)")
    p.add_argument('--depth', type=int, default=18, help='encoder depth (18; 34 for Table 3)')
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser('figure3', help="the paper's Figure 3 for a trained CEN (Table 1 cell): "
                       'averaged feature maps per γ group beside the inputs, and their '
                       'correlation with ground-truth geometric and albedo edges')
    p.add_argument('--protocol', default='mini',
                   help='a synthetic protocol (default: mini, the embedded default)')
    p.add_argument('--seed', type=int, default=0, help='the cell\'s seed (default: 0)')
    p.add_argument('--row', default='cen', help='the Table 1 CEN row (default: cen)')
    p.add_argument('--scenes', type=_positive_int('--scenes'), default=None,
                   help=f'test scenes measured (default: {FIGURE3_SCENES}, or the whole test '
                        'split when it is smaller)')
    p.add_argument('--show', type=_positive_int('--show'), default=4,
                   help='scenes drawn in the figure (default: 4)')
    where = p.add_mutually_exclusive_group()
    where.add_argument('--stage', type=int, choices=(1, 2, 3, 4), default=None,
                       help="the encoder stage whose exchange points are analysed together "
                            '(default: 1, the highest-resolution one)')
    where.add_argument('--point', default=None,
                       help='one exchange point instead, e.g. layer1.1.bn2')
    p.set_defaults(func=cmd_figure3)

    p = sub.add_parser('qualitative', help='a segmentation table\'s predictions on fixed test '
                       'scenes beside the inputs and the ground truth (results/<protocol>/plots/'
                       '<table>_qualitative.png, .svg, .pdf); trains cells without a checkpoint')
    p.add_argument('table', help='a segmentation table (see `list tables`)')
    p.add_argument('--protocol', default='mini', help='smoke | mini (default) | paper')
    p.add_argument('--seed', type=int, default=0, help="the cells' seed (default: 0)")
    p.add_argument('--rows', nargs='+', default=None,
                   help="the table's rows drawn, one column each (default: every row); a "
                        "single row gets one column per head")
    p.add_argument('--cell', default=None,
                   help="the rows' cell (default: the first cell all chosen rows have)")
    p.add_argument('--scenes', type=_positive_int('--scenes'), default=4,
                   help='test scenes drawn, spread evenly over the split at fixed positions '
                        'i*n//k (default: 4)')
    p.add_argument('--all-heads', action='store_true',
                   help='every head of every row (default: the ensemble of each row, or every '
                        'head of a single row)')
    p.set_defaults(func=cmd_qualitative)

    p = sub.add_parser('data', help='prepare real datasets')
    from fusionbench.data import converters
    prepare = p.add_subparsers(dest='data_command', required=True).add_parser(
        'prepare', help='convert an official release into the layout the readers expect')
    converters.add_prepare_arguments(prepare.add_subparsers(dest='dataset', required=True))
    p.set_defaults(func=cmd_data)
    for command in sub.choices.values():  # `--debug` after the command works too
        command.add_argument('--debug', action='store_true', default=argparse.SUPPRESS,
                             help='show the traceback of an error (default: one line)')
    return parser


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (e.g. a skipped invalid record) as one ``fusionbench: warning:`` line."""
    print(f'fusionbench: warning: {" ".join(str(message).split())}', file=file or sys.stderr)


@contextlib.contextmanager
def _terminate_cleanly(grace_s: float = 15.0):
    """SIGTERM (``kill``, a scheduler's time limit) as ``SystemExit(143)``, so ``finally``
    blocks run: temporary files are removed, claims released, pool workers stopped.

    If the process is still alive ``grace_s`` seconds after a SIGTERM it exits with status 143
    at once (``os._exit``, from a timer thread). Why: an exception raised in a ``__del__`` is
    printed and dropped, and a SIGTERM that lands while one runs (a data loader's worker
    shutdown, seen on CUDA with persistent workers) was swallowed, the run went on and the
    process had to be killed.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def hard_stop(signum: int) -> None:
        print(f'fusionbench: still running {grace_s:g} s after SIGTERM; exiting now',
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(128 + signum)

    def terminate(signum, frame):
        if os.getpid() == owner:  # not in a forked child that inherited the handler
            print('fusionbench: terminated (SIGTERM); finished runs keep their records: run '
                  'the same command again to continue', file=sys.stderr, flush=True)
            timer = threading.Timer(grace_s, hard_stop, args=(signum,))
            timer.daemon = True
            timer.start()
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Run one command; every expected error is one line on stderr and exit status 2
    (``--debug``: with its traceback). See :func:`fusionbench.errors.one_line`."""
    from fusionbench.errors import one_line

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(_glue_option_values(argv))
    args.argv = argv
    with warnings.catch_warnings(), _terminate_cleanly():
        if not args.debug:
            warnings.showwarning = _warning_line
        try:
            return args.func(args)
        except KeyboardInterrupt:
            if args.debug:
                traceback.print_exc()
            print('fusionbench: interrupted; finished runs keep their records: run the same '
                  'command again to continue (unfinished runs resume from their last '
                  'checkpoint)',
                  file=sys.stderr)
            return 130  # 128 + SIGINT, what a shell reports for Ctrl-C
        except Exception as err:  # noqa: BLE001 - expected kinds become one line, bugs re-raise
            line = one_line(err)
            if line is None:
                raise
            if args.debug:
                traceback.print_exc()
            print(f'fusionbench: {line}', file=sys.stderr)
            return 2
