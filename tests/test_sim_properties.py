"""Property tests of the simulator (hypothesis): Belady's optimality in block mode, the cache invariants after every
request for every policy and every trace model, and tenant isolation through `cache_salt`."""
from collections import defaultdict

from hypothesis import HealthCheck, example, given, settings, strategies as st

from semantic_kv.blocks import build_trace
from semantic_kv.bounds import random_prefix_trace
from semantic_kv.models import SEMANTIC_TYPES, Segment, SegmentedRequest
from semantic_kv.policies import POLICIES
from semantic_kv.sim import simulate

# derandomize / database come from the profile in conftest.py (`ci` by default); boundary cases are pinned with @example
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

traces = st.builds(random_prefix_trace, seed=st.integers(0, 10**6), n_requests=st.integers(1, 40),
                   max_new=st.integers(1, 8), p_root=st.floats(0.0, 1.0))


# ---------------------------------------------------------------------------------------------------------------
# (a) Belady is optimal for equal-size units

@settings(max_examples=80, **SETTINGS)
@given(t=traces, cap=st.integers(0, 40))
@example(t=random_prefix_trace(0, n_requests=1, max_new=1), cap=0)          # an empty cache
@example(t=random_prefix_trace(1, n_requests=40, max_new=8, p_root=0.0), cap=1)
def test_belady_beats_every_policy_block_mode(t, cap):
    hits = {p: simulate(t, p, capacity_blocks=cap).summary.block_hits for p in POLICIES}
    assert all(h <= hits['belady'] for h in hits.values()), hits


# ---------------------------------------------------------------------------------------------------------------
# (b) invariants after every request (`check=True`: capacity, prefix closure, child counts, used tokens)

def run_all(t, cap_tokens):
    out = {}
    for p in POLICIES:
        s = simulate(t, p, capacity_tokens=cap_tokens, check=True).summary
        assert 0 <= s.block_hits <= s.block_accesses and 0 <= s.hit_tokens <= s.prompt_tokens
        out[p] = s
    return out


@settings(max_examples=60, **SETTINGS)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 30), max_new=st.integers(1, 8),
       mode=st.sampled_from(['block', 'segment']), reuse=st.sampled_from(['prefix', 'any']),
       cap=st.integers(0, 600))
@example(seed=0, n=1, max_new=1, mode='segment', reuse='any', cap=0)
@example(seed=3, n=30, max_new=8, mode='block', reuse='prefix', cap=600)
def test_invariants_every_policy(seed, n, max_new, mode, reuse, cap):
    t = random_prefix_trace(seed, n_requests=n, max_new=max_new, mode=mode, reuse=reuse, pool=12)
    run_all(t, cap)


@settings(max_examples=40, **SETTINGS)
@given(seed=st.integers(0, 10**6), cap_blocks=st.integers(0, 3))
@example(seed=0, cap_blocks=0)
def test_capacity_smaller_than_a_request_rejects(seed, cap_blocks):
    "Requests longer than the cache: the rest of each request is rejected, never squeezed in"
    t = random_prefix_trace(seed, n_requests=15, max_new=8, p_root=0.3)
    for p, s in run_all(t, cap_blocks * t.block_size).items():
        if max(len(r.keys) for r in t.requests) > cap_blocks: assert s.rejected > 0, p
        assert s.block_hits <= sum(min(len(r.keys), cap_blocks) for r in t.requests), p


def test_repeated_unit_in_one_request_any_mode():
    "reuse='any': a unit repeated inside one request (a repeated segment) is admitted, and charged, once"
    from semantic_kv.sim import toy_trace
    t = toy_trace([['A', 'B', 'A'], ['C'], ['A', 'A']], reuse='any')
    for p in POLICIES: simulate(t, p, capacity_blocks=2, check=True)


# ---------------------------------------------------------------------------------------------------------------
# tenants and salts: traces built with `build_trace` from segmented requests

CONTENT = [f'{i:016x}' for i in range(6)]   # a small pool of segment contents, shared by all tenants

@st.composite
def salted_requests(draw):
    reqs = []
    for i in range(draw(st.integers(1, 25))):
        segs = [Segment(semantic_type=draw(st.sampled_from(SEMANTIC_TYPES)), rule='test',
                        token_count=draw(st.integers(1, 40)), content_hash=draw(st.sampled_from(CONTENT)))
                for _ in range(draw(st.integers(1, 5)))]
        reqs.append(SegmentedRequest(request_id=str(i), segments=segs, cache_salt=draw(st.sampled_from([None, 's1', 's2'])),
                                     tenant_id=draw(st.sampled_from([None, 'acme', 'zeta']))))
    return reqs


def group(sr): return (sr.cache_salt, sr.tenant_id, sr.model)


@settings(max_examples=50, **SETTINGS)
@given(reqs=salted_requests(), mode=st.sampled_from(['block', 'segment']), reuse=st.sampled_from(['prefix', 'any']),
       block_size=st.sampled_from([4, 16]), cap=st.integers(0, 300))
def test_salts_isolate_tenants(reqs, mode, reuse, block_size, cap):
    # same contents in a fixed order give the same structure, but different salts/tenants never share a key
    t = build_trace(reqs, block_size=block_size, mode=mode, reuse=reuse)
    keys = defaultdict(set)
    for sr, br in zip(reqs, t.requests): keys[group(sr)].update(br.keys)
    gs = list(keys)
    for a in range(len(gs)):
        for b in range(a + 1, len(gs)): assert not keys[gs[a]] & keys[gs[b]], (gs[a], gs[b])
    # a hit only reuses units seen earlier by the same group
    for p in POLICIES:
        res = simulate(t, p, capacity_tokens=cap, check=True)
        seen = defaultdict(set)
        for sr, br, h in zip(reqs, t.requests, res.requests.hit_units.tolist()):
            g = group(sr)
            if reuse == 'prefix': assert set(br.keys[:h]) <= seen[g], (p, sr.request_id)
            else: assert h <= sum(k in seen[g] for k in br.keys), (p, sr.request_id)
            seen[g].update(br.keys)
