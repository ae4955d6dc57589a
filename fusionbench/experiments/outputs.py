"""From records to what a user reads: the table CSV and plots after a run, the reports.

``results/<protocol>/<table>.csv`` holds one row per table row (mean, std and 95 % Student-t interval
over seeds of every metric column, parameter counts, ``synthetic``); plots go to
``results/<protocol>/plots/``; ``reports/<protocol>.md`` puts the paper's numbers beside ours.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from fusionbench import registry
from fusionbench.experiments.aggregate import aggregate, load_records, write_table_csv
from fusionbench.experiments.grid import Job, results_root, runs_dir
from fusionbench.experiments.leases import pid_alive
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.tables import get_table
from fusionbench.paths import reports_root  # noqa: F401 - re-exported for the CLI
from fusionbench.report.plots import plot_heads, plot_metric_vs_params


def write_outputs(table: str, protocol: str, jobs: list[Job], root: str | None = None) -> list[Path]:
    """Aggregate the records of ``jobs`` into the table's CSV and plots; return the paths.

    Read, aggregate and write happen under a lock file (``work/<table>.lock``), so when several
    processes (shards) finish together the last one to write has read every record: no shard's
    stale aggregate can land after a complete one.
    """
    spec = get_table(table)
    wanted = {job.run_id for job in jobs}
    folder = runs_dir(protocol, table, root)
    out = Path(root or results_root()) / protocol
    with _locked(out / 'work' / f'{table}.lock'):  # work/ is scratch (git-ignored)
        return _write_outputs(table, spec, folder, wanted, out)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (``filelock``; created if missing)."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path)):
        yield


def _write_outputs(table: str, spec, folder: str, wanted: set, out: Path) -> list[Path]:
    records = [r for r in (load_records(folder) if os.path.isdir(folder) else [])
               if r.get('run_id') in wanted]
    df = aggregate(records, spec)
    paths = [write_table_csv(df, out / f'{table}.csv')]
    if df['n_seeds'].sum():
        paths.append(_atomic_plot(out / 'plots' / f'{table}.png',
                                  lambda tmp: plot_heads(df, spec, tmp)))
        for plot in getattr(spec, 'plots', []):
            paths.append(_atomic_plot(
                out / 'plots' / f"{table}_{plot['name']}.png",
                lambda tmp, plot=plot: plot_metric_vs_params(
                    df, plot['x_col'], plot['y_col'], plot['hue_col'], plot['style_col'], tmp)))
    return paths


def _atomic_plot(path: Path, draw) -> Path:
    """``draw(tmp)`` into a temporary file beside ``path``, then ``os.replace`` it there.

    Shards finishing together all rewrite the same plot; none may see or leave half a PNG.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)
    tmp = path.with_name(f'.{path.stem}.{os.getpid()}.{uuid.uuid4().hex}.tmp{path.suffix}')
    try:
        draw(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


#: A temporary file older than this whose writer is gone is a leftover. Our choice: drawing a
#: plot takes seconds, so a minute leaves a writer on another host (pid unknown here) alone.
STALE_TEMP_S = 60.0


def remove_stale_temp_files(path: Path, now: float | None = None) -> list[Path]:
    """Delete ``.<stem>.<pid>.<hex>.tmp<suffix>`` files beside ``path`` left by a killed writer.

    A ``kill -9`` during plotting leaves its temporary file (no ``finally`` runs); the next
    writer removes those whose pid is not alive on this host and that are older than
    :data:`STALE_TEMP_S`. Returns the deleted paths.
    """
    import time
    now = time.time() if now is None else now
    removed = []
    for tmp in path.parent.glob(f'.{path.stem}.*.tmp{path.suffix}'):
        field = tmp.name[len(path.stem) + 2:].split('.')[0]  # .<stem>.<pid>.<hex>.tmp<suffix>
        pid = int(field) if field.isdigit() else None
        try:
            old = now - tmp.stat().st_mtime > STALE_TEMP_S
        except OSError:
            continue
        if old and (pid is None or not pid_alive(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def render_reports(protocol: str | None = None, root: str | None = None,
                   reports_dir: str | None = None) -> list[Path]:
    """Render ``reports/<protocol>.md`` for ``protocol`` (or every protocol with runs)."""
    from fusionbench.report.markdown import render_index, render_report

    root = root or results_root()
    reports_dir = reports_dir or reports_root()
    protocols = [protocol] if protocol else sorted(
        p for p in os.listdir(root) if os.path.isdir(os.path.join(root, p, 'runs')))
    paths = []
    for name in protocols:
        runs = os.path.join(root, name, 'runs')
        tables = sorted(t for t in os.listdir(runs)) if os.path.isdir(runs) else []
        specs = [get_table(t) for t in tables if t in registry.list_names(registry.TABLES)]
        paths.append(render_report(name, root, reports_dir, specs,
                                   get_protocol(name).description,
                                   {'rendered by': f'python -m fusionbench report --protocol {name}'}))
    paths.append(render_index(reports_dir))
    return paths
