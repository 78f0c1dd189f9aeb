"""Bounded memory of the online core (`semantic_kv.cache.PrefixCache`), in reduced form (the full soak, 1.6 M keys,
is in nbs/benchmarks/bench_core_memory.ipynb).

(a) Soak: a stream of requests made only of new keys through a 1,000-block core. The live unit ids stay within
    capacity + `history` + the policy's documented `history_bound()` (+ one request and the amortized slack of the
    ids the policy was asked about), the per-unit lists stop growing, and the memory traced by `tracemalloc` after
    a warm-up grows by less than 2 MB (the core used to keep about 300 bytes for every key it ever saw).
(b) Forgetting changes nothing a policy can see: with `history=0` (forget as early as possible), the policies whose
    state is their cached units or their ghost lists give the simulator's hits and evictions per request; the
    learned policies keep their exact use counts within the window only (documented), so they are checked for
    invariants. Regret is counted only for units still remembered: never more than the exact count.
(c) Invariants hold while ids are recycled, with requests in flight.
"""
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from semantic_kv.bounds import random_prefix_trace
from semantic_kv.cache import PrefixCache, replay
from semantic_kv.policies import POLICIES
from semantic_kv.sim import simulate

SETTINGS = dict(suppress_health_check=[HealthCheck.too_slow])
# policies whose decisions read only cached units' state and their ghost lists (no tie broken by the unit id)
EXACT_WHEN_FORGETTING = ['lru', 'fifo', 'lfu', 'slru', 'size_aware_lru', 'static_semantic', 'sieve', 's3fifo', 'arc', 'lecar']


def soak(policy, n_keys, cap=1000, per=8):
    "Requests of `per` new keys each; returns the cache, the largest live-id count seen and the traced growth (bytes)"
    c = PrefixCache(cap * 16, 16, policy, keep_events=False)
    R, most = n_keys // per, 0
    for i in range(R):
        if i == R // 4: tracemalloc.start(); base = tracemalloc.get_traced_memory()[0]; nodes0 = c.n_nodes
        c.release(c.start([(i, j) for j in range(per)]))
        most = max(most, c.n_live)
    grew = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert c.n_nodes == nodes0, "per-unit lists grew after the warm-up"
    return c, most, grew


@pytest.mark.parametrize('policy, n_keys', [('lru', 200_000), ('adaptive_semantic', 50_000), ('arc', 50_000), ('s3fifo', 50_000)])
def test_soak_new_keys(policy, n_keys):
    c, most, grew = soak(policy, n_keys)
    c.check_invariants()
    bound = 1000 + c.history + c.policy.history_bound()
    assert most <= bound + 8 + max(64, 2 * c.policy.history_bound()), (most, bound)
    assert c.stats.blocks == n_keys and c.stats.hit_blocks == 0 and len(c) == 1000
    assert grew < 2 * 2**20, f"{policy}: traced memory grew by {grew/2**20:.1f} MB"


def test_history_bounds_the_window():
    "With no history, only cached units (and the last request's rejected ones) keep their ids"
    c = PrefixCache(10 * 16, 16, 'lru', history=0)
    for i in range(100): c.release(c.start([(i, j) for j in range(4)]))
    assert c.n_live <= 10 + 4 and c.n_nodes <= 256 and len(c.free) >= c.n_nodes - 14
    c.check_invariants()


def test_evicted_keys_readable_until_next_start():
    "A request's evicted keys still map to their units until the next `start` (the API reads their types)"
    c = PrefixCache(4 * 16, 16, 'lru', history=0)
    c.release(c.start(['a', 'b', 'c', 'd'], types=['system'] * 4))
    h = c.start(['x', 'y'])
    assert h.evicted == ['d', 'c'] and all(c.typ[c.ids[k]] == 0 for k in h.evicted)


def test_parent_outlives_its_child_ids():
    "A parent id is never freed while a child id points to it: rejected chains wait for their children"
    c = PrefixCache(2 * 16, 16, 'lru', history=0)
    busy = c.start(['p', 'q'])                      # the cache is full and locked: the next request is rejected whole
    h = c.start(['a', 'b', 'c']); assert h.rejected == 3
    c.release(h); c.release(busy)
    for i in range(5): c.release(c.start([('n', i)])); c.check_invariants()
    assert not {'a', 'b', 'c'} & set(c.ids) and c.n_live <= 2 + 2   # all forgotten: cached ones + the last request's


@settings(max_examples=15, **SETTINGS)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 80), p_root=st.floats(0.0, 1.0), cap_blocks=st.integers(0, 30),
       history=st.sampled_from([0, 3, 40]))
def test_forgetting_keeps_decisions(seed, n, p_root, cap_blocks, history):
    t = random_prefix_trace(seed, n_requests=n, max_new=6, p_root=p_root)
    cap = cap_blocks * t.block_size
    for p in POLICIES:
        if p == 'belady': continue
        c, hs = replay(t, p, cap, keep_events=False, history=history)
        c.check_invariants()
        if p not in EXACT_WHEN_FORGETTING: continue
        res = simulate(t, p, capacity_tokens=cap)
        assert [h.hit_blocks for h in hs] == res.requests.hit_units.tolist(), p
        assert (c.stats.evictions, c.stats.rejected, c.stats.hit_tokens) == (res.summary.evictions, res.summary.rejected, res.summary.hit_tokens), p
        assert c.stats.regret <= res.summary.regret, p


@st.composite
def sessions(draw):
    trace = random_prefix_trace(draw(st.integers(0, 10**6)), n_requests=draw(st.integers(1, 60)), max_new=5, p_root=0.3)
    order = draw(st.lists(st.integers(0, 3), min_size=len(trace.requests), max_size=len(trace.requests)))
    return trace, order


@settings(max_examples=30, **SETTINGS)
@given(s=sessions(), cap_blocks=st.integers(0, 15), history=st.sampled_from([0, 2, 20]),
       policy=st.sampled_from(sorted(p for p in POLICIES if p != 'belady')))
def test_recycling_with_requests_in_flight(s, cap_blocks, history, policy):
    "Overlapping requests while ids are freed and reused: invariants, no locked block lost, keys map to their units"
    trace, order = s
    c = PrefixCache(cap_blocks * trace.block_size, trace.block_size, policy, history=history)
    inflight, mirror = [], set()
    for r, k in zip(trace.requests, order):
        h = c.start(r.keys, r.sizes, r.types)
        for ev in c.take_events(): mirror.add(ev[1]) if ev[0] == 'stored' else mirror.remove(ev[1])
        assert mirror == {k for k in c.ids if k in c}
        assert [c.keys[n] for n in h.nodes] == list(r.keys[:h.hit_blocks]) + h.admitted
        inflight.append(h); c.check_invariants()
        for _ in range(min(k, len(inflight))): c.release(inflight.pop(0 if k % 2 else -1)); c.check_invariants()
    for h in inflight: c.release(h)
    c.check_invariants()
    assert all(x == 0 for x in c.ref)


def test_bad_request_changes_nothing():
    "A request is validated before any id is given: bad input leaves no half-interned key behind"
    from semantic_kv.models import InputError
    c = PrefixCache(4 * 16, 16, 'lru', history=0)
    c.release(c.start(['a', 'b']))
    for kw in (dict(types=['system', 'no-such-type', 'user']), dict(sizes=[16, 'x', 16])):
        with pytest.raises(InputError): c.start(['a', 'n1', 'n2'], **kw)
    with pytest.raises(InputError, match='prefix tree'): c.start(['x', 'x'])
    with pytest.raises(InputError, match='prefix tree'): c.start(['y', 'b'])
    assert set(c.ids) == {'a', 'b'}
    c.check_invariants()
