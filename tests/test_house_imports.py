"""The module graph of the library: no import cycle (module-level or inside functions), nothing imports the CLI, and
argparse appears only in the CLI and the modules that add its subcommands (`CLI_PLUGINS`)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / 'semantic_kv'


def modules():
    out = {}
    for p in ROOT.rglob('*.py'):
        if p.name == '_modidx.py': continue
        parts = p.relative_to(ROOT.parent).with_suffix('').parts
        name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)
        out[name] = p
    return out


def imports(name, path, known):
    "Library modules imported anywhere in `path` (static imports; importlib plugins are not edges)"
    pkg = name if path.name == '__init__.py' else name.rsplit('.', 1)[0]
    out = set()
    for n in ast.walk(ast.parse(path.read_text())):
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


def test_no_import_cycle():
    assert find_cycle(graph()) is None, ' -> '.join(find_cycle(graph()))


def test_cycle_finder_finds_cycles():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None


def test_nothing_imports_the_cli():
    G = graph()
    assert [m for m, deps in G.items() if 'semantic_kv.cli' in deps] == []


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
    assert not reach('semantic_kv.sim') & {'semantic_kv.labelfree', 'semantic_kv.workloads', 'semantic_kv.experiments'}
