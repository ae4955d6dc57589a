"""``python -m fusionbench run | bench | report | params | list | train | preflight | data``."""
from __future__ import annotations

import argparse
import os
import sys
import time

from fusionbench import registry


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split('/'))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f'--shard takes i/n, got {text!r}') from err
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f'--shard i/n needs 0 <= i < n, got {text!r}')
    return index, count


def cmd_list(args: argparse.Namespace) -> int:
    from fusionbench.fusion.base import FusionModule

    if args.what == 'fusions':
        for name in registry.list_names(registry.FUSIONS, FusionModule):
            card = registry.FUSIONS.get(name).card
            print(f'{name:16s} {card.position:6s} {"/".join(card.settings):12s} {card.summary}')
        return 0
    if args.what == 'models':
        names = [n for n in registry.list_names(registry.MODELS)
                 if n not in registry.list_names(registry.FUSIONS, FusionModule)]
    else:
        names = registry.list_names(registry.REGISTRIES[args.what])
    for name in names:
        obj = registry.REGISTRIES[args.what].get(name)
        doc = (obj.__doc__ or '').strip().splitlines()
        print(f'{name:28s} {doc[0] if doc else ""}')
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from fusionbench.evaluation.params import parameter_counts
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.run import build_model, resolve_config

    if args.target in registry.list_names(registry.TABLES):
        from fusionbench.experiments.param_table import print_param_table
        return print_param_table(args.target, get_protocol(args.protocol))
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

    protocol = get_protocol(args.protocol)
    seeds = args.seeds or protocol.seeds
    if args.list:
        for job in plan(get_table(args.table), protocol, seeds, args.shard, args.rows):
            print(f'{job.run_id}  {job.key:40s} {job.config}')
        return 0
    from fusionbench.experiments.preflight import find_missing, format_missing, unique
    jobs = plan(get_table(args.table), protocol, 1, args.shard, args.rows)
    missing = unique(m for job in jobs for m in find_missing(job.resolved))
    if missing:  # fail before the first run, not inside every one
        print(format_missing(missing, f'{args.table} [{args.protocol}]'), file=sys.stderr)
        return 2
    start = time.perf_counter()
    from fusionbench.experiments.grid import default_parallelism
    if args.launcher != 'none':  # one job per rank (run_grid rejects --jobs > 1 there)
        jobs, threads = args.jobs or 1, args.threads or 1
    else:
        jobs, threads = default_parallelism(args.jobs, args.threads)
    print(f'{args.table} [{args.protocol}]: {jobs} process(es) × {threads} thread(s) '
          '(--jobs / --threads to change)')
    summary = run_grid(args.table, args.protocol, seeds, jobs, args.shard, args.force,
                       args.rows, progress=GridProgress(args.table), launcher=args.launcher,
                       threads=threads, performance=_performance_args(args))
    from fusionbench.experiments.grid import _is_main_process
    if not _is_main_process():  # under torchrun: rank 0 writes and reports
        return 1 if summary['failed'] else 0
    # The CSV covers the whole table (every row, every shard) from the records on disk, so a
    # shard or a --rows subset adds to it instead of replacing it; the last writer has it all.
    everything = plan(get_table(args.table), protocol, seeds)
    outputs = write_outputs(args.table, args.protocol, everything)
    elapsed = time.perf_counter() - start
    print(f"{args.table} [{args.protocol}]: {summary['planned']} runs planned, "
          f"{summary['skipped']} already done, {summary['ran']} ran, "
          f"{len(summary['failed'])} failed, {elapsed:.1f} s")
    for path in outputs:
        print(f'  wrote {os.path.relpath(path)}')
    if summary['failed']:
        print(failure_summary(summary['failed']), file=sys.stderr)
        return 1
    return 0


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
    from fusionbench.experiments.outputs import render_reports
    for path in render_reports(args.protocol):
        print(f'wrote {os.path.relpath(path)}')
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.run import resolve_config, train_and_evaluate

    cfg = resolve_config(args.config, get_protocol(args.protocol), args.seed,
                         work_dir=args.work_dir)
    result = train_and_evaluate(cfg, launcher=args.launcher, performance={
        **get_protocol(args.protocol).default_performance(), **_performance_args(args)})
    from fusionbench.experiments.grid import _is_main_process
    if _is_main_process():
        for head, values in result['metrics'].items():
            print(f'{head:10s} ' + '  '.join(f'{k} {v:.2f}' for k, v in values.items()))
        print(f"wall time {result['wall_time_s']:.1f} s on {result['device']}"
              f" ({result['world_size']} process{'es' if result['world_size'] > 1 else ''})")
    return 0


def cmd_preflight(args: argparse.Namespace) -> int:
    from fusionbench.experiments.preflight import check_target, roots_line

    count, missing = check_target(args.target, args.protocol)
    print(f'preflight {args.target} [{args.protocol}]: {count} config(s); {roots_line()}')
    for item in missing:
        print(item)
    print(f'{len(missing)} missing input(s)' if missing else 'all inputs present')
    return 1 if missing else 0


def cmd_data(args: argparse.Namespace) -> int:
    from fusionbench.data import converters
    return converters.run_prepare(args) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='fusionbench', description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('run', help='train and evaluate every cell of a table')
    p.add_argument('table', help='table name (see `list tables`)')
    p.add_argument('--protocol', default='mini', help='smoke | mini (default) | paper')
    p.add_argument('--seeds', type=int, default=None, help="seeds per cell (protocol's default)")
    p.add_argument('--jobs', type=int, default=None,
                   help='local processes (default: one per GPU, else one per core)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch threads per process (default: 1 on CPU)')
    _add_performance_arguments(p)
    p.add_argument('--shard', type=_parse_shard, default=(0, 1), help='i/n: run every n-th cell')
    p.add_argument('--rows', nargs='*', default=None, help='only these row ids')
    p.add_argument('--force', action='store_true', help='rerun cells that have a record')
    p.add_argument('--list', action='store_true', help='print the cells and exit')
    p.add_argument('--launcher', default='none', choices=['none', 'pytorch', 'slurm'],
                   help='under torchrun: every cell trains on all ranks, rank 0 records')
    p.set_defaults(func=cmd_run)

    p = sub.add_parser('bench', help='training-step speed: stacked vs per-modality lists vs '
                                     'the unimodal ceiling, or a whole table\'s cost')
    from fusionbench.experiments import speed
    speed.add_arguments(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser('report', help='render reports/<protocol>.md from the results')
    p.add_argument('--protocol', default=None, help='one protocol (default: every one with results)')
    p.set_defaults(func=cmd_report)

    p = sub.add_parser('params', help='parameter counts of a config, or a table beside the paper')
    p.add_argument('target', help='config path (relative to configs/) or a table name')
    p.add_argument('--protocol', default='paper')
    p.set_defaults(func=cmd_params)

    p = sub.add_parser('list', help='what is registered')
    p.add_argument('what', choices=['fusions', *registry.REGISTRIES])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser('train', help='train and evaluate one config (torchrun-friendly)')
    p.add_argument('config')
    p.add_argument('--protocol', default='mini')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--work-dir', default=None)
    p.add_argument('--launcher', default='none', choices=['none', 'pytorch', 'slurm'])
    _add_performance_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser('preflight', help='list the missing data sets / weights of a config, a '
                                         'folder of configs or a table, with what to put there')
    p.add_argument('target', help='config path, folder (e.g. configs/paper) or table name')
    p.add_argument('--protocol', default='paper')
    p.set_defaults(func=cmd_preflight)

    p = sub.add_parser('data', help='prepare real datasets')
    from fusionbench.data import converters
    converters.add_prepare_arguments(p.add_subparsers(dest='data_command', required=True))
    p.set_defaults(func=cmd_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (registry.UnknownNameError, FileNotFoundError) as err:
        print(f'fusionbench: {err}', file=sys.stderr)
        return 2
