"""Files that are not files, files that are not traces, traces that lie, and flags out of range.

Each case is run as a user runs it: the `semantic-kv` command in a subprocess (exit code 2, the flag, file or line named,
no traceback), or the library reader for record-level checks. Every subprocess has a timeout, so a regression that
blocks (a FIFO opened for reading waits for a writer forever) fails the test instead of hanging the suite.
"""
import json, os, socket, stat, subprocess, sys, warnings
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from semantic_kv.models import InputError, SegmentedRequest, Segment
from semantic_kv.inputs import MAX_LINE_BYTES, iter_lines, check_output_file
from semantic_kv.traces import read_requests, load_block_trace, native_dict, write_requests

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).parent/'semantic-kv'     # the installed console command, as a user runs it
TIMEOUT_S = 120
ENV = {**os.environ, 'PYTHONPATH': str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''), 'PYTHONWARNINGS': 'ignore'}


def cli(*argv, cwd=None):
    "Run `semantic-kv ARGV` as a shell would; a run longer than TIMEOUT_S raises (a hang fails, it does not block CI)"
    p = subprocess.run([str(EXE), *map(str, argv)], capture_output=True, text=True,
                       timeout=TIMEOUT_S, env=ENV, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def refused(rc, err, *named):
    "Exit 2, no traceback, and every piece of `named` (the flag, file, line or field) in the message"
    assert rc == 2, (rc, err)
    assert 'Traceback' not in err, err
    for n in named: assert str(n) in err, (n, err)


def seg(n=40, h='00000000000000aa', t='system'): return dict(semantic_type=t, rule='r', token_count=n, content_hash=h)

def native_trace(path, n=6):
    recs = [dict(request_id=str(i), timestamp_ms=float(i), segments=[seg(), seg(10 + i, f'{i:016x}', 'user')]) for i in range(n)]
    path.write_text(''.join(json.dumps(r) + '\n' for r in recs))
    return path


@pytest.fixture
def d(tmp_path):
    native_trace(tmp_path/'good.jsonl')
    os.mkfifo(tmp_path/'fifo.jsonl')
    return tmp_path


def _unix_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(str(path))
    return s


def _private_device(d):
    "A character device node we may lose: a private copy of /dev/null (root), else /dev/null itself (only root could replace it)"
    if os.geteuid() == 0:
        os.mknod(d/'devnull', 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        return d/'devnull'
    return Path('/dev/null')


# ---------------------------------------------------------------- 1. special files: readers refuse them before opening

READERS = [  # (argv with {IN} for the special file, what the message calls it)
    (['trace', 'convert', '{IN}', '{D}/out.jsonl'], 'expected a file'),
    (['replay', '--trace', '{IN}', '--capacity-tokens', '100', '--json'], 'expected a trace'),
    (['segment', '{IN}'], 'expected a file'),
    (['summarize', '{IN}'], 'expected a file'),
    (['run', '{IN}', '--out', '{D}/o'], 'expected a workload config'),
    (['replay', '--config', '{IN}', '--json'], 'expected a replay config'),
    (['trace', 'convert', '{D}/good.jsonl', '{D}/out.jsonl', '--from', 'openai-batch', '--batch-output', '{IN}'], 'expected a file'),
    (['trace', 'convert', '{D}/good.jsonl', '{D}/out.jsonl', '--from', 'openai', '--tokenizer', '{IN}'], 'expected a tokenizer file'),
]

@pytest.mark.parametrize('argv,what', READERS, ids=[' '.join(a[:2]) + f' #{i}' for i, (a, _) in enumerate(READERS)])
@pytest.mark.parametrize('kind', ['fifo', 'zero-device', 'directory', 'socket'])
def test_reader_refuses_special_files(d, argv, what, kind):
    if kind == 'fifo': src, name = d/'fifo.json', 'a FIFO (named pipe)'; os.mkfifo(src)
    elif kind == 'zero-device': src, name = Path('/dev/zero'), 'a character device'     # reading it would never end
    elif kind == 'directory': src, name = d/'adir.json', 'a directory'; src.mkdir()
    else: src, name = d/'sock.json', 'a socket'; s = _unix_socket(src)
    try: rc, _, err = cli(*[a.replace('{IN}', str(src)).replace('{D}', str(d)) for a in argv])
    finally:
        if kind == 'socket': s.close()
    if kind == 'directory' and '--tokenizer' in argv: refused(rc, err, src, 'a model folder needs tokenizer.json'); return   # a folder is a model
    refused(rc, err, src, f"is {name}")
    if kind != 'directory': assert what in err, err
    assert not (d/'out.jsonl').exists() and not (d/'o').exists()


def test_library_readers_refuse_a_fifo(d):
    "The reader functions themselves, not only the command: each fails at once, naming the file"
    for f in (lambda p: list(read_requests(p)), lambda p: load_block_trace(p), lambda p: list(iter_lines(p)),
              lambda p: list(read_requests(p, 'mooncake')), lambda p: load_block_trace(p, 'mooncake')):
        with pytest.raises(InputError, match='is a FIFO'): f(d/'fifo.jsonl')


# ---------------------------------------------------------------- 1b. writers replace only regular files

WRITERS = [
    ['trace', 'convert', '{D}/good.jsonl', '{OUT}', '--overwrite'],
    ['trace', 'convert', '{D}/good.jsonl', '{OUT}', '--overwrite', '--to', 'oraclegeneral'],
    ['trace', 'convert', '{D}/good.jsonl', '{OUT}', '--overwrite', '--to', 'parquet'],
    ['trace', 'schema', '--out', '{OUT}', '--overwrite'],
]

@pytest.mark.parametrize('argv', WRITERS, ids=lambda a: ' '.join(a[:2] + a[5:]))
@pytest.mark.parametrize('kind', ['fifo', 'device', 'socket'])
def test_writer_never_replaces_a_special_file(d, argv, kind):
    if 'parquet' in argv: pytest.importorskip('pyarrow')
    out = {'fifo': lambda: d/'fifo.jsonl', 'device': lambda: _private_device(d), 'socket': lambda: d/'sock'}[kind]()
    s = _unix_socket(out) if kind == 'socket' else None
    before = os.stat(out).st_mode
    try: rc, _, err = cli(*[a.replace('{OUT}', str(out)).replace('{D}', str(d)) for a in argv])
    finally:
        if s: s.close()
    refused(rc, err, out, 'only a regular file is ever replaced')
    assert os.stat(out).st_mode == before                       # still the FIFO / device / socket
    assert not [p for p in d.iterdir() if p.name.startswith('.')]  # no temp file left


def test_overwrite_dev_null_is_refused_before_any_write():
    "The exact case reported (`trace convert IN /dev/null --overwrite`), checked without writing anything"
    with pytest.raises(InputError, match='/dev/null: output: is a character device: only a regular file is ever replaced'):
        check_output_file('/dev/null', overwrite=True)


def test_writer_still_replaces_a_regular_file(d):
    (d/'out.jsonl').write_text('old\n')
    rc, _, err = cli('trace', 'convert', d/'good.jsonl', d/'out.jsonl', '--overwrite')
    assert rc == 0, err
    assert len(list(read_requests(d/'out.jsonl'))) == 6


# ---------------------------------------------------------------- 2. binary garbage and huge lines

def test_nul_file_is_not_a_trace(d):
    (d/'zeros.jsonl').write_bytes(bytes(1 << 20))
    rc, _, err = cli('trace', 'convert', d/'zeros.jsonl', d/'out.jsonl')
    refused(rc, err, f"{d/'zeros.jsonl'}:1:", 'binary data, not text (NUL byte')
    rc, _, err = cli('trace', 'convert', d/'zeros.jsonl', d/'out.jsonl', '--skip-invalid')
    refused(rc, err, d/'zeros.jsonl', 'not a trace: no request could be read')
    rc, _, err = cli('replay', '--trace', d/'zeros.jsonl', '--capacity-tokens', '100', '--json', '--skip-invalid')
    refused(rc, err, d/'zeros.jsonl', 'not a trace')
    assert not (d/'out.jsonl').exists()


@pytest.mark.parametrize('garbage', [b'\x00\x01\x02\x03' * 50 + b'\n', b'\x89PNG\r\n\x1a\n' + bytes(range(256)), b'\xff\xd8\xff\xe0 garbage',
                                     b'{"segments": [\x00]}\n'])
def test_binary_garbage_names_file_and_line(d, garbage):
    p = d/'bin.jsonl'; p.write_bytes(json.dumps(dict(segments=[seg()])).encode() + b'\n' + garbage)
    with pytest.raises(InputError) as e: list(read_requests(p))
    assert str(e.value).startswith(f"{p}:2: "), e.value


@pytest.mark.parametrize('name', ['big.jsonl', 'big.json'])
def test_huge_line_of_nuls_uses_bounded_memory(d, name):
    "A 1 GB file of NUL bytes, no newline (sparse: no disk used): refused, with memory far below the file's size (it was 2.3 GB)"
    big = d/name
    with open(big, 'wb') as f: f.truncate(1 << 30)
    code = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.stderr.write(p.stderr)")
    p = subprocess.run([sys.executable, '-c', code, str(EXE), 'trace', 'convert', str(big), str(d/'out.jsonl')],
                       capture_output=True, text=True, timeout=TIMEOUT_S, env=ENV)
    rc, rss_kb = map(int, p.stdout.split())
    refused(rc, p.stderr, f"{big}:1:", 'binary data')
    assert rss_kb < 600_000, f"peak RSS {rss_kb/1e3:.0f} MB reading a 1 GB line"


def test_line_longer_than_the_limit(d):
    "A text line longer than MAX_LINE_BYTES: refused by number, and with --skip-invalid skipped without holding it"
    p = d/'long.jsonl'
    good = json.dumps(dict(segments=[seg()])) + '\n'
    with open(p, 'w') as f:
        f.write(good); f.write('{"note": "'); f.write('x' * (MAX_LINE_BYTES + 10)); f.write('"}\n'); f.write(good)
    with pytest.raises(InputError, match=f'{p}:2: line longer than {MAX_LINE_BYTES:,} bytes'): list(read_requests(p))
    rd = read_requests(p, skip_invalid=True)
    assert (len(list(rd)), rd.skipped) == (2, 1)


def test_torn_last_record_is_skipped_but_garbage_is_not(d):
    good = json.dumps(dict(segments=[seg()])) + '\n'
    (d/'torn.jsonl').write_text(good + good[:25])       # a writer killed mid-record
    with warnings.catch_warnings(): warnings.simplefilter('ignore'); assert len(list(read_requests(d/'torn.jsonl'))) == 1
    (d/'junk.jsonl').write_text(good + 'not json at all')
    with pytest.raises(InputError, match=r'junk.jsonl:2: invalid JSON'): list(read_requests(d/'junk.jsonl'))


@settings(max_examples=60)
@given(st.binary(min_size=1, max_size=300))
@example(b'\x00')
@example(b'{"segments": []}\x00\n')
def test_any_bytes_are_a_trace_or_a_located_error(tmp_path_factory, data):
    "Property: arbitrary bytes either read as records or fail with an InputError naming the file; a NUL byte is always refused"
    p = tmp_path_factory.mktemp('b')/'t.jsonl'; p.write_bytes(data)
    try:
        with warnings.catch_warnings(): warnings.simplefilter('ignore'); n = len(list(read_requests(p)))
    except InputError as e:
        assert str(e).startswith(str(p)), e
        return
    assert b'\x00' not in data, n


# ---------------------------------------------------------------- 3. native records that lie

BAD_RECORDS = [   # (record, field named, what the message says)
    (dict(segments=[seg()], timestamp_ms=-5), 'timestamp_ms', 'must be >= 0'),
    (dict(segments=[seg()], timestamp_ms='100'), 'timestamp_ms', 'expected a number'),
    (dict(segments=[seg()], timestamp_ms=True), 'timestamp_ms', 'expected a number'),
    (dict(segments=[seg()], observed_cached_tokens=10**6), 'observed_cached_tokens', "exceeds the prompt's 40 tokens"),
    (dict(segments=[seg()], observed_cached_tokens=41), 'observed_cached_tokens', "exceeds the prompt's 40 tokens"),
    (dict(segments=[seg()], observed_cached_tokens=1_500_000, observed_prefill_tokens=1_000_000), 'observed_cached_tokens + observed_prefill_tokens', 'more than any context holds'),
    (dict(segments=[seg(n='40')]), 'segments[0].token_count', 'expected an integer'),
    (dict(segments=[seg(n=True)]), 'segments[0].token_count', 'expected an integer'),
    (dict(segments=[seg(n=40.0)]), 'segments[0].token_count', 'expected an integer'),
    (dict(segments=[dict(seg(), message_index=False)]), 'segments[0].message_index', 'expected an integer'),
    (dict(segments=[seg()], output_tokens='7'), 'output_tokens', 'expected an integer'),
    (dict(segments=[seg()], output_tokens=True), 'output_tokens', 'expected an integer'),
    (dict(segments=[seg()], observed_cached_tokens=True), 'observed_cached_tokens', 'expected an integer'),
    (dict(segments=[seg()], observed_prefill_tokens='3'), 'observed_prefill_tokens', 'expected an integer'),
    (dict(segments=[seg()], observed_ttft_ms=False), 'observed_ttft_ms', 'expected a number'),
    (dict(segments=[seg(h='')]), 'segments[0].content_hash', 'must not be empty'),
    (dict(segments=[seg(), seg(h='   ')]), 'segments[1].content_hash', 'must not be empty'),
]

@pytest.mark.parametrize('rec,field,msg', BAD_RECORDS, ids=[f"{f}-{json.dumps(r)[-30:]}" for r, f, _ in BAD_RECORDS])
@pytest.mark.parametrize('container', ['jsonl', 'json'])
def test_native_record_refused_with_file_line_field(tmp_path, rec, field, msg, container):
    good = dict(request_id='ok', timestamp_ms=0.0, segments=[seg()])
    if container == 'jsonl':
        p = tmp_path/'t.jsonl'; p.write_text(json.dumps(good) + '\n' + json.dumps(rec) + '\n'); where = f"{p}:2: {field}: "
    else:
        p = tmp_path/'t.json'; p.write_text(json.dumps(dict(requests=[good, rec]))); where = f"{p}: requests[1]: {field}: "
    with pytest.raises(InputError) as e: list(read_requests(p))
    assert str(e.value).startswith(where) and msg in str(e.value), e.value


def test_native_record_refused_by_the_command(tmp_path):
    p = tmp_path/'t.jsonl'; p.write_text(json.dumps(dict(segments=[seg()], observed_cached_tokens=10**6)) + '\n')
    rc, _, err = cli('replay', '--trace', p, '--capacity-tokens', '100', '--json')
    refused(rc, err, f"{p}:1: observed_cached_tokens: 1,000,000 exceeds the prompt's 40 tokens")


@settings(max_examples=40)
@given(field=st.sampled_from(['output_tokens', 'observed_prefill_tokens', 'observed_cached_tokens', 'token_count']),
       v=st.one_of(st.booleans(), st.text(max_size=5), st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(), max_size=2)))
def test_integer_fields_take_only_integers(field, v):
    "Property: a token count that is not a JSON integer (a bool, a string, a float, a list) is refused with its field named"
    from semantic_kv.traces import parse_native
    rec = dict(segments=[seg(n=v)]) if field == 'token_count' else dict(segments=[seg()], **{field: v})
    with pytest.raises(InputError) as e: parse_native(rec, 'p.jsonl', 1)
    assert str(e.value).startswith(f"p.jsonl:1: {'segments[0].' if field == 'token_count' else ''}{field}"), e.value


def test_backwards_timestamps_are_replayed_in_arrival_order(tmp_path):
    "A proxy writes a record when its request completes: concurrent requests land out of arrival order. Counted, sorted, said."
    recs = [SegmentedRequest(request_id=f"r{t}", timestamp_ms=float(t), segments=[Segment(**seg())]) for t in (0, 30, 10, 20, 40)]
    write_requests(recs, tmp_path/'t.jsonl')
    rd = read_requests(tmp_path/'t.jsonl'); list(rd); assert rd.out_of_order == 2
    with pytest.warns(UserWarning, match='2 request\\(s\\) out of timestamp order: replayed in arrival order'):
        t = load_block_trace(tmp_path/'t.jsonl')
    assert [r.request_id for r in t.requests] == ['r0', 'r10', 'r20', 'r30', 'r40']


def test_what_the_proxy_writes_its_reader_reads(tmp_path):
    "Records made by the proxy's own `make_record` (usage as an OpenAI server reports it) read back without error"
    from semantic_kv.serve.core import make_record, observed_fields, segment_body
    body = dict(model='m', messages=[dict(role='system', content='You are terse.'), dict(role='user', content='Hi there, how are you?')])
    lines = []
    for k, (usage, t) in enumerate([(dict(prompt_tokens=20, completion_tokens=5, prompt_tokens_details=dict(cached_tokens=16)), 1.7e12 + 50),
                                    (dict(prompt_tokens=900, completion_tokens=1, prompt_tokens_details=dict(cached_tokens=880)), 1.7e12),  # another tokenizer, completed later
                                    (dict(prompt_tokens=20, completion_tokens=3), 1.7e12 + 90), (None, 1.7e12 + 95)]):
        sr = segment_body(body, {'x-session-id': 's1'}, redact=True)
        lines.append(json.dumps(make_record(sr, observed_fields(usage, t, 12.5, 40.0), request_id=f"req-{k}", status=200)))
    (tmp_path/'proxy.jsonl').write_text('\n'.join(lines) + '\n')
    got = list(read_requests(tmp_path/'proxy.jsonl'))
    assert [r.observed_cached_tokens for r in got] == [16, 880, None, None]
    with warnings.catch_warnings(): warnings.simplefilter('ignore'); assert len(load_block_trace(tmp_path/'proxy.jsonl')) == 4


# ---------------------------------------------------------------- 4. flags of the non-server commands

def _flag_cases():
    T = '{D}/good.jsonl'
    rep = ['replay', '--trace', T, '--json']
    return [
        (rep + ['--capacity-tokens', '1' * 30], '--capacity-tokens'),
        (rep + ['--capacity-tokens', '-1'], '--capacity-tokens'),
        (rep + ['--capacity-tokens', 'nan'], '--capacity-tokens'),
        (rep + ['--capacity-tokens', '1e400'], '--capacity-tokens'),
        (rep + ['--capacity-blocks', '1' * 30], '--capacity-blocks'),
        (rep + ['--capacity-blocks', '1000000000000000'], 'capacity_blocks: 1,000,000,000,000,000 blocks of 16 tokens'),
        (rep + ['--capacity-tokens', '100', '--block-size', '0'], '--block-size'),
        (rep + ['--capacity-tokens', '100', '--block-size', '9' * 25], '--block-size'),
        (rep + ['--capacity-tokens', '100', '--sweep', 'inf'], '--sweep'),
        (rep + ['--capacity-tokens', '100', '--sweep', '0.5,-1'], '--sweep'),
        (['replay', '--trace', T, '--capacity-tokens', '100', '--out', '/proc/semantic-kv-test'], '--out'),
        (['replay', '--trace', T, '--capacity-tokens', '100', '--out', '{D}/good.jsonl'], '--out'),
        (['trace', 'convert', T, '{D}/o.jsonl', '--block-size', '-3'], '--block-size'),
        (['trace', 'convert', T, '{D}/o.jsonl', '--block-size', 'nan'], '--block-size'),
        (['trace', 'convert', T, '/proc/semantic-kv-test.jsonl'], '/proc/semantic-kv-test.jsonl'),
        (['trace', 'schema', '--out', '/proc/semantic-kv-test.json'], '/proc/semantic-kv-test.json'),
        (['run', 'data/workloads/low_memory_rag_stress.json', '--workers', '0'], '--workers'),
        (['run', 'data/workloads/low_memory_rag_stress.json', '--workers', '1' * 30], '--workers'),
        (['run', 'data/workloads/low_memory_rag_stress.json', '--seeds', '-1'], '--seeds'),
        (['run', 'data/workloads/low_memory_rag_stress.json', '--seeds', '1' * 30], '--seeds'),
        (['run', 'data/workloads/low_memory_rag_stress.json', '--out', '/proc/semantic-kv-test'], '--out'),
        (['run-all', '--workers', '-2'], '--workers'),
        (['run-all', '--seeds', 'nan'], '--seeds'),
        (['run-all', '--out', '/proc/semantic-kv-test'], '--out'),
        (['bench-policies', '--n-requests', '-5'], '--n-requests'),
        (['bench-policies', '--n-requests', '0'], '--n-requests'),
        (['bench-policies', '--n-requests', '1' * 30], '--n-requests'),
        (['bench-policies', '--n-requests', 'inf'], '--n-requests'),
        (['bench-policies', '--seeds', '-1'], '--seeds'),
        (['bench-policies', '--seeds', '1' * 30], '--seeds'),
        (['bench-policies', '--seeds', 'x'], '--seeds'),
        (['bench-policies', '--quick', '--out', '/proc/semantic-kv-test'], '--out'),
        (['bench-policies', '--families', 'nope'], "--families: unknown family 'nope'"),
    ]

@pytest.mark.parametrize('argv,flag', _flag_cases(), ids=lambda x: ' '.join(x) if isinstance(x, list) else x)
def test_flag_out_of_range(d, argv, flag):
    if '/proc/' in ' '.join(argv) and not Path('/proc/self').is_dir(): pytest.skip('no /proc here')
    rc, _, err = cli(*[a.replace('{D}', str(d)) for a in argv], cwd=ROOT)
    refused(rc, err, flag)
    assert not (d/'o.jsonl').exists()
