"The Ray executor against a local Ray instance: same numbers as the serial executor."
import pytest
from semantic_kv.sweep import Job, TraceSpec, run_jobs

ray = pytest.importorskip('ray', reason='the ray extra is not installed (pip install -e ".[ray]")')

def test_ray_matches_serial():
    jobs = [Job(TraceSpec.of('semantic_kv.workloads.prefix_tree:prefix_tree_trace', n_requests=300, seed=s),
                [(p, c) for p in ('lru', 'adaptive_semantic', 'belady') for c in (160, 480)], tag=s) for s in range(3)]
    serial = run_jobs(jobs, 'serial', progress=False)
    try: distributed = run_jobs(jobs, 'ray', progress=False)
    finally: ray.shutdown()
    assert [r['summary'] for r in distributed] == [r['summary'] for r in serial]
    assert [r['tag'] for r in distributed] == [r['tag'] for r in serial]
