"""Hostile traffic against the emulated engine and the simulation API, on loopback.

Every case is followed by the rule: the server answers `/health` within 1 s and a normal request still succeeds
(the engine's through the `openai` SDK). Each case states what a clean answer is (a JSON error with the right
status and `param`/`field`); a 5xx, a hang or an accepted hostile value fails the test."""
import json, socket, subprocess, sys, threading, time
import httpx, openai, psutil, pytest
from semantic_kv.serve.core import Server
from semantic_kv.serve.engine import Engine
from semantic_kv.serve.api import make_app, ApiLimits

MSG = [{'role': 'user', 'content': 'hi'}]
CHAT = '/v1/chat/completions'

def check_alive(url:str, normal):
    "The rule after every case: /health within 1 s, then a normal request succeeds"
    r = httpx.get(url + '/health', timeout=1.0)
    assert r.status_code == 200
    normal()

def json_error(r, status:int):
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers['content-type'].startswith('application/json')
    return r.json()['error']

@pytest.fixture(scope='module')
def engine():
    eng = Engine(num_blocks=256, max_num_seqs=2, inter_token_latency_ms=20, max_model_len=4096, max_body_bytes=1_000_000)
    with Server(eng) as s:
        client = openai.OpenAI(base_url=s.url + '/v1', api_key='none', max_retries=0, timeout=10)
        def normal():
            r = client.chat.completions.create(model='semantic-kv-emulated', messages=MSG, max_tokens=2)
            assert r.usage.completion_tokens == 2
        yield s.url, eng, normal

# (case, body or raw bytes, expected status, expected param)
ENGINE_CASES = [
    ('stream "false"', dict(stream='false'), 400, 'stream'),
    ('n true', dict(n=True), 400, 'n'),
    ('n 2', dict(n=2), 400, 'n'),
    ('cache_salt 123', dict(cache_salt=123), 400, 'cache_salt'),
    ('temperature "hot"', dict(temperature='hot'), 400, 'temperature'),
    ('temperature 3', dict(temperature=3), 400, 'temperature'),
    ('top_p 5', dict(top_p=5), 400, 'top_p'),
    ('top_p 0', dict(top_p=0), 400, 'top_p'),
    ('max_tokens 5e7', dict(max_tokens=5e7), 400, 'max_tokens'),
    ('max_tokens 10**6', dict(max_tokens=10**6), 400, 'max_tokens'),
    ('max_tokens 0', dict(max_tokens=0), 400, 'max_tokens'),
    ('max_tokens true', dict(max_tokens=True), 400, 'max_tokens'),
    ('max_completion_tokens "9"', dict(max_completion_tokens='9'), 400, 'max_completion_tokens'),
    ('stop [1]', dict(stop=[1]), 400, 'stop'),
    ('seed 1.5', dict(seed=1.5), 400, 'seed'),
    ('presence_penalty -9', dict(presence_penalty=-9), 400, 'presence_penalty'),
    ('logit_bias 500', dict(logit_bias={'1': 500}), 400, 'logit_bias'),
    ('stream_options without stream', dict(stream_options={'include_usage': True}), 400, 'stream_options'),
    ('user 5', dict(user=5), 400, 'user'),
    ('messages string', dict(messages='hi'), 400, 'messages'),
    ('messages empty', dict(messages=[]), 400, 'messages'),
    ('message not object', dict(messages=[7]), 400, 'messages'),
    ('role missing', dict(messages=[{'content': 'x'}]), 400, 'messages'),
    ('content number', dict(messages=[{'role': 'user', 'content': 5}]), 400, 'messages'),
    ('prompt over max_model_len', dict(messages=[{'role': 'user', 'content': 'word ' * 5000}]), 400, 'messages'),
    ('prompt + max_tokens over max_model_len', dict(messages=[{'role': 'user', 'content': 'word ' * 3000}], max_tokens=2000), 400, 'max_tokens'),
]
RAW_CASES = [
    ('deep nesting', b'{"messages": ' + b'[' * 1000 + b']' * 1000 + b'}', 400),
    ('huge integer', b'{"messages": [], "max_tokens": ' + b'9' * 5000 + b'}', 400),
    ('NaN', b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}', 400),
    ('not JSON', b'{"messages": [', 400),
    ('not UTF-8', b'{"messages": "\xff"}', 400),
    ('array body', b'[1, 2]', 400),
    ('empty body', b'', 400),
    ('over the body limit', b'{"messages": "' + b'x' * 1_100_000 + b'"}', 413),
]

def test_engine_param_cases(engine):
    url, eng, normal = engine
    for name, extra, status, param in ENGINE_CASES:
        r = httpx.post(url + CHAT, json={'model': 'm', 'messages': MSG, **extra}, timeout=10)
        err = json_error(r, status)
        assert err['param'] == param, (name, err)
        check_alive(url, normal)
    r = httpx.post(url + '/v1/completions', json={'model': 'm', 'prompt': [[1], 'x']}, timeout=10)
    assert json_error(r, 400)['param'] == 'prompt'

def test_engine_raw_bodies_routes_and_headers(engine):
    url, eng, normal = engine
    for name, raw, status in RAW_CASES:
        r = httpx.post(url + CHAT, content=raw, headers={'content-type': 'application/json'}, timeout=10)
        json_error(r, status); check_alive(url, normal)
    assert json_error(httpx.get(url + '/v1/nope'), 404)['type'] == 'not_found_error'
    r = httpx.delete(url + CHAT); json_error(r, 405); assert r.headers['allow'] == 'POST'
    json_error(httpx.post(url + '/health'), 405)
    # non-ASCII header values (latin-1 bytes, an emoji's UTF-8 bytes) are identifiers like any other
    for v in (b'caf\xe9', 'session-\U0001F600'.encode()):
        r = httpx.post(url + CHAT, json={'model': 'm', 'messages': MSG, 'max_tokens': 1}, headers=[(b'x-session-id', v), (b'x-note', v)], timeout=10)
        assert r.status_code == 200
        check_alive(url, normal)

def _open_stream(port:int, max_tokens:int)->socket.socket:
    b = json.dumps({'model': 'm', 'messages': MSG, 'stream': True, 'max_tokens': max_tokens}).encode()
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(b'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n' % len(b) + b)
    assert s.recv(4096).startswith(b'HTTP/1.1 200')
    return s

def _wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, 'condition not reached'
        time.sleep(0.02)

def test_engine_abandoned_streams_release_slots(engine):
    url, eng, normal = engine
    port = int(url.rsplit(':', 1)[1])
    before = eng.cancelled
    socks = [_open_stream(port, 4000) for _ in range(2)]   # both slots of max_num_seqs=2, 80 s of tokens each
    _wait(lambda: eng.running == 2)
    for s in socks: s.close()
    _wait(lambda: eng.running == 0 and not eng._held)       # slots and cache locks released
    assert eng.cancelled == before + 2
    check_alive(url, normal)
    # a slow client that sends half its body and goes away
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(b'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"mess')
    time.sleep(0.2); s.close()
    check_alive(url, normal)
    assert eng.running == 0

def test_engine_large_body_does_not_stall_health():
    "A prompt too large to fit the context is segmented off the event loop (in a worker process): /health keeps answering"
    eng = Engine(num_blocks=64, time_scale=0, max_model_len=4096)
    with Server(eng) as s:
        big = json.dumps({'model': 'm', 'messages': [{'role': 'user', 'content': 'word ' * 200_000}]}).encode()  # 1 MB
        out = {}
        t = threading.Thread(target=lambda: out.setdefault('r', httpx.post(s.url + CHAT, content=big, timeout=120)))
        t.start()
        while t.is_alive():
            assert httpx.get(s.url + '/health', timeout=1.0).status_code == 200
            time.sleep(0.05)
        t.join()
        assert json_error(out['r'], 400)['param'] == 'messages'
        assert httpx.post(s.url + CHAT, json={'model': 'm', 'messages': MSG, 'max_tokens': 1}).status_code == 200
        assert eng._proc_pool is not None
    assert eng._proc_pool is None   # the server's shutdown stopped the worker process

def test_engine_large_parse_is_killed_when_the_client_leaves():
    "A client that leaves while its large body is segmented in the worker process: the worker is killed at once, and the next large body gets a new one"
    eng = Engine(num_blocks=64, time_scale=0, max_model_len=4096, max_body_bytes=16_000_000)
    with Server(eng) as s:
        port = int(s.url.rsplit(':', 1)[1])
        text = ' '.join(f'w{i % 9973} x{i % 101}.' for i in range(800_000))   # about 10 MB: seconds of segmenting
        big = json.dumps({'model': 'm', 'messages': [{'role': 'user', 'content': text}]}).encode()
        c = socket.create_connection(('127.0.0.1', port))
        c.sendall(b'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n' % len(big) + big)
        _wait(lambda: eng._large_pending == 1 and eng._proc_pool is not None and eng._proc_pool._processes)
        pool = eng._proc_pool; procs = list(pool._processes.values())
        _wait(lambda: any(w.future.running() for w in list(pool._pending_work_items.values())))   # its parse has started
        c.close()
        _wait(lambda: eng._large_pending == 0 and eng.cancelled == 1, timeout=5.0)
        _wait(lambda: all(not p.is_alive() for p in procs), timeout=5.0)   # killed, not left to finish its parse
        assert eng._proc_pool is None
        r = httpx.post(s.url + CHAT, content=json.dumps({'model': 'm', 'messages': [{'role': 'user', 'content': 'word ' * 60_000}]}).encode(), timeout=60)
        assert json_error(r, 400)['param'] == 'messages'   # parsed by a new worker (and too long for the context)
        assert eng._proc_pool is not None and eng._proc_pool is not pool
        assert httpx.post(s.url + CHAT, json={'model': 'm', 'messages': MSG, 'max_tokens': 1}).status_code == 200

def test_engine_sheds_large_bodies_beyond_its_parse_queue(engine):
    "Large bodies wait for one worker process; beyond `max_large_pending` of them a 503 with Retry-After, not an unbounded queue"
    url, eng, normal = engine
    eng.max_large_pending, eng.offload_bytes = 0, 1000
    try:
        r = httpx.post(url + CHAT, json={'model': 'm', 'messages': [{'role': 'user', 'content': 'x ' * 1000}]}, timeout=10)
        assert json_error(r, 503)['type'] == 'server_error' and r.headers['retry-after'] == '1'
    finally: eng.max_large_pending, eng.offload_bytes = 4, 256 * 1024
    check_alive(url, normal)

def _cli(*argv):
    return subprocess.run([sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())', *argv],
                          capture_output=True, text=True, timeout=60)

ENGINE_FLAGS = [
    (['--policy', 'belady'], '--policy'), (['--inter-token-latency', 'inf'], '--inter-token-latency'),
    (['--base-ms', 'nan'], '--base-ms'), (['--port', '99999'], '--port'),
    (['--policy', 'nope'], '--policy'), (['--inter-token-latency', 'nan'], '--inter-token-latency'),
    (['--time-scale', '-1'], '--time-scale'), (['--port', '0'], '--port'), (['--max-model-len', '0'], '--max-model-len'),
    (['--max-body-bytes', '-1'], '--max-body-bytes'), (['--failure-injection-rate', '2'], '--failure-injection-rate'),
    (['--failure-types', 'boom'], '--failure-types'), (['--max-num-seqs', '0'], '--max-num-seqs'),
    (['--host', 'no such host.invalid'], '--host'), (['--max-tokens', '100', '--max-model-len', '50'], '--max-tokens'),
    (['--slow-ms', '1e400'], '--slow-ms'), (['--tokenizer', '/no/such/tokenizer.json'], '--tokenizer'),
]

def test_engine_bad_flags_exit_2_as_a_command():
    "The issue's flags through `semantic-kv engine` in a child process: exit 2, the flag named, no traceback"
    for args, flag in ENGINE_FLAGS[:4]:
        p = _cli('engine', *args)
        assert p.returncode == 2 and flag in p.stderr and 'Traceback' not in p.stderr, (args, p.returncode, p.stderr[-500:])

@pytest.mark.parametrize('args,flag', ENGINE_FLAGS[4:])
def test_engine_bad_flags_exit_2(args, flag, capsys):
    from semantic_kv.cli import main
    assert main(['engine', *args]) == 2
    err = capsys.readouterr().err
    assert flag in err and 'Traceback' not in err, err

# ---------------------------------------------------------------- the API

@pytest.fixture(scope='module')
def api():
    app = make_app(ApiLimits(max_trace_seconds=30, max_trace_blocks=200_000))
    with Server(app) as s:
        def normal():
            r = httpx.post(s.url + '/v1/simulate/request', json=dict(session_id='normal', messages=MSG), timeout=10)
            assert r.status_code == 200 and r.json()['prompt_tokens'] > 0
        # warm the process trace jobs fork from (its first start loads the simulator), outside any timed budget
        assert httpx.post(s.url + '/v1/simulate/trace', params=dict(capacity_tokens=200), content=_records(2, 50), timeout=120).status_code == 200
        yield s.url, normal, app

def _records(n:int, tokens:int)->bytes:
    return '\n'.join(json.dumps({'format_version': 'semantic-kv-trace/1', 'request_id': f'r{i}', 'timestamp_ms': i,
        'segments': [{'semantic_type': 'user', 'rule': 'x', 'token_count': tokens, 'content_hash': f'h{i}'}]}) for i in range(n)).encode()

def test_api_hostile_bodies(api):
    url, normal, app = api
    base = dict(session_id='h', messages=MSG)
    cases = [  # (method, path, kwargs, status, field)
        ('post', '/v1/simulate/request', dict(json=dict(base, capacity_tokens=True)), 422, 'capacity_tokens'),
        ('post', '/v1/simulate/request', dict(json=dict(base, block_size=True)), 422, 'block_size'),
        ('post', '/v1/simulate/request', dict(json=dict(base, block_size='16')), 422, 'block_size'),
        ('post', '/v1/simulate/request', dict(json=dict(base, capacity_tokens=-1)), 422, 'capacity_tokens'),
        ('post', '/v1/simulate/request', dict(json=dict(base, session_id='s2', policy='belady')), 422, 'policy'),
        ('post', '/v1/simulate/request', dict(json=dict(base, session_id='s3', policy='')), 422, 'policy'),
        ('post', '/v1/segment', dict(content=b'[' * 100_000 + b']' * 100_000), 422, 'body'),
        ('post', '/v1/segment', dict(content=b'{"messages": 1' + b'0' * 5000 + b'}'), 422, 'body'),
        ('post', '/v1/segment', dict(content=b'{"messages": [{"role": "user", "content": "x"}], "t": Infinity}'), 422, 'body'),
        ('post', '/v1/segment', dict(content=b'{"messages": "' + b'x' * 1_100_000 + b'"}'), 413, 'body'),
        ('post', '/v1/simulate/trace', dict(params=dict(capacity_tokens='1' * 5000), content=b'x'), 422, 'capacity_tokens'),
        ('post', '/v1/simulate/trace', dict(params=dict(capacity_tokens='true'), content=b'x'), 422, 'capacity_tokens'),
        ('post', '/v1/simulate/trace', dict(params=dict(format='nope'), content=_records(2, 10)), 422, 'format'),
        ('post', '/v1/simulate/trace', dict(content=b'\xff\xfe'), 422, 'body'),
        ('get', '/v1/nope', {}, 404, 'path'),
        ('delete', '/health', {}, 405, 'method'),
        ('put', '/v1/simulate/trace', dict(content=b'x'), 405, 'method'),
    ]
    for method, path, kw, status, field in cases:
        r = getattr(httpx, method)(url + path, timeout=30, **kw)
        assert r.status_code == status, (path, kw.get('params'), r.status_code, r.text[:300])
        assert r.json()['error']['field'] == field, r.text[:300]
        check_alive(url, normal)

def test_api_trace_budgets(api):
    url, normal, app = api
    t = time.monotonic()
    r = httpx.post(url + '/v1/simulate/trace', params=dict(block_size=1), content=_records(4, 2_000_000), timeout=60)
    assert r.status_code == 413 and 'KV blocks' in r.json()['error']['message']
    check_alive(url, normal)
    # under the block limit but far over a 1 s time budget (it needs about 13 s of CPU): stopped with 413
    with Server(make_app(ApiLimits(max_trace_seconds=1))) as tight:
        r = httpx.post(tight.url + '/v1/simulate/trace', params=dict(block_size=1, capacity_tokens=50_000), content=_records(66, 3000), timeout=60)
        assert r.status_code == 413 and 'within 1 s' in r.json()['error']['message'], r.text[:300]
        assert httpx.get(tight.url + '/health', timeout=1.0).status_code == 200
    check_alive(url, normal)
    # a normal upload
    r = httpx.post(url + '/v1/simulate/trace', params=dict(capacity_tokens=200, policies='lru,belady'), content=_records(5, 100), timeout=60)
    assert r.status_code == 200 and set(r.json()['policies']) == {'lru', 'belady'}, r.text[:300]

def test_api_abandoned_trace_job_is_killed(api):
    "A client that leaves during a long trace simulation: the child process is killed at once, not after the budget"
    url, normal, app = api
    body, before = _records(66, 3000), app.state.trace_cancelled
    s = socket.create_connection(('127.0.0.1', int(url.rsplit(':', 1)[1])))
    s.sendall(b'POST /v1/simulate/trace?block_size=1&capacity_tokens=50000 HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n' % len(body) + body)
    _wait(lambda: app.state.trace_running == 1)
    s.close()
    _wait(lambda: app.state.trace_running == 0, timeout=10.0)   # well before the 30 s budget (the job needs about 13 s)
    assert app.state.trace_cancelled == before + 1
    check_alive(url, normal)

def test_api_session_routes_have_a_budget(api):
    "A large body on /v1/segment or /v1/simulate/request is segmented in a worker process: killed past `max_session_seconds` (413) or when the client leaves"
    url, normal, _ = api
    text = ' '.join(f'w{i % 9973} x{i % 101}.' for i in range(8_000))   # about 100 kB: over session_offload_bytes, segmented in the worker
    r = httpx.post(url + '/v1/simulate/request', json=dict(session_id='big', messages=[{'role': 'user', 'content': text}]), timeout=60)
    assert r.status_code == 200 and r.json()['prompt_tokens'] > 10_000, r.text[:300]
    r = httpx.post(url + '/v1/segment', json=dict(messages=[{'role': 'user', 'content': text}]), timeout=60)
    assert r.status_code == 200 and r.json()['prompt_tokens'] > 10_000, r.text[:300]
    app = make_app(ApiLimits(max_body_bytes=16_000_000, max_session_seconds=1.0, session_offload_bytes=1000))
    huge = ' '.join(f'w{i % 9973} x{i % 101}.' for i in range(700_000))   # about 9 MB: many seconds of segmenting
    with Server(app) as s:
        for path, body in (('/v1/segment', dict(messages=[{'role': 'user', 'content': huge}])),
                           ('/v1/simulate/request', dict(session_id='h', messages=[{'role': 'user', 'content': huge}]))):
            out = {}
            t = threading.Thread(target=lambda: out.setdefault('r', httpx.post(s.url + path, json=body, timeout=120))); t.start()
            while t.is_alive():
                assert httpx.get(s.url + '/health', timeout=1.0).status_code == 200
                time.sleep(0.05)
            t.join()
            err = out['r'].json()['error']
            assert out['r'].status_code == 413 and 'did not finish within 1 s' in err['message'], out['r'].text[:300]
        assert app.state.session_stopped == 2 and app.state.seg_pool is None
        # a client that leaves: the worker is killed at once
        raw = json.dumps(dict(messages=[{'role': 'user', 'content': huge}])).encode()
        c = socket.create_connection(('127.0.0.1', int(s.url.rsplit(':', 1)[1])))
        c.sendall(b'POST /v1/segment HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n' % len(raw) + raw)
        _wait(lambda: app.state.seg_pool is not None and app.state.seg_pool._processes)
        procs = list(app.state.seg_pool._processes.values())
        c.close()
        _wait(lambda: app.state.session_stopped == 3 and all(not p.is_alive() for p in procs), timeout=0.9)   # before the 1 s budget
        r = httpx.post(s.url + '/v1/simulate/request', json=dict(session_id='n', messages=MSG), timeout=30)
        assert r.status_code == 200, r.text[:300]
    check_alive(url, normal)

def test_memory_returns_near_baseline(engine, api):
    "RSS of this process (both servers run in it) after the heavy cases stays near its baseline"
    url, eng, normal = engine
    aurl, anormal, _ = api
    import gc; gc.collect()
    base = psutil.Process().memory_info().rss
    for _ in range(2):
        httpx.post(url + CHAT, content=b'{"messages": "' + b'x' * 900_000 + b'"}', timeout=30)
        httpx.post(aurl + '/v1/simulate/trace', params=dict(block_size=1), content=_records(4, 2_000_000), timeout=60)
        check_alive(url, normal); check_alive(aurl, anormal)
    gc.collect()
    grown = psutil.Process().memory_info().rss - base
    assert grown < 200 << 20, f"RSS grew by {grown >> 20} MB"

@pytest.mark.parametrize('args,flag', [(['--port', '99999'], '--port'), (['--port', '-5'], '--port'), (['--host', 'no such host.invalid'], '--host')])
def test_api_bad_flags_exit_2(args, flag, capsys):
    from semantic_kv.cli import main
    assert main(['api', *args]) == 2
    err = capsys.readouterr().err
    assert flag in err and 'Traceback' not in err, err

def test_api_bad_port_as_a_command():
    p = _cli('api', '--port', '99999')
    assert p.returncode == 2 and '--port' in p.stderr and 'Traceback' not in p.stderr, p.stderr[-500:]
