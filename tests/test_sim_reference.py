"""The simulator against independent code: a straightforward `OrderedDict` prefix LRU, libCacheSim's C LRU, and
the Mooncake reference figures.

The reference LRU follows vLLM's block manager: per request, the hit is the longest prefix of cached keys; hit
blocks are in use (not evictable); the missed blocks are inserted in prompt order, evicting from the LRU head
(skipping in-use blocks) and rejecting the rest of the request when nothing is evictable; then the request's
cached blocks are re-appended deepest first, so its tail is evicted before its head."""
import math
from collections import OrderedDict

import numpy as np
import pytest

from semantic_kv.blocks import MOONCAKE_URL, find_mooncake, read_mooncake
from semantic_kv.bounds import random_prefix_trace
from semantic_kv.sim import simulate


def ref_lru(trace, capacity_blocks):
    "Per-request prefix hits of an OrderedDict LRU (head = least recent)"
    od, out = OrderedDict(), []
    for r in trace.requests:
        keys = r.keys
        k = 0
        while k < len(keys) and keys[k] in od: k += 1
        in_use = set(keys[:k])
        for key in keys[k:]:
            if len(od) >= capacity_blocks:
                victim = next((x for x in od if x not in in_use), None)
                if victim is None: break
                del od[victim]
            od[key] = None
            in_use.add(key)
        for key in reversed(keys):
            if key in in_use: od.move_to_end(key)
        out.append(k)
    return out


def sim_hits(trace, capacity_blocks, policy='lru'):
    return simulate(trace, policy, capacity_blocks=capacity_blocks).requests.hit_units.tolist()


# ---------------------------------------------------------------------------------------------------------------
# (a) OrderedDict reference, random prefix-tree traces

@pytest.mark.parametrize('seed', range(60))
def test_lru_matches_ordereddict_random(seed):
    rng = np.random.default_rng(seed)
    t = random_prefix_trace(seed, n_requests=int(rng.integers(5, 120)), max_new=int(rng.integers(1, 12)),
                            p_root=float(rng.uniform(0.02, 0.5)))
    for cap in sorted({0, 1, 2, int(rng.integers(1, 8)), int(rng.integers(1, 40)), t.unique_blocks()}):
        assert sim_hits(t, cap) == ref_lru(t, cap), f"seed {seed}, capacity {cap} blocks"


def test_ref_lru_sanity():
    "The reference itself on a hand-checked case: the shared prefix stays, the one-off tails rotate"
    from semantic_kv.sim import toy_trace
    t = toy_trace([['S1', 'S2', 'Q0'], ['S1', 'S2', 'Q1'], ['S1', 'S2', 'Q2'], ['S1', 'X']])
    assert ref_lru(t, 3) == [0, 2, 2, 1]
    assert ref_lru(t, 1) == [0, 1, 1, 1]          # only S1 fits; S2 and the questions are rejected
    assert ref_lru(t, 0) == [0, 0, 0, 0]


# ---------------------------------------------------------------------------------------------------------------
# Mooncake (skipped with a message when the trace is not available)

@pytest.fixture(scope='module')
def mooncake():
    p = find_mooncake()
    if p is None: pytest.skip(f"Mooncake conversation trace not found; download it from {MOONCAKE_URL}")
    return read_mooncake(p)


def mc_capacity(trace, frac): return int(trace.unique_blocks() * frac)


@pytest.mark.parametrize('frac', [0.01, 0.05, 0.20])
def test_lru_matches_ordereddict_mooncake(mooncake, frac):
    cap = mc_capacity(mooncake, frac)
    assert sim_hits(mooncake, cap) == ref_lru(mooncake, cap)


def test_mooncake_reference_figures(mooncake):
    "lru and belady at 5% of the unique blocks (9,139 blocks), as measured in the research notes"
    cap = mc_capacity(mooncake, 0.05)
    assert cap == 9139
    assert simulate(mooncake, 'lru', capacity_blocks=cap).summary.block_hit_rate == pytest.approx(0.1958, abs=0.002)
    assert simulate(mooncake, 'belady', capacity_blocks=cap).summary.block_hit_rate == pytest.approx(0.3664, abs=0.002)


# ---------------------------------------------------------------------------------------------------------------
# libCacheSim's C LRU on the flattened block stream.
#
# A flat LRU differs from a prefix LRU in two intrinsic ways: it counts a cached block after a missing one as a hit
# (a prefix cache cannot use it), and it has no in-use pinning. So the exact check is libCacheSim against a flat
# OrderedDict LRU on the same stream (this validates the oracleGeneral file and the C path); the prefix simulator is
# only asserted close to it, on Mooncake, where these effects are small (0.1958 vs 0.1954 at 5%).

def flatten(trace):
    "Each request's blocks in vLLM's recency order (deepest first, so the root ends most recent)"
    return np.fromiter((k for r in trace.requests for k in reversed(r.keys)), np.uint64, trace.block_accesses())


def write_oracle_general(ids, path):
    "oracleGeneral binary: <uint32 ts, uint64 id, uint32 size, int64 next access (-1 = never)>; returns #objects"
    _, inv = np.unique(ids, return_inverse=True)
    o = np.argsort(inv, kind='stable')
    nxt = np.full(len(ids), -1, np.int64)
    same = inv[o][1:] == inv[o][:-1]
    nxt[o[:-1][same]] = o[1:][same]
    rec = np.zeros(len(ids), dtype=[('ts', '<u4'), ('id', '<u8'), ('sz', '<u4'), ('nx', '<i8')])
    rec['ts'], rec['id'], rec['sz'], rec['nx'] = np.arange(len(ids)), inv.astype(np.uint64) + 1, 1, nxt
    rec.tofile(path)
    return int(inv.max()) + 1 if len(ids) else 0


def lcs_lru_hit_rate(path, n_objects, capacity):
    lcs = pytest.importorskip('libcachesim')
    r = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
    omr, _ = lcs.LRU(cache_size=capacity, hashpower=max(4, int(math.log2(max(2, n_objects))) + 1)).process_trace(r)
    return 1 - omr


def flat_lru_hit_rate(ids, capacity):
    od, h = OrderedDict(), 0
    for o in ids.tolist():
        if o in od: od.move_to_end(o); h += 1
        else:
            od[o] = None
            if len(od) > capacity: od.popitem(last=False)
    return h / max(1, len(ids))


@pytest.mark.parametrize('seed', range(5))
def test_libcachesim_matches_flat_lru_random(seed, tmp_path):
    t = random_prefix_trace(seed, n_requests=400, max_new=8, p_root=0.1)
    ids = flatten(t)
    n = write_oracle_general(ids, tmp_path / 't.og')
    for cap in (5, 20, 80):
        assert lcs_lru_hit_rate(tmp_path / 't.og', n, cap) == pytest.approx(flat_lru_hit_rate(ids, cap), abs=1e-9)


@pytest.mark.parametrize('frac', [0.01, 0.05, 0.20])
def test_lru_close_to_libcachesim_mooncake(mooncake, frac, tmp_path):
    ids = flatten(mooncake)
    n = write_oracle_general(ids, tmp_path / 'mc.og')
    cap = mc_capacity(mooncake, frac)
    ours = simulate(mooncake, 'lru', capacity_blocks=cap).summary.block_hit_rate
    assert ours == pytest.approx(lcs_lru_hit_rate(tmp_path / 'mc.og', n, cap), abs=0.002)
