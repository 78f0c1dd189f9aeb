"The telemetry proxy and the emulated engine in this process, on loopback: streaming, usage, errors, records."
import json, time
import pytest
pytest.importorskip('uvicorn'); pytest.importorskip('aiohttp')
import httpx, openai
from semantic_kv.serve.core import Server, TraceWriter
from semantic_kv.serve.engine import Engine
from semantic_kv.serve.proxy import Proxy, ProxyConfig
from semantic_kv.serve.collect import TraceMiddleware, mock_requests
from semantic_kv.traces import read_requests

MSGS = [{'role': 'system', 'content': 'You answer questions about the Acme Cloud platform. ' * 6},
        {'role': 'user', 'content': 'QUESTION: How do I rotate a key?'}]

@pytest.fixture(scope='module')
def engine():
    with Server(Engine(num_blocks=512, inter_token_latency_ms=50, latency={'base_ms': 5, 'ms_per_uncached_token': 0.01})) as s: yield s

@pytest.fixture
def proxy(engine, tmp_path):
    p = Proxy(ProxyConfig(engine.url, trace_dir=tmp_path/'t.jsonl', max_body_bytes=200_000))
    s = Server(p).start()
    try: yield s, p
    finally: s.stop()

def records(p): return [json.loads(l) for l in p.writer.path.read_text().splitlines()]

def test_stream_keeps_inter_token_gaps_and_strips_added_usage(proxy):
    s, p = proxy
    c = openai.OpenAI(base_url=s.url + '/v1', api_key='sk-SECRET-canary')
    times, chunks = [], []
    for ch in c.chat.completions.create(model='m', messages=MSGS, stream=True, max_tokens=8):
        chunks.append(ch)
        if ch.choices and ch.choices[0].delta.content: times.append(time.perf_counter())
    gaps = [b - a for a, b in zip(times, times[1:])]
    med = sorted(gaps)[len(gaps) // 2]                                      # robust to a busy machine delaying one chunk
    assert len(gaps) == 7 and 0.025 < med < 0.5 and sum(g < 0.01 for g in gaps) <= 1, gaps   # ~50 ms apart, not one clump
    assert all(ch.usage is None for ch in chunks)                           # the usage chunk the proxy added is gone
    s.stop()
    (r,) = records(p)
    assert r['output_tokens'] == 8 and r['observed_cached_tokens'] == 0 and r['observed_ttft_ms'] > 0
    assert 'canary' not in p.writer.path.read_text()

def test_usage_kept_when_client_asks(proxy):
    s, _ = proxy
    with httpx.stream('POST', s.url + '/v1/chat/completions', json={'model': 'm', 'messages': MSGS, 'stream': True, 'max_tokens': 2,
                      'stream_options': {'include_usage': True}}) as r:
        evs = [l for l in r.iter_lines() if l.startswith('data: {')]
    assert json.loads(evs[-1][6:])['usage']['completion_tokens'] == 2

def test_cached_tokens_and_session_recorded(proxy):
    s, p = proxy
    c = openai.OpenAI(base_url=s.url + '/v1', api_key='x')
    msgs = [{'role': 'system', 'content': 'A prompt no other test sends. ' * 10}] + MSGS[1:]
    a = c.chat.completions.create(model='m', messages=msgs, max_tokens=2, extra_headers={'X-Session-ID': 'sess'})
    b = c.chat.completions.create(model='m', messages=msgs, max_tokens=2, extra_headers={'X-Session-ID': 'sess'})
    assert b.usage.prompt_tokens_details.cached_tokens == (a.usage.prompt_tokens // 16) * 16 > 0
    s.stop()
    rs = list(read_requests(p.writer.path))
    assert [r.observed_cached_tokens for r in rs] == [0, b.usage.prompt_tokens_details.cached_tokens]
    assert rs[0].session_id == rs[1].session_id is not None

def test_errors_have_openai_shape(proxy, engine):
    s, p = proxy
    r = httpx.post(s.url + '/v1/chat/completions', content=b'{"model": ')
    assert r.status_code == 400 and r.json()['error']['code'] == 'invalid_json'
    r = httpx.post(s.url + '/v1/chat/completions', json={'model': 'm', 'messages': [{'role': 'user', 'content': 'x' * 300_000}]})
    assert r.status_code == 413 and 'error' in r.json()
    r = httpx.post(s.url + '/v1/chat/completions', json={'model': 'm'})           # upstream's own 400 passes through
    assert r.status_code == 400 and 'messages' in r.json()['error']['message']
    with Server(Proxy(ProxyConfig('http://127.0.0.1:9'))) as dead:
        r = httpx.post(dead.url + '/v1/chat/completions', json={'model': 'm', 'messages': MSGS})
        assert r.status_code == 502 and r.json()['error']['code'] == 'upstream_unreachable'
    with Server(Proxy(ProxyConfig(engine.url, timeout_s=0.02))) as slow:
        r = httpx.post(slow.url + '/v1/chat/completions', json={'model': 'm', 'messages': MSGS, 'max_tokens': 4})
        assert r.status_code == 504 and r.json()['error']['code'] == 'upstream_timeout'
    assert httpx.get(s.url + '/v1/models').json()['data'][0]['id'] == 'semantic-kv-emulated'
    assert httpx.get(s.url + '/health').status_code == 200

def test_upstream_failures_pass_through():
    eng = Engine(num_blocks=64, time_scale=0, failure_injection_rate=1.0, failure_types=('rate_limit',))
    with Server(eng) as e, Server(Proxy(ProxyConfig(e.url))) as s:
        r = httpx.post(s.url + '/v1/chat/completions', json={'model': 'm', 'messages': MSGS})
        assert r.status_code == 429 and r.json()['error']['type'] == 'rate_limit_error'

def test_dropped_stream_is_broken_for_the_client_and_recorded(tmp_path):
    eng = Engine(num_blocks=64, time_scale=0, failure_injection_rate=1.0, failure_types=('drop',))
    p = Proxy(ProxyConfig('http://x', trace_dir=tmp_path))
    with Server(eng) as e:
        p.cfg.upstream = e.url
        with Server(p) as s:
            with pytest.raises(httpx.HTTPError):
                with httpx.stream('POST', s.url + '/v1/chat/completions', json={'model': 'm', 'messages': MSGS, 'stream': True, 'max_tokens': 8}) as r:
                    for _ in r.iter_raw(): pass
    (rec,) = [json.loads(l) for l in p.writer.path.read_text().splitlines()]
    assert rec['note'].startswith('status 502: upstream dropped')

def test_engine_metrics_and_reset():
    eng = Engine(num_blocks=64, time_scale=0)
    with Server(eng) as s:
        for _ in range(2): httpx.post(s.url + '/v1/completions', json={'model': 'm', 'prompt': 'hello world ' * 20, 'max_tokens': 3})
        page = httpx.get(s.url + '/metrics').text
        assert httpx.post(s.url + '/reset_prefix_cache').status_code == 200
        r = httpx.post(s.url + '/v1/completions', json={'model': 'm', 'prompt': 'hello world ' * 20, 'max_completion_tokens': 3}).json()
    for name in ('vllm:prefix_cache_queries_total', 'vllm:prefix_cache_hits_total', 'vllm:num_requests_running', 'vllm:num_requests_waiting',
                 'vllm:kv_cache_usage_perc', 'vllm:time_to_first_token_seconds_bucket'): assert name in page
    hits = [l for l in page.splitlines() if l.startswith('vllm:prefix_cache_hits_total')][0]
    assert float(hits.split()[-1]) == 32.0                          # 41-token prompt: 2 full blocks hit the second time
    assert r['usage']['prompt_tokens_details']['cached_tokens'] == 0 and r['usage']['completion_tokens'] == 3

def test_middleware_records_like_the_proxy(tmp_path):
    w = TraceWriter(tmp_path/'mw.jsonl')
    with Server(TraceMiddleware(Engine(num_blocks=64, time_scale=0), w)) as s:
        for body, hdr in mock_requests(3): httpx.post(s.url + '/v1/chat/completions', json={**body, 'stream_options': {'include_usage': True}}, headers=hdr)
    rs = list(read_requests(w.path))
    assert len(rs) == 3 and all(r.observed_ttft_ms is not None and r.observed_cached_tokens is not None for r in rs)

def test_collect_mock_trace_replays_and_calibrates(tmp_path, capsys):
    from semantic_kv.cli import main
    out = tmp_path/'mock.jsonl'
    assert main(['collect-mock', '--requests', '30', '--out', str(out)]) == 0
    assert main(['collect-mock', '--requests', '3', '--out', str(out)]) == 2            # never overwrites
    capsys.readouterr()
    assert main(['replay', '--trace', str(out), '--capacity-blocks', '4096', '--calibrate-from-trace', '--policies', 'lru', '--json']) == 0
    d = json.loads(capsys.readouterr().out)
    assert d['validation']['exact_match_share'] == 1.0                                 # replay == what the engine reported
    assert abs(d['calibration']['ms_per_uncached_token'] - 0.08) < 0.03                # the engine's latency model, recovered

def test_engine_queues_beyond_max_num_seqs():
    import threading
    eng = Engine(num_blocks=64, max_num_seqs=1, latency={'base_ms': 1500, 'ms_per_uncached_token': 0})
    with Server(eng) as s:
        ts = [threading.Thread(target=httpx.post, args=(s.url + '/v1/chat/completions',),
                               kwargs=dict(json={'model': 'm', 'messages': MSGS, 'max_tokens': 1}, timeout=30)) for _ in range(2)]
        for t in ts: t.start()
        seen, end = set(), time.monotonic() + 3
        while time.monotonic() < end and (1.0, 1.0) not in seen:
            page = httpx.get(s.url + '/metrics').text
            val = lambda n: float(next(l for l in page.splitlines() if l.startswith(n + '{')).split()[-1])
            seen.add((val('vllm:num_requests_running'), val('vllm:num_requests_waiting'))); time.sleep(0.02)
        for t in ts: t.join()
    assert (1.0, 1.0) in seen                      # one running, one waiting for a slot

class FlakyUpstream:
    """A raw-socket HTTP/1.1 upstream on loopback that always advertises keep-alive. `plan(n)` is what the n-th request
    on a connection gets: 'ok'; 'fin' (read, then closed with no response: an idle close crossing the request);
    'rst' (reset with no response); 'cut' (a response head and part of the body, then closed)."""
    def __init__(self, plan):
        import socket, threading
        self.plan, self.seen, self.conns, self.threads = plan, [], [], []
        self.sock = socket.create_server(('127.0.0.1', 0))
        self.url = f'http://127.0.0.1:{self.sock.getsockname()[1]}'
        t = threading.Thread(target=self._accept, daemon=True); t.start(); self.threads.append(t)
    def _accept(self):
        import threading
        while True:
            try: c, _ = self.sock.accept()
            except OSError: return                                           # closed by stop()
            self.conns.append(c)
            t = threading.Thread(target=self._serve, args=(c, len(self.conns) - 1), daemon=True); t.start(); self.threads.append(t)
    def _serve(self, c, ci):
        import socket, struct
        buf, n = b'', 0
        try:
            while True:
                while b'\r\n\r\n' not in buf:
                    d = c.recv(65536)
                    if not d: return
                    buf += d
                action = self.plan(n)
                if action == 'rst':
                    self.seen.append((ci, n, action, None))
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); return
                head, buf = buf.split(b'\r\n\r\n', 1)
                size = int(next(l.split(b':')[1] for l in head.split(b'\r\n') if l.lower().startswith(b'content-length')))
                while len(buf) < size: buf += c.recv(65536)
                body, buf = json.loads(buf[:size]), buf[size:]
                self.seen.append((ci, n, action, body.get('stream', False)))
                if action == 'fin': return
                rid = f'cmpl-{ci}-{n}'
                if body.get('stream'):
                    evs = [{'id': rid, 'choices': [{'index': 0, 'delta': {'content': 'hi'}}]},
                           {'id': rid, 'choices': [], 'usage': {'prompt_tokens': 5, 'completion_tokens': 1, 'total_tokens': 6}}]
                    out, ctype = b''.join(b'data: ' + json.dumps(e).encode() + b'\n\n' for e in evs) + b'data: [DONE]\n\n', b'text/event-stream'
                else:
                    out, ctype = json.dumps({'id': rid, 'object': 'chat.completion', 'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': 'hi'},
                                             'finish_reason': 'stop'}], 'usage': {'prompt_tokens': 5, 'completion_tokens': 1, 'total_tokens': 6}}).encode(), b'application/json'
                hdr = b'HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: keep-alive\r\n\r\n' % (ctype, len(out))
                if action == 'cut': c.sendall(hdr + out[:len(out) // 2]); return
                c.sendall(hdr + out); n += 1
        except OSError: return
        finally: c.close()
    def stop(self):
        import socket
        for c in (self.sock, *self.conns):                                   # shutdown wakes the threads blocked in accept/recv
            try: c.shutdown(socket.SHUT_RDWR)
            except OSError: pass
        self.sock.close()
        for t in self.threads: t.join(5)
        assert not any(t.is_alive() for t in self.threads)
    def __enter__(self): return self
    def __exit__(self, *a): self.stop()

def _ask(url, stream, rid=None):
    body = {'model': 'm', 'messages': MSGS, 'max_tokens': 1, 'stream': stream}
    hdr = {'X-Request-ID': rid} if rid else {}
    if not stream:
        r = httpx.post(url + '/v1/chat/completions', json=body, timeout=10, headers=hdr)
        return r.status_code, (r.json()['id'] if r.status_code == 200 else r.json()['error']['message'])
    with httpx.stream('POST', url + '/v1/chat/completions', json=body, timeout=10, headers=hdr) as r:
        text = b''.join(r.iter_raw())
    assert b'usage' not in text and (r.status_code != 200 or text.endswith(b'data: [DONE]\n\n'))   # the added usage chunk is gone
    return r.status_code, json.loads(text.split(b'\n\n')[0][6:])['id'] if r.status_code == 200 else text

@pytest.mark.parametrize('mode', ['fin', 'rst'])
def test_stale_pooled_connection_is_retried_once_and_recorded_once(tmp_path, mode):
    "Each connection answers one request; the next request on it finds the connection closed (or reset) by the upstream"
    with FlakyUpstream(lambda n: 'ok' if n == 0 else mode) as up:
        p = Proxy(ProxyConfig(up.url, trace_dir=tmp_path/'t.jsonl', redact=False, keepalive_s=60))   # long keep-alive: reuse does not hang on timing
        with Server(p) as s:
            got = [_ask(s.url, stream, f'req-{j}') for j, stream in enumerate((False, True, False, False))]  # new, stale (stream), new, stale (not stream)
        seen = list(up.seen)
    assert [g[0] for g in got] == [200] * 4, got
    assert [(ci, n, a) for ci, n, a, _ in seen] == [(0, 0, 'ok'), (0, 1, mode), (1, 0, 'ok'), (2, 0, 'ok'), (2, 1, mode), (3, 0, 'ok')]
    assert p.counts['retries'] == 2 and p.counts['upstream_errors'] == 0
    recs = records(p)
    assert [g[1] for g in got] == ['cmpl-0-0', 'cmpl-1-0', 'cmpl-2-0', 'cmpl-3-0']
    assert len(recs) == 4 and [r['request_id'] for r in recs] == ['req-0', 'req-1', 'req-2', 'req-3']   # the client's X-Request-ID
    assert all(r['note'] == 'status 200' and r['outcome'] == 'completed' and r['output_tokens'] == 1 for r in recs), recs

def test_no_retry_when_the_upstream_received_the_request(tmp_path):
    "A new connection dropped with no response, or a response cut short: one attempt, a 502 (or a broken stream), one record"
    with FlakyUpstream(lambda n: 'fin') as up:
        p = Proxy(ProxyConfig(up.url, trace_dir=tmp_path/'fin.jsonl'))
        with Server(p) as s: status, msg = _ask(s.url, False)
        assert status == 502 and msg.startswith('upstream dropped the connection') and len(up.seen) == 1 and p.counts['retries'] == 0
    assert len(records(p)) == 1
    with FlakyUpstream(lambda n: 'ok' if n == 0 else 'cut') as up:
        p = Proxy(ProxyConfig(up.url, trace_dir=tmp_path/'cut.jsonl', keepalive_s=60))
        with Server(p) as s:
            assert _ask(s.url, False)[0] == 200
            assert _ask(s.url, False)[0] == 502                                     # reused connection, response cut: not resent
            assert _ask(s.url, False)[0] == 200
            with pytest.raises(httpx.HTTPError): _ask(s.url, True)                    # a stream cut short stays broken
        assert [(ci, n, a) for ci, n, a, _ in up.seen] == [(0, 0, 'ok'), (0, 1, 'cut'), (1, 0, 'ok'), (1, 1, 'cut')]
        assert p.counts['retries'] == 0 and p.counts['upstream_errors'] == 2
    recs = records(p)
    assert len(recs) == 4 and [r['note'][:10] for r in recs] == ['status 200', 'status 502'] * 2
