"""The module graph of the library: no import cycle (module-level or inside functions), nothing imports the CLI, and
argparse appears only in the CLI and the modules that add its subcommands (`CLI_PLUGINS`)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / 'semantic_kv'


def modules():
    out = {}
    for p in ROOT.rglob('*.py'):
        if p.name == '_modidx.py': continue
        parts = p.relative_to(ROOT.parent).with_suffix('').parts
        name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)
        out[name] = p
    return out


def imports(name, path, known, top_only=False):
    "Library modules imported in `path`, anywhere or at module level only (static imports; importlib plugins are not edges)"
    pkg = name if path.name == '__init__.py' else name.rsplit('.', 1)[0]
    out = set()
    tree = ast.parse(path.read_text())
    for n in (tree.body if top_only else ast.walk(tree)):
        if isinstance(n, ast.ImportFrom):
            base = pkg.split('.')[:len(pkg.split('.')) - n.level + 1] if n.level else []
            mod = '.'.join(base + ([n.module] if n.module else []))
            cands = [mod] + [f'{mod}.{a.name}' for a in n.names]
        elif isinstance(n, ast.Import): cands = [a.name for a in n.names]
        else: continue
        out |= {c for c in cands if c in known and c != name}
    return out


def graph():
    M = modules()
    return {m: imports(m, p, M) for m, p in M.items()}


def find_cycle(G):
    color, stack = {}, []
    def dfs(u):
        color[u] = 1; stack.append(u)
        for v in sorted(G[u]):
            if color.get(v) == 1: return stack[stack.index(v):] + [v]
            if not color.get(v):
                c = dfs(v)
                if c: return c
        stack.pop(); color[u] = 2
    for m in sorted(G):
        if not color.get(m):
            c = dfs(m)
            if c: return c


# Cycles made of late (function-level) imports that are known and waiting for their code to move; each must also
# be reported where the work is tracked. An unknown cycle, or a known one that gains a module-level edge, fails.
KNOWN_LATE_CYCLES = set()   # none today; a late-import cycle waiting for its code to move would be listed here


def all_cycles(G):
    "One cycle per strongly connected component with more than one module"
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    def strong(v):
        index[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
        for w in sorted(G[v]):
            if w not in index: strong(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop(); on.discard(w); comp.add(w)
                if w == v: break
            if len(comp) > 1: out.append(frozenset(comp))
    for v in sorted(G):
        if v not in index: strong(v)
    return out


def test_no_import_cycle():
    G = graph()
    top = {m: imports(m, p, modules(), top_only=True) for m, p in modules().items()}
    assert find_cycle(top) is None, 'module-level cycle: ' + ' -> '.join(find_cycle(top))
    cycles = all_cycles(G)
    unknown = [sorted(c) for c in cycles if c not in KNOWN_LATE_CYCLES]
    assert not unknown, f"import cycles: {unknown}"
    if cycles: pytest.xfail(f"known late-import cycles still present: {[sorted(c) for c in cycles]}")


def test_cycle_finders():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None
    assert all_cycles({'a': {'b'}, 'b': {'a'}, 'c': {'a'}}) == [frozenset({'a', 'b'})]


def test_nothing_imports_the_cli():
    "Only `python -m semantic_kv` (the package's __main__) runs the CLI"
    G = graph()
    assert [m for m, deps in G.items() if 'semantic_kv.cli' in deps and m != 'semantic_kv.__main__'] == []


def test_argparse_only_in_cli_and_plugins():
    from semantic_kv.cli import CLI_PLUGINS
    M = modules()
    users = {m for m, p in M.items()
             if any(isinstance(n, (ast.Import, ast.ImportFrom)) and 'argparse' in ([a.name for a in n.names] if isinstance(n, ast.Import) else [n.module])
                    for n in ast.walk(ast.parse(p.read_text())))}
    assert users <= {'semantic_kv.cli', *CLI_PLUGINS}, users - {'semantic_kv.cli', *CLI_PLUGINS}


def test_core_layers():
    "The cache core and the policies sit below the simulator, the sweeps and everything that serves"
    G = graph()
    def reach(m, seen=None):
        seen = set() if seen is None else seen
        for d in G.get(m, ()):
            if d not in seen: seen.add(d); reach(d, seen)
        return seen
    assert not reach('semantic_kv.policies') & {'semantic_kv.cache', 'semantic_kv.sim', 'semantic_kv.workloads', 'semantic_kv.experiments'}
    assert not reach('semantic_kv.cache') & {'semantic_kv.sim', 'semantic_kv.sweep', 'semantic_kv.workloads', 'semantic_kv.experiments'}
    # the label-free, modern and field policies are policy modules (one contract, registered like the classic ones): the
    # compiled loop under `sim` may know them, they never know the loop
    assert not reach('semantic_kv.sim') & {'semantic_kv.workloads', 'semantic_kv.experiments'}
    for m in ('semantic_kv.labelfree', 'semantic_kv.modern', 'semantic_kv.field'):
        assert not reach(m) & {'semantic_kv.cache', 'semantic_kv.sim', 'semantic_kv.fastsim', 'semantic_kv.workloads', 'semantic_kv.sweep'}, m
    for m in [m for m in G if m == 'semantic_kv.workloads' or m.startswith('semantic_kv.workloads.')]:
        assert not reach(m) & {'semantic_kv.sim', 'semantic_kv.cache', 'semantic_kv.policies', 'semantic_kv.sweep', 'semantic_kv.experiments'}, m
    assert not reach('semantic_kv.labelfree') & {'semantic_kv.sim', 'semantic_kv.workloads', 'semantic_kv.sweep'}


def test_commands_import_light():
    "The replay and run-all commands import no chart library, compiler or cluster runtime: each costs seconds, loaded on first use"
    import subprocess, sys
    code = ("import sys, semantic_kv.cli, semantic_kv.replay, semantic_kv.experiments, semantic_kv.traces\n"
            "print(sorted(m for m in ('altair', 'numba', 'ray') if m in sys.modules))")
    assert subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip() == '[]'
