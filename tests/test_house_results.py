"""Refactoring the library must not change results: the aggregate summary of a reduced `run-all` (every bundled
workload and main policy, one seed, 200 requests per workload, serial) equals the figures stored from the simulator
before the refactoring (`tests/fixtures/house_run_all_before.csv`).

The figures also depend on everything upstream of the simulator (workload generators, segmenter, tokenizer). When a
change is *meant* to move results, regenerate the fixture in the same commit: `python tests/test_house_results.py`."""
from pathlib import Path

import pandas as pd
import pytest

FIXTURE = Path(__file__).parent / 'fixtures' / 'house_run_all_before.csv'


def reduced_run_all(out):
    from semantic_kv.experiments import run_all
    return run_all(out, executor='serial', seeds=[0], n_requests=200, progress=False)['aggregate'].reset_index(drop=True)


def test_run_all_aggregate_unchanged(tmp_path):
    before = pd.read_csv(FIXTURE)
    now = reduced_run_all(tmp_path)
    assert list(now.columns) == list(before.columns)
    assert now[['workload', 'policy']].values.tolist() == before[['workload', 'policy']].values.tolist()
    num = [c for c in before.columns if c not in ('workload', 'policy')]
    pd.testing.assert_frame_equal(now[num].astype(float), before[num].astype(float), check_exact=False, rtol=1e-9, atol=1e-9)


if __name__ == '__main__':
    import tempfile
    with tempfile.TemporaryDirectory() as d: reduced_run_all(d).to_csv(FIXTURE, index=False)
    print(f"wrote {FIXTURE}")
