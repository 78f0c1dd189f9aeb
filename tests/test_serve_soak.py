"""Memory of the proxy and the router stays bounded: N requests with unique prompts go client -> router -> proxy -> engine
(each its own process, on loopback); each server's RSS (children included) after the soak is compared with its own
baseline measured after a warm-up in the same run. A structure kept per request or per block key ever seen (the router's
approximate index, its decision-log queue, the proxy's per-request state) would grow with N; bounded ones plateau."""
import json, os
import httpx, psutil, pytest
pytest.importorskip('uvicorn'); pytest.importorskip('aiohttp')
from semantic_kv.serve.core import ServerProcess

WORDS = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau'.split()

def _prompt(i:int)->str:
    "About 1,000 tokens, unique from the first block on"
    return f'request {i} ' + ' '.join(f'{WORDS[(i * 7 + j) % len(WORDS)]}{(i * 31 + j) % 997}' for j in range(500))

def rss(p:psutil.Process)->int:
    "Resident memory of a process and its children (the proxy's trace writer)"
    return p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True) if c.is_running())

def _drive(client, url, lo, hi):
    for i in range(lo, hi):
        r = client.post(url + '/v1/chat/completions', json={'model': 'semantic-kv-emulated', 'max_tokens': 2,
                        'messages': [{'role': 'user', 'content': _prompt(i)}]}, headers={'x-session-id': f's{i}'})
        assert r.status_code == 200, r.text[:300]

N_WARM, N = int(os.environ.get('SOAK_WARM', 300)), int(os.environ.get('SOAK_N', 1500))

def test_proxy_and_router_memory_is_bounded(tmp_path):
    eng = ServerProcess('engine', '--time-scale', '0', '--num-blocks', '2048', '--disable-uvicorn-access-log')
    with eng:
        px = ServerProcess('proxy', '--upstream', eng.url, '--trace-dir', str(tmp_path/'trace'), '--disable-uvicorn-access-log')
        with px:
            rt = ServerProcess('router', '--replicas', px.url, '--policy', 'dynamo_kv', '--policy-params', '{"max_index_blocks": 20000}',
                               '--log-dir', str(tmp_path/'log'), '--disable-uvicorn-access-log')
            with rt, httpx.Client(timeout=30) as c:
                procs = {'proxy': psutil.Process(px.proc.pid), 'router': psutil.Process(rt.proc.pid), 'engine': psutil.Process(eng.proc.pid)}
                _drive(c, rt.url, 0, N_WARM)
                base = {k: rss(p) for k, p in procs.items()}
                _drive(c, rt.url, N_WARM, N_WARM + N)
                after = {k: rss(p) for k, p in procs.items()}
        recs = sum(1 for f in (tmp_path/'trace').glob('*.jsonl') for _ in f.open())
    assert recs == N_WARM + N                                   # every request was recorded: the soak did run through the proxy
    ratio = {k: round(after[k] / base[k], 3) for k in base}
    print(f"\nsoak of {N} unique requests after {N_WARM} warm-up: RSS MB before {({k: base[k] >> 20 for k in base})}, "
          f"after {({k: after[k] >> 20 for k in after})}, ratio {ratio}")
    for k in ('proxy', 'router', 'engine'):
        assert after[k] <= base[k] * 1.10 + (4 << 20), f"{k}: RSS grew from {base[k] >> 20} MB to {after[k] >> 20} MB over {N} unique requests"

def test_decision_log_queue_is_bounded(tmp_path):
    "Decisions wait in a bounded batch for the writer thread: when the disk falls behind they are dropped (counted), memory does not grow"
    import time
    from semantic_kv.serve.router import DecisionLog
    lg = DecisionLog(tmp_path/'d.jsonl', max_pending=3, every_s=0.5)   # the writer waits 0.5 s for a batch: it fell behind
    for i in range(10): lg.write({'i': i})
    assert len(lg._recs) == 3 and lg.dropped == 7
    lg.close()
    assert [l for l in (tmp_path/'d.jsonl').read_text().splitlines()] == ['{"i":0}', '{"i":1}', '{"i":2}']
