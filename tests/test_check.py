"""`semantic-kv check` as a user runs it, and `semantic-kv api` as a real loopback server (started and stopped here)."""
import json, os, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

EXE = Path(sys.executable).parent/'semantic-kv'

def test_check_passes_here():
    p = subprocess.run([str(EXE), 'check'], capture_output=True, text=True, timeout=120)
    lines = p.stdout.strip().splitlines()
    assert p.returncode == 0, p.stdout + p.stderr
    names = [l.split(':', 1)[0].split()[-1] for l in lines[:-1]]
    for n in ('imports', 'data', 'tokenizer', 'policies', 'services', 'ray', 'engine', 'trace'): assert any(n in x for x in names) or n in p.stdout, (n, lines)
    assert all(l.split()[0] in ('ok', 'skip', 'FAIL') for l in lines)
    assert lines[-1].startswith('ok') and 'total' in lines[-1]

def test_check_fails_on_missing_data(tmp_path):
    env = dict(os.environ, SEMANTIC_KV_DATA=str(tmp_path/'nowhere'))
    p = subprocess.run([str(EXE), 'check'], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 1, p.stdout
    bad = [l for l in p.stdout.splitlines() if l.startswith('FAIL')]
    assert any('bundled data' in l and 'nowhere' in l for l in bad), p.stdout

def test_run_checks_reports_a_raising_check():
    from semantic_kv.check import run_checks, Item
    def check_boom(): raise RuntimeError('boom')
    items = run_checks((lambda: Item('ok', 'x', 'fine'), check_boom), out=False)
    assert [i.status for i in items] == ['ok', 'FAIL'] and 'boom' in items[1].detail

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def test_api_command_serves_and_stops():
    pytest.importorskip('uvicorn')
    port = _free_port()
    proc = subprocess.Popen([str(EXE), 'api', '--port', str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                with urllib.request.urlopen(base + '/health', timeout=1) as r: health = json.loads(r.read()); break
            except OSError: time.sleep(0.1)
        else: raise AssertionError(proc.stderr.read1().decode() if proc.poll() is not None else 'no answer')
        assert health['status'] == 'ok'
        body = json.dumps({'session_id': 's', 'messages': [{'role': 'user', 'content': 'hello ' * 40}]}).encode()
        req = urllib.request.Request(base + '/v1/simulate/request', data=body, headers={'content-type': 'application/json'})
        with urllib.request.urlopen(req, timeout=30) as r: out = json.loads(r.read())
        assert out['ttft_is_estimate'] and out['prompt_tokens'] > 0
        with urllib.request.urlopen(base + '/openapi.json', timeout=5) as r: spec = json.loads(r.read())
        assert {'/health', '/v1/segment', '/v1/simulate/request', '/v1/simulate/trace', '/v1/policies'} <= set(spec['paths'])
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()
    with socket.socket() as s: assert s.connect_ex(('127.0.0.1', port)) != 0   # nothing left listening
