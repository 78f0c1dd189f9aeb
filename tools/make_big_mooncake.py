#!/usr/bin/env python
"""Generate a large Mooncake-format trace (JSON Lines) from the statistics of the real conversation trace.

    python tools/make_big_mooncake.py OUT.jsonl [--accesses 100000000] [--seed 0] [--source TRACE]

Model. Every request of the real trace is summarised as one tuple: its number of blocks, `input_length`,
`output_length`, inter-arrival gap, the length `k` of its prefix already seen (the trace is a prefix tree, so that
is its shared prefix) and the reuse distance `d` of that prefix: how many requests earlier the last shared block was
used. Each generated request draws one such tuple at random (with replacement), copies the first `min(k, len)`
hash ids of the generated request `d` places before it (its prefix, so the output stays a prefix tree) and appends
fresh ids for the rest (the first requests, with fewer than `d` before them, copy from the first one). The input
length distribution, the prefix-sharing lengths and their reuse distances are drawn from the real trace;
correlations between successive requests are not kept, and a prefix copied from a shorter request is cut to its
length, so more blocks are new than in the real trace (the generator prints the unique blocks it wrote).

Memory: the tuples of the source trace plus a ring of the last 16,384 generated requests (their hash ids);
output is written chunk by chunk, never held. Deterministic: the same arguments give the same bytes.

Source: `--source`, `$SEMANTIC_KV_MOONCAKE`, or the conversation trace where `semantic_kv.blocks.find_mooncake`
looks (`data/traces/mooncake/`, `../shared/data/traces/mooncake/`). Without one (it says so on stderr), or with
`--builtin`, it uses the quantiles below, measured on the FAST'25 conversation trace and drawn independently (their
joint distribution is lost).
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path
import numpy as np
from numba import njit

BLOCK = 512       # tokens per hash id in the FAST'25 traces
RING = 1 << 14    # generated requests kept for prefix copies (the real trace's longest reuse distance is 10,514)
MAXB = 256        # at most this many blocks per request (the real trace's longest has 247)
# quantiles (0, 5, 10, ..., 100 %) of the conversation trace (12,031 requests), for --builtin
Q = np.linspace(0, 1, 21)
BUILTIN = dict(   # blocks, output_length, shared prefix k, reuse distance d (for k > 0), gap ms
    n=[2, 2, 2, 3, 4, 5, 7, 9, 10, 12, 14, 16, 19, 22, 26, 31, 35, 42, 54, 78, 247],
    out=[1, 10, 24, 46, 100, 156, 213, 256, 291, 322, 350, 375, 399, 423, 447, 472, 504, 543, 597, 698, 2000],
    kfrac=[0.0, 0.018, 0.027, 0.037, 0.05, 0.067, 0.083, 0.111, 0.143, 0.235, 0.333, 0.353, 0.5, 0.5, 0.5, 0.667, 0.793, 0.875, 0.929, 0.964, 1.0],
    d=[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 139, 215, 292, 401, 571, 875, 1441, 10514],
    gap=[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3000, 3003])

def trace_stats(path)->np.ndarray:
    "One row per request of a Mooncake trace: blocks, input_length, output_length, gap ms, shared prefix k, reuse distance d"
    last, rows, prev = {}, [], 0
    with open(path) as f:
        for t, line in enumerate(f):
            o = json.loads(line); h = o['hash_ids']; k = 0
            while k < len(h) and h[k] in last: k += 1
            d = t - last[h[k-1]] if k else 0
            ts = int(o.get('timestamp', 0))
            rows.append((len(h), o['input_length'], o.get('output_length') or 0, max(0, ts - prev), k, min(d, RING - 1))); prev = ts
            for x in h: last[x] = t
    a = np.array(rows, np.int64)
    return a[(a[:, 0] > 0) & (a[:, 0] <= MAXB)]

def builtin_stats(n:int=20000, seed:int=0)->np.ndarray:
    "Tuples drawn independently from the built-in quantiles"
    rng = np.random.default_rng(seed); q = lambda name, dt=np.int64: np.interp(rng.random(n), Q, BUILTIN[name]).round().astype(dt)
    nb = np.clip(q('n'), 1, MAXB); nin = (nb - 1)*BLOCK + rng.integers(1, BLOCK + 1, n)
    k = np.minimum(nb, np.round(np.interp(rng.random(n), Q, BUILTIN['kfrac'])*nb).astype(np.int64)); k = np.maximum(k, 1)
    d = np.clip(q('d'), 1, RING - 1)
    return np.stack([nb, nin, q('out'), q('gap'), k, d], 1)

@njit(cache=False)
def _gen(S, seed, first, ring, rlen, state, R, keys, off, meta):
    "R requests: hash ids into keys/off, (timestamp, input_length, output_length) into meta; state = (next id, request no., time)"
    if first: np.random.seed(seed)
    j = 0
    for r in range(R):
        off[r] = j
        s = S[np.random.randint(0, S.shape[0])]
        nb, k, d, t = s[0], s[4], s[5], state[1]
        d = min(d, t)   # the first requests copy from the oldest one there is
        if k > 0 and d > 0:
            src = (t - d) % ring.shape[0]; k = min(k, rlen[src])
        else: k = 0
        slot = t % ring.shape[0]
        for b in range(k): ring[slot, b] = ring[src, b]   # src != slot: d < ring size
        for b in range(k, nb): ring[slot, b] = state[0]; state[0] += 1
        rlen[slot] = nb
        for b in range(nb): keys[j] = ring[slot, b]; j += 1
        state[2] += s[3]
        meta[r, 0], meta[r, 1], meta[r, 2] = state[2], s[1], s[2]
        state[1] += 1
    off[R] = j
    return j

def generate(out, n_accesses:int=10**8, seed:int=0, stats=None, chunk:int=20000)->dict:
    "Write at most `n_accesses` block accesses (whole requests; at least one) to `out`; returns counts"
    S = np.ascontiguousarray(stats if stats is not None else builtin_stats(seed=seed), np.int64)
    ring, rlen, state = np.zeros((RING, MAXB), np.int64), np.zeros(RING, np.int64), np.zeros(3, np.int64)
    keys, off, meta = np.empty(chunk*MAXB, np.int64), np.empty(chunk + 1, np.int64), np.empty((chunk, 3), np.int64)
    done = reqs = top = 0; first = True
    tmp = Path(str(out) + '.part')
    with open(tmp, 'w') as f:
        while done < n_accesses:
            j = _gen(S, seed, first, ring, rlen, state, chunk, keys, off, meta); first = False
            R, last = chunk, done + j >= n_accesses
            if last: R = max(1, int(np.searchsorted(off[:chunk+1], n_accesses - done, 'right')) - 1); j = int(off[R])   # the rest is dropped
            k, o, m = keys[:j].tolist(), off[:R+1].tolist(), meta[:R].tolist()
            f.write(''.join(f'{{"timestamp": {m[r][0]}, "input_length": {m[r][1]}, "output_length": {m[r][2]}, "hash_ids": [{", ".join(map(str, k[o[r]:o[r+1]]))}]}}\n'
                            for r in range(R)))
            done += j; reqs += R; top = max(top, int(keys[:j].max()) + 1 if j else 0)   # ids are handed out in order
            if last: break
    os.replace(tmp, out)
    return dict(requests=reqs, block_accesses=done, unique_blocks=top)

def main(argv=None)->int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('out', help='output JSON Lines file')
    p.add_argument('--accesses', type=int, default=10**8, help='block accesses to generate (whole requests; default 10^8)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--source', default=None, help='a Mooncake trace to take the statistics from (default: the conversation trace, if found)')
    p.add_argument('--builtin', action='store_true', help='use the built-in quantiles instead of a source trace')
    p.add_argument('--overwrite', action='store_true')
    a = p.parse_args(argv)
    if a.accesses < 1: print("make_big_mooncake: --accesses must be >= 1", file=sys.stderr); return 2
    if Path(a.out).exists() and not a.overwrite: print(f"make_big_mooncake: {a.out} exists (use --overwrite)", file=sys.stderr); return 2
    stats = None
    if not a.builtin:
        src = a.source
        if src is None:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            from semantic_kv.blocks import find_mooncake
            src = find_mooncake()
        if src is None or not Path(src).exists():
            print("make_big_mooncake: no Mooncake trace found (--source, $SEMANTIC_KV_MOONCAKE, data/traces/mooncake/ or "
                  "../shared/data/traces/mooncake/; https://github.com/kvcache-ai/Mooncake/tree/main/FAST25-release/traces): "
                  "using the built-in statistics", file=sys.stderr)
        else: stats = trace_stats(src)
    t0 = time.perf_counter()
    r = generate(a.out, a.accesses, a.seed, stats)
    r.update(seconds=round(time.perf_counter() - t0, 1), source='builtin' if stats is None else str(src))
    print(json.dumps(r))
    return 0

if __name__ == '__main__': sys.exit(main())
