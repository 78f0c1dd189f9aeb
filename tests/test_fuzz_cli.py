"""Fuzz suite, flags: hostile flag combinations per subcommand, and hostile paths.

Every flag value is drawn with its verdict (acceptable or not). The oracle: the command succeeds exactly when every
value is acceptable, and then its result reflects the flags; otherwise it exits 2 with a one-line message (ours,
naming the flag, file or field; or argparse's usage error for a value of the wrong type), writes nothing, and prints
no traceback. Commands run in-process (fast); a few run as real subprocesses for the exit code a shell sees.
"""
import contextlib, io, json, os, shutil, signal, subprocess, sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st

from semantic_kv.cli import main

ROOT = Path(__file__).resolve().parent.parent
FAST = dict(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
LIMIT_S = 30


@contextlib.contextmanager
def time_limit(seconds=LIMIT_S):
    def boom(*_): raise TimeoutError(f"case ran longer than {seconds} s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try: yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0); signal.signal(signal.SIGALRM, old)


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with time_limit(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code
    return rc, out.getvalue(), err.getvalue()


def refused(rc, err):
    "Exit 2, no traceback; our one-line message, or argparse's usage + one error line"
    assert rc == 2, (rc, err)
    assert 'Traceback' not in err, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith('semantic-kv: error: ') or (lines[0].startswith('usage:') and ': error: ' in lines[-1]), err
    if lines[-1].startswith('semantic-kv: error: '): assert len(lines) == 1, err


def strict_json(text):
    def no(c): raise AssertionError(f"non-standard JSON constant {c} in output")
    return json.loads(text, parse_constant=no)


def tree(d):
    return sorted(str(p.relative_to(d)) for p in Path(d).rglob('*'))


# a small native trace: 6 requests sharing a system prompt
def native_trace(path):
    recs = [{'request_id': str(i), 'timestamp_ms': float(i), 'segments': [
                {'semantic_type': 'system', 'rule': 'r', 'token_count': 40, 'content_hash': '00000000000000aa'},
                {'semantic_type': 'user', 'rule': 'r', 'token_count': 10 + i, 'content_hash': f'{i:016x}'}]} for i in range(6)]
    path.write_text(''.join(json.dumps(r) + '\n' for r in recs))
    return path


def flag(name, *vals):
    "A strategy over (argv fragment, acceptable?) for one flag: absent (acceptable) or one of `vals` = (text, ok)"
    return st.one_of(st.just(([], True)), st.sampled_from([([name, v], ok) for v, ok in vals]))

def flag_values(name, *vals):
    "(acceptable choices, unacceptable choices) of one flag; absent is acceptable"
    return [([], True)] + [([name, v], True) for v, ok in vals if ok], [([name, v], False) for v, ok in vals if not ok]

@st.composite
def some_bad(draw, specs):
    "One choice per flag, with zero (often), one or two unacceptable ones: so both outcomes are well exercised"
    n_bad = draw(st.sampled_from([0, 0, 0, 1, 1, 2]))
    bad = draw(st.sets(st.sampled_from([i for i, (_, b) in enumerate(specs) if b]), min_size=min(n_bad, 1), max_size=n_bad))
    return tuple(draw(st.sampled_from(b if i in bad else g)) for i, (g, b) in enumerate(specs))


# ---------------------------------------------------------------- replay

REPLAY_FLAGS = some_bad([
    flag_values('--format', ('native', True), ('openai', False), ('mooncake', False), ('csv', False), ('nope', False)),
    flag_values('--block-size', ('16', True), ('4', True), ('0', False), ('-1', False), ('1.5', False), ('nan', False), ('99999999', False)),
    flag_values('--sweep', ('0.1,0.5', True), ('none', True), ('', True), ('1', True), ('nan', False), ('inf', False), ('0', False),
         ('1.5', False), ('-0.1', False), ('abc', False), ('0.1;0.2', False)),
    flag_values('--policies', ('lru', True), ('lru,belady', True), ('magic', False), ('', False), (',', False), ('lru,magic', False)),
    flag_values('--mode', ('block', True), ('segment', True), ('bogus', False)),
    flag_values('--reuse', ('prefix', True), ('any', True), ('x', False)),
    flag_values('--name', ('ok', True), ('../..', False), ('..', False), ('.hidden', False), ('a/b', False), ('', False)),
])
CAPACITY = st.one_of(st.sampled_from([(['--capacity-tokens', '0'], True), (['--capacity-tokens', '200'], True), (['--capacity-blocks', '3'], True),
                                      (['--capacity-tokens', '150'], True), (['--capacity-blocks', '1'], True)]),
                     st.sampled_from([(['--capacity-tokens', '-1'], False), (['--capacity-tokens', 'nan'], False), (['--capacity-tokens', '1e3'], False),
                                      (['--capacity-blocks', '-2'], False), (['--capacity-tokens', '5', '--capacity-blocks', '1'], False), ([], False)]))


def test_fuzz_replay_flags(tmp_path):
    trace = native_trace(tmp_path/'t.jsonl')

    @settings(**dict(FAST, max_examples=50))
    @given(REPLAY_FLAGS, CAPACITY, st.sampled_from(['none', 'fresh', 'none', 'fresh', 'file', 'under-file']), st.booleans())
    @example(((['--block-size', '0'], False),) + (([], True),) * 6, (['--capacity-tokens', '200'], True), 'fresh', True)
    @example((([], True),) * 6 + ((['--name', '../..'], False),), (['--capacity-tokens', '0'], True), 'fresh', False)
    def case(flags, cap, out_kind, as_json):
        work = tmp_path/'w'
        shutil.rmtree(work, ignore_errors=True); work.mkdir()
        (work/'afile').write_text('x')
        out = {'none': None, 'fresh': work/'out', 'file': work/'afile', 'under-file': work/'afile'/'sub'}[out_kind]
        if out is None and not as_json: out_kind = 'default'          # the default outputs/traces: not in a test
        assume(out_kind != 'default')
        argv = ['replay', '--trace', trace] + [a for f, _ in flags for a in f] + cap[0] + (['--out', out] if out else []) + (['--json'] if as_json else [])
        ok = all(v for _, v in flags) and cap[1] and out_kind in ('none', 'fresh')
        before = tree(work)
        rc, so, se = run(*argv)
        if not ok:
            refused(rc, se)
            assert tree(work) == before                                  # nothing written, nothing half-written
            return
        assert rc == 0, (argv, se)
        if as_json:
            doc = strict_json(so)
            given_ = {f[0]: f[1] for f, _ in flags if f}
            bs = int(given_.get('--block-size', 16))
            assert doc['block_size'] == bs
            if cap[0][0] == '--capacity-tokens': assert doc['capacity_tokens'] == int(cap[0][1])
            else: assert doc['capacity_tokens'] == int(cap[0][1]) * bs
            if '--policies' in given_: assert set(doc['policies']) == set(given_['--policies'].split(','))
            assert (doc['report_dir'] is None) == (out is None)
        if out is not None:
            made = [p for p in out.iterdir()]
            assert len(made) == 1 and (made[0]/'replay_summary.md').exists() and not made[0].name.startswith('.')
        else: assert tree(work) == before                                # --json alone writes no files
    case()


def test_replay_config_fields_survive_absent_flags(tmp_path):
    "mode and reuse from a config are kept when the flags are not given; a flag given wins"
    trace = native_trace(tmp_path/'t.jsonl')
    cfg = tmp_path/'c.json'
    cfg.write_text(json.dumps({'trace': str(trace), 'capacity_tokens': 100, 'mode': 'segment', 'reuse': 'any', 'policies': ['lru'], 'sweep': []}))
    rc, so, se = run('replay', '--config', cfg, '--json')
    assert rc == 0, se
    assert 'upper_bound' in strict_json(so)                              # segment mode: the PFOO-L bound is reported
    rc, so, se = run('replay', '--config', cfg, '--json', '--mode', 'block', '--reuse', 'prefix', '--capacity-tokens', 0)
    doc = strict_json(so)
    assert rc == 0 and 'upper_bound' not in doc and doc['capacity_tokens'] == 0, se


# ---------------------------------------------------------------- run and run-all: refused before any work

RUN_FLAGS = [
    flag('--seeds', ('0', True), ('0,1', True), ('x', False), ('-1', False), ('nan', False), ('1e3', False), ('', False), (',', False), ('0,0', False)),
    flag('--workers', ('1', True), ('0', False), ('-2', False), ('x', False)),
    flag('--executor', ('serial', True), ('threads', False)),
]
RUN_POLICIES = flag('--policies', ('lru,belady,adaptive_semantic', True), ('lru', False), ('lru,belady', False), ('magic,lru,belady,adaptive_semantic', False),
                    ('', False), ('adaptive_semantic,belady,fifo', False))


def test_fuzz_run_flags(tmp_path):
    cfg = sorted((ROOT/'data'/'workloads').glob('*.json'))[0]

    @settings(**FAST)
    @given(st.tuples(*RUN_FLAGS), RUN_POLICIES, st.sampled_from(['fresh', 'file', 'under-file']),
           st.sampled_from([('good', True), ('missing', False), ('dir', False), ('notjson', False), ('twin-name', True)]))
    def case(flags, pol, out_kind, config):
        work = tmp_path/'w'
        shutil.rmtree(work, ignore_errors=True); work.mkdir()
        (work/'afile').write_text('x')
        out = {'fresh': work/'out', 'file': work/'afile', 'under-file': work/'afile'/'sub'}[out_kind]
        c = {'good': cfg, 'missing': work/'nope.json', 'dir': work, 'notjson': work/'afile', 'twin-name': cfg}[config[0]]
        ok = all(v for _, v in flags) and pol[1] and out_kind == 'fresh' and config[1]
        assume(not ok)                       # a valid combination would run a whole experiment: that is the notebooks' job
        before = tree(work)
        rc, so, se = run('run', c, '--out', out, '--no-progress', *[a for f, _ in flags for a in f], *pol[0])
        refused(rc, se)
        assert tree(work) == before
    case()


def test_fuzz_run_all_configs(tmp_path):
    src = sorted((ROOT/'data'/'workloads').glob('*.json'))
    @settings(**FAST)
    @given(st.sampled_from(['twins', 'empty', 'missing', 'bad-one', 'name-escapes']), st.tuples(*RUN_FLAGS))
    def case(kind, flags):
        work = tmp_path/'w'
        shutil.rmtree(work, ignore_errors=True); (work/'cfgs').mkdir(parents=True)
        if kind == 'twins':
            for k in range(2): shutil.copy(src[0], work/'cfgs'/f'{k}.json')
        if kind == 'bad-one':
            shutil.copy(src[0], work/'cfgs'/'a.json'); (work/'cfgs'/'b.json').write_bytes(b'{"name": "\xff"}')
        if kind == 'name-escapes':
            (work/'cfgs'/'a.json').write_text(src[0].read_text().replace(f'"name": "{src[0].stem}"', '"name": "../../escaped"'))
        cfgs = work/'missing' if kind == 'missing' else work/'cfgs'
        before = tree(work)
        rc, so, se = run('run-all', '--configs', cfgs, '--out', work/'out', '--no-progress', *[a for f, _ in flags for a in f])
        refused(rc, se)
        assert tree(work) == before
        if all(v for _, v in flags):       # then it is the configs that are named
            assert {'twins': 'every workload needs its own name', 'empty': 'no *.json', 'missing': 'no such file',
                    'bad-one': 'b.json:1: not UTF-8', 'name-escapes': 'plain folder name'}[kind] in se, se
    case()


# ---------------------------------------------------------------- trace convert

def test_fuzz_trace_convert(tmp_path):
    trace = native_trace(tmp_path/'t.jsonl')

    @settings(**FAST)
    @given(some_bad([flag_values('--from', ('native', True), ('json', False), ('openai', False), ('x', False)),
                     flag_values('--to', ('native', True), ('json', True), ('csv', True), ('mooncake', True), ('openai', False)),
                     flag_values('--block-size', ('16', True), ('0', False), ('-3', False), ('abc', False)),
                     ([([], True), (['--redact', '--salt', 's'], True)], [(['--redact'], False), (['--salt', 's'], False)])]),
           st.sampled_from(['fresh', 'fresh', 'exists', 'exists-overwrite', 'dir', 'missing-dir', 'same']))
    def case(flags, out_kind):
        frm, to, bs, red = flags
        work = tmp_path/'w'
        shutil.rmtree(work, ignore_errors=True); work.mkdir()
        (work/'old.jsonl').write_text('keep me\n'); (work/'adir').mkdir()
        out = {'fresh': work/'o.out', 'exists': work/'old.jsonl', 'exists-overwrite': work/'old.jsonl', 'dir': work/'adir',
               'missing-dir': work/'nope'/'o.out', 'same': trace}[out_kind]
        extra = ['--overwrite'] if out_kind == 'exists-overwrite' else []
        ok = frm[1] and to[1] and bs[1] and red[1] and out_kind in ('fresh', 'exists-overwrite')
        before, data_before = tree(work), (work/'old.jsonl').read_text()
        rc, so, se = run('trace', 'convert', trace, out, *frm[0], *to[0], *bs[0], *red[0], *extra)
        if not ok:
            refused(rc, se)
            assert tree(work) == before and (work/'old.jsonl').read_text() == data_before
            return
        assert rc == 0 and 'wrote 6 requests' in se, se
        fmt = to[0][1] if to[0] else 'native'
        if fmt != 'mooncake':
            back_fmt = {'native': 'native', 'json': 'json', 'csv': 'csv'}[fmt]
            rc, so, se = run('replay', '--trace', out, '--format', back_fmt, '--capacity-tokens', 100, '--policies', 'lru', '--sweep', 'none', '--json')
            assert rc == 0 and strict_json(so)['requests'] == 6, se
    case()


# ---------------------------------------------------------------- paths for segment and summarize

@pytest.mark.parametrize('cmd', ['segment', 'summarize'])
def test_paths(tmp_path, cmd):
    (tmp_path/'bin.jsonl').write_bytes(b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n')
    cases = {tmp_path/'missing.jsonl': 'no such file', tmp_path: 'is a directory, expected a file',
             tmp_path/'bin.jsonl': 'bin.jsonl:1: not UTF-8 text (byte 0xe9'}
    for p, msg in cases.items():
        rc, so, se = run(cmd, p)
        refused(rc, se)
        assert se.startswith(f"semantic-kv: error: {p}") and msg in se, se
    rc, so, se = run(cmd, tmp_path/'bin.jsonl', '--tokenizer', 'gpt9')
    refused(rc, se)


# ---------------------------------------------------------------- a few real processes: the exit code a shell sees

EXE = Path(sys.executable).parent/'semantic-kv'

@pytest.mark.parametrize('args,needle', [
    (['replay', '--trace', 'data/traces/example_agent_native.jsonl', '--capacity-tokens', '100', '--sweep', '0.1,nan'], '--sweep: expected a finite number'),
    (['summarize', 'no/such/file.jsonl'], 'no/such/file.jsonl: no such file'),
    (['trace', 'convert', 'data/traces/example_agent_native.jsonl', 'data'], 'data: output: is a directory'),
    (['run', 'data/workloads', '--no-progress'], 'data/workloads: is a directory'),
])
def test_subprocess_exit_code(args, needle):
    p = subprocess.run([str(EXE), *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and needle in p.stderr, p.stderr
