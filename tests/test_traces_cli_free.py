"Trace I/O tests that do not belong in prose: anonymization canaries, and fuzzing of malformed lines."
import json, subprocess, sys
from pathlib import Path
import pytest
from hypothesis import example, given, settings, HealthCheck, strategies as st
from semantic_kv.models import InputError
from semantic_kv.inputs import is_blank
from semantic_kv.traces import read_requests, write_requests, convert_trace, load_block_trace, redact_request, FORMAT_VERSION
from semantic_kv.sim import simulate

CANARY = 'CNRY7q'

def c(field): return f"{CANARY}_{field}_zz"

def canary_lines(n_sessions=3, turns=3):
    "OpenAI wrapper lines with a canary string in every field that can hold one"
    tools = [{'type': 'function', 'function': {'name': c('toolname'), 'description': c('tooldesc'),
              'parameters': {'type': 'object', 'properties': {c('propname'): {'type': 'string', 'description': c('propdesc'), 'enum': [c('enum')]}},
                             'required': [c('propname')]}}}]
    lines = []
    for s in range(n_sessions):
        msgs = [{'role': 'system', 'content': c('system') + ' You help. ' * 30, 'name': c('sysname')},
                {'role': 'developer', 'content': [{'type': 'text', 'text': c('devpart')}, {'type': 'text', 'text': c('devpart2') + ' rules ' * 20}]},
                {'role': 'user', 'content': [{'type': 'text', 'text': c(f'userpart{s}') + ' question ' * 10, 'metadata': {'semantic_type': 'user', 'k': c('partmeta')}}],
                 'name': c('username'), 'metadata': {'x': c('msgmeta')}}]
        for t in range(turns):
            body = {'model': c('model'), 'messages': [dict(m) for m in msgs], 'tools': tools, 'request_id': c(f'bodyreq{s}{t}'),
                    'user': c('bodyuser'), 'temperature': 0.1, 'metadata': {'trace': c('bodymeta')}}
            lines.append({'request': body, 'timestamp_ms': 1000.0*(s*turns + t), 'request_id': c(f'req{s}{t}'),
                          'session_id': c(f'sess{s}'), 'tenant_id': c(f'tenant{s % 2}'), 'cache_salt': c(f'salt{s % 2}'),
                          'observed_ttft_ms': 40.0 + t, 'observed_total_latency_ms': 400.0, 'observed_prefill_tokens': 100 + t,
                          'observed_cached_tokens': 50, 'output_tokens': 20, 'extra_field': c('wrapperextra')})
            msgs += [{'role': 'assistant', 'content': None, 'tool_calls': [{'id': c(f'callid{s}{t}'), 'type': 'function',
                      'function': {'name': c('toolname'), 'arguments': json.dumps({c('argkey'): c(f'argval{s}{t}')})}}]},
                     {'role': 'tool', 'tool_call_id': c(f'callid{s}{t}'), 'name': c('toolmsgname'), 'content': c(f'tooloutput{s}{t}') + ' data ' * 25},
                     {'role': 'assistant', 'content': c(f'answer{s}{t}') + ' answer ' * 15},
                     {'role': 'user', 'content': c(f'followup{s}{t}')}]
    return lines

@pytest.fixture
def canary_file(tmp_path):
    p = tmp_path/'canary_openai.jsonl'
    p.write_text(''.join(json.dumps(l) + '\n' for l in canary_lines()))
    assert p.read_text().count(CANARY) > 50
    return p

@pytest.mark.parametrize('to_fmt,suffix', [('native', 'jsonl'), ('json', 'json'), ('csv', 'csv'), ('mooncake', 'jsonl')])
def test_redaction_drops_every_canary(canary_file, tmp_path, to_fmt, suffix):
    out = tmp_path/f'red.{suffix}'
    st_ = convert_trace(canary_file, out, 'openai', to_fmt, redact=True, salt='pepper')
    assert st_['requests'] == 9 and st_['skipped'] == 0
    data = out.read_bytes()
    assert CANARY.encode() not in data and CANARY.lower().encode() not in data.lower()
    # not even pieces of a canary field name survive
    for frag in ('toolname', 'tooldesc', 'propname', 'argval', 'tenant0', 'tenant1', 'sess0', 'salt0', 'bodyuser', 'wrapperextra', '_zz'):
        assert frag.encode() not in data, frag
    if to_fmt != 'mooncake':
        back = list(read_requests(out))
        assert len(back) == 9 and all(s.text is None for r in back for s in r.segments)
        assert back[0].observed_ttft_ms == 40.0 and back[0].observed_cached_tokens == 50 and back[0].output_tokens == 20

def test_unredacted_keeps_the_canaries(canary_file, tmp_path):
    "Sanity check of the test itself: without redaction the identifiers are there"
    out = tmp_path/'plain.jsonl'
    convert_trace(canary_file, out, 'openai', 'native', with_text=True)
    data = out.read_text()
    for f in ('sess0', 'tenant1', 'model', 'req00', 'system', 'tooloutput00'): assert c(f) in data, f

def _hashes(path):
    out = set()
    for r in read_requests(path):
        out |= {v for v in (r.request_id, r.session_id, r.tenant_id, r.cache_salt, r.model) if v}
        out |= {s.content_hash for s in r.segments}
    return out

def test_same_salt_same_hashes_across_runs_and_processes(canary_file, tmp_path):
    a, b, p = tmp_path/'a.jsonl', tmp_path/'b.jsonl', tmp_path/'p.jsonl'
    convert_trace(canary_file, a, 'openai', 'native', redact=True, salt='pepper')
    convert_trace(canary_file, b, 'openai', 'native', redact=True, salt='pepper')
    code = (f"from semantic_kv.traces import convert_trace; "
            f"convert_trace({str(canary_file)!r}, {str(p)!r}, 'openai', 'native', redact=True, salt='pepper')")
    subprocess.run([sys.executable, '-c', code], check=True, env={'PYTHONHASHSEED': '12345', 'PATH': ''})
    assert a.read_bytes() == b.read_bytes() == p.read_bytes()

def test_different_salts_unlinkable(canary_file, tmp_path):
    a, b = tmp_path/'a.jsonl', tmp_path/'b.jsonl'
    convert_trace(canary_file, a, 'openai', 'native', redact=True, salt='pepper')
    convert_trace(canary_file, b, 'openai', 'native', redact=True, salt='paprika')
    ha, hb = _hashes(a), _hashes(b)
    assert len(ha) > 20 and not ha & hb

@pytest.mark.parametrize('policy', ['lru', 'fifo', 'static_semantic', 'belady'])
def test_redacted_replay_equals_unredacted(canary_file, tmp_path, policy):
    plain, red = tmp_path/'plain.jsonl', tmp_path/'red.jsonl'
    convert_trace(canary_file, plain, 'openai', 'native')
    convert_trace(canary_file, red, 'openai', 'native', redact=True, salt='pepper')
    for bs in (4, 16):
        x = simulate(load_block_trace(plain, block_size=bs), policy, capacity_tokens=600).summary.model_dump(exclude={'trace'})
        y = simulate(load_block_trace(red, block_size=bs), policy, capacity_tokens=600).summary.model_dump(exclude={'trace'})
        assert x == y
    # and equal to replaying the OpenAI log itself (token-id keys) on this trace
    z = simulate(load_block_trace(canary_file, 'openai'), policy, capacity_tokens=600).summary
    assert z.hit_tokens == simulate(load_block_trace(red), policy, capacity_tokens=600).summary.hit_tokens

def test_redact_needs_salt(canary_file, tmp_path):
    with pytest.raises(InputError, match='reversed by guessing'): convert_trace(canary_file, tmp_path/'o.jsonl', 'openai', 'native', redact=True)
    with pytest.raises(InputError, match='only used with --redact'): convert_trace(canary_file, tmp_path/'o.jsonl', 'openai', 'native', salt='x')
    assert not (tmp_path/'o.jsonl').exists()

def test_convert_refuses_to_overwrite(canary_file, tmp_path):
    out = tmp_path/'o.jsonl'; out.write_text('keep me\n')
    with pytest.raises(InputError, match='output file exists'): convert_trace(canary_file, out, 'openai', 'native')
    assert out.read_text() == 'keep me\n'
    convert_trace(canary_file, out, 'openai', 'native', overwrite=True)
    assert out.read_text().startswith('{"format_version": "' + FORMAT_VERSION)

def test_failed_conversion_leaves_nothing(tmp_path):
    inp = tmp_path/'in.jsonl'
    good = json.dumps(canary_lines(1, 1)[0])
    inp.write_text(good + '\n' + good + '\n{"request": {"messages": []}}\n')
    with pytest.raises(InputError, match=r'in\.jsonl:3: request: messages: List should have at least 1 item'):
        convert_trace(inp, tmp_path/'out.jsonl', 'openai', 'native')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in.jsonl']
    st_ = convert_trace(inp, tmp_path/'out.jsonl', 'openai', 'native', skip_invalid=True)
    assert (st_['requests'], st_['skipped']) == (2, 1)

# ---------------------------------------------------------------- bad input, named precisely

def _write(p, text): p.write_text(text); return p

def test_errors_name_file_line_field(tmp_path):
    p = _write(tmp_path/'t.jsonl', '{"segments": []}\n\n{"segments": [{"semantic_type": "user", "token_count": 1}]}\n')
    with pytest.raises(InputError) as e: list(read_requests(p))
    assert str(e.value) == f"{p}:3: segments.0.content_hash: Field required"
    p = _write(tmp_path/'m.jsonl', '{"timestamp": 0, "hash_ids": [1]}\n')
    with pytest.raises(InputError, match=r"m\.jsonl:1: missing field 'input_length'"): list(read_requests(p, 'mooncake'))
    p = _write(tmp_path/'o.jsonl', '{"request": {"model": "m"}}\n')
    with pytest.raises(InputError, match=r'o\.jsonl:1: request: messages: Field required'): list(read_requests(p, 'openai'))
    p = _write(tmp_path/'v.jsonl', '{"format_version": "semantic-kv-trace/9", "segments": []}\n')
    with pytest.raises(InputError, match=r"v\.jsonl:1: format_version: unknown version"): list(read_requests(p))
    with pytest.raises(InputError, match=r"unknown format 'bogusfmt': expected one of native, openai, mooncake"): read_requests(p, 'bogusfmt')
    with pytest.raises(InputError, match=r"unknown format 'x'"): load_block_trace(p, 'x')
    with pytest.raises(InputError, match=r"unknown output format 'openai'"): convert_trace(p, tmp_path/'z', 'native', 'openai')

def test_csv_and_json_errors(tmp_path):
    p = _write(tmp_path/'t.csv', 'request_id,segments\nr1,[]\nr2,"[{""semantic_type"": ""bogus"", ""token_count"": 1, ""content_hash"": ""x""}]"\nr3,[oops\n')
    rd = read_requests(p, skip_invalid=True)
    assert [r.request_id for r in rd] == ['r1'] and rd.skipped == 2
    assert 't.csv:3: segments.0.semantic_type' in rd.errors[0] and 't.csv:4: segments: invalid JSON' in rd.errors[1]
    p = _write(tmp_path/'t.json', '{"requests": [{"segments": []}, 5]}')
    with pytest.raises(InputError, match=r'requests\[1\]: expected a JSON object'): list(read_requests(p))
    p = _write(tmp_path/'u.json', '[{"segments": []},')
    with pytest.raises(InputError, match=r'u\.json:1: invalid JSON'): list(read_requests(p))

# ---------------------------------------------------------------- fuzz: never anything but InputError

_valid = {
    'native': json.dumps({'format_version': FORMAT_VERSION, 'request_id': 'a', 'segments': [
        {'semantic_type': 'system', 'rule': 'r', 'token_count': 5, 'content_hash': '0123456789abcdef', 'message_index': 0}], 'observed_ttft_ms': 3.0}),
    'openai': json.dumps({'request': {'model': 'm', 'messages': [{'role': 'user', 'content': 'hello there'}]}, 'timestamp_ms': 5, 'observed_ttft_ms': 1.5}),
    'mooncake': json.dumps({'timestamp': 0, 'input_length': 20, 'output_length': 3, 'hash_ids': [0, 1]}),
}
_json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=8),
                            lambda ch: st.lists(ch, max_size=3) | st.dictionaries(st.text(max_size=6), ch, max_size=3), max_leaves=8)

def _mutate(fmt):
    base = json.loads(_valid[fmt])
    keys = sorted(base) + ['segments', 'messages', 'hash_ids', 'request', 'x']
    return st.one_of(
        st.text(max_size=40),                                                  # garbage
        st.binary(max_size=40).map(lambda b: b.decode('latin-1')),             # bytes
        st.integers(1, len(_valid[fmt])).map(lambda k: _valid[fmt][:k]),      # truncated line
        st.builds(lambda k, v: json.dumps({**base, k: v}), st.sampled_from(keys), _json_values),   # a field replaced
        st.builds(lambda k: json.dumps({x: y for x, y in base.items() if x != k}), st.sampled_from(sorted(base))),  # a field dropped
        _json_values.map(json.dumps))

@pytest.mark.parametrize('fmt', ['native', 'openai', 'mooncake'])
def test_fuzz_lines(tmp_path_factory, fmt):
    d = tmp_path_factory.mktemp('fuzz')
    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(_mutate(fmt), min_size=1, max_size=4))
    @example(['\x1f'])                   # found by hypothesis: str.strip() calls it blank, JSON does not
    @example(['\x0c', ' \t ', '\u00a0'])
    def run(lines):
        lines = [l.replace('\n', ' ').replace('\r', ' ') for l in lines]
        p = d/'f.jsonl'
        p.write_bytes(('\n'.join([_valid[fmt]] + lines) + '\n').encode('utf-8', 'surrogatepass'))
        try: n_ok = sum(1 for _ in read_requests(p, fmt, block_size=16))
        except InputError as e: assert str(e).startswith(f"{p}:"), str(e)
        rd = read_requests(p, fmt, block_size=16, skip_invalid=True)
        n = sum(1 for _ in rd)
        nonblank = sum(1 for l in [_valid[fmt]] + lines if not is_blank(l))   # the readers' own definition
        assert n >= 1 and n + rd.skipped == nonblank
    run()

def test_fuzz_redaction_keeps_structure():
    "Redaction is deterministic and keeps every number, for arbitrary identifiers"
    from semantic_kv.models import SegmentedRequest, Segment
    @settings(max_examples=50, deadline=None)
    @given(st.text(max_size=10), st.one_of(st.none(), st.text(max_size=10)), st.lists(st.integers(0, 50), min_size=1, max_size=4))
    def run(sid, tenant, counts):
        r = SegmentedRequest(session_id=sid, tenant_id=tenant, segments=[Segment(semantic_type='user', token_count=n, content_hash=f'{i:016x}', text='t') for i, n in enumerate(counts)])
        a, b = redact_request(r, 's'), redact_request(r, 's')
        assert a == b and a.prompt_tokens == r.prompt_tokens and (a.tenant_id is None) == (tenant is None)
        assert [s.token_count for s in a.segments] == counts and all(s.text is None for s in a.segments)
    run()
