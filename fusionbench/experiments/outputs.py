"""One pipeline from run records to what a user reads: records → aggregate → verdicts → files.

:func:`table_outputs` is the only writer of a table's outputs, whichever command calls it
(``run`` through :func:`write_outputs`, ``report`` through :func:`render_reports`), so the files
have the same columns and names whoever wrote them last:

- ``results/<protocol>/<table>.csv``: one row per table row (mean, std and 95 % Student-t
  interval over seeds of every metric column, the per-seed values and seeds, parameter counts,
  ``synthetic``), with pixel and mean accuracy beside each mIoU column, and
  ``<table>_per_class.csv`` where the records carry per-class results
  (:mod:`fusionbench.experiments.per_class`);
- ``results/<protocol>/plots/<table>.png`` (every head of every row),
  ``plots/<table>_effects.png`` (the row differences the claims test, ours beside the paper's;
  :mod:`fusionbench.report.effects`) and ``plots/<table>_<name>.png`` for each of
  ``spec.plots``;
- the figures of CEN's γ dynamics the table's records allow (:mod:`fusionbench.report.dynamics`,
  ``plots/table1_gamma_*.png``, ``plots/table1_crossing_order.png``,
  ``plots/lambda_sweep_exchange.png``), linked from the report's section on them;
- ``reports/<protocol>.md`` (:func:`render_reports` only): per cell the paper's number, the
  project's reference (:data:`~fusionbench.paths.REFERENCE_DIR`, when the results root is not
  the reference itself) and yours, and whether yours agree with the reference.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fusionbench import registry
from fusionbench.analysis.claims import judge
from fusionbench.experiments.aggregate import aggregate, load_records, write_table_csv
from fusionbench.experiments.grid import Job, runs_dir
from fusionbench.experiments.leases import pid_alive
from fusionbench.experiments.per_class import (add_accuracy_columns, class_csv_path,
                                               write_class_csv)
from fusionbench.experiments.protocols import Protocol, get_protocol
from fusionbench.experiments.tables import get_table
from fusionbench.paths import reports_root, results_root
from fusionbench.report.dynamics import (dynamics_section, no_exchange_caveats,
                                         saturation_caveats, table_figures)
from fusionbench.report.effects import effects, plot_effects
from fusionbench.report.figure3 import figure3_section
from fusionbench.report.markdown import ReportTable, render_index, render_report
from fusionbench.report.per_class import per_class_section
from fusionbench.report.qualitative import qualitative_section
from fusionbench.report.plots import plot_heads, plot_metric_vs_params
from fusionbench.report.robustness import robustness_section


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
        records = [r for r in (load_records(folder) if os.path.isdir(folder) else [])
                   if r.get('run_id') in wanted]
        result = table_outputs(records, spec, out)
        per_class = class_csv_path(out, table)  # written just now, or removed (no per-class keys)
        per_class = [per_class] if per_class.is_file() else []
    return [out / f'{table}.csv', *per_class, *result.plots, *result.figures.values()]


def table_outputs(records: Iterable[dict], spec, out_dir: str | Path,
                  confidence: float = 0.95) -> ReportTable:
    """Aggregate ``records`` for ``spec``, write its CSV and plots under ``out_dir``, judge its
    claims.

    The CSV keeps the per-seed values (``*_values``, ``*_seeds``) so that the claims can be
    re-judged from the file alone. Plots are drawn only when some row has a finished seed.
    Returns the :class:`~fusionbench.report.markdown.ReportTable` (frame, verdicts, plot paths).
    """
    out_dir = Path(out_dir)
    records = list(records)
    df = aggregate(records, spec, keep_values=True, confidence=confidence)
    df = add_accuracy_columns(df, records, spec, confidence)  # pixel / mean acc. beside mIoU
    write_table_csv(df, out_dir / f'{spec.name}.csv')
    write_class_csv(records, spec, out_dir, confidence)  # <table>_per_class.csv, or none
    plots = []
    if df['n_seeds'].sum():
        plots.append(_atomic_plot(out_dir / 'plots' / f'{spec.name}.png',
                                  lambda tmp: plot_heads(df, spec, tmp)))
        for plot in getattr(spec, 'plots', ()):
            kwargs = {k: v for k, v in plot.items() if k != 'name'}
            plots.append(_atomic_plot(
                out_dir / 'plots' / f"{spec.name}_{plot['name']}.png",
                lambda tmp, kwargs=kwargs: plot_metric_vs_params(df, **kwargs, path=tmp)))
    figures = {stem: _atomic_plot(out_dir / 'plots' / f'{stem}.png', draw)
               for stem, draw in table_figures(spec.name, records)}
    decimals = getattr(spec, 'decimals', None)  # a spec names its metrics' decimals
    verdicts = [(claim, judge(claim, df, confidence,
                              decimals(claim.column) if callable(decimals) else None))
                for claim in spec.claims]
    if df['n_seeds'].sum() and effects(spec, verdicts):  # the paper's effects beside ours
        synthetic = bool(df['synthetic'].any())
        # FID / KID from the surrogate feature network are not in the paper's (Inception) units
        comparable = 'extractor' not in df.columns or not df['extractor'].astype(str).str.contains(
            'surrogate').any()
        plots.append(_atomic_plot(out_dir / 'plots' / f'{spec.name}_effects.png',
                                  lambda tmp: plot_effects(spec, verdicts, tmp, synthetic,
                                                           comparable)))
    return ReportTable(spec, df, verdicts, tuple(plots), figures)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (``filelock``; created if missing)."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path)):
        yield


def _atomic_plot(path: Path, draw) -> Path:
    """``draw(path)``: a plotting function of :mod:`fusionbench.report` that writes ``path`` and
    its vector copies through :func:`~fusionbench.report.figures.save_figure` (each format via a
    temporary file and ``os.replace``), after removing the temporary files a killed writer left.

    Shards finishing together all rewrite the same plot; none may see or leave half a file.
    """
    from fusionbench.report.figures import figure_paths

    path.parent.mkdir(parents=True, exist_ok=True)
    for target in figure_paths(path):
        remove_stale_temp_files(target)
    draw(path)
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


def code_match(records: Sequence[dict]) -> str:
    """Whether the records were made by this checkout's code: one line for the report's
    provenance (the record's ``code_fingerprint`` against :func:`~fusionbench.experiments.
    fingerprint.run_fingerprint` of its own resolved config under the code on disk)."""
    from fusionbench.errors import ConfigError
    from fusionbench.experiments.fingerprint import run_fingerprint
    from fusionbench.paths import source_path

    memo: dict = {}
    same = other = unknown = 0
    for record in records:
        made_by = record.get('code_fingerprint')
        try:
            now = run_fingerprint(source_path, record.get('config') or {}, memo)
        except (ConfigError, FileNotFoundError):
            now = None
        if not made_by or now is None:
            unknown += 1
        elif made_by == now:
            same += 1
        else:
            other += 1
    if other == 0 and unknown == 0:
        return f'all {same} records were made by the code of this checkout (same fingerprint)'
    parts = [f'{same} of {len(records)} records made by the code of this checkout']
    if other:
        parts.append(f'{other} by other code (see `git commits`; `run <table>` retrains them '
                     'under this code and keeps the old records)')
    if unknown:
        parts.append(f'{unknown} without a code fingerprint to compare')
    return '; '.join(parts)


def reference_records(protocol: str, root: str | Path,
                      reference: str | Path | None = None) -> list[dict]:
    """The reference's run records of ``protocol`` (``reference``: a results root, default the
    project's committed :data:`~fusionbench.paths.REFERENCE_DIR`); [] when it has none or is
    ``root`` itself (the reference's own report sets nothing beside itself)."""
    from fusionbench.paths import REFERENCE_DIR

    reference = Path(reference or REFERENCE_DIR)
    runs = reference / protocol / 'runs'
    if not runs.is_dir() or reference.resolve() == Path(root).resolve():
        return []
    with warnings.catch_warnings():  # the reference's own invalid files are not this report's
        warnings.simplefilter('ignore')
        return load_records(runs)


def protocols_with_runs(root: str | Path) -> list[str]:
    """The protocols ``root`` (a results root) has a ``<protocol>/runs/`` folder of, sorted;
    [] when ``root`` is not a folder."""
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if (p / 'runs').is_dir()) \
        if root.is_dir() else []


def reference_gap(protocol: str, root: str | Path, specs: Sequence[Any],
                  theirs: Sequence[dict], reference: str | Path | None = None) -> str:
    """One sentence naming the tables of ``specs`` the reference (``reference``, default
    :data:`~fusionbench.paths.REFERENCE_DIR`) has no ``protocol`` runs of, so that a report
    without reference columns says why instead of dropping them silently; '' when every table
    has reference runs (``theirs``: :func:`reference_records`, filtered to ``specs``) or when
    ``root`` is the reference itself.

    The reference is compared only with runs of its own protocol: a ``smoke`` run set beside
    the ``mini`` reference would compare different data, models and budgets.
    """
    from fusionbench.paths import REFERENCE_DIR

    reference = Path(reference or REFERENCE_DIR)
    if reference.resolve() == Path(root).resolve():
        return ''
    have = {r.get('table') for r in theirs}
    lacking = [spec.name for spec in specs if spec.name not in have]
    if not lacking:
        return ''
    protocols = protocols_with_runs(reference)
    if protocol not in protocols:
        has = f" (it has {', '.join(f'`{p}`' for p in protocols)})" if protocols else ''
        return (f"The project's reference has no `{protocol}` runs{has}: no reference column "
                'and nothing compared; the reference is compared only with runs of its own '
                'protocol (`python -m fusionbench run <table>` with that protocol).')
    return (f"The project's reference has no `{protocol}` runs of {', '.join(lacking)}: no "
            'reference column there and nothing compared.')


def reference_section(specs: Sequence[Any], records: Sequence[dict],
                      theirs: Sequence[dict], gap: str = '') -> list[str]:
    """"Against the reference": these records against the reference's (``theirs``, from
    :func:`reference_records`), cell by cell (:func:`~fusionbench.experiments.equivalence.
    compare_tables`, default margin and level), then ``gap`` (:func:`reference_gap`: the
    tables the reference lacks); [] without reference records and without a gap."""
    from fusionbench.experiments.equivalence import (DEFAULT_ALPHA, DEFAULT_MARGIN,
                                                     compare_tables, markdown_lines,
                                                     numerics_paragraph)

    if not theirs:
        return ['## Against the reference', '', gap, ''] if gap else []
    comparisons = compare_tables(records, theirs, specs, DEFAULT_MARGIN, DEFAULT_ALPHA)
    lines = ['## Against the reference', '',
             "These runs against the project's reference runs of the same cells and seeds: per "
             '(row, cell, column) a paired TOST (two one-sided t-tests of the per-seed '
             f'difference against ±{DEFAULT_MARGIN:g}) with Holm\'s correction over all cells '
             '(`python -m fusionbench compare` for another margin).', '']
    if gap:
        lines += [gap, '']
    if not comparisons:
        return lines + ['No cell and seed is in both.', '']
    notes = numerics_paragraph(records, theirs)
    if notes:
        lines += [notes, '']
    return lines + markdown_lines(comparisons, DEFAULT_MARGIN, DEFAULT_ALPHA) + ['']


def render_reports(protocol: str | None = None, root: str | None = None,
                   reports_dir: str | None = None, say=print) -> list[Path]:
    """Write the outputs of every table with runs and ``reports/<protocol>.md`` for ``protocol``
    (or every protocol with a ``runs/`` folder), then the index; return the written paths.

    A protocol without a finished or failed run record gets one line through ``say`` and no
    file: no empty report, no line in the index.
    """
    root = root or results_root()
    reports_dir = reports_dir or reports_root()
    protocols = [protocol] if protocol else sorted(
        p for p in (os.listdir(root) if os.path.isdir(root) else [])
        if os.path.isdir(os.path.join(root, p, 'runs')))
    known = set(registry.list_names(registry.TABLES))
    paths = []
    for name in protocols:
        runs = Path(root) / name / 'runs'
        specs = [get_table(t) for t in sorted(os.listdir(runs))
                 if t in known] if runs.is_dir() else []
        names = {spec.name for spec in specs}
        with warnings.catch_warnings(record=True) as skipped:  # invalid record files
            warnings.simplefilter('always')
            loaded = load_records(runs) if runs.is_dir() else []
        for warning in skipped:  # still shown, and named in the report's provenance
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
        records = [r for r in loaded if r.get('table') in names]
        theirs = [r for r in reference_records(name, root) if r.get('table') in names]
        if not records:
            say(f'{name}: no run records under {runs}; nothing to report '
                f'(python -m fusionbench run <table> --protocol {name})')
            continue
        gap = reference_gap(name, root, specs, theirs)
        if gap:  # on the terminal too: the report has no reference column for these tables
            say(f'{name}: {gap}')
        tables = []
        for spec in specs:
            with _locked(Path(root) / name / 'work' / f'{spec.name}.lock'):
                tables.append(table_outputs(
                    [r for r in records if r['table'] == spec.name], spec, Path(root) / name))
            per_class = class_csv_path(Path(root) / name, spec.name)  # written, or removed
            paths += [Path(root) / name / f'{spec.name}.csv',
                      *([per_class] if per_class.is_file() else []), *tables[-1].plots,
                      *tables[-1].figures.values()]
            mine = [r for r in theirs if r['table'] == spec.name]
            if mine:  # paper | reference | yours per cell
                tables[-1] = dataclasses.replace(tables[-1], reference=aggregate(mine, spec))
        figures = {stem: path for table in tables for stem, path in table.figures.items()}
        paths.append(render_report(
            name, reports_dir, tables, records, _description(get_protocol(name), specs),
            {'rendered by': f'python -m fusionbench report --protocol {name}',
             'code': code_match(records),
             **({'skipped record files': '; '.join(
                 str(w.message).removeprefix('skipping ').replace(  # no machine path
                     f'{Path(root) / name}{os.sep}', '') for w in skipped)}
                if skipped else {})},
            extra_sections=[dynamics_section(records, figures, reports_dir),
                            figure3_section(Path(root) / name, reports_dir),
                            robustness_section(Path(root) / name, reports_dir),
                            qualitative_section(Path(root) / name, reports_dir,
                                                [spec.name for spec in specs]),
                            per_class_section(specs, records),
                            reference_section(specs, records, theirs, gap)],
            extra_caveats=saturation_caveats(records) + no_exchange_caveats(records)))
    if paths:
        paths.append(render_index(reports_dir))
    return paths


def _description(protocol: Protocol, specs: list) -> str:
    """The protocol's line, plus the line of each task that runs it with fields of its own
    (:attr:`~fusionbench.experiments.protocols.Protocol.tasks`, e.g. translation's tables)."""
    lines = [protocol.description]
    for task in dict.fromkeys(spec.task for spec in specs):
        own = protocol.for_task(task)
        if own.description != protocol.description:
            lines.append(f'{task} tables: {own.description}')
    return '; '.join(lines) if len(lines) > 1 else lines[0]

