"`semantic-kv router` as a user runs it: the in-process demo, and one-line errors."
import os, subprocess, sys

def run(*args, env=None):
    return subprocess.run([sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())', *args],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})

def test_demo():
    r = run('router', '--demo', '--requests', '30', '--n-replicas', '2')
    assert r.returncode == 0, r.stderr
    assert 'semantic_locality' in r.stdout and 'cache_aware' in r.stdout and 'token_hit_rate' in r.stdout

def test_errors():
    r = run('router', env={'SEMANTICKV_REPLICAS': ''})
    assert r.returncode == 2 and r.stderr.strip().startswith('semantic-kv: error:') and 'replicas' in r.stderr, r.stderr
    r = run('router', '--replicas', 'http://127.0.0.1:9', '--policy', 'nope')
    assert r.returncode == 2 and 'expected one of' in r.stderr, r.stderr
