"""Checks of the tiered cache that no tuning can pass (hypothesis, derandomized by the `ci` profile): exclusive LRU over
LRU is one LRU of the summed size on a flat cache; inclusive write-through never beats exclusive; more host never loses
hits under LRU; no tier over capacity in any mode; no host tier is exactly the single-tier simulator; the compiled loop
is the reference loop; no tiered run beats the PFOO-L bound on the summed capacity."""
import random

from hypothesis import HealthCheck, example, given, settings, strategies as st

from semantic_kv.bounds import random_prefix_trace, pfoo_l_upper_bound
from semantic_kv.policies import POLICIES
from semantic_kv.sim import simulate, toy_trace
from semantic_kv.tiers import FILTERS, WRITE_POLICIES, lower_tier_policies, simulate_tiers, tier_config

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

def flat_trace(seed, n=120, pool=25):
    "One block per request, keys drawn from a pool: a flat cache (no prefix structure)"
    rng = random.Random(seed)
    return toy_trace([[rng.randrange(pool)] for _ in range(n)], name=f'flat-{seed}')

trees = st.builds(random_prefix_trace, seed=st.integers(0, 10**6), n_requests=st.integers(1, 50),
                  max_new=st.integers(1, 8), p_root=st.floats(0.0, 1.0))
flats = st.builds(flat_trace, seed=st.integers(0, 10**6), pool=st.integers(1, 40))
sizes = st.integers(0, 12)

def hits(tr, *caps, **kw): return simulate_tiers(tr, tier_config(*caps, **kw), bound=False).result

@settings(max_examples=40, **SETTINGS)
@given(t=flats, g=st.integers(1, 12), h=sizes, d=sizes)
@example(t=flat_trace(0), g=1, h=1, d=0)
def test_exclusive_lru_is_one_lru_of_summed_size_on_a_flat_cache(t, g, h, d):
    "A request is served from the GPU, so the GPU tier holds at least one block (with none, nothing is ever stored)"
    one = simulate(t, 'lru', capacity_blocks=g + h + d).requests.hit_units.tolist()
    assert hits(t, g, h, d).requests.hit_units.tolist() == one       # request by request, exactly

@settings(max_examples=40, **SETTINGS)
@given(t=st.one_of(flats, trees), g=sizes, h=sizes)
def test_inclusive_write_through_never_beats_exclusive(t, g, h):
    inc = hits(t, g, h, mode='inclusive', write_policy='write_through').summary.block_hits
    assert inc <= hits(t, g, h).summary.block_hits

@settings(max_examples=40, **SETTINGS)
@given(t=st.one_of(flats, trees), g=sizes, h=sizes)
def test_more_host_never_loses_hits_under_lru(t, g, h):
    assert hits(t, g, h).summary.block_hits <= hits(t, g, h + 1).summary.block_hits

@settings(max_examples=50, **SETTINGS)
@given(t=trees, g=sizes, h=sizes, d=sizes, mode=st.sampled_from(['exclusive', 'inclusive']), wp=st.sampled_from(WRITE_POLICIES),
       hp=st.sampled_from(lower_tier_policies()), gp=st.sampled_from(sorted(p for p in POLICIES if p != 'belady')),
       hf=st.sampled_from(FILTERS), df=st.sampled_from(FILTERS))
@example(t=random_prefix_trace(1, n_requests=40, max_new=8, p_root=0.0), g=1, h=1, d=1, mode='exclusive', wp='write_back', hp='lru', gp='lru', hf='pass_all', df='pass_all')
def test_tier_capacities_never_exceeded(t, g, h, d, mode, wp, hp, gp, hf, df):
    if mode == 'exclusive': wp = 'write_back'
    cfg = tier_config(g, h, d, gpu_policy=gp, host_policy=hp, disk_policy=hp, mode=mode, write_policy=wp, host_filter=hf, disk_filter=df)
    r = simulate_tiers(t, cfg, check=True)            # `check_invariants` after every request: capacity, prefix closure, counts
    assert r.tiers.block_hit_rate <= r.bound['block_hit_rate_ub'] + 1e-12 or mode == 'inclusive'
    assert sum(r.tiers.hit_blocks) == r.result.summary.block_hits

@settings(max_examples=40, **SETTINGS)
@given(t=trees, g=sizes, p=st.sampled_from(sorted(p for p in POLICIES if p != 'belady')))
def test_no_host_tier_is_the_single_tier_simulator(t, g, p):
    a, b = simulate(t, p, capacity_blocks=g, compiled=False), simulate_tiers(t, tier_config(g, 0, gpu_policy=p), bound=False).result
    assert a.summary == b.summary
    assert a.requests.hit_units.tolist() == b.requests.hit_units.tolist() and a.requests.est_ttft_ms.tolist() == b.requests.est_ttft_ms.tolist()

@settings(max_examples=40, **SETTINGS)
@given(t=trees, g=sizes, h=sizes, d=sizes)
def test_compiled_loop_is_the_reference(t, g, h, d):
    cfg = tier_config(g, h, d)
    a, b = simulate_tiers(t, cfg, compiled=False, bound=False), simulate_tiers(t, cfg, bound=False)
    assert a.tiers == b.tiers and a.result.summary == b.result.summary and a.result.requests.equals(b.result.requests)

@settings(max_examples=40, **SETTINGS)
@given(t=trees, g=sizes, h=sizes)
def test_exclusive_hits_within_the_summed_bound(t, g, h):
    r = simulate_tiers(t, tier_config(g, h))
    assert r.result.summary.block_hits <= pfoo_l_upper_bound(t, (g + h)*t.block_size)['hit_units'] == r.bound['hit_units_ub']
    assert r.bound['min_lower_tier_hits_at_ub'] >= 0
