"""The emulated engine's host tier (`semantic-kv engine --host-blocks H`): GPU victims are demoted to an LRU host tier,
host hits are promoted back and reported in `cached_tokens` (as vLLM reports connector hits), TTFT adds the modelled
load time, and `/metrics` carries vLLM's offload and connector counters. Real servers on loopback, the `openai` SDK."""
import collections, subprocess, sys, time
import httpx, openai, pytest
pytest.importorskip('uvicorn')
from semantic_kv.cli import main
from semantic_kv.latency import LatencyModel
from semantic_kv.serve.core import Server, ServerProcess, free_port, request_identity, chat_view
from semantic_kv.serve.engine import Engine
from semantic_kv.serve.collect import mock_requests
from semantic_kv.segment import segment_request
from semantic_kv.blocks import build_trace
from semantic_kv.sim import simulate
from semantic_kv.tiers import ModelShape, Tier, tier_config, simulate_tiers

def _doc(i:int)->list:
    "A chat prompt of about 250 tokens (16 blocks), different for every `i`"
    return [{'role': 'system', 'content': ' '.join(f'Policy {i}.{k}: the tenant {i} keeps clause {k} in good repair.' for k in range(14))},
            {'role': 'user', 'content': f'Question {i}?'}]

def _metric(text:str, name:str)->float:
    return sum(float(l.rsplit(' ', 1)[1]) for l in text.splitlines() if l.startswith(name + '{') or l.startswith(name + ' '))

def _cached(c, msgs)->tuple:
    u = c.chat.completions.create(model='m', messages=msgs, max_tokens=2).usage
    return u.prompt_tokens, u.prompt_tokens_details.cached_tokens

def test_evicted_prompt_is_cached_from_host():
    "G small, H large: a prompt pushed out of the GPU by others is still reported as cached, loaded from the host"
    shape, bs = ModelShape(), 16
    res = {}
    for H in (0, 400):
        eng = Engine(num_blocks=24, host_blocks=H, time_scale=0)
        with Server(eng) as s:
            c = openai.OpenAI(base_url=s.url + '/v1', api_key='none', max_retries=0)
            pt, first = _cached(c, _doc(0))
            for i in range(1, 4): _cached(c, _doc(i))           # three other prompts push the first out of 24 GPU blocks
            pt2, again = _cached(c, _doc(0))
            page = httpx.get(s.url + '/metrics').text
        res[H] = (pt, first, again, page, list(eng.log))
    pt, first, again, page, log = res[0]
    assert first == 0 and again == 0, (first, again)              # one tier: evicted, recomputed
    assert 'kv_offload' not in page and 'external_prefix_cache' not in page
    pt, first, again, page, log = res[400]
    full = pt // bs * bs
    assert first == 0 and again == full > 0, (pt, again)         # every full block back from the host
    nb = log[-1]['host_blocks']
    assert nb == full // bs and log[-1]['cached_tokens'] == full
    bb = shape.block_bytes(bs)
    assert log[-1]['load_ms'] == pytest.approx(Tier(name='host', blocks=400, load_ms=0.05, gbps=25.0).load_time_ms(nb * bb))
    assert _metric(page, 'vllm:kv_offload_load_bytes_total') == nb * bb
    assert _metric(page, 'vllm:kv_offload_load_time_total') == pytest.approx(log[-1]['load_ms'] / 1000)
    assert _metric(page, 'vllm:kv_offload_store_bytes_total') >= nb * bb   # the first prompt's blocks were demoted (stored) to the host
    assert _metric(page, 'vllm:kv_offload_store_bytes_total') % bb == 0
    assert _metric(page, 'vllm:external_prefix_cache_hits_total') == full
    assert _metric(page, 'vllm:prefix_cache_hits_total') == 0      # GPU hits only, as vLLM counts them; the host's are connector hits
    assert 0 < _metric(page, 'semantickv_engine_host_cache_usage_perc') <= 1

def test_ttft_contains_the_host_load_time():
    "With no recompute cost, the time to the first token of a host hit is the modelled load time (and a GPU miss costs nothing)"
    lat = LatencyModel(base_ms=0, ms_per_uncached_token=0)
    eng = Engine(num_blocks=24, host_blocks=400, host_gbps=0.2, host_load_ms=20, latency=lat, inter_token_latency_ms=0)
    with Server(eng) as s:
        c = openai.OpenAI(base_url=s.url + '/v1', api_key='none', max_retries=0)
        for i in range(4): _cached(c, _doc(i))
        t0 = time.perf_counter()
        stream = c.chat.completions.create(model='m', messages=_doc(0), max_tokens=2, stream=True, stream_options={'include_usage': True})
        chunks = iter(stream); next(chunks); first = time.perf_counter() - t0
        usage = [ch.usage for ch in chunks if ch.usage][-1]
        page = httpx.get(s.url + '/metrics').text
    load_ms = eng.log[-1]['load_ms']
    assert usage.prompt_tokens_details.cached_tokens == usage.prompt_tokens // 16 * 16
    assert load_ms == pytest.approx(20 + eng.log[-1]['host_blocks'] * ModelShape().block_bytes(16) / 0.2e6) and load_ms > 100
    assert first >= load_ms / 1000                                 # the engine slept the load time before the first token
    assert _metric(page, 'vllm:time_to_first_token_seconds_sum') >= load_ms / 1000

def _replay(eng:Engine, reqs)->list:
    with Server(eng) as s:
        return [httpx.post(s.url + '/v1/chat/completions', json={**b, 'stream': False}, headers=h, timeout=30).json()['usage']['prompt_tokens_details']['cached_tokens']
                for b, h in reqs]

def test_engine_agrees_with_the_tiered_simulator_and_h0_with_one_tier():
    "Request by request: H=0 is `simulate(..., 'lru')`; H>0 is `simulate_tiers` with exclusive LRU over LRU (cached tokens and load time)"
    reqs = mock_requests(40, seed=3)
    srs = [segment_request({**chat_view(b), **request_identity(b, {k.lower(): v for k, v in h.items()})}, keep_token_ids=True) for b, h in reqs]
    tr = build_trace(srs, 16)
    assert _replay(Engine(num_blocks=32, time_scale=0), reqs) == simulate(tr, 'lru', capacity_blocks=32).requests.hit_tokens.tolist()
    assert _replay(Engine(num_blocks=32, host_blocks=0, time_scale=0), reqs) == simulate(tr, 'lru', capacity_blocks=32).requests.hit_tokens.tolist()
    for H in (48, 160):
        eng = Engine(num_blocks=32, host_blocks=H, time_scale=0)
        got = _replay(eng, reqs)
        d = simulate_tiers(tr, tier_config(32, H), bound=False).result.requests
        assert got == d.hit_tokens.tolist(), H
        assert [r['cached_tokens'] - r['host_blocks'] * 16 for r in eng.log] == d.gpu_hit_tokens.tolist()
        assert [r['load_ms'] for r in eng.log] == pytest.approx(d.load_ms.tolist())
        assert sum(got) > sum(_replay(Engine(num_blocks=32, time_scale=0), reqs))   # the host tier adds hits on this workload

def test_reset_clears_the_host_tier():
    eng = Engine(num_blocks=24, host_blocks=400, time_scale=0)
    with Server(eng) as s:
        c = openai.OpenAI(base_url=s.url + '/v1', api_key='none', max_retries=0)
        for i in range(4): _cached(c, _doc(i))
        assert len(eng.host) > 0
        assert httpx.post(s.url + '/reset_prefix_cache').status_code == 200
        assert len(eng.host) == 0 and _cached(c, _doc(0))[1] == 0

@pytest.mark.parametrize('args,flag', [(['--host-blocks', '-1'], '--host-blocks'), (['--host-blocks', '2.5'], '--host-blocks'),
                                       (['--host-policy', 'arc'], '--host-policy'), (['--host-gbps', '0'], '--host-gbps'),
                                       (['--host-gbps', 'nan'], '--host-gbps'), (['--host-load-ms', '-1'], '--host-load-ms'),
                                       (['--kv-shape', '32,8,128'], '--kv-shape'), (['--kv-shape', '32,0,128,2'], '--kv-shape')])
def test_bad_host_flags_exit_2_naming_the_flag(args, flag):
    p = subprocess.run([sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())', 'engine', '--port', str(free_port()), *args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and flag in p.stderr + p.stdout and 'Traceback' not in p.stderr, (p.returncode, p.stderr[-400:])

def test_command_line_host_tier():
    "`semantic-kv engine --num-blocks 24 --host-blocks 400`: the flags reach the engine"
    with ServerProcess('engine', '--num-blocks', '24', '--host-blocks', '400', '--time-scale', '0', '--kv-shape', '28,4,128,2') as eng:
        c = openai.OpenAI(base_url=eng.url + '/v1', api_key='none', max_retries=0)
        for i in range(4): _cached(c, _doc(i))
        pt, again = _cached(c, _doc(0))
        page = httpx.get(eng.url + '/metrics').text
    assert again == pt // 16 * 16 > 0
    assert _metric(page, 'vllm:kv_offload_load_bytes_total') == again // 16 * ModelShape(layers=28, kv_heads=4).block_bytes(16)

def test_kv_events_carry_the_host_tier_as_cpu():
    "Replaying the published events by medium gives the GPU cache and the host tier exactly; medium-blind, their union"
    zmq = pytest.importorskip('zmq')
    from semantic_kv.serve.kv_events import attach_publisher, decode_batch
    port = free_port()
    eng = Engine(num_blocks=24, host_blocks=40, time_scale=0)
    attach_publisher(eng, f'tcp://127.0.0.1:{port}')
    ctx = zmq.Context(); sub = ctx.socket(zmq.SUB); sub.connect(f'tcp://127.0.0.1:{port}'); sub.setsockopt(zmq.SUBSCRIBE, b'')
    time.sleep(0.3)   # the slow joiner
    try:
        with Server(eng) as s:
            c = openai.OpenAI(base_url=s.url + '/v1', api_key='none', max_retries=0)
            for i in (0, 1, 2, 3, 4, 0, 5, 3, 6, 1): _cached(c, _doc(i))   # demotions, promotions and host drops
            eng.kv_events.flush()
            gpu_now, host_now = {k for k in eng.cache.ids if k in eng.cache}, set(eng.host)
        tiers, blind, n = {'GPU': set(), 'CPU': set()}, set(), collections.Counter()
        while sub.poll(500):
            for e in decode_batch(sub.recv_multipart()[-1])['events']:
                n[e['type'], e['medium']] += 1
                if e['type'] == 'BlockStored': tiers[e['medium']].update(e['block_hashes']); blind.update(e['block_hashes'])
                elif e['type'] == 'BlockRemoved': tiers[e['medium']].difference_update(e['block_hashes']); blind.difference_update(e['block_hashes'])
    finally: sub.close(); ctx.term()
    assert n['BlockStored', 'CPU'] > 0 and n['BlockRemoved', 'CPU'] > 0, n
    assert tiers['GPU'] == gpu_now and tiers['CPU'] == host_now and host_now
    assert blind == gpu_now | host_now and not gpu_now & host_now
