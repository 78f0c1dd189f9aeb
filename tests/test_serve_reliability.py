"Reliability of the proxy as a real process on loopback: kill -9 under load, upstream down/slow/dropping, bad bodies, redaction."
import asyncio, json, time
import pytest
pytest.importorskip('uvicorn'); pytest.importorskip('aiohttp')
import httpx
from semantic_kv.serve.core import ServerProcess

MSGS = [{'role': 'system', 'content': 'You are the support assistant of a small cloud company. ' * 4},
        {'role': 'user', 'content': 'QUESTION: how do I rotate a key?'}]

@pytest.fixture(scope='module')
def engine():
    with ServerProcess('engine', '--time-scale', '0', '--num-blocks', '4096', '--max-tokens', '4') as e: yield e

def lines(d):
    "Trace lines of a directory; a torn last line (at most one) is counted, not parsed"
    (f,) = list(d.glob('*.jsonl'))
    raw = f.read_text().split('\n')
    recs, torn = [], 0
    for i, l in enumerate(raw):
        if not l: continue
        try: recs.append(json.loads(l))
        except ValueError:
            assert i >= len(raw) - 2, 'only the last line may be torn'; torn += 1
    return recs, torn

def settle(d, quiet_s=1.0, limit_s=60.0):
    "Wait until the trace files in `d` stop growing"
    end, last, since = time.monotonic() + limit_s, None, time.monotonic()
    while time.monotonic() < end:
        size = sum(f.stat().st_size for f in d.glob('*.jsonl'))
        if size != last: last, since = size, time.monotonic()
        elif time.monotonic() - since >= quiet_s: return
        time.sleep(0.1)

async def _load(url, n, conc):
    ids, sem = [], asyncio.Semaphore(conc)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=conc)) as c:
        async def one(i):
            async with sem:
                body = {'model': 'm', 'messages': MSGS[:1] + [{'role': 'user', 'content': f'QUESTION: request {i % 50}?'}], 'max_tokens': 4}
                if i % 2:
                    async with c.stream('POST', '/v1/chat/completions', json={**body, 'stream': True}) as r:
                        text = b''.join([b async for b in r.aiter_raw()])
                        if r.status_code == 200 and text.endswith(b'data: [DONE]\n\n'):
                            ids.append(r.headers['x-request-id'])
                else:
                    r = await c.post('/v1/chat/completions', json=body)
                    if r.status_code == 200: ids.append(r.headers['x-request-id'])   # the proxy's id for it, echoed
        await asyncio.gather(*[one(i) for i in range(n)])
    return ids

def test_kill9_after_load_every_answered_request_has_its_record(engine, tmp_path):
    px = ServerProcess('proxy', '--upstream', engine.url, '--trace-dir', tmp_path, '--no-redact').start()
    try:
        ids = asyncio.run(_load(px.url, 1000, 64))
    finally: px.kill()                                     # kill -9 right after the last response: no shutdown hook
    at_kill = sum(1 for f in tmp_path.glob('*.jsonl') for _ in open(f))
    settle(tmp_path)                                       # the writer child drains its pipe, then exits
    recs, torn = lines(tmp_path)
    print(f"records on disk at the kill: {at_kill}")
    got = {r.get('request_id') for r in recs}
    lost = [i for i in ids if i not in got]
    print(f"sent 1000, answered {len(ids)}, records {len(recs)}, torn {torn}, lost {len(lost)}")
    assert len(ids) == 1000 and not lost and torn <= 1

def test_graceful_stop_flushes(engine, tmp_path):
    with ServerProcess('proxy', '--upstream', engine.url, '--trace-dir', tmp_path) as px:
        for _ in range(5): httpx.post(px.url + '/v1/chat/completions', json={'model': 'm', 'messages': MSGS})
    recs, torn = lines(tmp_path)
    assert len(recs) == 5 and torn == 0

def test_upstream_down_slow_and_dropping(tmp_path):
    with ServerProcess('proxy', '--upstream', 'http://127.0.0.1:9', '--trace-dir', tmp_path/'down') as px:
        r = httpx.post(px.url + '/v1/chat/completions', json={'model': 'm', 'messages': MSGS})
        assert r.status_code == 502 and r.json()['error']['type'] == 'upstream_error'
    with ServerProcess('engine', '--failure-injection-rate', '1', '--failure-types', 'slow', '--slow-ms', '3000', '--time-scale', '0') as e, \
         ServerProcess('proxy', '--upstream', e.url, '--timeout', '0.3', '--trace-dir', tmp_path/'slow') as px:
        r = httpx.post(px.url + '/v1/chat/completions', json={'model': 'm', 'messages': MSGS}, timeout=10)
        assert r.status_code == 504 and r.json()['error']['code'] == 'upstream_timeout'
    with ServerProcess('engine', '--failure-injection-rate', '1', '--failure-types', 'drop', '--time-scale', '0') as e, \
         ServerProcess('proxy', '--upstream', e.url, '--trace-dir', tmp_path/'drop') as px:
        with pytest.raises(httpx.HTTPError):
            with httpx.stream('POST', px.url + '/v1/chat/completions', json={'model': 'm', 'messages': MSGS, 'stream': True, 'max_tokens': 8}) as r:
                for _ in r.iter_raw(): pass
        assert httpx.get(px.url + '/health').status_code == 200      # the proxy survives
    notes = [lines(tmp_path/d)[0][0]['note'] for d in ('down', 'slow', 'drop')]
    assert notes[0].startswith('status 502: upstream unreachable') and notes[1].startswith('status 504') and 'dropped' in notes[2]

def test_malformed_and_oversized_bodies(engine, tmp_path):
    with ServerProcess('proxy', '--upstream', engine.url, '--max-body-bytes', '10000', '--trace-dir', tmp_path) as px:
        for body, status in ((b'{"model": "m", "messages": [', 400), (b'[1, 2]', 400), (b'\xff\xfe', 400),
                             (json.dumps({'model': 'm', 'messages': [{'role': 'user', 'content': 'x' * 20000}]}).encode(), 413)):
            r = httpx.post(px.url + '/v1/chat/completions', content=body, headers={'content-type': 'application/json'})
            assert r.status_code == status and r.json()['error']['message']
        r = httpx.post(px.url + '/v1/chat/completions', json={'model': 'm', 'messages': 'not a list'})
        assert r.status_code == 400                                   # the engine's own error, passed through
        assert httpx.post(px.url + '/v1/chat/completions', json={'model': 'm', 'messages': MSGS}).status_code == 200

CANARY = 'CANARY7f3a'
def canary_request(i):
    c = f'{CANARY}{i}'
    return {'model': 'm', 'user': f'{c}-user', 'cache_salt': f'{c}-salt',
            'tools': [{'type': 'function', 'function': {'name': f'{c}_tool', 'description': f'{c} description',
                                                        'parameters': {'type': 'object', 'properties': {f'{c}_arg': {'type': 'string'}}}}}],
            'messages': [{'role': 'system', 'content': f'{c} system text'},
                         {'role': 'user', 'name': f'{c}-name', 'content': [{'type': 'text', 'text': f'{c} user text'}]},
                         {'role': 'assistant', 'content': None, 'tool_calls': [{'id': f'call_{c}', 'type': 'function',
                          'function': {'name': f'{c}_tool', 'arguments': json.dumps({f'{c}_arg': f'{c} argument'})}}]},
                         {'role': 'tool', 'tool_call_id': f'call_{c}', 'name': f'{c}_tool', 'content': f'{c} tool output'},
                         {'role': 'user', 'content': f'QUESTION: {c} question?'}]}

def test_redaction_canaries_never_reach_the_trace(engine, tmp_path):
    with ServerProcess('proxy', '--upstream', engine.url, '--trace-dir', tmp_path, '--redact') as px:
        for i, stream in enumerate((False, True)):
            r = httpx.post(px.url + '/v1/chat/completions', json={**canary_request(i), 'stream': stream},
                           headers={'Authorization': f'Bearer sk-{CANARY}', 'X-Session-ID': f'{CANARY}-session', 'X-Tenant-ID': f'{CANARY}-tenant'})
            assert r.status_code == 200 and r.text
    text = next(tmp_path.glob('*.jsonl')).read_text()
    recs = [json.loads(l) for l in text.splitlines()]
    assert len(recs) == 2 and all(len(r['segments']) >= 5 for r in recs)
    assert CANARY.lower() not in text.lower()

def test_reader_skips_a_torn_last_line_with_a_warning(engine, tmp_path):
    from semantic_kv.traces import read_requests
    with ServerProcess('proxy', '--upstream', engine.url, '--trace-dir', tmp_path) as px:
        for _ in range(3): httpx.post(px.url + '/v1/chat/completions', json={'model': 'm', 'messages': MSGS})
    (f,) = list(tmp_path.glob('*.jsonl'))
    with open(f, 'ab') as fh: fh.write(f.read_bytes().splitlines()[0][:40])      # what a writer killed mid-line leaves
    with pytest.warns(UserWarning, match='torn last line'): rs = list(rd := read_requests(f))
    assert len(rs) == 3 and rd.skipped == 1
