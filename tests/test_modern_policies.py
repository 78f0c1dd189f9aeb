"""The modern policies (`semantic_kv.modern`) against libCacheSim's implementations, and on the prefix tree.

(a) Flat traces (one block per request, so every unit is a root and no prefix constraint applies): our hit rate next
    to libCacheSim's C implementation of the same algorithm on the same stream (oracleGeneral file, `process_trace`).
    Tolerances, in points of hit rate (100 x difference):
      - SIEVE: 0.05 (same algorithm; equal on every stream tried);
      - ARC: 0.1 (same case analysis as libCacheSim's ARC.c);
      - S3-FIFO: 0.5 (same queues and thresholds; the order of small-queue promotions differs in detail);
      - W-TinyLFU: 1.5 (different count-min sketch hashing and reset; libCacheSim's has no 1% window below 100 objects,
        so it is compared at 100 objects and up);
      - LeCaR: 2.0 (an expert is picked at random on every eviction; the random streams differ).
(b) Prefix trees: every victim is chosen by the policy, never a locked block or one with a cached child, with requests
    in flight on the online core.
"""
import math, random, tempfile
from pathlib import Path

import numpy as np
import pytest

from semantic_kv.blocks import BlockRequest, BlockTrace
from semantic_kv.bounds import random_prefix_trace
from semantic_kv.cache import PrefixCache
from semantic_kv.policy_bench import write_oracle_general
from semantic_kv.sim import simulate
import semantic_kv.modern  # noqa: F401  (registers the policies)

lcs = pytest.importorskip('libcachesim')

TOL = {'sieve': 0.05, 'arc': 0.1, 's3fifo': 0.5, 'wtinylfu': 1.5, 'lecar': 2.0}
LCS_NAME = {'sieve': 'Sieve', 'arc': 'ARC', 's3fifo': 'S3FIFO', 'wtinylfu': 'WTinyLFU', 'lecar': 'LeCaR'}


def stream(seed, n=20000, n_obj=2000, a=0.9, scan=0.2):
    "Zipf-popular objects with one-off scan objects mixed in"
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, n_obj + 1) ** a; p /= p.sum()
    ids = rng.choice(n_obj, n, p=p) + 1
    m = rng.random(n) < scan
    ids[m] = 10**6 + np.arange(m.sum())
    return ids


def flat_trace(ids):
    return BlockTrace([BlockRequest([int(k)], [16], [8], 16, float(i)) for i, k in enumerate(ids)], 16, 'block', 'prefix', 'flat')


def lcs_hit_rate(ids, algo, cap):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / 't.og'
        n = write_oracle_general(np.asarray(ids, np.uint64), f)
        r = lcs.TraceReader(str(f), lcs.TraceType.ORACLE_GENERAL_TRACE)
        return 1 - getattr(lcs, algo)(cache_size=cap, hashpower=max(4, int(math.log2(n)) + 1)).process_trace(r)[0]


@pytest.fixture(scope='module')
def flat():
    return {s: (stream(s), flat_trace(stream(s))) for s in (0, 1)}


@pytest.mark.parametrize('policy', sorted(TOL))
@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('cap', [100, 400])
def test_matches_libcachesim_on_flat_trace(flat, policy, seed, cap):
    ids, tr = flat[seed]
    ours = simulate(tr, policy, capacity_blocks=cap).summary.block_hit_rate
    theirs = lcs_hit_rate(ids, LCS_NAME[policy], cap)
    assert abs(100 * (ours - theirs)) <= TOL[policy], f"{policy}: ours {ours:.4f}, libCacheSim {theirs:.4f}"


@pytest.mark.parametrize('policy', ['sieve', 'arc', 's3fifo'])
def test_small_cache_flat(flat, policy):
    "The deterministic ones also at a tiny cache (20 objects)"
    ids, tr = flat[0]
    ours = simulate(tr, policy, capacity_blocks=20).summary.block_hit_rate
    assert abs(100 * (ours - lcs_hit_rate(ids, LCS_NAME[policy], 20))) <= TOL[policy]


@pytest.mark.parametrize('policy', sorted(TOL))
def test_prefix_tree_every_victim_chosen(policy):
    from semantic_kv.policies import POLICIES
    for seed in range(3):
        t = random_prefix_trace(seed, n_requests=200, max_new=8, p_root=0.15)
        for cap in (3, 12, 40):
            pol = POLICIES[policy]()
            simulate(t, pol, capacity_blocks=cap, check=True)
            assert pol.unforced == 0


@pytest.mark.parametrize('policy', sorted(TOL))
def test_online_core_with_requests_in_flight(policy):
    "Overlapping requests on PrefixCache: never evict a locked block; invariants hold throughout"
    rng = random.Random(0)
    t = random_prefix_trace(7, n_requests=150, max_new=5, p_root=0.2)
    c = PrefixCache(10 * t.block_size, t.block_size, policy)
    inflight = []
    for r in t.requests:
        locked = {c.keys[n] for h in inflight for n in h.nodes}
        h = c.start(r.keys, r.sizes, r.types)
        assert not (set(h.evicted) & locked)
        inflight.append(h)
        c.check_invariants()
        while inflight and (len(inflight) > 3 or rng.random() < 0.5):
            c.release(inflight.pop(rng.randrange(len(inflight))))
    for h in inflight: c.release(h)
    c.check_invariants()


# ---------------------------------------------------------------------------------------------------------------
# (c) the benchmark command

def test_bench_policies_command(tmp_path, capsys):
    from semantic_kv.cli import main
    rc = main(['bench-policies', '--quick', '--families', 'rag', '--policies', 'lru,arc', '--no-libcachesim',
               '--executor', 'serial', '--out', str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert 'arc' in out and 'worst_vs_lru_pts' in out
    assert (tmp_path / 'results.csv').exists() and (tmp_path / 'leaderboard.md').exists()


def test_bench_policies_bad_input(capsys):
    from semantic_kv.cli import main
    assert main(['bench-policies', '--policies', 'nope']) == 2
    assert "unknown policy 'nope'" in capsys.readouterr().err
    assert main(['bench-policies', '--seeds', 'x']) == 2
