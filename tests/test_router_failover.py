"Router failover on real processes: a replica killed mid-load costs no client-visible error; broken streams end cleanly."
import json, threading, time
import pytest
httpx = pytest.importorskip('httpx')
from semantic_kv.serve.router import Fleet, send_all

ENGINE = ('--num-blocks', 2000, '--time-scale', 1, '--base-ms', 2, '--ms-per-token', 0.001, '--inter-token-latency', 2, '--max-tokens', 4)

def _calls(n, max_tokens=4):
    sys = ['You answer questions about the Acme billing API. ' * 8, 'You are a careful code reviewer. ' * 8]
    return [(dict(model='m', max_tokens=max_tokens, messages=[dict(role='system', content=sys[j % 2]), dict(role='user', content=f'question {j}')]),
             {'X-Session-ID': f's{j % 50}'}) for j in range(n)]

@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    f = Fleet(3, ENGINE, router='semantic-kv', policy='cache_aware', log_path=tmp_path_factory.mktemp('routing')/'decisions.jsonl', health_interval_s=0.25)
    with f: yield f

def _wait_state(fleet, up, timeout=10):
    "Wait until the router's view of which replicas are up is `up` (health checks run every 0.25 s)"
    t, state = time.monotonic(), None
    while time.monotonic() - t < timeout:
        state = [s['up'] for s in httpx.get(fleet.url + '/router/replicas').json()]
        if state == up: return
        time.sleep(0.1)
    pytest.fail(f'replicas up: {state}, expected {up}')

def test_stream_not_buffered(fleet):
    "A streamed reply passes through as it is generated: the first bytes arrive long before the last"
    out = send_all(fleet.url, _calls(1, max_tokens=150), stream=True)[0]
    assert out['status'] == 200 and not out['error'] and out['cached_tokens'] is not None
    assert out['ttfb_ms'] < 0.5*out['latency_ms'], out        # 150 tokens x 2 ms after the first byte

def test_kill_one_replica_mid_load(fleet):
    "1,000 non-streamed requests at 32 concurrent; one of three replicas is killed after 300: zero errors"
    victim = fleet.engines[1]
    def on_sent(n):
        if n == 300: threading.Thread(target=victim.kill).start()
    out = send_all(fleet.url, _calls(1000), concurrency=32, on_sent=on_sent, timeout_s=30)
    errors = [o for o in out if o['status'] != 200 or o['error']]
    assert not errors, errors[:3]
    assert victim.proc.poll() is not None
    served = {o['replica'] for o in out[600:]}
    assert victim.url not in served                      # once down, it gets nothing
    _wait_state(fleet, [True, False, True])
    m = httpx.get(fleet.url + '/metrics').text
    print('retries:', [l for l in m.splitlines() if l.startswith('semantickv_router_retries_total')])
    # bring it back on the same port: the health check marks it up again
    from semantic_kv.serve.core import ServerProcess
    for attempt in range(5):
        try: fleet.engines[1] = ServerProcess('engine', *map(str, ENGINE), port=victim.port).start(60); break
        except RuntimeError: time.sleep(1)               # the port may take a moment to be free again
    else: pytest.fail(f'could not restart the engine on port {victim.port}')
    _wait_state(fleet, [True, True, True])

def test_streams_fail_cleanly(fleet):
    "Streams in progress on a killed replica end with an OpenAI-shaped error event and [DONE]; none hang"
    killed = []
    def kill_busiest():                                    # the replica serving the most streams right now
        state = httpx.get(fleet.url + '/router/replicas').json()
        i = max(range(len(state)), key=lambda j: state[j]['in_flight'])
        killed.append(i); fleet.engines[i].kill()
    timer = threading.Timer(0.3, kill_busiest); timer.start()
    t = time.monotonic()
    out = send_all(fleet.url, _calls(12, max_tokens=400), concurrency=12, stream=True, timeout_s=30)
    timer.join()
    assert time.monotonic() - t < 20                     # nothing hung
    broken = [o for o in out if o['error']]
    complete = [o for o in out if not o['error']]
    assert killed and broken, 'the killed replica was serving some streams'
    assert all(o['status'] == 200 and 'mid-stream' in o['error'] for o in broken), broken
    assert all(o['cached_tokens'] is not None for o in complete)
    print(f'streams: {len(complete)} complete, {len(broken)} ended with an error event')
