"""The prefix-cache core (`semantic_kv.cache.PrefixCache`) against the simulator's compiled loop, and its invariants.

(a) Equivalence: generated traces replayed one request at a time through the core and through `simulate`, for every
    registered policy (the offline optimum gets next-use times from the trace), give identical hits per request,
    evictions, rejections, regret and per-type counts. This is what lets the simulator keep its inlined loop.
(b) Invariants under overlapping requests: random interleavings of `start` and `release` keep the cache within
    capacity, prefix-closed, with prefix-closed locks; no locked block or block with a cached child is ever removed;
    the event stream replays to the cached set.
"""
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from semantic_kv.bounds import random_prefix_trace
from semantic_kv.cache import PrefixCache, eviction_order, replay
from semantic_kv.models import SEMANTIC_TYPES
from semantic_kv.policies import POLICIES
from semantic_kv.sim import simulate

SETTINGS = dict(suppress_health_check=[HealthCheck.too_slow])


def compare(trace, policy, cap_tokens):
    res = simulate(trace, policy, capacity_tokens=cap_tokens, check=True)
    c, hs = replay(trace, policy, cap_tokens, keep_events=False)
    c.check_invariants()
    s, bt, cs = res.summary, res.by_type, c.stats
    assert [h.hit_blocks for h in hs] == res.requests.hit_units.tolist(), policy
    assert [h.hit_tokens for h in hs] == res.requests.hit_tokens.tolist(), policy
    assert (cs.evictions, cs.rejected, cs.regret, cs.hit_blocks, cs.hit_tokens) == \
           (s.evictions, s.rejected, s.regret, s.block_hits, s.hit_tokens), policy
    assert cs.evictions_by_type == bt.evictions.tolist(), policy
    assert cs.regret_by_type == bt.regret.tolist(), policy
    assert cs.hit_blocks_by_type == bt.unit_hits.tolist(), policy
    assert cs.hit_tokens_by_type == bt.hit_tokens.tolist(), policy


@settings(max_examples=40, **SETTINGS)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 60), max_new=st.integers(1, 8), p_root=st.floats(0.0, 1.0),
       mode=st.sampled_from(['block', 'segment']), cap_blocks=st.integers(0, 40))
def test_core_identical_to_simulator(seed, n, max_new, p_root, mode, cap_blocks):
    t = random_prefix_trace(seed, n_requests=n, max_new=max_new, p_root=p_root, mode=mode)
    cap = cap_blocks * t.block_size
    for p in POLICIES: compare(t, p, cap)


@pytest.mark.parametrize('seed', range(3))
def test_core_identical_on_longer_traces(seed):
    "Longer traces, where the learning policies' state (decay, offsets, admission) matters"
    t = random_prefix_trace(seed, n_requests=400, max_new=6, p_root=0.1)
    for frac in (0.05, 0.2):
        for p in POLICIES: compare(t, p, int(t.unique_blocks() * frac) * t.block_size)


@pytest.mark.parametrize('seed', range(2))
def test_core_identical_with_tail_admission(seed):
    "Tail admission (`NAME+admit`) wraps the policy's hooks; the online core and the simulator agree with it"
    t = random_prefix_trace(seed, n_requests=300, max_new=6, p_root=0.1)
    for frac in (0.05, 0.2):
        for p in ('lru', 'slru', 'gdsf', 'adaptive_semantic', 'adaptive_structural', 'tail_lru', 'session_aware', 'workload_aware', 'belady'):
            compare(t, p + '+admit', int(t.unique_blocks() * frac) * t.block_size)


def test_every_policy_covered():
    "A policy added to the registry is compared automatically; this pins that the registry is complete"
    assert {'lru', 'belady', 'adaptive_semantic', 'adaptive_structural'} <= set(POLICIES)


# ---------------------------------------------------------------------------------------------------------------
# (b) overlapping requests

@st.composite
def sessions(draw):
    "A script of starts and releases over a small prefix tree, with up to 4 requests in flight"
    trace = random_prefix_trace(draw(st.integers(0, 10**6)), n_requests=draw(st.integers(1, 40)), max_new=5, p_root=0.2)
    order = draw(st.lists(st.integers(0, 3), min_size=len(trace.requests), max_size=len(trace.requests)))
    return trace, order


@settings(max_examples=60, **SETTINGS)
@given(s=sessions(), cap_blocks=st.integers(0, 25), policy=st.sampled_from(sorted(p for p in POLICIES if p != 'belady')))
def test_invariants_with_requests_in_flight(s, cap_blocks, policy):
    trace, order = s
    mirror = set()
    c = PrefixCache(cap_blocks * trace.block_size, trace.block_size, policy)
    inflight = []

    def locked_keys(): return {c.keys[n] for h in inflight for n in h.nodes}

    def check_events():
        locked = locked_keys()
        for ev in c.take_events():
            if ev[0] == 'stored':
                assert ev[2] is None or ev[2] in mirror, "stored before its parent"
                mirror.add(ev[1])
            else:
                assert ev[1] not in locked or ev[1] in {k for h in inflight for k in h.admitted}, "removed a locked block"
                mirror.remove(ev[1])
        assert mirror == {k for k in c.ids if k in c}

    for r, k in zip(trace.requests, order):
        before_locked = locked_keys()
        h = c.start(r.keys, r.sizes, r.types)
        assert not (set(h.evicted) & before_locked), "evicted a block of another in-flight request"
        assert set(h.evicted).isdisjoint(r.keys[:h.hit_blocks]), "evicted its own hit prefix"
        inflight.append(h)
        check_events(); c.check_invariants()
        for _ in range(min(k, len(inflight))):        # release some, oldest first or newest first
            c.release(inflight.pop(0 if k % 2 else -1))
            c.check_invariants()
    for h in inflight: c.release(h)
    c.check_invariants()
    assert all(x == 0 for x in c.ref)


def test_one_request_at_a_time_equals_replay():
    "start+release per request is `replay`; the events are exactly the stores and evictions"
    t = random_prefix_trace(3, n_requests=80, max_new=6, p_root=0.2)
    c, hs = replay(t, 'lru', 20 * t.block_size)
    removed = [e[1] for e in c.events if e[0] == 'removed']
    assert removed == [k for h in hs for k in h.evicted] == eviction_order(t, 'lru', 20)
    assert len([e for e in c.events if e[0] == 'stored']) == sum(len(h.admitted) for h in hs)


def test_reset_keeps_in_flight_blocks():
    t = random_prefix_trace(5, n_requests=30, max_new=4)
    c, _ = replay(t, 'lru', 1000 * t.block_size)
    h = c.start(t.requests[-1].keys)
    c.take_events()
    n = c.reset()
    assert len(c) == len(h.nodes) and n > 0
    assert [e[0] for e in c.events] == ['removed'] * n
    c.check_invariants(); c.release(h)
    assert c.start(t.requests[0].keys).hit_blocks <= len(h.nodes)


def test_bad_input():
    from semantic_kv.models import InputError
    c = PrefixCache(64, 16)
    c.start(['a', 'b'])
    with pytest.raises(InputError, match='different parent'): c.start(['x', 'b'])
    with pytest.raises(InputError, match='sizes'): c.start(['a'], sizes=[1, 2])
    with pytest.raises(InputError, match='next use'): PrefixCache(64, 16, 'belady').start(['a'])
    with pytest.raises(InputError, match='charge'): PrefixCache(64, 16, charge='bytes')
    with pytest.raises(InputError, match='unknown policy'): PrefixCache(64, 16, 'nope')


# ---------------------------------------------------------------------------------------------------------------
# the one write the contract allows: `requeue`

from semantic_kv.policies import Policy


class ForceNewest(Policy):
    "Test policy: before each request with misses, put the most recently stored cached leaf on top (MRU by requeue)"
    name = 'force_newest'
    def observe(self, hit, missed, regret):
        S = self.S
        leaves = [n for n in range(S.n_nodes) if S.cached[n] and not S.nchild[n] and n not in hit]
        if missed and leaves:
            v = max(leaves, key=lambda n: (S.created[n], n))
            S.requeue(v, -10**12 - S.t)


@settings(max_examples=25, **SETTINGS)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 40), cap_blocks=st.integers(0, 20))
def test_requeue_identical(seed, n, cap_blocks):
    t = random_prefix_trace(seed, n_requests=n, max_new=5, p_root=0.2)
    cap = cap_blocks * t.block_size
    res = simulate(t, ForceNewest(), capacity_tokens=cap, check=True)
    c, hs = replay(t, ForceNewest(), cap, keep_events=False)
    c.check_invariants()
    assert [h.hit_blocks for h in hs] == res.requests.hit_units.tolist()
    assert (c.stats.evictions, c.stats.rejected) == (res.summary.evictions, res.summary.rejected)
