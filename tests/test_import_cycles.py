"""No import circle among fusionbench's modules: a static walk of every import statement.

Every ``import`` / ``from ... import`` in ``fusionbench/`` and ``baselines/`` counts, those inside
functions included (a function-level import only postpones a circle). An edge goes to the
deepest module of the two packages the statement names (``from pkg import mod`` -> ``pkg.mod``);
a cycle is a strongly connected component of more than one module, reported with its edges.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Source folder -> its import name (``baselines/`` is installed as ``fusionbench.baselines``).
PACKAGES = {'fusionbench': 'fusionbench', 'baselines': 'fusionbench.baselines'}


def modules() -> dict[str, Path]:
    """``{dotted name: file}`` of every module of :data:`PACKAGES`."""
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob('*.py')):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix('').parts]
            if parts[-1] == '__init__':
                parts.pop()
            out['.'.join(parts)] = path
    return out


def imported(name: str, path: Path, node: ast.AST, known: dict[str, Path]) -> list[str]:
    """The modules of ``known`` an import statement in module ``name`` loads."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ''
        if node.level:  # relative: from the module's package
            package = name.split('.') if path.name == '__init__.py' else name.split('.')[:-1]
            package = package[:len(package) - node.level + 1]
            base = '.'.join([*package, base] if base else package)
        targets = [f'{base}.{alias.name}' if f'{base}.{alias.name}' in known else base
                   for alias in node.names]
    out = []
    for target in targets:
        while target and target not in known:
            target = target.rpartition('.')[0]
        if target and target != name:
            out.append(target)
    return out


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
        graph[name] = {t for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                       for t in imported(name, path, node, known)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_walk_sees_function_level_and_relative_imports():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert cycles(graph) == [['a', 'b', 'c']]
    assert cycles({'a': {'b'}, 'b': set()}) == []
    known = {'p': ROOT / 'p' / '__init__.py', 'p.x': ROOT / 'p' / 'x.py',
             'p.y': ROOT / 'p' / 'y.py'}
    tree = ast.parse('def f():\n    from p import y\n    from . import y as z\n    import p.x\n')
    nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [imported('p.x', known['p.x'], n, known) for n in nodes] == [['p.y'], ['p.y'], []]


def test_the_packages_have_no_import_cycle():
    graph = import_graph()
    assert 'fusionbench.experiments.run' in graph and 'fusionbench.baselines.concat' in graph
    found = cycles(graph)
    if found:
        lines = [f'{" <-> ".join(c)}: ' + ', '.join(f'{a} -> {b}' for a in c
                                                    for b in sorted(graph[a] & set(c)))
                 for c in found]
        pytest.fail('import cycles:\n' + '\n'.join(lines))


#: Package layers, top-down: a module may import its own layer's modules and lower layers', never
#: a higher one's. ``report/`` formats DataFrames and verdicts; it must not reach back into the
#: experiment layer that produces them.
LAYERS = {'fusionbench.report': ('fusionbench.experiments', 'fusionbench.cli'),
          'fusionbench.analysis': ('fusionbench.experiments', 'fusionbench.report',
                                   'fusionbench.cli')}


def layer_violations(graph: dict[str, set[str]], layers=None) -> list[str]:
    """``'a -> b'`` for every edge from a module of a layer into a package it must not import."""
    layers = LAYERS if layers is None else layers
    found = []
    for layer, forbidden in layers.items():
        for module in sorted(m for m in graph if m == layer or m.startswith(layer + '.')):
            found += [f'{module} -> {target}' for target in sorted(graph[module])
                      if any(target == f or target.startswith(f + '.') for f in forbidden)]
    return found


def test_the_layer_check_finds_an_upward_import():
    graph = {'fusionbench.report.markdown': {'fusionbench.experiments.claims'},
             'fusionbench.experiments.outputs': {'fusionbench.report.markdown'}}
    assert layer_violations(graph) == [
        'fusionbench.report.markdown -> fusionbench.experiments.claims']


def test_report_and_analysis_do_not_import_the_experiment_layer():
    graph = import_graph()
    assert 'fusionbench.report.markdown' in graph and 'fusionbench.analysis.claims' in graph
    assert layer_violations(graph) == []
