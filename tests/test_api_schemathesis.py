"""Property-based run of the simulation API from its own OpenAPI schema (schemathesis, in process over ASGI):
over a thousand generated requests, valid and invalid, across every endpoint; no answer may be a server error,
and every 4xx must carry the API's JSON error naming a field. Derandomized by the `ci` hypothesis profile."""
import json
from collections import Counter
import pytest

schemathesis = pytest.importorskip('schemathesis')
from hypothesis import HealthCheck, settings
from semantic_kv.serve.api import make_app, ApiLimits

# Small limits keep each generated request cheap (and exercise the 413 paths); the behaviour is the same.
app = make_app(ApiLimits(max_body_bytes=20_000, max_trace_bytes=20_000, max_trace_requests=50, max_sessions=32,
                         max_capacity_tokens=1_000_000))
schema = schemathesis.openapi.from_asgi('/openapi.json', app)
# A served API starts the process its trace jobs fork from at start-up; the in-process ASGI client runs no start-up,
# so start it here. On a machine whose compile cache is empty, that process and the first trace jobs compile the
# simulator (tens of seconds under load, inside the API's own time budget): the client waits longer than its 10 s default.
from semantic_kv.serve.api import _trace_context
_trace_context()
TIMEOUT_S = 300
CASES, STATUS = Counter(), Counter()

@schema.parametrize()
@settings(max_examples=300, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_server_errors(case):
    r = case.call(timeout=TIMEOUT_S)
    CASES[f"{case.method} {case.path}"] += 1
    STATUS[r.status_code] += 1
    assert r.status_code < 500, (case.method, case.path, r.status_code, r.text[:500])
    if 400 <= r.status_code < 500:
        err = r.json().get('error')
        assert err and err.get('field') and err.get('message'), r.text[:500]

def test_zz_counts():
    "The run above covered every endpoint and at least 1,000 cases (printed for the record)"
    if not CASES: pytest.skip('the schemathesis tests were deselected')
    ops = {f"{m.upper()} {p}" for p, ms in app.openapi()['paths'].items() for m in ms}
    print(f"\nschemathesis: {sum(CASES.values())} cases; by operation {dict(sorted(CASES.items()))}; by status {dict(sorted(STATUS.items()))}")
    documented = {k: v for k, v in CASES.items() if k in ops}
    assert set(documented) == ops, ops - set(documented)
    assert sum(documented.values()) >= 1000, documented
