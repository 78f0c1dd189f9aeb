"""The compiled core (`semantic_kv.fastsim`) returns exactly what the pure-Python reference loop returns.

Scope: every compiled policy (fifo, lru, lfu, slru, size_aware_lru, gdsf, static_semantic, belady, the learned
adaptive_semantic and adaptive_structural, the choosing sieve, s3fifo, arc, wtinylfu and lecar, the field's tail_lru, session_aware and workload_aware; tail admission on plain, learned and field policies), generated prefix traces in block mode (equal
units) and segment mode (units of 1..64 tokens, charged by size), capacities from zero to the whole footprint; compared:
the summary (hits, hit tokens, evictions, rejected, regret, TTFT estimates, utilization), every per-request row, every
per-type row, the timeline and the weights table (the learned weights, ARC's target p and LeCaR's expert weights, sampled over the trace). Policy parameters that
change the learning (a short half-life that renormalizes the evidence, no bypass, other strengths and thresholds). Plus the Mooncake conversation trace, every
compiled policy at 1% and 5% of its unique blocks, when it is present (skipped with a message otherwise), and streaming replay in chunks against the
reference loop.
"""
import pytest
from hypothesis import given, settings, strategies as st
from semantic_kv.bounds import random_prefix_trace
from semantic_kv.blocks import MOONCAKE_URL, find_mooncake, read_mooncake
from semantic_kv.fastsim import COMPILED_POLICIES, requests_to_chunks, stream_replay
from semantic_kv.policies import SLRU, StaticSemantic, AdaptiveSemantic
from semantic_kv.labelfree import AdaptiveStructural
from semantic_kv.modern import ARC, LeCaR, S3FIFO, Sieve, WTinyLFU
from semantic_kv.field import TailLRU, SessionAware, WorkloadAware
from semantic_kv.sim import simulate, compile_trace

POLS = sorted(c.name for c in COMPILED_POLICIES) + ['lru+admit', 'static_semantic+admit', 'adaptive_structural+admit', 'workload_aware+admit']   # with tail admission


def same(tr, policy, cap):
    a, b = simulate(tr, policy, capacity_tokens=cap), simulate(tr, policy, capacity_tokens=cap, compiled=False)
    assert a.summary == b.summary
    assert a.requests.equals(b.requests)
    assert a.by_type.equals(b.by_type)
    assert a.timeline.equals(b.timeline) and a.weights.equals(b.weights)
    return a


@settings(max_examples=40)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 150), max_new=st.integers(1, 8), p_root=st.floats(0.0, 1.0),
       mode=st.sampled_from(['block', 'segment']), frac=st.floats(0.0, 1.1))
def test_compiled_equals_reference(seed, n, max_new, p_root, mode, frac):
    tr = random_prefix_trace(seed, n_requests=n, max_new=max_new, p_root=p_root, mode=mode)
    C = compile_trace(tr)
    foot = C.n_nodes*tr.block_size if mode == 'block' else sum(C.size)
    cap = int(frac*foot)
    for p in POLS: same(tr, p, cap)


def test_policy_parameters_and_subclasses():
    tr = random_prefix_trace(7, n_requests=200, max_new=6)
    same(tr, SLRU(threshold=3), 320)
    same(tr, StaticSemantic(horizon=10.0, weights=dict(user=0.9)), 320)
    for cap in (160, 480):
        same(tr, AdaptiveSemantic(half_life=3.0), cap)    # the evidence weight passes 1e100 and is renormalized
        same(tr, AdaptiveSemantic(strength=3.0, history=2, bypass=False, gap_alpha=0.3), cap)
        same(tr, AdaptiveStructural(half_life=3.0), cap)
        same(tr, AdaptiveStructural(bypass=False, strength=0.5), cap)
        same(tr, S3FIFO(small=0.3, ghost=0.2, threshold=1), cap)
        same(tr, WTinyLFU(window=0.2, protected=0.5, width_factor=1), cap)   # a larger window, a small sketch halved often
        same(tr, LeCaR(learning_rate=0.9, discount=0.5, seed=3), cap)         # another seed: the same draws as `random.Random(3)`
        same(tr, TailLRU(xi=48, q_hat=16), cap)                               # a budget of a few blocks: safe and protected leaves mix
        same(tr, SessionAware(decay_interval=7, decay_factor=0.5), cap)       # decays (and ghost pruning) many times
        same(tr, SessionAware(gate=False, ghost_norm=1.0), cap)
        same(tr, WorkloadAware(theta=0.5), cap)
    for p in ('fifo', 'slru', 'gdsf', 'adaptive_semantic', 'tail_lru', 'session_aware', 'belady'): same(tr, p + '+admit', 320)
    class Mine(SLRU): pass   # no compiled form: the reference loop runs
    assert simulate(tr, Mine(), capacity_tokens=320).summary == simulate(tr, 'slru', capacity_tokens=320, compiled=False).summary


@pytest.mark.parametrize('policy', ['lru', 'gdsf', 'slru', 'size_aware_lru', 'adaptive_semantic', 'adaptive_structural', 'sieve', 's3fifo',
                                    'arc', 'wtinylfu', 'lecar'])
def test_stream_replay_equals_reference(policy):
    for mode in ('block', 'segment'):
        tr = random_prefix_trace(11, n_requests=300, mode=mode)
        s = stream_replay(requests_to_chunks(tr.requests, chunk=29), policy, 400, charge='block' if mode == 'block' else 'size')
        r = simulate(tr, policy, capacity_tokens=400, compiled=False).summary
        assert (s['block_hits'], s['hit_tokens'], s['evictions'], s['rejected'], s['prompt_tokens']) == \
               (r.block_hits, r.hit_tokens, r.evictions, r.rejected, r.prompt_tokens)


@pytest.fixture(scope='module')
def mooncake():
    p = find_mooncake()
    if p is None: pytest.skip(f"Mooncake conversation trace not found; download it from {MOONCAKE_URL}")
    return read_mooncake(p)


@pytest.mark.parametrize('frac', [0.01, 0.05])
def test_compiled_equals_reference_mooncake(mooncake, frac):
    cap = max(1, int(frac*compile_trace(mooncake).n_nodes))*mooncake.block_size
    for p in POLS: same(mooncake, p, cap)


def test_stream_sweep_one_pass_and_job():
    from semantic_kv.fastsim import StreamJob, run_stream_job, stream_sweep
    from semantic_kv.sweep import run_jobs
    tr = random_prefix_trace(5, n_requests=250)
    runs = [('lru', 320), ('slru', 320), ('fifo', 800)]
    ref = [simulate(tr, p, capacity_tokens=c, compiled=False).summary.block_hits for p, c in runs]
    assert [r['block_hits'] for r in stream_sweep(requests_to_chunks(tr.requests, chunk=40), runs)] == ref
    jobs = [StreamJob('semantic_kv.fastsim:generated_chunks', dict(n_accesses=20_000, seed=1), [r]) for r in runs]
    a = run_jobs(jobs, 'serial', progress=False, fn=run_stream_job)
    b = stream_sweep(__import__('semantic_kv.fastsim', fromlist=['x']).generated_chunks(20_000, seed=1), runs)
    assert [x['block_hits'] for x in a] == [x['block_hits'] for x in b]


def test_arc_target_moves():
    "ARC's target p, sampled over the trace, moves (ghost hits in B1 and B2) and equals the reference's at every sample"
    tr = random_prefix_trace(3, n_requests=300, max_new=6)
    w = same(tr, ARC(), 320).weights.weight
    assert w.nunique() > 2 and w.min() >= 0 and w.max() <= 1


def test_list_heaps_long_trace():
    "A longer trace: the candidate heaps drop stale entries many times and LeCaR's heaps grow past their first size"
    tr = random_prefix_trace(21, n_requests=1500, max_new=8, p_root=0.3)
    for p in ('arc', 'wtinylfu', 'lecar'):
        for cap in (160, 1600): same(tr, p, cap)


def test_lecar_heaps_grow():
    "LeCaR's LFU heap outgrows the units (stale entries wait while the LRU expert evicts): its rows grow, results stay equal"
    import numpy as np
    from semantic_kv.blocks import BlockRequest, BlockTrace
    from semantic_kv.fastsim import FastState, P_LECAR, generated_chunks, _flat
    reqs = []
    for keys, off, sizes, types, prompt in generated_chunks(60_000, seed=0, active=50, n_sys=10, sys_blocks=8, max_len=60):
        for i in range(len(off) - 1):
            a, b = int(off[i]), int(off[i+1])
            reqs.append(BlockRequest(keys[a:b].tolist(), [16]*(b - a), [0]*(b - a), int(prompt[i]), float(len(reqs))))
    tr = BlockTrace(reqs, 16, 'block', 'prefix', 'generated'); C = compile_trace(tr); cap = int(0.2*C.n_nodes)*16
    st = FastState(P_LECAR, LeCaR(learning_rate=0.05), cap, 16, 'block', None, C.n_nodes)
    st.add_units(*(np.asarray(x) for x in (C.parent, C.size, C.typ, C.depth, C.pos)))
    w0 = st.qd.shape[1]; st.run(*_flat(C))
    assert st.qd.shape[1] > w0
    same(tr, LeCaR(learning_rate=0.05), cap)


@pytest.mark.parametrize('cls', [ARC, WTinyLFU, LeCaR])
def test_unforced_evictions_counted_alike(cls):
    "Victims the policy did not choose (the fallback order) are counted as the reference counts them"
    for seed in range(3):
        tr = random_prefix_trace(seed, n_requests=150, max_new=8, p_root=0.2)
        for cap in (2, 7, 30):
            a, b = cls(), cls()
            simulate(tr, a, capacity_tokens=cap*tr.block_size); simulate(tr, b, capacity_tokens=cap*tr.block_size, compiled=False)
            assert a.unforced == b.unforced


@pytest.mark.parametrize('policy', ['sieve', 's3fifo'])
def test_choosing_policies_choose_every_victim(policy):
    "The compiled loop evicts only victims the policy chose (the reference's `unforced == 0`), and reports the count"
    for seed in range(3):
        tr = random_prefix_trace(seed, n_requests=150, max_new=8, p_root=0.2)
        for cap in (2, 7, 30):
            pol = Sieve() if policy == 'sieve' else S3FIFO()
            simulate(tr, pol, capacity_tokens=cap*tr.block_size)    # compiled
            assert pol.unforced == 0
            same(tr, policy, cap*tr.block_size)
