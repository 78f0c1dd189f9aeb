"""The proxy and the router under hostile traffic, on loopback: a table of hostile requests and upstream oddities, and bad
flags. After every case: `/health` answers within 1 s, a normal request (the `openai` SDK) still succeeds, the proxy's
trace holds exactly one record per forwarded request (and its own reader accepts every line), the router's replicas are
all still up. Counts per server (cases, clean errors, crashes, hangs, silent accepts, lost records) are printed."""
import asyncio, json, os, re, subprocess, sys, threading, time
from collections import Counter
import pytest
pytest.importorskip('uvicorn'); pytest.importorskip('aiohttp')
import httpx, openai
from semantic_kv.serve.core import Server, record_outcome
from semantic_kv.serve.engine import Engine
from semantic_kv.serve.proxy import Proxy, ProxyConfig
from semantic_kv.serve.router import RouterApp
from semantic_kv.traces import read_requests

MSGS = [{'role': 'system', 'content': 'You answer questions about the Acme Cloud platform. ' * 4},
        {'role': 'user', 'content': 'QUESTION: How do I rotate a key?'}]
COUNTS = {}   # server -> Counter of what happened

# ---------------------------------------------------------------- an upstream that misbehaves at the byte level
def _completion(**kw):
    o = {'id': 'chatcmpl-odd', 'object': 'chat.completion', 'created': 0, 'model': 'ok',
         'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': 'hi'}, 'finish_reason': 'stop'}],
         'usage': {'prompt_tokens': 10, 'completion_tokens': 1, 'total_tokens': 11, 'prompt_tokens_details': {'cached_tokens': 0}}}
    o.update(kw); return json.dumps(o).encode()

def _resp(status:bytes, body:bytes, headers=(), ctype=b'application/json'):
    return (b'HTTP/1.1 ' + status + b'\r\ncontent-type: ' + ctype + b'\r\n' + b''.join(k + b': ' + v + b'\r\n' for k, v in headers) +
            b'content-length: %d\r\nconnection: close\r\n\r\n' % len(body) + body)

def _chunk(b:bytes)->bytes: return b'%x\r\n' % len(b) + b + b'\r\n'
_SSE_HEAD = b'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n'
_EV = b'data: {"id": "chatcmpl-odd", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "x"}}]}\n\n'

class OddUpstream:
    "A loopback HTTP/1.1 server answering with oddities no ASGI server can send (status 999, raw header bytes, resets); the body's `model` picks the oddity"
    def __init__(self): self.peer_closed, self.loop, self.port = 0, None, None
    async def _mode(self, mode, w):
        if mode == 'status999': w.write(_resp(b'999 Odd', _completion()))
        elif mode == 'status1000': w.write(_resp(b'1000 Odd', _completion()))
        elif mode == 'details-string': w.write(_resp(b'200 OK', _completion(usage={'prompt_tokens': 10, 'completion_tokens': 1, 'prompt_tokens_details': 'cached: 3'})))
        elif mode == 'bool-usage': w.write(_resp(b'200 OK', _completion(usage={'prompt_tokens': True, 'completion_tokens': False, 'prompt_tokens_details': {'cached_tokens': True}})))
        elif mode == 'cached-over-prompt': w.write(_resp(b'200 OK', _completion(usage={'prompt_tokens': 2, 'completion_tokens': 1, 'prompt_tokens_details': {'cached_tokens': 10**6}})))
        elif mode == 'numeric-id': w.write(_resp(b'200 OK', _completion(id=12345)))
        elif mode == 'not-json-200': w.write(_resp(b'200 OK', b'[[[' * 2000))
        elif mode == 'nonascii-header': w.write(_resp(b'200 OK', _completion(), [(b'x-odd', 'café ☕'.encode()), (b'x-latin', b'caf\xe9')]))
        elif mode == 'bad-header-name': w.write(_resp(b'200 OK', _completion(), [(b'x odd(', b'v'), (b'x-ctl', b'a\x7fb')]))
        elif mode == 'status-503': w.write(_resp(b'503 Service Unavailable', b'{"error": {"message": "boom"}}'))
        elif mode == 'garbage': w.write(b'NOT HTTP AT ALL\r\n\r\n')
        elif mode == 'reset': w.transport.abort(); return
        elif mode == 'slow': await asyncio.sleep(3); w.write(_resp(b'200 OK', _completion()))
        elif mode == 'cut-stream': w.write(_SSE_HEAD + _chunk(_EV)); await w.drain(); await asyncio.sleep(0.05); w.transport.abort(); return
        elif mode == 'slow-stream':
            w.write(_SSE_HEAD)
            for _ in range(200):
                w.write(_chunk(_EV)); await asyncio.sleep(0.05)
                if w.transport.is_closing() or w.is_closing(): break
                try: await w.drain()
                except ConnectionError: break
            else: w.write(_chunk(b'data: [DONE]\n\n') + b'0\r\n\r\n')
            if w.transport.is_closing(): self.peer_closed += 1
        else: w.write(_resp(b'200 OK', _completion()))
        await w.drain()
    async def _handle(self, r, w):
        try:
            head = await r.readuntil(b'\r\n\r\n')
            m = re.search(rb'(?i)\r\ncontent-length:\s*(\d+)', head)
            body = await r.readexactly(int(m.group(1))) if m else b''
            if head.startswith(b'GET /health'): w.write(_resp(b'200 OK', b'{"status": "ok"}'))
            elif head.startswith(b'GET '): w.write(_resp(b'404 Not Found', b'{}'))
            else:
                try: mode = json.loads(body).get('model')
                except Exception: mode = None
                await self._mode(mode, w); return
            await w.drain()
        except Exception: pass
        finally:
            if not w.transport.is_closing(): w.close()
    def start(self):
        ready = threading.Event()
        async def main():
            self.loop = asyncio.get_running_loop(); self._stop = asyncio.Event()
            srv = await asyncio.start_server(self._handle, '127.0.0.1', 0)
            self.port = srv.sockets[0].getsockname()[1]; ready.set()
            async with srv: await self._stop.wait()
        self.thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True); self.thread.start()
        ready.wait(10); return self
    @property
    def url(self): return f'http://127.0.0.1:{self.port}'
    def stop(self): self.loop.call_soon_threadsafe(self._stop.set); self.thread.join(10)

# ---------------------------------------------------------------- servers
@pytest.fixture(scope='module')
def engines():
    es = [Server(Engine(num_blocks=512, inter_token_latency_ms=5, latency={'base_ms': 1, 'ms_per_uncached_token': 0.001})).start() for _ in range(2)]
    yield es
    for e in es: e.stop()

@pytest.fixture(scope='module')
def odd():
    o = OddUpstream().start(); yield o; o.stop()

@pytest.fixture(scope='module')
def proxies(engines, odd, tmp_path_factory):
    d = tmp_path_factory.mktemp('hostile')
    out = {}
    for name, up, t in (('proxy', engines[0].url, 10.0), ('proxy-odd', odd.url, 1.0)):
        p = Proxy(ProxyConfig(up, trace_dir=d/f'{name}.jsonl', timeout_s=t, max_body_bytes=1_000_000))
        out[name] = (Server(p).start(), p, dict(forwarded=0))
    yield out
    for s, _, _ in out.values(): s.stop()

@pytest.fixture(scope='module')
def routers(engines, odd, tmp_path_factory):
    d = tmp_path_factory.mktemp('routing')
    out = {'router': Server(RouterApp([e.url for e in engines], 'cache_aware', log_path=d/'r.jsonl', health_interval_s=0.25, max_body_bytes=1_000_000)).start(),
           'router-odd': Server(RouterApp([odd.url], 'round_robin', log_path=d/'o.jsonl', health_interval_s=0.25)).start()}
    yield out
    for s in out.values(): s.stop()

# ---------------------------------------------------------------- the rule checked after every case
def _lines(p): return p.writer.path.read_text().splitlines() if p.writer.path.exists() else []

def _wait_records(p, n, timeout=10.0):
    "The trace's records once it holds `n` lines (the writer child is asynchronous); fewer if it never gets there"
    end = time.monotonic() + timeout
    while len(_lines(p)) < n and time.monotonic() < end: time.sleep(0.02)
    return [json.loads(l) for l in _lines(p)]

def _normal(url, model='m'):
    c = openai.OpenAI(base_url=url + '/v1', api_key='sk-hostile-canary', max_retries=0, timeout=10)
    return c.chat.completions.create(model=model, messages=MSGS, max_tokens=2)

def _healthy(url):
    r = httpx.get(url + '/health', timeout=1.0)
    assert r.status_code == 200, r.text

def _metric(url, name):
    m = re.search(rf'^{name} (\S+)$', httpx.get(url + '/metrics', timeout=2).text, re.M)
    return float(m.group(1)) if m else None

def _classify(server, status, want, hang=False):
    "Count a case's result: a clean 4xx, an expected upstream error, a crash (500 from us), a hang, or a silent accept"
    c = COUNTS.setdefault(server, Counter()); c['cases'] += 1
    if hang: c['hangs'] += 1
    elif status == 500: c['crashes'] += 1
    elif want // 100 == 4 and status // 100 == 2: c['silent accepts'] += 1
    elif status // 100 == 4: c['clean 4xx'] += 1
    elif status // 100 == 5: c['upstream errors relayed (502/504)'] += 1
    else: c['ok'] += 1

def _send(url, req):
    "Send one hostile request: (status or None, hang?)"
    method, path, kw = req
    try:
        if kw.pop('disconnect', False):                          # read one chunk of the stream, then go away
            with httpx.stream(method, url + path, timeout=10, **kw) as r:
                next(r.iter_raw()); return r.status_code, False
        return httpx.request(method, url + path, timeout=10, **kw).status_code, False
    except httpx.TimeoutException: return None, True
    except httpx.TransportError: return 599, False           # the connection was broken (expected for a cut stream)

def _chat(model='m', **kw): return dict(json={'model': model, 'messages': MSGS, 'max_tokens': 2, **kw})
def _raw(b:bytes): return dict(content=b, headers={'content-type': 'application/json'})
DEEP = b'{"model": "m", "messages": ' + b'[' * 1000 + b']' * 1000 + b'}'
DEEP_OK_FOR_JSON = b'{"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}], "x": ' + b'[' * 1023 + b']' * 1023 + b'}'
C = '/v1/chat/completions'

# (name, (method, path, httpx kwargs), expected status, forwarded?, expected outcome of its record)
PROXY_CASES = [
    ('deep-1000', ('POST', C, _raw(DEEP)), 400, False, None),
    ('deep-1023-inside-orjson-limit', ('POST', C, _raw(DEEP_OK_FOR_JSON)), 400, False, None),
    ('huge-int', ('POST', C, _raw(b'{"model": "m", "messages": [], "max_tokens": ' + b'9' * 60 + b'}')), 400, False, None),
    ('nan', ('POST', C, _raw(b'{"model": "m", "messages": [], "temperature": NaN}')), 400, False, None),
    ('not-json', ('POST', C, _raw(b'{"model": ')), 400, False, None),
    ('json-array', ('POST', C, _raw(b'[1, 2]')), 400, False, None),
    ('not-utf8', ('POST', C, _raw(b'{"model": "\xff"}')), 400, False, None),
    ('too-large', ('POST', C, _chat(pad='x' * 1_100_000)), 413, False, None),
    ('dotdot-encoded', ('GET', '/v1/..%2fmetrics', {}), 404, False, None),
    ('dotdot-encoded-dots', ('GET', '/v1/%2e%2e/metrics', {}), 404, False, None),
    ('dotdot-plain-post', ('POST', '/v1/chat/completions/../../metrics', _chat()), 404, False, None),
    ('encoded-separator', ('POST', '/v1/chat%2fcompletions', _chat()), 404, False, None),
    ('unknown-path', ('POST', '/v1/embeddings', _chat()), 404, False, None),
    ('wrong-method', ('GET', C, {}), 405, False, None),
    ('nonascii-header', ('POST', C, {**_chat(), 'headers': {'x-note': b'caf\xe9'}}), 200, True, 'completed'),
    ('emoji-session', ('POST', C, {**_chat(), 'headers': {'x-session-id': 'sess-🙂'.encode()}}), 200, True, 'completed'),
    ('control-char-header', ('POST', C, {**_chat(), 'headers': {'x-tenant-id': b'^\xc3\x8f\x01\x19'}}), 400, False, None),   # HTTP forbids it; no upstream client sends it
    # the engine refuses a numeric `request_id` and a non-string `user` as vLLM does (400 naming the param); the proxy
    # relays the 400 and still writes one record the reader accepts
    ('numeric-request-id', ('POST', C, _chat(request_id=123)), 400, True, 'upstream_error'),
    ('user-not-a-string', ('POST', C, _chat(user=5)), 400, True, 'upstream_error'),
    ('stream-options-not-object', ('POST', C, _chat(stream=True, stream_options='yes')), None, True, None),
    ('client-disconnects-mid-stream', ('POST', C, {**_chat(stream=True, max_tokens=2000), 'disconnect': True}), 200, True, 'client_disconnected'),
]
ODD_CASES = [
    ('status-999', 'status999', 502, 'upstream_error'),
    ('status-1000', 'status1000', 502, 'upstream_error'),
    ('usage-details-string', 'details-string', 200, 'completed'),
    ('usage-booleans', 'bool-usage', 200, 'completed'),
    ('usage-cached-over-prompt', 'cached-over-prompt', 200, 'completed'),
    ('numeric-response-id', 'numeric-id', 200, 'completed'),
    ('deep-json-response', 'not-json-200', 200, 'completed'),
    ('nonascii-response-header', 'nonascii-header', 200, 'completed'),
    ('bad-response-header', 'bad-header-name', None, None),
    ('upstream-503', 'status-503', 503, 'upstream_error'),
    ('garbage-response', 'garbage', 502, 'upstream_error'),
    ('connection-reset', 'reset', 502, 'upstream_error'),
    ('timeout', 'slow', 504, 'timeout'),
    ('stream-cut', 'cut-stream', 599, 'upstream_error'),
    ('client-disconnects-mid-stream', 'slow-stream', 200, 'client_disconnected'),
]

def _check_proxy(name, s, p, st, status, want, forwarded, outcome, normal_model='m'):
    "The rule: healthy within 1 s, a normal request succeeds, exactly one record per forwarded request, read back by the reader"
    if forwarded: st['forwarded'] += 1
    recs = _wait_records(p, st['forwarded'])
    assert len(recs) == st['forwarded'], f'{name}: {len(recs)} records for {st["forwarded"]} forwarded requests'
    if outcome: assert record_outcome(recs[-1]) == outcome, (name, recs[-1].get('note'))
    _healthy(s.url)
    r = _normal(s.url, normal_model)
    assert r.choices[0].message.content is not None
    st['forwarded'] += 1
    recs = _wait_records(p, st['forwarded'])
    assert len(recs) == st['forwarded'] and record_outcome(recs[-1]) == 'completed', (name, len(recs), st['forwarded'])
    assert len(list(read_requests(p.writer.path))) == st['forwarded']       # the proxy's own reader accepts every line
    assert _metric(s.url, 'semantickv_proxy_trace_records_dropped') == 0
    assert _metric(s.url, 'semantickv_proxy_trace_records_written') == st['forwarded']
    assert 'canary' not in p.writer.path.read_text()

@pytest.mark.parametrize('case', PROXY_CASES, ids=[c[0] for c in PROXY_CASES])
def test_proxy_hostile(proxies, case):
    name, req, want, forwarded, outcome = case
    s, p, st = proxies['proxy']
    status, hang = _send(s.url, (req[0], req[1], dict(req[2])))
    _classify('proxy', status or 0, want or 200, hang)
    assert not hang and status != 500, (name, status)
    if want is not None: assert status == want, (name, status)
    _check_proxy(name, s, p, st, status, want, forwarded, outcome)

@pytest.mark.parametrize('case', ODD_CASES, ids=[c[0] for c in ODD_CASES])
def test_proxy_upstream_oddities(proxies, odd, case):
    name, mode, want, outcome = case
    s, p, st = proxies['proxy-odd']
    closed = odd.peer_closed
    kw = _chat(mode, stream=mode in ('cut-stream', 'slow-stream'))
    if mode == 'slow-stream': kw['disconnect'] = True
    status, hang = _send(s.url, ('POST', C, kw))
    _classify('proxy (odd upstream)', status or 0, 200, hang)
    assert not hang, name
    if want is not None: assert status == want, (name, status)
    if mode == 'slow-stream':                                       # the proxy stopped the upstream stream too
        end = time.monotonic() + 5
        while odd.peer_closed == closed and time.monotonic() < end: time.sleep(0.02)
        assert odd.peer_closed == closed + 1
    _check_proxy(name, s, p, st, status, want, True, outcome, normal_model='ok')

# ---------------------------------------------------------------- the router
ROUTER_CASES = [
    ('nonascii-header', ('POST', C, {**_chat(), 'headers': {'x-note': b'caf\xe9'}}), 200),
    ('emoji-session', ('POST', C, {**_chat(), 'headers': {'x-session-id': 'sess-🙂'.encode()}}), 200),
    ('latin1-session', ('POST', C, {**_chat(), 'headers': {'x-session-id': b'caf\xe9', 'x-request-id': b'\xff\xfe'}}), 200),
    ('control-char-header', ('POST', C, {**_chat(), 'headers': {'x-tenant-id': b'^\xc3\x8f\x01\x19'}}), 400),
    ('numeric-request-id', ('POST', C, _chat(request_id=123)), 400),   # the replica's 400 relayed; no replica marked down
    ('deep-1000', ('POST', C, _raw(DEEP)), 400),
    ('huge-int', ('POST', C, _raw(b'{"model": "m", "messages": [], "max_tokens": ' + b'9' * 60 + b'}')), 400),
    ('nan', ('POST', C, _raw(b'{"model": "m", "messages": [], "temperature": NaN}')), 400),
    ('not-json', ('POST', C, _raw(b'{"model": ')), 400),
    ('not-utf8', ('POST', C, _raw(b'{"model": "\xff"}')), 400),
    ('json-array', ('POST', C, _raw(b'[1]')), 400),
    ('too-large', ('POST', C, _chat(pad='x' * 1_100_000)), 413),
    ('messages-not-list', ('POST', C, _chat(messages='oops')), None),
    ('wrong-method', ('GET', C, {}), 405),
    ('unknown-path', ('GET', '/v1/..%2fmetrics', {}), 404),
    ('encoded-separator', ('POST', '/v1/chat%2fcompletions', _chat()), 404),
    ('trailing-slash', ('POST', '/v1/chat/completions/', _chat()), 404),
    ('client-disconnects-mid-stream', ('POST', C, {**_chat(stream=True, max_tokens=2000), 'disconnect': True}), 200),
]
ROUTER_ODD_CASES = [('status-999', 'status999', 502), ('connection-reset', 'reset', 502), ('garbage-response', 'garbage', 502),
                    ('nonascii-response-header', 'nonascii-header', 200), ('bad-response-header', 'bad-header-name', None),
                    ('stream-cut', 'cut-stream', 200)]

def _check_router(url):
    up = [r['up'] for r in httpx.get(url + '/router/replicas', timeout=1).json()]
    assert all(up), f'replicas marked down by a client request: {up}'
    _healthy(url)

@pytest.mark.parametrize('case', ROUTER_CASES, ids=[c[0] for c in ROUTER_CASES])
def test_router_hostile(routers, case):
    name, req, want = case
    url = routers['router'].url
    status, hang = _send(url, (req[0], req[1], dict(req[2])))
    _classify('router', status or 0, want or 200, hang)
    assert not hang and status not in (500, 502, 503), (name, status)
    if want is not None: assert status == want, (name, status)
    _check_router(url)
    assert _normal(url).choices[0].message.content is not None
    _check_router(url)

@pytest.mark.parametrize('case', ROUTER_ODD_CASES, ids=[c[0] for c in ROUTER_ODD_CASES])
def test_router_replica_oddities(routers, case):
    "A replica's odd answer to one request is that request's 502, not a reason to take the replica out of service"
    name, mode, want = case
    url = routers['router-odd'].url
    status, hang = _send(url, ('POST', C, _chat(mode, stream=mode == 'cut-stream')))
    _classify('router (odd replica)', status or 0, 200, hang)
    assert not hang and status != 500, (name, status)
    if want is not None: assert status == want, (name, status)
    _check_router(url)
    assert _normal(url, 'ok').choices[0].message.content is not None
    _check_router(url)

# ---------------------------------------------------------------- flags: exit 2, the flag named, no traceback, never serving
def _flag_cases(tmp):
    f = tmp/'a-file'; f.write_text('x'); fifo = tmp/'fifo.jsonl'; os.mkfifo(fifo)
    up = ('--upstream', 'http://127.0.0.1:9')
    return [
        (('proxy', *up, '--timeout', 'nan'), '--timeout'), (('proxy', *up, '--timeout', '0'), '--timeout'),
        (('proxy', *up, '--timeout', '-1'), '--timeout'), (('proxy', *up, '--timeout', 'inf'), '--timeout'),
        (('proxy', *up, '--max-body-bytes', '-1'), '--max-body-bytes'), (('proxy', *up, '--max-body-bytes', '0'), '--max-body-bytes'),
        (('proxy', '--upstream', 'http://'), '--upstream'), (('proxy', '--upstream', 'notaurl'), '--upstream'),
        (('proxy', '--upstream', 'http://h:99999'), '--upstream'), (('proxy', *up, '--port', '99999'), '--port'),
        (('proxy', *up, '--port', '0'), '--port'), (('proxy', *up, '--trace-dir', str(f)), '--trace-dir'),
        (('proxy', *up, '--trace-dir', str(fifo)), '--trace-dir'),
        (('router', '--replicas', 'http://127.0.0.1:9', '--health-interval', 'nan'), '--health-interval'),
        (('router', '--replicas', 'http://127.0.0.1:9', '--health-interval', '0'), '--health-interval'),
        (('router', '--replicas', 'http://127.0.0.1:9', '--health-interval', '-1'), '--health-interval'),
        (('router', '--replicas', 'notaurl'), '--replicas'), (('router', '--replicas', 'http://127.0.0.1:9,http://'), '--replicas'),
        (('router', '--replicas', 'http://127.0.0.1:9', '--policy-params', '{bad'), '--policy-params'),
        (('router', '--replicas', 'http://127.0.0.1:9', '--policy-params', '[1]'), '--policy-params'),
        (('router', '--replicas', 'http://127.0.0.1:9', '--policy-params', '{"nope": 1}'), '--policy-params'),
        (('router', '--replicas', 'http://127.0.0.1:9', '--port', '70000'), '--port'),
        (('router', '--replicas', 'http://127.0.0.1:9', '--log-dir', str(f)), '--log-dir'),
        (('router', '--demo', '--requests', '0'), '--requests'),
        (('collect-mock', '--out', str(tmp/'c.jsonl'), '--requests', '0'), '--requests'),
        (('collect-mock', '--out', str(tmp/'c.jsonl'), '--concurrency', '0'), '--concurrency'),
        (('collect-mock', '--out', str(fifo), '--overwrite'), 'not a regular file'),
    ]

_DRIVER = r"""
import contextlib, io, json, sys, traceback
from semantic_kv.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try: rc = main(argv)
        except SystemExit as e: rc = e.code
        except BaseException: traceback.print_exc(); rc = None
    out.append([rc, err.getvalue()])
print(json.dumps(out))
"""

def _judge(c, bad, a, flag, rc, err):
    c['cases'] += 1
    if rc == 2 and flag in err and 'Traceback' not in err: c['clean exit 2'] += 1
    else: c['crashes' if 'Traceback' in err else 'silent accepts'] += 1; bad.append((a, rc, err[-300:]))

def test_flags_refused_at_startup(tmp_path):
    "Every case through the real CLI entry point in one child interpreter (a server that starts anyway shows as a hang), three in their own"
    cases, c, bad = _flag_cases(tmp_path), COUNTS.setdefault('flags', Counter()), []
    own = [cases[0], cases[13], cases[18]]                          # --timeout nan, --health-interval nan, --policy-params '{bad'
    argv0 = [sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())']
    procs = [(subprocess.Popen(argv0 + list(a), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), a, flag) for a, flag in own]
    try: r = subprocess.run([sys.executable, '-c', _DRIVER, json.dumps([list(a) for a, _ in cases])], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired: c['hangs'] += 1; pytest.fail('a command with a bad flag started serving')
    for (a, flag), (rc, err) in zip(cases, json.loads(r.stdout.strip().splitlines()[-1])): _judge(c, bad, a, flag, rc, err)
    for p, a, flag in procs:
        try: _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired: p.kill(); p.communicate(); c['hangs'] += 1; bad.append((a, 'still running')); continue
        _judge(c, bad, a, flag, p.returncode, err)
    assert not bad, bad

def test_zz_print_counts():
    "The per-server tally of the cases above (run last)"
    for server, c in COUNTS.items(): print(f'{server:>22}: ' + ', '.join(f'{k} {v}' for k, v in sorted(c.items())))
    assert all(c['crashes'] == 0 and c['hangs'] == 0 and c['silent accepts'] == 0 for c in COUNTS.values())

# ---------------------------------------------------------------- logs: a cut stream is one warning line, never a traceback
class _Records(__import__('logging').Handler):
    def __init__(self): super().__init__(); self.records = []
    def emit(self, r): self.records.append(r)

def test_cut_streams_log_one_line_no_traceback(proxies, routers):
    "An upstream that drops a stream mid-way: the proxy ends the client's stream as broken and the router with an error event; neither logs a traceback"
    import logging
    h = _Records(); lg = logging.getLogger('uvicorn.error'); lg.addHandler(h)
    try:
        s, p, st = proxies['proxy-odd']
        assert _send(s.url, ('POST', C, _chat('cut-stream', stream=True)))[0] == 599
        st['forwarded'] += 1; _wait_records(p, st['forwarded'])
        assert _send(routers['router-odd'].url, ('POST', C, _chat('cut-stream', stream=True)))[0] == 200
        time.sleep(0.3)
    finally: lg.removeHandler(h)
    assert not [r for r in h.records if r.exc_info or r.levelno >= logging.ERROR], [(r.levelname, r.getMessage()) for r in h.records]
    cut = [r.getMessage() for r in h.records if 'stream ended early' in r.getMessage()]
    assert len(cut) == 1 and '\n' not in cut[0] and 'upstream dropped the connection' in cut[0], [r.getMessage() for r in h.records]
