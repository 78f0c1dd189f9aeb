"The `semantic-kv` command as a user runs it: real subprocesses, exit codes, one-line errors, files written."
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT/'data'

EXE = Path(sys.executable).parent/'semantic-kv'     # the installed console command, as a user runs it

def skv(*args, stdin=None, cwd=None, check=True):
    p = subprocess.run([str(EXE), *map(str, args)], input=stdin, capture_output=True, text=True, cwd=cwd)
    if check and p.returncode != 0: raise AssertionError(f"rc={p.returncode}\n{p.stderr}")
    return p

def one_line_error(p, *needles):
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in p.stderr, p.stderr
    for n in needles: assert n in lines[0], (n, lines[0])

GOOD = json.dumps({"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "CONTEXT:\nDocument: A.\n\nQUESTION: why?"}]})

def test_segment_stdin_and_file(tmp_path):
    out = skv('segment', '--with-text', stdin=GOOD + '\n\n' + GOOD + '\n').stdout.splitlines()
    recs = [json.loads(l) for l in out]
    assert [r['request_index'] for r in recs] == [0, 1]
    segs = recs[0]['segments']
    assert [s['semantic_type'] for s in segs] == ['system', 'retrieved_context', 'user']
    assert set(segs[0]) == {'semantic_type', 'rule', 'token_count', 'content_hash', 'message_index', 'text'}
    f = tmp_path/'r.jsonl'; f.write_text(GOOD + '\n')
    plain = json.loads(skv('segment', f).stdout)
    assert 'text' not in plain['segments'][0] and plain['segments'] == [{k: v for k, v in s.items() if k != 'text'} for s in segs]
    o200 = json.loads(skv('segment', f, '--tokenizer', 'o200k_base').stdout)
    assert [s['token_count'] for s in o200['segments']] != [] and o200['segments'][0]['content_hash'] == segs[0]['content_hash']

@pytest.mark.parametrize('line,needle', [('{not json', 'invalid JSON'), ('{"model": "m"}', 'messages'),
                                         ('{"messages": [{"role": "user", "content": 5}]}', 'messages.0.content'), ('[1, 2]', 'expected a JSON object')])
def test_segment_bad_input(tmp_path, line, needle):
    f = tmp_path/'bad.jsonl'; f.write_text(GOOD + '\n' + line + '\n')
    p = skv('segment', f, check=False)
    one_line_error(p, f'{f}:2:', needle)
    assert len(p.stdout.splitlines()) == 1        # the good line before it was written
    p = skv('segment', f, '--skip-invalid')
    assert len(p.stdout.splitlines()) == 1 and 'skipped 1 invalid line' in p.stderr

def test_segment_unknown_tokenizer_and_missing_file(tmp_path):
    one_line_error(skv('segment', tmp_path/'nope.jsonl', check=False), 'nope.jsonl', 'no such file')
    one_line_error(skv('segment', '--tokenizer', 'gpt9_base', stdin=GOOD, check=False), 'gpt9_base')

def test_summarize_bundled_examples():
    out = skv('summarize').stdout
    assert 'requests' in out and 'retrieved_context' in out and 'tool_schema' in out

def test_replay_example_trace_json(tmp_path):
    p = skv('replay', '--trace', DATA/'traces'/'example_rag_openai.jsonl', '--format', 'openai', '--capacity-tokens', 6000,
            '--calibrate-from-trace', '--policies', 'lru,adaptive_semantic,belady', '--sweep', '0.1,0.5', '--out', tmp_path, '--json')
    doc = json.loads(p.stdout)
    assert set(doc['policies']) == {'lru', 'adaptive_semantic', 'belady'}
    assert {'block_hit_rate', 'token_hit_rate', 'requests'} <= set(doc['policies']['lru'])
    assert {'base_ms', 'ms_per_uncached_token', 'r2', 'mape'} <= set(doc['calibration'])
    assert doc['validation']['correlation'] > 0.99
    out = Path(doc['report_dir'])
    for f in ('replay_results.json', 'replay_metrics.csv', 'replay_summary.md', 'replay_policy_avg_ttft.png', 'replay_tokens_saved.png',
              'replay_hit_rate.png', 'replay_capacity_sweep.svg', 'observed_vs_simulated_ttft.png'): assert (out/f).exists(), f

def test_replay_native_and_mooncake_examples(tmp_path):
    d = json.loads(skv('replay', '--trace', DATA/'traces'/'example_agent_native.jsonl', '--capacity-blocks', 200, '--sweep', 'none',
                       '--out', tmp_path, '--json').stdout)
    assert d['policies']['belady']['block_hits'] >= d['policies']['lru']['block_hits']
    m = json.loads(skv('replay', '--trace', DATA/'traces'/'example_mooncake.jsonl', '--format', 'mooncake', '--block-size', 16,
                       '--capacity-blocks', 300, '--policies', 'lru,belady', '--sweep', 'none', '--out', tmp_path, '--json').stdout)
    assert set(m['policies']) == {'lru', 'belady'}

def test_replay_errors(tmp_path):
    one_line_error(skv('replay', '--trace', tmp_path/'x.jsonl', '--format', 'mooncake', '--capacity-blocks', 3, check=False), 'x.jsonl')
    one_line_error(skv('replay', '--trace', DATA/'traces'/'example_mooncake.jsonl', '--format', 'nope', '--capacity-blocks', 3, check=False), "'nope'")
    one_line_error(skv('replay', '--trace', DATA/'traces'/'example_mooncake.jsonl', '--format', 'mooncake', '--block-size', 16, check=False), 'capacity')
    one_line_error(skv('replay', '--trace', DATA/'traces'/'example_mooncake.jsonl', '--format', 'mooncake', '--block-size', 16,
                       '--capacity-blocks', 3, '--policies', 'lru,magic', check=False), "'magic'")
    bad = tmp_path/'bad.jsonl'; bad.write_text('{"timestamp": 0, "input_length": 10, "hash_ids": [1]}\n{"timestamp": 1}\n')
    one_line_error(skv('replay', '--trace', bad, '--format', 'mooncake', '--capacity-blocks', 3, check=False), f'{bad}:2:', 'missing field')
    ok = json.loads(skv('replay', '--trace', bad, '--format', 'mooncake', '--capacity-blocks', 3, '--skip-invalid', '--sweep', 'none',
                        '--out', tmp_path, '--json').stdout)
    assert ok['requests'] == 1 and ok['skipped_lines'] == 1

from semantic_kv.blocks import find_mooncake
MOONCAKE = find_mooncake()

@pytest.mark.skipif(MOONCAKE is None, reason='Mooncake conversation trace not present; download it from '
                    'https://github.com/kvcache-ai/Mooncake/tree/main/FAST25-release/traces')
def test_replay_mooncake_reference(tmp_path):
    d = json.loads(skv('replay', '--trace', MOONCAKE, '--format', 'mooncake', '--block-size', 512, '--capacity-blocks', 9139,
                       '--policies', 'lru,belady', '--sweep', 'none', '--out', tmp_path, '--json').stdout)
    assert abs(d['policies']['lru']['block_hit_rate'] - 0.1958) < 0.001 and abs(d['policies']['belady']['block_hit_rate'] - 0.3664) < 0.001
    assert d['policies']['lru']['requests'] == 12031

def test_trace_convert_redact_and_no_overwrite(tmp_path):
    src, out = DATA/'traces'/'example_rag_openai.jsonl', tmp_path/'red.jsonl'
    p = skv('trace', 'convert', src, out, '--from', 'openai', '--to', 'native', '--redact', '--salt', 's3cret')
    text = out.read_text()
    assert 'Acme' not in text and '"text"' not in text and 'wrote 120 requests' in p.stderr
    before = out.read_bytes()
    one_line_error(skv('trace', 'convert', src, out, '--from', 'openai', '--to', 'native', '--redact', '--salt', 'x', check=False), 'exists')
    assert out.read_bytes() == before               # nothing already written is lost
    one_line_error(skv('trace', 'convert', src, tmp_path/'a.jsonl', '--from', 'openai', '--redact', check=False), 'salt')
    mc = tmp_path/'m.jsonl'
    skv('trace', 'convert', out, mc, '--from', 'native', '--to', 'mooncake', '--block-size', 16)
    first = json.loads(mc.read_text().splitlines()[0])
    assert set(first) == {'timestamp', 'input_length', 'output_length', 'hash_ids'}

def _tiny_configs(d, names=('low_memory_rag_stress', 'tool_agent_session_reuse')):
    d.mkdir()
    for n in names:
        cfg = json.loads((DATA/'workloads'/f'{n}.json').read_text())
        cfg.update(n_requests=30, capacity_fractions=[0.1, 0.5])
        (d/f'{n}.json').write_text(json.dumps(cfg))
    return d

def test_run_and_run_all(tmp_path):
    cfgs = _tiny_configs(tmp_path/'cfgs')
    p = skv('run', cfgs/'low_memory_rag_stress.json', '--out', tmp_path/'o1', '--executor', 'serial', '--no-progress')
    assert 'estimate' in p.stdout
    (run_dir,) = (tmp_path/'o1').iterdir()
    skv('run-all', '--configs', cfgs, '--out', tmp_path/'o2', '--no-progress', '--workers', '2')
    first = (tmp_path/'o2'/'aggregate_summary.csv').read_bytes()
    p2 = skv('run-all', '--configs', cfgs, '--out', tmp_path/'o2', '--no-progress', '--executor', 'serial')
    assert (tmp_path/'o2'/'aggregate_summary.csv').read_bytes() == first          # the earlier aggregate is kept
    assert (tmp_path/'o2'/'aggregate_summary_2.csv').exists() and 'aggregate_summary_2.csv' in p2.stdout
    assert not [x for x in (tmp_path/'o2').iterdir() if x.name.startswith('.')]    # no staging folder left behind
    dirs = sorted(x for x in (tmp_path/'o2').iterdir() if x.is_dir())
    assert len(dirs) == 4                            # two runs, nothing overwritten
    for d in dirs:
        names = {f.name for f in d.iterdir()}
        for stem in ('policy_comparison_avg_ttft', 'policy_comparison_hit_rate', 'tokens_saved_by_policy', 'evictions_by_semantic_type',
                     'adaptive_weights_over_time', 'memory_utilization_over_time', 'capacity_sweep'):
            assert {stem + '.png', stem + '.svg'} <= names, (d, stem)
        assert {'results.json', 'metrics.csv', 'summary.md'} <= names
    import pandas as pd
    agg = pd.read_csv(tmp_path/'o2'/'aggregate_summary.csv')
    assert {'workload', 'policy', 'mean_ttft_ms', 'p95_ttft_ms', 'token_hit_rate', 'tokens_saved', 'evictions',
            'ttft_improvement_vs_lru_pct', 'gap_closed_pct'} <= set(agg.columns)
    assert len(agg) == 2*10 and (tmp_path/'o2'/'aggregate_summary.md').exists()

def test_bad_workload_config(tmp_path):
    bad = tmp_path/'bad.json'
    cfg = json.loads((DATA/'workloads'/'low_memory_rag_stress.json').read_text()); cfg['n_requests'] = -3
    bad.write_text(json.dumps(cfg))
    one_line_error(skv('run', bad, '--out', tmp_path, check=False), 'bad.json', 'n_requests')
    bad.write_text('{"name": "x",\n  oops}')
    one_line_error(skv('run', bad, '--out', tmp_path, check=False), 'bad.json:2')

def test_replay_from_config_file(tmp_path):
    cfg = tmp_path/'replay.json'
    cfg.write_text(json.dumps(dict(trace=str(DATA/'traces'/'example_agent_native.jsonl'), capacity_tokens=4000,
                                   policies=['lru', 'adaptive_semantic', 'belady'], sweep=[0.2])))
    d = json.loads(skv('replay', '--config', cfg, '--out', tmp_path, '--json').stdout)
    assert d['capacity_tokens'] == 4000 and set(d['policies']) == {'lru', 'adaptive_semantic', 'belady'}
    d2 = json.loads(skv('replay', '--config', cfg, '--capacity-tokens', 2000, '--out', tmp_path, '--json').stdout)
    assert d2['capacity_tokens'] == 2000                       # flags override the config
    cfg.write_text(json.dumps(dict(trace='x.jsonl', capacity_tokens=-5)))
    one_line_error(skv('replay', '--config', cfg, check=False), 'replay.json', 'capacity_tokens')
    cfg.write_text(json.dumps(dict(trace='x.jsonl', capacity_tokens=5, colour='blue')))
    one_line_error(skv('replay', '--config', cfg, check=False), 'colour')

def test_replay_json_without_out_writes_nothing(tmp_path):
    "`--json` alone prints the document and writes no files (as `--help` says); skipped lines are counted"
    bad = tmp_path/'t.jsonl'
    bad.write_text('{"timestamp": 0, "input_length": 10, "hash_ids": [1]}\n\x1f\n')
    p = skv('replay', '--trace', bad, '--format', 'mooncake', '--capacity-blocks', 3, '--sweep', 'none', '--json', '--skip-invalid', cwd=tmp_path)
    d = json.loads(p.stdout)
    assert d['report_dir'] is None and d['skipped_lines'] == 1 and 'skipped 1 invalid line' in p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ['t.jsonl']
    p = skv('summarize', bad, '--skip-invalid', check=False)
    assert p.returncode == 0 and 'skipped 2 invalid line' in p.stderr    # Mooncake lines are not chat requests
