"Routing policies: every policy only picks up replicas, is deterministic, and keeps salts apart."
import pytest
from hypothesis import given, strategies as st
from semantic_kv.blocks import hash64
from semantic_kv.routing import ROUTING_POLICIES, make_policy, RouteRequest, ReplicaState, NoReplicaError, routing_text, from_body

def _policy(name, n):
    kw = dict(capacity_tokens=4096) if name == 'semantic_locality' else {}
    return make_policy(name, n, **kw)

def _req(prefix, j, salt=None):
    keys = [hash64(repr((salt, prefix, b)).encode()) for b in range(4)] + [hash64(repr((salt, prefix, 'q', j)).encode())]
    return RouteRequest(keys=keys, sizes=[16]*5, types=[0]*5, prompt_tokens=80, text=f'\x00{salt}\x00sys{prefix}' * 8 + f'q{j}',
                        session_id=f's{j % 3}', output_tokens=8)

ops = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), st.sampled_from(['route', 'finish', 'down', 'up'])), min_size=1, max_size=60)

@pytest.mark.parametrize('name', list(ROUTING_POLICIES))
@given(ops=ops)
def test_only_up_replicas_and_deterministic(name, ops):
    def run():
        n = 4; pol, reps, live, out = _policy(name, n), [ReplicaState(f'r{i}') for i in range(n)], [], []
        for t, (a, b, op) in enumerate(ops):
            if op == 'down' and sum(r.up for r in reps) > 1 and reps[a].up: reps[a].up = False; pol.replica_down(a)
            elif op == 'up' and not reps[a].up: reps[a].up = True; pol.replica_up(a)
            elif op == 'finish' and live:
                r, i = live.pop(0); reps[i].in_flight -= 1; pol.finished(r, i, t)
            else:
                r = _req(b % 2, b); d = pol.route(r, reps, float(t))
                assert reps[d.replica].up, (name, d)
                assert 0 <= d.predicted_tokens <= r.prompt_tokens
                reps[d.replica].in_flight += 1; live.append((r, d.replica)); out.append(d.replica)
        return out
    assert run() == run()

@pytest.mark.parametrize('name', list(ROUTING_POLICIES))
def test_no_replica_up(name):
    with pytest.raises(NoReplicaError): _policy(name, 2).route(_req(0, 0), [ReplicaState('a', up=False), ReplicaState('b', up=False)])

@pytest.mark.parametrize('name', ['cache_aware', 'llm_d', 'dynamo_kv', 'semantic_locality'])
def test_salts_never_share(name):
    "A prefix sent under one salt predicts nothing for the same text under another salt"
    pol, reps = _policy(name, 2), [ReplicaState('a'), ReplicaState('b')]
    for j in range(3): pol.route(_req(0, j, salt='tenant-a'), reps, float(j))
    assert pol.choose(_req(0, 9, salt='tenant-a'), reps, 5.0).predicted_tokens > 0
    assert pol.choose(_req(0, 9, salt='tenant-b'), reps, 5.0).predicted_tokens == 0

def test_from_body_salt_and_headers():
    body = dict(model='m', messages=[dict(role='system', content='You are terse. ' * 40), dict(role='user', content='hi')])
    a = from_body(dict(body, cache_salt='x'), headers={'X-Session-ID': 's1', 'X-Tenant-ID': 't1'})
    b = from_body(dict(body, cache_salt='y'))
    c = from_body(dict(body, cache_salt='x'), headers={'x-tenant-id': 't1'})
    assert (a.session_id, a.tenant_id) == ('s1', 't1')
    assert a.keys and a.keys == c.keys and not set(a.keys) & set(b.keys)
    assert routing_text(dict(body, cache_salt='x')) != routing_text(dict(body, cache_salt='y'))
