"""Fuzz suite, files: hostile files in every format, through the command as a user runs it (in-process `main`).

Each generated file is a list of lines, each either valid, blank (JSON whitespace only) or hostile in one known way.
The oracle follows from the construction: without `--skip-invalid` the command exits 2 with one line naming the file
and the first hostile line; with it, it succeeds, counts exactly the hostile lines as skipped, and reads every valid
one. Never a traceback, never a hang (per-case time limit), never a file written when it fails.
"""
import contextlib, io, json, shutil, signal, sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from semantic_kv.cli import main
from semantic_kv.inputs import is_blank

FAST = dict(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
LIMIT_S = 30     # per case: far above a normal case (well under a second), far below "hangs"


@contextlib.contextmanager
def time_limit(seconds=LIMIT_S):
    "Fail the case (TimeoutError) if it runs longer than `seconds`"
    def boom(*_): raise TimeoutError(f"case ran longer than {seconds} s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try: yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0); signal.signal(signal.SIGALRM, old)


def run(*argv, stdin=None):
    "`semantic-kv argv` in-process: (exit code, stdout, stderr)"
    out, err = io.StringIO(), io.StringIO()
    old_in = sys.stdin
    if stdin is not None: sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding='utf-8')
    try:
        with time_limit(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try: rc = main([str(a) for a in argv])
            except SystemExit as e: rc = e.code
    finally: sys.stdin = old_in
    return rc, out.getvalue(), err.getvalue()


def assert_located(rc, err, where):
    "Exit 2 with exactly one line, `semantic-kv: error: <where>...`, and no traceback"
    assert rc == 2, (rc, err)
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"semantic-kv: error: {where}"), (where, err)


def strict_json(text):
    "Parse JSON refusing NaN / Infinity (what strict parsers elsewhere do)"
    def no(c): raise AssertionError(f"non-standard JSON constant {c} in output")
    return json.loads(text, parse_constant=no)


# ---------------------------------------------------------------- the formats: a valid line, and where hostile values go

NATIVE = {'format_version': 'semantic-kv-trace/1', 'request_id': 'a', 'timestamp_ms': 5.0, 'observed_ttft_ms': 3.0,
          'segments': [{'semantic_type': 'system', 'rule': 'r', 'token_count': 40, 'content_hash': '0123456789abcdef', 'message_index': 0}]}
OPENAI = {'request': {'model': 'm', 'messages': [{'role': 'user', 'content': 'hello there, how are you today?'}]},
          'timestamp_ms': 5, 'observed_ttft_ms': 1.5}
REQUEST = {'model': 'm', 'timestamp_ms': 5, 'messages': [{'role': 'system', 'content': 'You are terse.'}, {'role': 'user', 'content': 'Why?'}]}
MOONCAKE = {'timestamp': 0, 'input_length': 20, 'output_length': 3, 'hash_ids': [0, 1]}

VALID = {'native': NATIVE, 'openai': OPENAI, 'request': REQUEST, 'mooncake': MOONCAKE}
# numeric fields where a hostile number must be refused (every one of these is typed: a number of a bounded kind)
NUMERIC = {'native': ['timestamp_ms', 'observed_ttft_ms'], 'openai': ['timestamp_ms', 'observed_ttft_ms'],
           'request': ['timestamp_ms'], 'mooncake': ['timestamp', 'input_length']}

def _with(fmt, field, raw):
    "The valid line of `fmt` with `field` set to the raw JSON text `raw`"
    marker = '"__HOSTILE__"'
    return json.dumps({**VALID[fmt], field: '__HOSTILE__'}).replace(marker, raw)

def hostile(fmt):
    "One invalid line of `fmt`, as bytes (each kind is invalid by construction)"
    num = st.sampled_from(NUMERIC[fmt])
    kinds = [
        st.builds(lambda f, c: _with(fmt, f, c).encode(), num, st.sampled_from(['NaN', 'Infinity', '-Infinity', '1e400', '-1e999'])),
        st.builds(lambda f, n: _with(fmt, f, '9' * n).encode(), num, st.sampled_from([41, 400, 5000])),       # huge integers
        st.builds(lambda f, n: _with(fmt, f, '[' * n + ']' * n).encode(), num, st.sampled_from([3, 150, 100_000])),  # nesting
        st.builds(lambda k: json.dumps(VALID[fmt]).encode()[:k], st.integers(1, 20)),                      # truncated
        st.builds(lambda b, k: (json.dumps(VALID[fmt])[:k].encode() + b + json.dumps(VALID[fmt])[k:].encode()),
                  st.sampled_from([b'\xff', b'\xc3', b'\xed\xa0\x80', b'\xf8\x88\x80\x80\x80']), st.integers(1, 10)),  # not UTF-8
        st.sampled_from([b'\x1f', b'\x0c', b'\x0b', b'\xc2\xa0', b'\xef\xbb\xbf{}', b'[]', b'null', b'"text"']),  # not blank, not a record
    ]
    if fmt == 'native':
        kinds.append(st.sampled_from([10**12, 2_000_001, -1]).map(lambda n: json.dumps(
            {**NATIVE, 'segments': [{**NATIVE['segments'][0], 'token_count': n}]}).encode()))
    if fmt == 'mooncake':
        kinds.append(st.sampled_from([2**64, 2**64 + 1, 2**70]).map(lambda h: json.dumps({**MOONCAKE, 'hash_ids': [0, h]}).encode()))
        kinds.append(st.just(json.dumps({**MOONCAKE, 'hash_ids': [1, 0]}).encode()))     # conflicts with [0, 1]: not a prefix tree
    return st.one_of(kinds)

BLANK = st.sampled_from([b'', b' ', b'\t', b' \t \r'])

def files(fmt):
    "(lines as bytes, kinds: 'ok' | 'blank' | 'bad'); at least one valid line first, so a valid file is possible"
    line = st.one_of(st.just(('ok', json.dumps(VALID[fmt]).encode())), BLANK.map(lambda b: ('blank', b)),
                     hostile(fmt).map(lambda b: ('bad', b)))
    return st.tuples(st.booleans(), st.lists(line, min_size=0, max_size=5)).map(
        lambda t: [('ok', (b'\xef\xbb\xbf' if t[0] else b'') + json.dumps(VALID[fmt]).encode())] + t[1])


def write(path, lines):
    path.write_bytes(b'\n'.join(b for _, b in lines) + b'\n')
    return path


def expectations(lines):
    assert all(k == 'blank' or not is_blank(b) for k, b in lines)   # the construction agrees with the readers' definition
    bad = [i for i, (k, _) in enumerate(lines, 1) if k == 'bad']
    return sum(k == 'ok' for k, _ in lines), len(bad), (bad[0] if bad else None)


# ---------------------------------------------------------------- replay: native, openai and mooncake traces

REPLAY = {'native': [], 'openai': [], 'mooncake': ['--block-size', 16]}

@pytest.mark.parametrize('fmt', ['native', 'openai', 'mooncake'])
def test_fuzz_replay_trace_files(tmp_path_factory, fmt):
    d = tmp_path_factory.mktemp(f'fz-{fmt}')

    @settings(**FAST)
    @given(files(fmt))
    @example([('ok', json.dumps(VALID[fmt]).encode()), ('bad', b'\x1f')])
    @example([('ok', b'\xef\xbb\xbf' + json.dumps(VALID[fmt]).encode()), ('bad', b'\xef\xbb\xbf' + json.dumps(VALID[fmt]).encode())])
    @example([('ok', json.dumps(VALID[fmt]).encode()), ('bad', _with(fmt, NUMERIC[fmt][0], '[' * 100_000 + ']' * 100_000).encode())])
    def case(lines):
        p = write(d/'t.jsonl', lines)
        n_ok, n_bad, first = expectations(lines)
        out = d/'out'
        shutil.rmtree(out, ignore_errors=True)
        base = ['replay', '--trace', p, '--format', fmt, *REPLAY[fmt], '--capacity-tokens', 64, '--policies', 'lru,belady',
                '--sweep', 'none', '--json']
        rc, so, se = run(*base, '--out', out)
        if n_bad:
            assert_located(rc, se, f"{p}:{first}: ")
            assert not out.exists() or not any(out.iterdir())                 # refused: nothing written
        else:
            assert rc == 0, se
            doc = strict_json(so)
            assert doc['requests'] == n_ok and doc['skipped_lines'] == 0 and Path(doc['report_dir']).parent == out
        rc, so, se = run(*base, '--skip-invalid')                               # --json without --out: no files
        assert rc == 0, se
        doc = strict_json(so)
        assert (doc['requests'], doc['skipped_lines'], doc['report_dir']) == (n_ok, n_bad, None)
        assert (f"skipped {n_bad} invalid line(s)" in se) == bool(n_bad)
        assert sorted(x.name for x in d.iterdir()) in (['t.jsonl'], ['out', 't.jsonl'])
    case()


# ---------------------------------------------------------------- segment and summarize: request files

def test_fuzz_request_files(tmp_path):
    @settings(**FAST)
    @given(files('request'))
    @example([('ok', json.dumps(REQUEST).encode()), ('bad', b'\x1f')])
    def case(lines):
        p = write(tmp_path/'r.jsonl', lines)
        n_ok, n_bad, first = expectations(lines)
        for cmd in (['segment', p], ['summarize', p]):
            rc, so, se = run(*cmd)
            if n_bad: assert_located(rc, se, f"{p}:{first}: ")
            else: assert rc == 0, se
            rc, so, se = run(*cmd, '--skip-invalid')
            assert rc == 0, se
            assert (f"skipped {n_bad} invalid line(s)" in se) == bool(n_bad)
            if cmd[0] == 'segment': assert [strict_json(l)['request_index'] for l in so.splitlines()] == \
                [i for i, (k, _) in enumerate([l for l in lines if l[0] != 'blank']) if k == 'ok']
            else: assert so.startswith(f"{n_ok} requests")
        # the same bytes on stdin
        rc, so, se = run('segment', '--skip-invalid', stdin=p.read_bytes())
        assert rc == 0 and len(so.splitlines()) == n_ok, se
    case()


# ---------------------------------------------------------------- whole-file formats: JSON container, CSV, configs

def test_fuzz_json_container(tmp_path):
    rec = {k: v for k, v in NATIVE.items() if k != 'format_version'}
    @settings(**FAST)
    @given(st.lists(st.one_of(st.just(json.dumps(rec)), st.sampled_from(['5', 'null', '"x"', '[]']),
                              st.sampled_from(['NaN', '1e400', '9' * 5000, '[' * 150 + ']' * 150]).map(lambda v: _with('native', 'observed_ttft_ms', v))),
                    min_size=1, max_size=4))
    def case(items):
        p = tmp_path/'t.json'
        p.write_text('{"requests": [' + ', '.join(items) + ']}')
        rc, so, se = run('replay', '--trace', p, '--format', 'json', '--capacity-tokens', 64, '--policies', 'lru', '--sweep', 'none', '--json')
        good = [i for i, x in enumerate(items) if x == json.dumps(rec)]
        if len(good) == len(items): assert rc == 0 and strict_json(so)['requests'] == len(items), se
        else:
            assert rc == 2 and 'Traceback' not in se and len(se.strip().splitlines()) == 1, se
            assert se.startswith(f"semantic-kv: error: {p}: "), se
            hostile_num = [i for i, x in enumerate(items) if any(c in x for c in ('NaN', '1e400', '9' * 50, '[' * 150))]
            first = hostile_num[0] if hostile_num else min(i for i in range(len(items)) if i not in good)
            assert f"requests[{first}]" in se, se     # hostile numbers are refused by the parser, non-objects by the reader
    case()


def test_fuzz_csv_cells(tmp_path):
    seg = json.dumps(NATIVE['segments']).replace('"', '""')
    @settings(**FAST)
    @given(st.lists(st.one_of(st.just(('ok', f'r1,5.0,"{seg}"'.encode())),
                              st.sampled_from([b'r2,NaN,"' + seg.encode() + b'"', b'r3,1e400,"[]"', b'r4,5,"[[[[[[' + b'[' * 200 + b'"',
                                               b'r5,5,\xff\xfe', b'r6,5,"[]",extra', b'r7,5,"' + b'9' * 5000 + b'"']).map(lambda b: ('bad', b)),
                              BLANK.map(lambda b: ('blank', b))), max_size=4))
    def case(rows):
        rows = [('ok', f'r0,1.0,"{seg}"'.encode())] + rows
        p = tmp_path/'t.csv'
        p.write_bytes(b'request_id,timestamp_ms,segments\n' + b'\n'.join(b for _, b in rows) + b'\n')
        n_ok = sum(k == 'ok' for k, _ in rows); bad = [i for i, (k, _) in enumerate(rows, 2) if k == 'bad']
        rc, so, se = run('replay', '--trace', p, '--capacity-tokens', 64, '--policies', 'lru', '--sweep', 'none', '--json', '--skip-invalid')
        if any(b'\xff' in b for k, b in rows): assert_located(rc, se, f"{p}:"); return     # undecodable: the whole CSV is refused
        assert rc == 0, se
        assert (strict_json(so)['requests'], strict_json(so)['skipped_lines']) == (n_ok, len(bad))
        rc, so, se = run('replay', '--trace', p, '--capacity-tokens', 64, '--policies', 'lru', '--sweep', 'none', '--json')
        if bad: assert_located(rc, se, f"{p}:{bad[0]}: ")
        else: assert rc == 0
    case()


CONFIG_HOSTILE = ['NaN', 'Infinity', '1e400', '9' * 5000, '[' * 100_000 + ']' * 100_000, '"100"', '1.5', '-1', 'true', '{}']

@pytest.mark.parametrize('field', ['capacity_tokens', 'block_size', 'sweep', 'latency', 'mode', 'reuse', 'policies', 'name', 'bogus'])
def test_fuzz_replay_config(tmp_path, field):
    trace = Path(__file__).resolve().parent.parent/'data'/'traces'/'example_agent_native.jsonl'
    @settings(**FAST)
    @given(st.sampled_from(CONFIG_HOSTILE + ['[0.5, 2]', '["lru", "magic"]', '"../.."', '{"base_ms": 1, "oops": 2}', '{"base_ms": NaN}']))
    def case(raw):
        cfg = tmp_path/'replay.json'
        base = {'trace': str(trace), 'capacity_tokens': 3000, 'policies': ['lru'], 'sweep': []}
        cfg.write_text(json.dumps({**base, field: '__H__'}).replace('"__H__"', raw))
        rc, so, se = run('replay', '--config', cfg, '--json')
        if rc == 0:   # the value was acceptable for this field: then it is used as given, and the output is strict JSON
            doc = strict_json(so)
            assert field not in ('bogus',) and doc['report_dir'] is None
        else: assert_located(rc, se, f"{cfg}: ")
    case()


@pytest.mark.parametrize('field', ['n_requests', 'turns', 'think_time_s', 'arrival_rate_per_s', 'doc_tokens', 'capacity_tokens', 'name', 'latency'])
def test_fuzz_workload_config(tmp_path, field):
    src = sorted((Path(__file__).resolve().parent.parent/'data'/'workloads').glob('*.json'))[0]
    good = json.loads(src.read_text())
    @settings(**FAST)
    @given(st.sampled_from(CONFIG_HOSTILE + ['[0, 0]', '[1, 1000000000000]', '"../.."', '{"base_ms": Infinity}', '0']))
    def case(raw):
        cfg = tmp_path/'w.json'
        cfg.write_text(json.dumps({**good, field: '__H__'}).replace('"__H__"', raw))
        out = tmp_path/'out'
        rc, so, se = run('run', cfg, '--out', out, '--executor', 'serial', '--seeds', 0, '--policies', 'lru,belady', '--no-progress')
        # '--policies lru,belady' lacks adaptive_semantic: even a valid config is refused before any work
        assert rc == 2 and 'Traceback' not in se and len(se.strip().splitlines()) == 1, se
        assert se.startswith(f"semantic-kv: error: {cfg}: ") or '--policies' in se, se
        assert not out.exists()
    case()


def test_deeply_nested_tool_arguments_are_counted(tmp_path):
    p = tmp_path/'r.jsonl'
    p.write_text(json.dumps({'messages': [{'role': 'user', 'content': '[' * 5000 + ']' * 5000},      # message text: counted
                                          {'role': 'assistant', 'content': None,
                                           'tool_calls': [{'function': {'name': 'f', 'arguments': '[' * 5000 + ']' * 5000}}]}]}) + '\n')
    from semantic_kv.segment import read_segmented
    assert read_segmented(p)[0].prompt_tokens > 0
