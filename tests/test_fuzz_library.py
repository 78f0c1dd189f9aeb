"""Fuzz suite, library boundary: what the API itself accepts and refuses, without the command line.

`simulate` takes capacities that are non-negative integers and nothing else; `loads` turns any text into a value or
an `InputError` (never another exception); blank means the same to every reader.
"""
import io, json, math
from hypothesis import HealthCheck, example, given, settings, strategies as st
import pytest

from semantic_kv.models import InputError
from semantic_kv.inputs import loads, is_blank, iter_lines, check_number, MAX_INT_DIGITS, dumps
from semantic_kv.sim import simulate, toy_trace

SET = dict(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
TRACE = toy_trace([['A', 'B'], ['A', 'C'], ['A', 'B']])

capacities = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                       st.booleans(), st.none(), st.just('100'), st.just(100.0), st.decimals(allow_nan=True))


@settings(**SET)
@given(capacities, st.sampled_from(['capacity_tokens', 'capacity_blocks']))
@example(float('nan'), 'capacity_tokens')
@example(float('inf'), 'capacity_tokens')
@example('100', 'capacity_tokens')
@example(100.0, 'capacity_tokens')
@example(True, 'capacity_blocks')
@example(-1, 'capacity_blocks')
def test_simulate_capacity_boundary(cap, which):
    ok = type(cap) is int and cap >= 0
    if ok:
        s = simulate(TRACE, 'lru', **{which: cap}).summary
        assert s.capacity_tokens == cap * (TRACE.block_size if which == 'capacity_blocks' else 1)
    else:
        with pytest.raises(InputError, match=which): simulate(TRACE, 'lru', **{which: cap})


def test_simulate_numpy_integers_are_integers():
    import numpy as np
    assert simulate(TRACE, 'lru', capacity_tokens=np.int64(32)).summary.capacity_tokens == 32
    with pytest.raises(InputError): simulate(TRACE, 'lru', capacity_tokens=np.float64('nan'))


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
                           lambda ch: st.lists(ch, max_size=3) | st.dictionaries(st.text(max_size=4), ch, max_size=3), max_leaves=10)


@settings(**SET)
@given(json_values)
def test_loads_round_trips_standard_json(v):
    "Standard JSON within the limits comes back unchanged"
    text = json.dumps(v)
    if any(len(t.lstrip('-')) > MAX_INT_DIGITS for t in __import__('re').findall(r'-?\d+', text) if t.lstrip('-').isdigit()):
        return   # integers beyond the limit are refused (tested below)
    assert loads(text) == v


@settings(**SET)
@given(st.one_of(st.text(max_size=60), st.binary(max_size=60),
                 st.builds(lambda n, a, b: a * n + b * n, st.integers(0, 3000), st.sampled_from(['[', '{"a":']), st.sampled_from([']', '}'])),
                 st.sampled_from(['NaN', '-Infinity', '1e400', '[1e999]', '9' * 5000, '{"a": [NaN]}', '\ufeff{}', '{}\x1f'])))
@example('[' * 100_000 + ']' * 100_000)
@example(b'\xff')
def test_loads_never_raises_anything_else(text):
    "Any input: a value or an InputError naming where; never RecursionError, ValueError, UnicodeDecodeError"
    try: v = loads(text, 'f.json', 7)
    except InputError as e:
        assert str(e).startswith('f.json:7: ')
        return
    json.dumps(v, allow_nan=False)          # what is accepted is standard JSON


@settings(**SET)
@given(st.text(alphabet=st.characters(codec='utf-8', max_codepoint=0x3000, exclude_characters='\n'), max_size=6))
@example('\x1f')
@example('\x0c')
@example('\u00a0')
def test_blank_is_json_whitespace(line):
    "Blank lines are skipped by every reader; a line that is not blank is parsed (and JSON agrees: whitespace alone is no document)"
    got = [t for _, t in iter_lines(io.BytesIO(('{}\n' + line + '\n').encode()), 'x')]
    assert len(got) == (1 if is_blank(line) else 2)
    assert is_blank(line) == all(c in ' \t\r\n' for c in line)


@settings(**SET)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10), st.text(max_size=3), st.booleans(), st.none()))
def test_check_number(v):
    ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
    if ok: assert check_number(v, 'x', lo=0) == v
    else:
        with pytest.raises(InputError, match='^x: '): check_number(v, 'x', lo=0)


@settings(**SET)
@given(json_values | st.floats())
def test_dumps_is_strict(v):
    json.loads(dumps({'v': v}), parse_constant=lambda c: pytest.fail(f"bare {c}"))
