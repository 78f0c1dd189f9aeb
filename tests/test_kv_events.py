"""KV events: a real `semantic-kv engine --kv-events` process on loopback, read by a subscriber written from vLLM's
published example (`examples/online_serving/kv_events_subscriber.py`) and schema (`vllm/distributed/kv_events.py`):
the structs below are defined here, not imported from SemanticKV."""
import json, pathlib, time
import pytest
zmq = pytest.importorskip('zmq'); msgspec = pytest.importorskip('msgspec')
from typing import Any, Optional, Union
from semantic_kv.serve.core import ServerProcess, free_port

# --- vLLM's schema (vllm/distributed/kv_events.py) ---
class EventBatch(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    ts: float
    events: list[Any]
    data_parallel_rank: Optional[int] = None

class KVCacheEvent(msgspec.Struct, array_like=True, omit_defaults=True, gc=False, tag=True):
    "Base class for all KV cache-related events"

class BlockStored(KVCacheEvent):
    block_hashes: list[Union[bytes, int]]
    parent_block_hash: Optional[Union[bytes, int]]
    token_ids: list[int]
    block_size: int
    lora_id: Optional[int]
    medium: Optional[str]

class BlockRemoved(KVCacheEvent):
    block_hashes: list[Union[bytes, int]]
    medium: Optional[str]

class AllBlocksCleared(KVCacheEvent):
    pass

class KVEventBatch(EventBatch):
    events: list[Union[BlockStored, BlockRemoved, AllBlocksCleared]]

decoder = msgspec.msgpack.Decoder(type=KVEventBatch)

def recv_all(sub, until, timeout=10.0):
    "(seq, KVEventBatch) messages until `until(batches)` holds"
    out, end = [], time.monotonic() + timeout
    while time.monotonic() < end and not until(out):
        if sub.poll(50):
            topic, seq, payload = sub.recv_multipart()
            out.append((int.from_bytes(seq, 'big'), decoder.decode(payload)))
    return out

def post(url, path, body=None):
    import httpx
    return httpx.post(url + path, json=body, timeout=30)

@pytest.fixture
def engine():
    pub, rep = free_port(), free_port()
    e = ServerProcess('engine', '--num-blocks', '8', '--time-scale', '0', '--kv-events', f'tcp://127.0.0.1:{pub}',
                      '--kv-events-replay', f'tcp://127.0.0.1:{rep}', '--kv-events-topic', 'kv-events').start()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB); sub.connect(f'tcp://127.0.0.1:{pub}'); sub.setsockopt_string(zmq.SUBSCRIBE, 'kv-events')
    time.sleep(0.3)   # the slow-joiner: a SUB misses what is sent before its subscription arrives
    try: yield e, sub, ctx, rep
    finally:
        sub.close(linger=0); ctx.term(); e.stop()

def test_round_trip(engine):
    e, sub, ctx, rep = engine
    text = ' '.join(f'word{i}' for i in range(60))        # about 120 tokens: several full 16-token blocks
    r = post(e.url, '/v1/completions', dict(model='semantic-kv-emulated', prompt=text, max_tokens=1))
    assert r.status_code == 200
    msgs = recv_all(sub, lambda b: any(isinstance(ev, BlockStored) for _, m in b for ev in m.events))
    stored = [ev for _, m in msgs for ev in m.events if isinstance(ev, BlockStored)]
    assert stored, msgs
    s = stored[0]
    assert s.parent_block_hash is None and s.block_size == 16 and s.medium == 'GPU' and s.lora_id is None
    assert len(s.token_ids) == 16*len(s.block_hashes) and len(s.block_hashes) == r.json()['usage']['prompt_tokens'] // 16
    # the same prompt again: all hits, no event; a different prompt over capacity (8 blocks) evicts: BlockRemoved
    other = ' '.join(f'other{i}' for i in range(60))
    assert post(e.url, '/v1/completions', dict(model='semantic-kv-emulated', prompt=other, max_tokens=1)).status_code == 200
    msgs += recv_all(sub, lambda b: any(isinstance(ev, BlockRemoved) for _, m in b for ev in m.events))
    removed = [h for _, m in msgs for ev in m.events if isinstance(ev, BlockRemoved) for h in ev.block_hashes]
    assert removed and set(removed) <= set(s.block_hashes)
    assert post(e.url, '/reset_prefix_cache').status_code == 200
    msgs += recv_all(sub, lambda b: any(isinstance(ev, AllBlocksCleared) for _, m in b for ev in m.events))
    assert any(isinstance(ev, AllBlocksCleared) for _, m in msgs for ev in m.events)
    seqs = [q for q, _ in msgs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))   # consecutive sequence numbers

    # replay, as the example's REQ client asks for it (a DEALER reads every reply): from the first sequence number
    d = ctx.socket(zmq.DEALER); d.connect(f'tcp://127.0.0.1:{rep}')
    d.send_multipart((b'', (seqs[0]).to_bytes(8, 'big')))
    got = []
    while d.poll(2000):
        _, sq, payload = d.recv_multipart()
        if not payload: assert int.from_bytes(sq, 'big', signed=True) == -1; break
        got.append((int.from_bytes(sq, 'big'), decoder.decode(payload)))
    d.close(linger=0)
    assert [q for q, _ in got] == seqs and [m.events for _, m in got] == [m.events for _, m in msgs]

def test_bad_endpoint():
    import subprocess, sys
    r = subprocess.run([sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())', 'engine', '--kv-events', 'http://x'],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and '--kv-events' in r.stderr and 'Traceback' not in r.stderr, r.stderr

def until(get, ok, timeout=10.0):
    "Poll `get()` until `ok` holds for its value (or the timeout passes); the last value"
    end = time.monotonic() + timeout
    while True:
        v = get()
        if ok(v) or time.monotonic() > end: return v
        time.sleep(0.1)

def _log_records(router_log_dir):
    import json, pathlib
    return [json.loads(l) for f in pathlib.Path(router_log_dir).glob('*.jsonl') for l in f.read_text().splitlines() if l.strip()]

def test_router_events_and_workers(tmp_path):
    "Two engines publishing events; the router decides from them, falls back when they stop, and adds/removes workers"
    import httpx
    ports = [(free_port(), free_port()) for _ in range(2)]
    engines = [ServerProcess('engine', '--num-blocks', '64', '--time-scale', '0', '--kv-events', f'tcp://127.0.0.1:{p}',
                             '--kv-events-replay', f'tcp://127.0.0.1:{r}') for p, r in ports]
    router = None
    try:
        for e in engines: e.start()
        ev = [f'{e.url}=tcp://127.0.0.1:{p},tcp://127.0.0.1:{r}' for e, (p, r) in zip(engines, ports)]
        router = ServerProcess('router', '--replicas', engines[0].url, '--policy', 'semantic_locality', '--log-dir', str(tmp_path),
                               '--kv-events', ev[0], '--kv-events-stale', '1').start()
        time.sleep(0.5)
        text = ' '.join(f'w{i}' for i in range(200))
        b = dict(model='semantic-kv-emulated', prompt=text, max_tokens=1)
        assert httpx.post(router.url + '/v1/completions', json=b, timeout=30).status_code == 200
        st = until(lambda: httpx.get(router.url + '/router/kv_events').json(), lambda st: st[0]['blocks'] > 0)
        assert st[0]['live'] and st[0]['blocks'] > 0 and st[0]['gaps'] == 0, st
        # workers: bad url, unknown url, add with events, list, remove
        assert httpx.post(router.url + '/add_worker', params=dict(url='ftp://x')).status_code == 400
        r = httpx.post(router.url + '/add_worker')
        assert r.status_code == 400 and r.json()['error']['param'] == 'url'
        assert httpx.post(router.url + '/remove_worker', params=dict(url='http://127.0.0.1:9')).status_code == 404
        r = httpx.post(router.url + '/add_worker', params=dict(url=engines[1].url, kv_events=f'tcp://127.0.0.1:{ports[1][0]}',
                                                                kv_events_replay=f'tcp://127.0.0.1:{ports[1][1]}'))
        assert r.status_code == 200 and r.json()['kv_events'] and r.json()['up'], r.text
        assert httpx.post(router.url + '/add_worker', params=dict(url=engines[1].url)).status_code == 400   # already there
        assert httpx.get(router.url + '/list_workers').json()['urls'] == [engines[0].url, engines[1].url]
        time.sleep(0.5)
        # the same prompt goes where the events say it is cached
        r = httpx.post(router.url + '/v1/completions', json=b, timeout=30)
        assert r.headers['x-semantickv-replica'] == engines[0].url and r.json()['usage']['prompt_tokens_details']['cached_tokens'] > 0
        assert httpx.post(router.url + '/remove_worker', params=dict(url=engines[0].url)).status_code == 200
        assert httpx.get(router.url + '/list_workers').json()['urls'] == [engines[1].url]
        r = httpx.post(router.url + '/v1/completions', json=b, timeout=30)
        assert r.headers.get('x-semantickv-replica') == engines[1].url, (r.status_code, r.text)
        recs = until(lambda: [x for x in _log_records(tmp_path) if 'request_id' in x], lambda r: len(r) == 3)
        assert [x['view'] for x in recs] == ['events']*3, recs
    finally:
        if router: router.stop()
        for e in engines: e.stop()

def test_router_falls_back_when_events_stop(tmp_path):
    "An engine whose events never arrive (wrong endpoint): after the staleness timeout its decisions use the approximate view"
    import httpx
    e = ServerProcess('engine', '--num-blocks', '64', '--time-scale', '0').start()   # publishes nothing
    router = None
    try:
        router = ServerProcess('router', '--replicas', e.url, '--policy', 'dynamo_kv', '--log-dir', str(tmp_path),
                               '--kv-events', f'{e.url}=tcp://127.0.0.1:{free_port()}', '--kv-events-stale', '0.3').start()
        for j in range(3):
            b = dict(model='semantic-kv-emulated', prompt=' '.join(f'q{j}x{i}' for i in range(100)), max_tokens=1)
            assert httpx.post(router.url + '/v1/completions', json=b, timeout=30).status_code == 200
            time.sleep(0.5)
        recs = until(lambda: [x for x in _log_records(tmp_path) if 'request_id' in x], lambda r: len(r) == 3)
        assert [x['view'] for x in recs] == ['events', 'approximate', 'approximate'], recs
        assert httpx.get(router.url + '/router/kv_events').json()[0]['live'] is False
    finally:
        if router: router.stop()
        e.stop()

def test_router_cli_errors():
    import subprocess, sys
    def run(*a): return subprocess.run([sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())', 'router', *a],
                                       capture_output=True, text=True, timeout=60)
    r = run('--replicas', 'http://127.0.0.1:9', '--policy', 'round_robin', '--kv-events', 'http://127.0.0.1:9=tcp://127.0.0.1:5557')
    assert r.returncode == 2 and 'cannot use KV events' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    r = run('--replicas', 'http://127.0.0.1:9', '--policy', 'llm_d', '--kv-events', 'http://127.0.0.1:8=tcp://127.0.0.1:5557')
    assert r.returncode == 2 and 'not one of --replicas' in r.stderr, r.stderr
    r = run('--replicas', 'http://127.0.0.1:9', '--policy', 'llm_d', '--kv-events', 'nonsense')
    assert r.returncode == 2 and '--kv-events: expected URL=' in r.stderr, r.stderr

def wait_file(p, timeout=20):
    "Wait until the recorder has opened its output (it subscribes first), then for the subscription to reach the publisher"
    end = time.monotonic() + timeout
    while not p.exists() and time.monotonic() < end: time.sleep(0.05)
    time.sleep(0.5)

def run_cli(*a, timeout=60):
    import subprocess, sys
    return subprocess.run([sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())', *a],
                          capture_output=True, text=True, timeout=timeout)

def test_record_vllm_schema_stream(tmp_path):
    "`kv-events record` on a stream encoded with vLLM's msgspec structs (bytes hashes, as vLLM's default sha256)"
    import json, subprocess, sys, threading
    port = free_port()
    ctx = zmq.Context(); pub = ctx.socket(zmq.PUB); pub.bind(f'tcp://127.0.0.1:{port}')
    enc = msgspec.msgpack.Encoder()
    out = tmp_path/'rec.jsonl'
    p = subprocess.Popen([sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())', 'kv-events', 'record',
                          '--endpoint', f'tcp://127.0.0.1:{port}', '--out', str(out), '--duration', '6'], stdout=subprocess.PIPE, text=True)
    try:
        wait_file(out)    # the recorder subscribed
        h1, h2 = bytes(range(32)), bytes(range(1, 33))
        batches = [KVEventBatch(ts=1.0, events=[BlockStored([h1, h2], None, list(range(32)), 16, None, 'GPU')]),
                   KVEventBatch(ts=2.0, events=[BlockRemoved([h2], 'GPU'), BlockStored([h2], h1, list(range(16)), 16, None, 'CPU')]),
                   KVEventBatch(ts=3.0, events=[AllBlocksCleared()], data_parallel_rank=1)]
        for seq, b in zip((0, 1, 3), batches): pub.send_multipart((b'', seq.to_bytes(8, 'big'), enc.encode(b)))   # seq 2 lost
        so, _ = p.communicate(timeout=30)
    finally:
        p.kill(); pub.close(linger=0); ctx.term()
    assert p.returncode == 0 and 'recorded 3 batches' in so and '1 missed' in so, so
    from semantic_kv.serve.kv_events import read_record
    rec = read_record(str(out))
    assert [r['seq'] for r in rec] == [0, 1, 3] and rec[2]['data_parallel_rank'] == 1
    assert rec[0]['events'][0] == dict(type='BlockStored', block_hashes=['0x' + h1.hex(), '0x' + h2.hex()], parent_block_hash=None,
                                       token_ids=list(range(32)), block_size=16, lora_id=None, medium='GPU')
    assert rec[1]['events'][1]['medium'] == 'CPU' and rec[1]['events'][1]['parent_block_hash'] == '0x' + h1.hex()
    # the bundled sample was recorded this way; it reads back
    import pathlib
    sample = pathlib.Path(__file__).parent/'fixtures'/'kv_events_vllm_sample.jsonl'
    assert [r['seq'] for r in read_record(str(sample))] == [0, 1, 3]

def test_record_our_engine(tmp_path):
    "`kv-events record` on `semantic-kv engine --kv-events`: what the engine stored, as the engine's usage says"
    import json, subprocess, sys, httpx
    port = free_port(); out = tmp_path/'ours.jsonl'
    with ServerProcess('engine', '--time-scale', '0', '--kv-events', f'tcp://127.0.0.1:{port}') as e:
        p = subprocess.Popen([sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())', 'kv-events', 'record',
                              '--endpoint', f'tcp://127.0.0.1:{port}', '--out', str(out), '--duration', '6'], stdout=subprocess.PIPE, text=True)
        wait_file(out)
        r = httpx.post(e.url + '/v1/completions', json=dict(model='semantic-kv-emulated', prompt=' '.join(f'z{i}' for i in range(100)), max_tokens=1), timeout=30)
        so, _ = p.communicate(timeout=30)
    assert p.returncode == 0, so
    from semantic_kv.serve.kv_events import read_record
    ev = [x for b in read_record(str(out)) for x in b['events']]
    assert sum(len(x['block_hashes']) for x in ev if x['type'] == 'BlockStored') == r.json()['usage']['prompt_tokens'] // 16

def test_record_bad_inputs(tmp_path):
    r = run_cli('kv-events', 'record', '--endpoint', 'localhost:5557', '--out', str(tmp_path/'x.jsonl'))
    assert r.returncode == 2 and '--endpoint' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    r = run_cli('kv-events', 'record', '--endpoint', 'tcp://127.0.0.1:5557', '--out', str(tmp_path/'x.jsonl'), '--duration', '-1')
    assert r.returncode == 2 and '--duration' in r.stderr, r.stderr
    (tmp_path/'f').write_text('')
    r = run_cli('kv-events', 'record', '--endpoint', 'tcp://127.0.0.1:5557', '--out', str(tmp_path/'f'/'x.jsonl'))
    assert r.returncode == 2 and '--out' in r.stderr and 'Traceback' not in r.stderr, r.stderr

def test_gap_is_filled_from_the_replay_socket():
    "A subscriber that missed batches 1 and 2 gets them from the publisher's replay socket before applying batch 3"
    import asyncio, zmq.asyncio
    from types import SimpleNamespace as NS
    from semantic_kv.serve.kv_events import KVEventPublisher, EventView
    pub = KVEventPublisher(f'tcp://127.0.0.1:{free_port()}', f'tcp://127.0.0.1:{free_port()}')
    try:
        sr = NS(segments=[NS(token_count=64, token_ids=list(range(64)))])
        keys = [11, 12, 13, 14]
        for j in range(4):                                # four batches: blocks 11..14 stored one per batch
            pub.pending.append(([], [keys[j]], j, keys, sr)); pub.flush()
        assert pub.seq == 4
        view = EventView(pub.endpoint, pub.replay_endpoint)
        bufs = dict(pub.buffer)
        assert view.receive(0, bufs[0]) == 'ok' and view.receive(3, bufs[3]) == 'gap'
        async def fill():
            ctx = zmq.asyncio.Context()
            try: await view._fill(ctx, 3, bufs[3])
            finally: ctx.destroy(linger=0)
        asyncio.run(fill())
        assert view.resident == {11, 12, 13, 14} and view.last_seq == 3 and view.replayed == 2 and view.lost == 0 and view.live()
        # without a replay socket the gap is lost: the view degrades to the approximate one for stale_s
        v2 = EventView(pub.endpoint, None, stale_s=5)
        v2.receive(0, bufs[0]); asyncio.run(v2._fill(None, 3, bufs[3]))
        assert v2.lost == 2 and not v2.live() and v2.resident == {11, 14}
    finally: pub.close()

def test_compare_engine_through_proxy(tmp_path):
    "`kv-events compare`: our engine behind a recording proxy, its stream recorded; the matching cache size is identical, another diverges"
    import subprocess, sys, httpx
    port, out, trace = free_port(), tmp_path/'events.jsonl', tmp_path/'trace.jsonl'
    with ServerProcess('engine', '--num-blocks', '8', '--time-scale', '0', '--kv-events', f'tcp://127.0.0.1:{port}') as e:
        with ServerProcess('proxy', '--upstream', e.url, '--trace-dir', trace, '--no-redact') as px:
            p = subprocess.Popen([sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())', 'kv-events', 'record',
                                  '--endpoint', f'tcp://127.0.0.1:{port}', '--out', str(out), '--duration', '8'], stdout=subprocess.PIPE, text=True)
            wait_file(out)
            for i in range(6):   # three different prompts of ~5 blocks, twice: an 8-block cache must evict
                text = ' '.join(f'r{i % 3}w{j}' for j in range(40))
                r = httpx.post(px.url + '/v1/chat/completions', json=dict(model='semantic-kv-emulated', messages=[dict(role='user', content=text)], max_tokens=1), timeout=30)
                assert r.status_code == 200, r.text
            so, _ = p.communicate(timeout=30)
    assert p.returncode == 0, so
    traces = [trace] if trace.is_file() else sorted(trace.glob('*.jsonl'))
    assert len(traces) == 1, traces
    base = ('kv-events', 'compare', '--trace', str(traces[0]), '--events', str(out))
    same = run_cli(*base, '--num-blocks', '8')
    assert same.returncode == 0 and 'identical' in same.stdout and 'by block hash' in same.stdout, same.stdout + same.stderr
    diff = run_cli(*base, '--num-blocks', '64')
    assert diff.returncode == 1 and 'first divergence: request ' in diff.stdout, diff.stdout + diff.stderr
    import json
    j = json.loads(run_cli(*base, '--num-blocks', '64', '--json').stdout)
    assert not j['identical'] and j['first_divergence']['recorded'][0] == 'removed' and j['recorded']['removed_blocks'] > 0 == j['simulated']['removed_blocks']
    # the same trace without its text (as a redacting proxy writes it): other keys, aligned by order, still identical
    red = tmp_path/'redacted.jsonl'
    recs = [json.loads(l) for l in traces[0].read_text().splitlines() if l.strip()]
    for x in recs:
        for s in x['segments']: s.pop('text', None)
    red.write_text(''.join(json.dumps(x) + '\n' for x in recs))
    r = run_cli('kv-events', 'compare', '--trace', str(red), '--events', str(out), '--num-blocks', '8')
    assert r.returncode == 0 and 'by order and block count' in r.stdout and 'identical' in r.stdout, r.stdout + r.stderr

def test_compare_sample_and_bad_inputs(tmp_path):
    "The bundled vLLM sample (opaque bytes hashes) is aligned by order; bad files exit 2 naming file and line"
    fx = pathlib.Path(__file__).parent/'fixtures'/'kv_events_vllm_sample.jsonl'
    trace = tmp_path/'t.jsonl'
    from semantic_kv.traces import native_dict
    from semantic_kv.segment import segment_request
    from semantic_kv.tokens import get_tokenizer
    sr = segment_request(dict(messages=[dict(role='user', content=' '.join(f'w{j}' for j in range(30)))]), get_tokenizer('cl100k_base'), with_text=True)
    trace.write_text(json.dumps(native_dict(sr)) + '\n')
    r = run_cli('kv-events', 'compare', '--trace', str(trace), '--events', str(fx), '--profile', 'vllm')
    assert r.returncode == 1 and 'by order and block count' in r.stdout and 'first divergence' in r.stdout, r.stdout + r.stderr
    bad = tmp_path/'bad.jsonl'; bad.write_text('{"seq": 0, "ts": 1.0, "events": [{"type": "Nope"}]}\n')
    r = run_cli('kv-events', 'compare', '--trace', str(trace), '--events', str(bad))
    assert r.returncode == 2 and 'bad.jsonl:1' in r.stderr and 'events[0].type' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    r = run_cli('kv-events', 'compare', '--trace', str(trace), '--events', str(fx), '--num-blocks', '0')
    assert r.returncode == 2 and '--num-blocks' in r.stderr, r.stderr
    for args, needle in ((('--trace', str(tmp_path/'none.jsonl'), '--events', str(fx)), 'none.jsonl: no such file'),
                         (('--trace', str(trace), '--events', str(tmp_path)), 'is a directory'),
                         (('--trace', str(fx), '--events', str(fx)), 'kv_events_vllm_sample.jsonl:1:'),
                         (('--trace', str(trace), '--events', str(fx), '--tokenizer', 'gpt9'), '--tokenizer')):
        r = run_cli('kv-events', 'compare', *args)
        assert r.returncode == 2 and needle in r.stderr and 'Traceback' not in r.stderr, r.stderr
