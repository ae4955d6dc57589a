"""The report's per-class section: each row's IoU per class, mean over seeds.

Records keep every head's per-class IoU (``metrics[head]['IoU.<class>']``, %, see
:mod:`fusionbench.evaluation.metrics`); a row is shown with its fused prediction (the
``ensemble`` head) where it has one, else its only head. Classes are the columns, in the order
the records list them; a class a run left out (empty union: neither labelled nor predicted)
counts as missing for that run, so the mean is over the seeds that have it. Records made
before per-class IoU was recorded have none: the section is then left out.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fusionbench.report.markdown import fmt, markdown_table

#: Prefix of the per-class keys (the evaluator's ``CLASS_IOU``; repeated here so the report
#: reads records without importing the training stack).
CLASS_KEY = 'IoU.'
#: The head shown for a multimodal row.
FUSED_HEAD = 'ensemble'


def row_head(records: Sequence[dict]) -> str | None:
    """The head whose per-class IoU a row shows: ``ensemble`` when its records have it, else
    the first head with per-class keys; None when there is none."""
    heads: dict[str, None] = {}
    for record in records:
        for head, values in (record.get('metrics') or {}).items():
            if isinstance(values, dict) and any(k.startswith(CLASS_KEY) for k in values):
                heads.setdefault(head)
    if FUSED_HEAD in heads:
        return FUSED_HEAD
    return next(iter(heads), None)


def class_means(records: Sequence[dict], head: str) -> dict[str, tuple[float, int]]:
    """``{class: (mean IoU over the records that have it, how many)}`` of ``head``."""
    values: dict[str, list[float]] = {}
    for record in records:
        for key, value in ((record.get('metrics') or {}).get(head) or {}).items():
            if key.startswith(CLASS_KEY) and value is not None:
                values.setdefault(key[len(CLASS_KEY):], []).append(float(value))
    return {name: (float(np.mean(v)), len(v)) for name, v in values.items()}


def per_class_section(specs: Sequence[Any], records: Sequence[dict],
                      decimals: int = 1) -> list[str]:
    """Markdown lines: one collapsible table per table spec whose ``ok`` records carry
    per-class IoU ([] when none does)."""
    lines: list[str] = []
    for spec in specs:
        body = []
        for row in spec.rows:
            chosen = [r for r in records if r.get('table') == spec.name
                      and r.get('row') == row.id and r.get('status') == 'ok']
            head = row_head(chosen)
            if head is None:
                continue
            means = class_means(chosen, head)
            body.append((row, head, len({r.get('seed') for r in chosen}), means))
        if not body:
            continue
        # the data set's class order: that of the fullest run first, then any other class
        orders = sorted((list(m) for *_, m in body), key=len, reverse=True)
        classes = dict.fromkeys(c for order in orders for c in order)
        header = ['row', 'head', 'seeds', *classes]
        rows = [[f'`{row.id}`', head, str(seeds),
                 *(fmt(means[c][0], decimals) if c in means else '—' for c in classes)]
                for row, head, seeds, means in body]
        lines += [f'<details><summary>Per-class IoU: {spec.name} (%, mean over seeds)'
                  '</summary>', '', *markdown_table(header, rows), '', '</details>', '']
    return ['## Per-class IoU', '', *lines] if lines else []
