"Streaming replay of trace files (`semantic_kv.stream`) and the large-trace generator (`tools/make_big_mooncake.py`)."
import json, os, subprocess, sys
from collections import Counter
from pathlib import Path
import numpy as np
import pytest
from semantic_kv.blocks import find_mooncake, MOONCAKE_URL
from semantic_kv.models import InputError
from semantic_kv.sim import simulate
from semantic_kv.stream import stream_trace, trace_chunks, replay_stream
from semantic_kv.traces import load_block_trace

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT/'tools'/'make_big_mooncake.py'

def _mooncake():
    p = find_mooncake()
    if p is None: pytest.skip(f"Mooncake conversation trace not found: put conversation_trace.jsonl in ../shared/data/traces/mooncake/ "
                              f"or set $SEMANTIC_KV_MOONCAKE (download: {MOONCAKE_URL})")
    return p

def _gen(tmp_path, n, *args, name='big'):
    out = tmp_path/f'{name}-{n}.jsonl'
    r = subprocess.run([sys.executable, str(TOOL), str(out), '--accesses', str(n), '--overwrite', *args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)

@pytest.mark.parametrize('policy', ['lru', 'slru', 'gdsf', 'belady'])
def test_real_trace_identity(policy):
    "The streamed replay of the conversation trace equals the whole-file replay, request by request"
    p = _mooncake()
    tr = load_block_trace(p, 'mooncake'); cap = int(tr.unique_blocks()*0.05)*512
    ref = simulate(tr, policy, capacity_tokens=cap)
    for chunk, forget in ((97, 1), (4096, None)):
        kw = dict(forget_after=forget) if policy in ('lru', 'slru') else {}
        r = stream_trace(p, 'mooncake', policy, capacity_tokens=cap, chunk=chunk, per_request=True, block=chunk, **kw)
        assert r['hit_units'].tolist() == ref.requests.hit_units.tolist()
        assert r['hit_tokens_per_request'].tolist() == ref.requests.hit_tokens.tolist()
        assert (r['evictions'], r['rejected']) == (ref.summary.evictions, ref.summary.rejected)

def test_generator_deterministic_and_valid(tmp_path):
    "Same seed, same bytes; another seed, other bytes; the output reads back as a prefix-tree Mooncake trace"
    a, ra = _gen(tmp_path, 20_000, '--builtin')
    b = tmp_path/'again.jsonl'; a.rename(b)
    a, ra2 = _gen(tmp_path, 20_000, '--builtin')
    assert a.read_bytes() == b.read_bytes() and ra['block_accesses'] == ra2['block_accesses'] <= 20_000
    c, _ = _gen(tmp_path, 20_000, '--builtin', '--seed', '1', name='seed1')
    assert c.read_bytes() != a.read_bytes()
    tr = load_block_trace(a, 'mooncake')   # the whole-file reader checks every record and the prefix tree
    assert (len(tr), tr.block_accesses(), tr.unique_blocks()) == (ra['requests'], ra['block_accesses'], ra['unique_blocks'])
    for pol in ('lru', 'belady'):
        s = stream_trace(a, 'mooncake', pol, capacity_blocks=500)
        assert s['block_hits'] == int(simulate(tr, pol, capacity_blocks=500).requests.hit_units.sum())

def test_generator_from_real_statistics(tmp_path):
    "With the real trace as source, requests share prefixes as often as there (the first block is the shared system block)"
    src = _mooncake()
    out, r = _gen(tmp_path, 50_000, '--source', str(src))
    assert r['source'] == str(src)
    tr = load_block_trace(out, 'mooncake'); real = load_block_trace(src, 'mooncake')
    share = lambda t: Counter(q.keys[0] for q in t.requests if q.keys).most_common(1)[0][1]/len(t)   # requests that start with the commonest block
    assert abs(share(tr) - share(real)) < 0.05
    lens = lambda t: np.mean([len(q.keys) for q in t.requests])
    assert 0.8 < lens(tr)/lens(real) < 1.25

def test_generator_refuses(tmp_path):
    out = tmp_path/'x.jsonl'; out.write_text('')
    r = subprocess.run([sys.executable, str(TOOL), str(out), '--accesses', '10'], capture_output=True, text=True)
    assert r.returncode == 2 and 'exists' in r.stderr and 'Traceback' not in r.stderr
    r = subprocess.run([sys.executable, str(TOOL), str(tmp_path/'y.jsonl'), '--accesses', '0'], capture_output=True, text=True)
    assert r.returncode == 2 and '--accesses' in r.stderr

def test_stream_errors(tmp_path):
    with pytest.raises(InputError, match='no such file'): stream_trace(tmp_path/'missing.jsonl', 'mooncake', capacity_blocks=4)
    p = tmp_path/'bad.jsonl'; p.write_text('{"input_length": 10, "hash_ids": [1]}\nnot json\n')
    with pytest.raises(InputError, match=r'bad.jsonl:2: invalid JSON'): stream_trace(p, 'mooncake', capacity_blocks=4)
    with pytest.raises(InputError, match='exactly one'): stream_trace(p, 'mooncake')
    with pytest.raises(InputError, match='chunk'): list(trace_chunks(p, 'mooncake', chunk=0))

def test_memory_bounded_under_lru(tmp_path):
    "A streamed LRU replay forgets what it does not cache: a child's peak memory does not grow with the trace"
    out, r = _gen(tmp_path, 1_500_000, '--builtin')
    probe = ("import json, sys; from semantic_kv.stream import stream_trace\n"
             "r = stream_trace(sys.argv[1], 'mooncake', 'lru', capacity_blocks=2000, forget_after=int(sys.argv[2]))\n"
             "print(json.dumps(r))")
    run = lambda f: json.loads(subprocess.run([sys.executable, '-c', probe, str(out), str(f)], capture_output=True, text=True, check=True,
                                              env={**os.environ, 'PYTHONPATH': str(ROOT)}).stdout)
    held, kept = run(100_000), run(0)
    assert held['block_hits'] == kept['block_hits'] and held['units_forgotten'] > 0
    assert held['units_held'] < 300_000 < kept['unique_blocks']

def test_sweep_job_reads_the_file(tmp_path):
    "A sweep job (`fastsim.StreamJob`, run by processes or Ray) reads the trace file as a stream, not a pickled copy"
    from semantic_kv.fastsim import StreamJob, run_stream_job
    from semantic_kv.models import data_dir
    p = data_dir()/'traces'/'example_mooncake.jsonl'
    job = StreamJob('semantic_kv.stream:trace_chunks', dict(path=str(p), fmt='mooncake', block_size=16, chunk=16), [('lru', 16*50), ('gdsf', 16*50)], 16, 'x')
    for r in run_stream_job(job):
        s = stream_trace(p, 'mooncake', r['policy'], capacity_tokens=16*50, block_size=16)
        assert (r['block_hits'], r['evictions'], r['tag']) == (s['block_hits'], s['evictions'], 'x')
