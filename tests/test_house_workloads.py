"""Reorganizing the workload generators must not change a single generated request: for every bundled workload
config, the requests of seeds 0 and 1 (120 requests each, with and without ground-truth labels) hash to the values
stored before the reorganization (`tests/fixtures/house_workload_hashes.json`). Regenerate only for an intended change:
`python tests/test_house_workloads.py`."""
import hashlib, json
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / 'fixtures' / 'house_workload_hashes.json'
CASES = [(seed, labels) for seed in (0, 1) for labels in (False, True)]


def digest(cfg_path, seed, labels):
    from semantic_kv.workloads import generate
    reqs = generate(str(cfg_path), seed, n_requests=120, labels=labels)
    blob = json.dumps([r.model_dump(mode='json', exclude_defaults=True) for r in reqs], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def current():
    from semantic_kv.workloads import list_workload_configs
    return {f'{Path(c).stem}/seed{s}/labels{int(l)}': digest(c, s, l) for c in sorted(list_workload_configs()) for s, l in CASES}


def test_generated_requests_unchanged():
    before = json.loads(FIXTURE.read_text())
    now = current()
    assert sorted(now) == sorted(before)
    changed = [k for k in before if before[k] != now[k]]
    assert not changed, f"generated requests changed: {changed}"


if __name__ == '__main__':
    FIXTURE.write_text(json.dumps(current(), indent=1, sort_keys=True) + '\n')
    print(f"wrote {FIXTURE}")
