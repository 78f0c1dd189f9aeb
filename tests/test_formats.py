"""Other tools' formats through the command line: every reader and writer round-trips a file in that tool's shape.

The sample files in data/formats/ were written from each tool's published shape:
- sharegpt.json: ShareGPT_V3_unfiltered_cleaned_split.json as `vllm bench` and SGLang `bench_serving` load it
  (a JSON list of {"id", "conversations": [{"from": "human"|"gpt"|"system", "value"}]});
- openai_batch_input.jsonl / openai_batch_output.jsonl: the OpenAI Batch API guide's input line
  {"custom_id", "method", "url", "body"} and output line {"id", "custom_id", "response": {"status_code", "request_id",
  "body": chat.completion}, "error"};
- openai_response_log.jsonl: a chat.completion response's `usage` with `prompt_tokens_details.cached_tokens`
  (OpenAI API reference; vLLM and SGLang return the same shape), logged next to its request;
- vllm_bench_result.json: `vllm bench serve --save-result --save-detailed` (vllm/benchmarks/serve.py result dict:
  aggregates such as mean_ttft_ms, plus input_lens, output_lens, ttfts in seconds, itls, generated_texts, errors);
- sglang_bench_output.jsonl: `python -m sglang.bench_serving --output-file F --output-details`
  (python/sglang/bench_serving.py appends one result dict per run, same per-request lists);
- mooncake_aiperf.jsonl: the example of AIPerf's trace-replay guide (Dynamo's benchmark tool): the four FAST'25 keys,
  plus its optional session_id.
libCacheSim files are read back by libCacheSim's own TraceReader.
"""
import json, subprocess, sys
from pathlib import Path
import pytest
from semantic_kv.cli import main
from semantic_kv.traces import read_requests, native_schema, load_block_trace

D = Path(__file__).resolve().parents[1]/'data'/'formats'

def run(*args):
    return main([str(a) for a in args])

@pytest.mark.parametrize('fmt,name,n', [('sharegpt', 'sharegpt.json', 4), ('openai-batch', 'openai_batch_input.jsonl', 3),
                                        ('openai-batch', 'openai_batch_output.jsonl', 3), ('openai', 'openai_response_log.jsonl', 3),
                                        ('vllm-bench', 'vllm_bench_result.json', 7), ('sglang-bench', 'sglang_bench_output.jsonl', 12),
                                        ('mooncake', 'mooncake_aiperf.jsonl', 3)])
def test_convert_to_native_and_back(tmp_path, fmt, name, n, capsys):
    out = tmp_path/'t.jsonl'
    assert run('trace', 'convert', D/name, out, '--from', fmt, '--block-size', 512) == 0
    back = list(read_requests(out))
    assert len(back) == n
    assert back == list(read_requests(D/name, fmt, block_size=512))   # the native copy holds everything the reader gave

def test_sharegpt_sessions():
    rs = list(read_requests(D/'sharegpt.json', 'sharegpt'))
    assert [r.session_id for r in rs] == ['QWJhYvA_0', 'QWJhYvA_0', 'i6IyJda_0', 'A5AbcES_0']
    a, b = rs[0], rs[1]
    assert b.segments[:len(a.segments)] == a.segments and b.prompt_tokens > a.prompt_tokens   # turn 2 extends turn 1
    assert all(r.output_tokens for r in rs)

def test_response_log_keeps_cached_tokens():
    rs = list(read_requests(D/'openai_response_log.jsonl', 'openai'))
    log = [json.loads(l) for l in (D/'openai_response_log.jsonl').read_text().splitlines()]
    for r, o in zip(rs, log):
        u = o['response']['usage']
        assert r.observed_cached_tokens == u['prompt_tokens_details']['cached_tokens']
        assert r.observed_prefill_tokens == u['prompt_tokens'] - u['prompt_tokens_details']['cached_tokens']
        assert r.output_tokens == u['completion_tokens']

def test_openai_batch_output_usage():
    rs = list(read_requests(D/'openai_batch_output.jsonl', 'openai-batch'))
    assert [(r.request_id, r.prompt_tokens, r.output_tokens, r.observed_cached_tokens) for r in rs] == \
           [('request-1', 31, 40, 0), ('request-2', 33, 52, 0), ('request-3', 32, 35, 0)]   # the failed 4th line observed nothing

def test_bench_results_calibrate():
    "vllm-bench and sglang-bench files feed calibration (the samples' TTFT is linear in prompt length)"
    from semantic_kv.calibrate import calibrate
    c = calibrate(list(read_requests(D/'vllm_bench_result.json', 'vllm-bench')), holdout=0, n_boot=20)
    assert abs(c.base_ms - 30) < 0.5 and abs(c.ms_per_uncached_token - 0.08) < 0.001
    rs = list(read_requests(D/'sglang_bench_output.jsonl', 'sglang-bench'))
    assert len({r.request_id.split('/')[0] for r in rs}) == 2     # both runs of the file
    c = calibrate(rs, holdout=0, n_boot=20)
    assert abs(c.ms_per_uncached_token - 0.06) < 0.001

def test_mooncake_session_id():
    rs = list(read_requests(D/'mooncake_aiperf.jsonl', 'mooncake'))
    assert [r.session_id for r in rs] == ['s1', 's2', 's1'] and [r.prompt_tokens for r in rs] == [655, 672, 655]

def test_oraclegeneral_read_by_libcachesim(tmp_path):
    lcs = pytest.importorskip('libcachesim')
    src = Path(__file__).resolve().parents[1]/'data'/'traces'/'example_mooncake.jsonl'
    out = tmp_path/'t.oracleGeneral'
    assert run('trace', 'convert', src, out, '--from', 'mooncake', '--to', 'oraclegeneral', '--block-size', 16) == 0
    t = load_block_trace(src, 'mooncake', 16)
    want = [(k, s) for r in t.requests for k, s in zip(reversed(r.keys), reversed(r.sizes))]
    reqs = list(lcs.TraceReader(str(out), lcs.TraceType.ORACLE_GENERAL_TRACE))
    assert [(q.obj_id, q.obj_size) for q in reqs] == want
    nxt = {}                                        # next_access_vtime: the index of the next access of the same block
    for i, (k, _) in enumerate(want): nxt.setdefault(k, []).append(i)
    exp = [-1] * len(want)
    for idx in nxt.values():
        for a, b in zip(idx, idx[1:]): exp[a] = b
    assert [q.next_access_vtime for q in reqs] == [2**63 - 1 if e == -1 else e for e in exp]   # libCacheSim reads -1 as 'never' (INT64_MAX)
    csvp = tmp_path/'t.csv'
    assert run('trace', 'convert', src, csvp, '--from', 'mooncake', '--to', 'lcs-csv', '--block-size', 16) == 0
    p = lcs.ReaderInitParam(has_header=True, has_header_set=True, delimiter=',')
    p.time_field, p.obj_id_field, p.obj_size_field = 1, 2, 3
    assert [(q.obj_id, q.obj_size) for q in lcs.TraceReader(str(csvp), lcs.TraceType.CSV_TRACE, p)] == want

def test_parquet_round_trip(tmp_path):
    pytest.importorskip('pyarrow')
    src = Path(__file__).resolve().parents[1]/'data'/'traces'/'example_agent_native.jsonl'
    assert run('trace', 'convert', src, tmp_path/'t.parquet', '--to', 'parquet') == 0
    assert run('trace', 'convert', tmp_path/'t.parquet', tmp_path/'t.jsonl', '--from', 'parquet') == 0
    assert list(read_requests(tmp_path/'t.jsonl')) == list(read_requests(src))
    assert list(read_requests(tmp_path/'t.parquet')) == list(read_requests(src))   # .parquet is recognised by its suffix

def test_trace_schema(tmp_path, capsys):
    jsonschema = pytest.importorskip('jsonschema')
    assert run('trace', 'schema') == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == native_schema() == json.loads((D/'semantic-kv-trace-1.schema.json').read_text())
    for line in (D.parent/'traces'/'example_agent_native.jsonl').read_text().splitlines()[:20]:
        jsonschema.validate(json.loads(line), schema)

def test_bad_records_are_located(tmp_path, capsys):
    p = tmp_path/'b.jsonl'
    p.write_text('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": 3}}\n')
    assert run('trace', 'convert', p, tmp_path/'o.jsonl', '--from', 'openai-batch') == 2
    assert 'b.jsonl:1: body:' in capsys.readouterr().err
    q = tmp_path/'s.json'; q.write_text('[{"id": "x", "conversations": [{"from": "human", "value": 5}]}]')
    assert run('trace', 'convert', q, tmp_path/'o2.jsonl', '--from', 'sharegpt') == 2
    assert 'conversations[0].value' in capsys.readouterr().err

def test_chat_template_tokens(tmp_path):
    "A model folder built here (no download): counts equal one tokenization of the rendered chat template"
    tokenizers = pytest.importorskip('tokenizers')
    from semantic_kv.formats import load_tokenizer
    words = "<|im_start|> <|im_end|> system user assistant Be brief . How do I reset my password ?".split()
    vocab = {'[UNK]': 0, **{w: i + 1 for i, w in enumerate(dict.fromkeys(words))}}
    t = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token='[UNK]'))
    t.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit(); t.add_special_tokens(['<|im_start|>', '<|im_end|>'])
    m = tmp_path/'model'; m.mkdir(); t.save(str(m/'tokenizer.json'))
    tpl = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
           "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    (m/'tokenizer_config.json').write_text(json.dumps({'chat_template': tpl, 'eos_token': '<|im_end|>'}))
    body = {"model": "m", "messages": [{"role": "system", "content": "Be brief ."}, {"role": "user", "content": "How do I reset my password ?"}]}
    (tmp_path/'in.jsonl').write_text(json.dumps(body) + '\n')
    assert run('trace', 'convert', tmp_path/'in.jsonl', tmp_path/'out.jsonl', '--from', 'openai', '--model', m) == 0
    r, = read_requests(tmp_path/'out.jsonl')
    ct = load_tokenizer(m)
    from semantic_kv.models import parse_request
    assert r.prompt_tokens == len(ct.encode(ct.render(parse_request(body)))) == 2 + 3 + 3 + 7 + 3   # <|im_start|> system | Be brief . | <|im_end|> <|im_start|> user | ... | <|im_end|> <|im_start|> assistant
    assert [s.semantic_type.value for s in r.segments] == ['template', 'system', 'template', 'user', 'template']

def test_tokenizers_missing_is_a_clear_error(tmp_path):
    "Without the optional tokenizers package, --tokenizer file.json names the extra instead of crashing"
    (tmp_path/'in.jsonl').write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    (tmp_path/'tok.json').write_text('{}')
    code = ("import sys; sys.modules['tokenizers'] = None\nfrom semantic_kv.cli import main\n"
            f"sys.exit(main(['trace', 'convert', {str(tmp_path/'in.jsonl')!r}, {str(tmp_path/'o.jsonl')!r}, '--from', 'openai', '--tokenizer', {str(tmp_path/'tok.json')!r}]))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 2 and "semantic_kv[hf]" in r.stderr, r.stderr

def test_python_m():
    r = subprocess.run([sys.executable, '-m', 'semantic_kv', 'trace', 'schema'], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)['title'].startswith('SemanticKV')

def test_segment_tokenizer_file_without_tokenizers(tmp_path):
    "`semantic-kv segment --tokenizer file.json` without the tokenizers package: exit 2 naming the [hf] extra"
    (tmp_path/'in.jsonl').write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    (tmp_path/'tok.json').write_text('{}')
    code = ("import sys; sys.modules['tokenizers'] = None\nfrom semantic_kv.cli import main\n"
            f"sys.exit(main(['segment', {str(tmp_path/'in.jsonl')!r}, '--tokenizer', {str(tmp_path/'tok.json')!r}]))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 2 and "semantic_kv[hf]" in r.stderr, r.stderr

def test_charts_come_with_vega_lite(tmp_path):
    "Every saved chart has its Vega-Lite spec next to it"
    import pandas as pd
    from semantic_kv.reports import save_chart, bar_by_policy
    ch = bar_by_policy(pd.DataFrame(dict(policy=['lru', 'belady'], token_hit_rate=[0.2, 0.4])), 'token_hit_rate', 't')
    paths = save_chart(ch, tmp_path/'c')
    spec = json.loads((tmp_path/'c.vl.json').read_text())
    assert tmp_path/'c.vl.json' in paths and 'vega-lite' in spec['$schema']

def test_replay_json_shape_and_vocabulary(tmp_path, capsys):
    "The replay JSON and results.json share one shape: policies maps name -> metrics named as vllm bench names them"
    src = Path(__file__).resolve().parents[1]/'data'/'traces'/'example_agent_native.jsonl'
    assert run('replay', '--trace', src, '--capacity-tokens', 4000, '--policies', 'lru,belady', '--sweep', 'none', '--json') == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d['policies']) == {'lru', 'belady'}
    assert {'mean_ttft_ms', 'median_ttft_ms', 'p95_ttft_ms', 'p99_ttft_ms', 'token_hit_rate'} <= set(d['policies']['lru'])

def test_calibrate_from_vllm_bench_cli(capsys):
    assert run('replay', '--trace', D/'vllm_bench_result.json', '--format', 'vllm-bench', '--capacity-tokens', 1,
               '--policies', 'lru', '--sweep', 'none', '--calibrate-from-trace', '--json') == 0
    d = json.loads(capsys.readouterr().out)
    assert abs(d['calibration']['ms_per_uncached_token'] - 0.08) < 0.002 and d['requests'] == 7

def test_openai_batch_input_joined_with_output(tmp_path):
    "--batch-output joins the output file's usage to the input requests by custom_id (the OpenAI Batch guide's two files)"
    out = tmp_path/'t.jsonl'
    assert run('trace', 'convert', D/'openai_batch_input.jsonl', out, '--from', 'openai-batch', '--batch-output', D/'openai_batch_output.jsonl') == 0
    rs = list(read_requests(out))
    assert [(r.request_id, r.output_tokens, r.observed_cached_tokens, r.observed_prefill_tokens) for r in rs] == \
           [('request-1', 40, 0, 31), ('request-2', 52, 0, 33), ('request-3', 35, 0, 32)]
    assert all(r.segments[0].semantic_type.value == 'system' for r in rs)    # the prompts, segmented
