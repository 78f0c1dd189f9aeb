"""What real clients expect, through the engine, the proxy and the router on loopback (real servers, the `openai` SDK):
X-Request-ID end to end, `continuous_usage_stats`, `/reset_prefix_cache` relayed and fanned out, and a client smoke:
a few dozen requests through each path with no error and one trace line (or decision) per request. The smoke also
runs AIPerf when an `aiperf` executable is available (`$AIPERF`, or on `PATH`)."""
import asyncio, json, os, shutil
import pytest
pytest.importorskip('uvicorn'); pytest.importorskip('aiohttp')
import httpx, openai
from semantic_kv.serve.core import Server
from semantic_kv.serve.engine import Engine
from semantic_kv.serve.proxy import Proxy, ProxyConfig
from semantic_kv.serve.router import RouterApp, aiperf_profile
from semantic_kv.models import content_hash

MSGS = [{'role': 'system', 'content': 'You answer questions about the Acme Cloud platform. ' * 6},
        {'role': 'user', 'content': 'QUESTION: How do I rotate a key?'}]
FAST = dict(num_blocks=512, time_scale=0)

def _lines(p): return [json.loads(l) for l in open(p)] if os.path.exists(p) else []

@pytest.fixture
def chain(tmp_path):
    "client -> router -> proxy -> engine, and a second engine behind the router; servers stopped at the end"
    e1, e2 = Server(Engine(**FAST)).start(), Server(Engine(**FAST)).start()
    px = Proxy(ProxyConfig(e1.url, trace_dir=tmp_path/'t.jsonl', redact=False))
    ps = Server(px).start()
    ra = RouterApp([ps.url, e2.url], 'round_robin', log_path=tmp_path/'d.jsonl', health_interval_s=0.25)
    rs = Server(ra).start()
    try: yield dict(e1=e1, e2=e2, proxy=ps, px=px, router=rs, ra=ra, trace=tmp_path/'t.jsonl', log=tmp_path/'d.jsonl')
    finally:
        for s in (rs, ps, e1, e2): s.stop()

def test_x_request_id_end_to_end(chain):
    "The client's X-Request-ID reaches the proxy behind the router (its trace record), is echoed, and is in the decision log; a missing one is made up once and used everywhere"
    c = openai.OpenAI(base_url=chain['router'].url + '/v1', api_key='none', max_retries=0)
    got = []
    for j in range(4):   # round robin: requests 0 and 2 go through the proxy
        hdr = {'X-Request-ID': f'client-{j}'} if j < 2 else {}
        r = c.chat.completions.with_raw_response.create(model='m', messages=MSGS, max_tokens=2, stream=j % 2 == 1, extra_headers=hdr)
        if j % 2: list(r.parse())
        got.append(r.headers['x-request-id'])
    assert got[:2] == ['client-0', 'client-1'] and got[2] != got[3] and all(got[2:])
    r = httpx.post(chain['proxy'].url + '/v1/chat/completions', json=dict(model='m', messages=MSGS, max_tokens=1), headers={'X-Request-ID': 'direct-proxy'})
    assert r.headers['x-request-id'] == 'direct-proxy'
    bad = httpx.post(chain['proxy'].url + '/v1/chat/completions', json=dict(model='m', messages=MSGS, max_tokens=1), headers={'X-Request-ID': 'x' * 300})
    assert bad.headers['x-request-id'] != 'x' * 300               # too long to be an id: a new one
    chain['router'].stop(); chain['proxy'].stop()                  # flush the decision log and the trace
    recs = _lines(chain['trace'])
    assert [r['request_id'] for r in recs][:3] == [got[0], got[2], 'direct-proxy'] and recs[3]['request_id'] == bad.headers['x-request-id']
    dec = _lines(chain['log'])
    assert [d['request_id'] for d in dec] == got and all(d['outcome'] == '200' for d in dec)

def test_continuous_usage_stats_through_proxy_and_router(chain):
    "Usage in every chunk when asked (vLLM's `continuous_usage_stats`); the proxy records the last (whole) usage"
    for url in (chain['router'].url, chain['proxy'].url):
        c = openai.OpenAI(base_url=url + '/v1', api_key='none', max_retries=0)
        chunks = list(c.chat.completions.create(model='m', messages=MSGS, max_tokens=4, stream=True,
                                                stream_options={'include_usage': True, 'continuous_usage_stats': True}))
        assert [ch.usage.completion_tokens for ch in chunks] == [0, 1, 2, 3, 4, 4]
    chain['proxy'].stop()
    assert [r['output_tokens'] for r in _lines(chain['trace'])][-1] == 4

def test_reset_prefix_cache_relayed_and_fanned_out(chain):
    "`POST /reset_prefix_cache` through the router reaches both replicas (one of them through the proxy); after it nothing is cached"
    c = openai.OpenAI(base_url=chain['router'].url + '/v1', api_key='none', max_retries=0)
    usage = lambda: c.chat.completions.create(model='m', messages=MSGS, max_tokens=1).usage
    cached = lambda: usage().prompt_tokens_details.cached_tokens
    u = [usage() for _ in range(4)]                                # round robin: the last two find their replica warm
    assert [x.prompt_tokens_details.cached_tokens for x in u] == [0, 0] + [u[0].prompt_tokens // 16 * 16] * 2 and u[0].prompt_tokens >= 16
    r = httpx.post(chain['router'].url + '/reset_prefix_cache')
    assert r.status_code == 200 and sorted(x['status'] for x in r.json()['replicas']) == [200, 200]
    assert [cached(), cached()] == [0, 0]
    assert httpx.post(chain['proxy'].url + '/reset_prefix_cache').status_code == 200
    assert httpx.get(chain['proxy'].url + '/reset_prefix_cache').status_code == 405

# ------------------------------------------------------------------------------------------------ the client smoke
N, CONC = 36, 6

async def _openai_load(url, n, conc):
    "n chat requests (half streamed) with the openai SDK, conc at a time; (status, x-request-id) per request"
    c = openai.AsyncOpenAI(base_url=url + '/v1', api_key='none', max_retries=0, timeout=60)
    out, sem = [], asyncio.Semaphore(conc)
    async def one(i):
        async with sem:
            msgs = MSGS[:1] + [{'role': 'user', 'content': f'QUESTION {i}: how?'}]
            try:
                r = await c.chat.completions.with_raw_response.create(model='m', messages=msgs, max_tokens=8, stream=bool(i % 2),
                                                                      stream_options={'include_usage': True} if i % 2 else None,
                                                                      extra_headers={'X-Request-ID': f'smoke-{i}'})
                p = r.parse()
                if i % 2: p = [ch async for ch in p]
                out.append((r.status_code, r.headers.get('x-request-id')))
            except Exception as e: out.append((type(e).__name__, None))
    await asyncio.gather(*(one(i) for i in range(n)))
    await c.close()
    return out

@pytest.fixture
def paths(tmp_path):
    "direct (an engine), proxy (in front of it), router (two engines behind it)"
    es = [Server(Engine(num_blocks=2048, time_scale=0)).start() for _ in range(3)]
    px = Proxy(ProxyConfig(es[0].url, trace_dir=tmp_path/'t.jsonl'))
    ps = Server(px).start()
    rs = Server(RouterApp([es[1].url, es[2].url], 'cache_aware', log_path=tmp_path/'d.jsonl', health_interval_s=0.5)).start()
    try: yield dict(engines=es, proxy=ps, px=px, router=rs, trace=tmp_path/'t.jsonl', log=tmp_path/'d.jsonl', tmp=tmp_path)
    finally:
        for s in (rs, ps, *es): s.stop()

def _check(paths, n):
    "Every request answered and accounted for: the engine's log, the proxy's trace and the router's decisions each have one line per request"
    paths['router'].stop(); paths['proxy'].stop()
    e = paths['engines']
    trace, dec = _lines(paths['trace']), _lines(paths['log'])
    assert len(trace) == n and all(r['note'] == 'status 200' and r['outcome'] == 'completed' for r in trace), trace[:2]
    assert len(dec) == n and all(d['outcome'] == '200' for d in dec)
    assert len(e[1].app.log) + len(e[2].app.log) == n

def test_client_smoke_openai(paths):
    "The openai SDK, 6 at a time, 36 requests through each path: no error, the client's ids echoed, one record per request"
    out = {k: asyncio.run(_openai_load(paths[k].url if k != 'direct' else paths['engines'][0].url, N, CONC)) for k in ('direct', 'proxy', 'router')}
    for k, o in out.items():
        assert sorted(s for s, _ in o) == [200] * N, (k, o[:3])
        if k != 'direct': assert sorted(r for _, r in o) == sorted(f'smoke-{i}' for i in range(N)), k
    assert len(paths['engines'][0].app.log) == 2 * N                 # direct and through the proxy
    _check(paths, N)
    assert sorted(r['request_id'] for r in _lines(paths['trace'])) == sorted(content_hash(f'smoke-{i}') for i in range(N))   # redacted: hashed

AIPERF = os.environ.get('AIPERF') or shutil.which('aiperf')

@pytest.mark.skipif(not AIPERF, reason='AIPerf is not installed (a benchmark tool in its own environment: pip install aiperf; point $AIPERF at its executable)')
def test_client_smoke_aiperf(paths):
    "AIPerf, streamed, 8 at a time, 32 requests through each path: no error, and one trace line or decision per request"
    res = {k: aiperf_profile(u, paths['tmp']/k, concurrency=8, requests=32, isl=64, osl=8, aiperf=AIPERF, hf_home=paths['tmp']/'hf')
           for k, u in (('direct', paths['engines'][0].url), ('proxy', paths['proxy'].url), ('router', paths['router'].url))}
    for k, r in res.items():
        assert r['request_count']['avg'] == 32 and not r.get('error_request_count'), (k, r.get('error_summary'))
    _check(paths, 32)
