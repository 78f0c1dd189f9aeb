"""`semantic-kv replay` with tiers, through the real command line (subprocess): `--host-blocks 0` is today's output
byte for byte; `--json` carries `block_hit_rate` and `hit_rate_by_tier` per policy; bad tier options exit 2 naming the option."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
TRACE = str(ROOT/'data'/'traces'/'example_rag_openai.jsonl')
BASE = ['replay', '--trace', TRACE, '--format', 'openai', '--capacity-blocks', '100', '--policies', 'lru,fifo', '--sweep', '0.1', '--json']

def cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, '-m', 'semantic_kv', *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)

def test_host_blocks_zero_is_todays_output():
    a, b = cli(*BASE), cli(*BASE, '--host-blocks', '0', '--tier-mode', 'inclusive')
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout

def test_json_has_hit_rate_by_tier_and_bound():
    r = cli(*BASE, '--host-blocks', '200', '--disk-blocks', '300')
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for p in ('lru', 'fifo'):
        v = d['policies'][p]
        assert set(v['hit_rate_by_tier']) == {'gpu', 'host', 'disk'}
        assert abs(sum(v['hit_rate_by_tier'].values()) - v['block_hit_rate']) < 1e-9
        assert v['hit_rate_by_tier']['host'] > 0 and v['block_hit_rate'] <= v['tier_bound']['block_hit_rate_ub'] + 1e-12
    one = json.loads(cli(*BASE).stdout)
    assert d['policies']['lru']['block_hit_rate'] > one['policies']['lru']['block_hit_rate']   # a host tier keeps what the GPU evicts
    assert [t['name'] for t in d['tiers']['tiers']] == ['gpu', 'host', 'disk']

def test_inclusive_write_policies_run():
    for wp in ('write_through', 'write_through_selective', 'write_back'):
        r = cli(*BASE, '--host-blocks', '100', '--tier-mode', 'inclusive', '--write-policy', wp, '--host-policy', 'lfu')
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)['tiers']['write_policy'] == wp

@pytest.mark.parametrize('args,named', [
    (['--host-blocks', '-1'], '--host-blocks'), (['--host-blocks', '1.5'], '--host-blocks'), (['--disk-blocks', 'x'], '--disk-blocks'),
    (['--host-blocks', '10', '--tier-mode', 'both'], '--tier-mode'), (['--host-blocks', '10', '--write-policy', 'wb'], '--write-policy'),
    (['--host-blocks', '10', '--host-policy', 'belady'], '--host-policy'), (['--host-blocks', '10', '--host-policy', 'nope'], '--host-policy'),
    (['--host-blocks', '10', '--write-policy', 'write_through'], '--tier-mode inclusive'),
    (['--host-blocks', '10', '--policies', 'belady'], '--policies'), (['--host-blocks', '10', '--mode', 'segment'], '--mode block')])
def test_bad_tier_options_exit_2_naming_the_option(tmp_path, args, named):
    base = [a for a in BASE if a != '--json']
    r = cli(*base, *args, '--out', str(tmp_path/'out'))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert named in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'out').exists() or not any((tmp_path/'out').iterdir())   # nothing written
