"""The run record schema, and the one function that reads and validates a record file.

A run writes one JSON record (see :func:`fusionbench.experiments.grid.execute`). Everything that
reads records -- ``run`` deciding which cells are done, ``report`` and the table CSV aggregating
them -- goes through :func:`read_record`, so a truncated file, a record of an older schema or one
missing a key is judged the same way everywhere: reported with its path and treated as absent
(its cell is not done and reruns).
"""
from __future__ import annotations

import json
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fusionbench.errors import RecordError

RECORD_SCHEMA = 1


class RunRecord(BaseModel):
    """The keys every record must hold (others, e.g. ``git``, ``versions``, are kept as is)."""

    model_config = ConfigDict(extra='allow', populate_by_name=True, strict=False)

    schema_version: Literal[1] = Field(alias='schema')
    run_id: str = Field(min_length=1)
    table: str = Field(min_length=1)
    row: str = Field(min_length=1)
    cell: str = Field(default='main', min_length=1)  # records before Table 2's cells: main
    protocol: str = Field(min_length=1)
    seed: int = Field(ge=0)
    status: Literal['ok', 'failed']
    error: str | None = None
    metrics: dict[str, dict[str, float]]
    params: dict[str, int]

    @model_validator(mode='after')
    def _ok_has_metrics(self) -> RunRecord:
        if self.status == 'ok':
            if not self.metrics or not any(self.metrics.values()):
                raise ValueError("status 'ok' but no metrics")
            if not self.params:
                raise ValueError("status 'ok' but no params")
        elif not self.error:
            raise ValueError("status 'failed' without an error")
        return self


def _reason(err: ValidationError) -> str:
    first = err.errors()[0]
    where = '.'.join(str(part) for part in first['loc']) or 'record'
    more = f' (+{err.error_count() - 1} more)' if err.error_count() > 1 else ''
    if first['type'] == 'missing':
        return f'missing key {where!r}{more}'
    if where == 'schema':
        return (f'schema {first.get("input")!r} is not the current schema {RECORD_SCHEMA}'
                f' (an older fusionbench wrote it){more}')
    message = str(first.get('ctx', {}).get('error', '')) if first['type'] == 'value_error' \
        else first['msg']
    return f'{message or first["msg"]}{more}' if not first['loc'] else \
        f'{where}: {message or first["msg"]}{more}'


def validate_record(record: Any, path: str) -> dict:
    """``record`` (parsed JSON) if it is a valid run record; else :class:`RecordError` naming
    ``path`` and the first problem."""
    if not isinstance(record, dict):
        raise RecordError(path, f'not a JSON object but {type(record).__name__}')
    try:
        RunRecord.model_validate(record)
    except ValidationError as err:
        raise RecordError(path, _reason(err)) from None
    return record


def read_record(path: str | os.PathLike) -> dict:
    """Read and validate the record at ``path``.

    Raises :class:`RecordError` (one line, naming ``path``) for an unreadable, truncated or
    non-UTF-8 file and for an invalid record (see :class:`RunRecord`).
    """
    path = os.fspath(path)
    try:
        with open(path, encoding='utf-8') as f:
            record = json.load(f)
    except OSError as err:
        raise RecordError(path, f'cannot read it: {err.strerror or err}') from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordError(path, f'not valid JSON (truncated?): {err}') from None
    return validate_record(record, path)


def expected_record(record: dict, job: Any, path: str) -> dict:
    """``record`` if it is the record of ``job`` (its run id, table, row, cell and seed)."""
    for key in ('run_id', 'table', 'row', 'cell', 'seed', 'protocol'):
        if record.get(key) != getattr(job, key):
            raise RecordError(path, f'{key} is {record.get(key)!r}, expected '
                                    f'{getattr(job, key)!r} for this file name')
    return record
