"""The servers behave as vLLM's does where an operator looks: the model name (404 for another), `/version`, vLLM's metric
semantics, a start-up line naming the address and an access line per request (off with --disable-uvicorn-access-log),
and the proxy's readiness beside its liveness. Real servers on loopback, the `openai` SDK."""
import os, re, signal, subprocess, sys, time
import httpx, openai, pytest
pytest.importorskip('uvicorn'); pytest.importorskip('aiohttp')
from semantic_kv import __version__
from semantic_kv.serve.core import Server, ServerProcess, free_port, wait_healthy
from semantic_kv.serve.engine import Engine
from semantic_kv.serve.proxy import Proxy, ProxyConfig

MSG = [{'role': 'system', 'content': 'You are a careful assistant for the Acme Cloud platform. ' * 8}, {'role': 'user', 'content': 'How do I rotate a key?'}]

def _metric(text:str, name:str, labels:str='')->float:
    return sum(float(l.rsplit(' ', 1)[1]) for l in text.splitlines() if l.startswith(name) and labels in l and not l.startswith('#'))

def test_served_model_name_version_and_metrics():
    eng = Engine(served_model_name='acme-8b', check_model=True, time_scale=0)
    with Server(eng) as s:
        c = openai.OpenAI(base_url=s.url + '/v1', api_key='none', max_retries=0)
        with pytest.raises(openai.NotFoundError) as e: c.chat.completions.create(model='gpt-4o', messages=MSG, max_tokens=2)
        assert e.value.status_code == 404 and 'The model `gpt-4o` does not exist.' in str(e.value)
        r1 = c.chat.completions.create(model='acme-8b', messages=MSG, max_tokens=2)
        chunks = list(c.chat.completions.create(model='acme-8b', messages=MSG, max_tokens=2, stream=True, stream_options={'include_usage': True}))
        r2 = chunks[-1]
        assert r2.usage.prompt_tokens_details.cached_tokens > 0 and r1.usage.prompt_tokens == r2.usage.prompt_tokens
        assert [m.id for m in c.models.list().data] == ['acme-8b']
        assert httpx.get(s.url + '/version').json() == {'version': __version__}
        m = httpx.get(s.url + '/metrics').text
    assert _metric(m, 'vllm:prompt_tokens_total') == r1.usage.prompt_tokens + r2.usage.prompt_tokens   # every prompt token, cached ones too
    assert _metric(m, 'vllm:prefix_cache_hits_total') == r2.usage.prompt_tokens_details.cached_tokens
    assert _metric(m, 'vllm:request_success_total', 'finished_reason="length"') == 2                   # the 404 is not a success
    assert _metric(m, 'vllm:e2e_request_latency_seconds_count') == 2 and _metric(m, 'vllm:request_queue_time_seconds_count') == 2

def _serve(args:list, port:int, requests)->str:
    "Run `semantic-kv ARGS --port P`, send `requests(url)`, stop it, return what it printed"
    p = subprocess.Popen([sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())', *args, '--port', str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f'http://127.0.0.1:{port}'
        wait_healthy(url, 60, p); requests(url)
    finally:
        p.send_signal(signal.SIGINT)
        out = p.communicate(timeout=30)[0]
    return out

CHAT = lambda url: httpx.post(url + '/v1/chat/completions', json={'model': 'm', 'messages': MSG, 'max_tokens': 1}, timeout=30).raise_for_status()

@pytest.mark.parametrize('access', [True, False])
def test_engine_startup_line_and_access_log(access):
    port = free_port()
    out = _serve(['engine', '--time-scale', '0'] + ([] if access else ['--disable-uvicorn-access-log']), port, CHAT)
    assert f'listening on http://127.0.0.1:{port}' in out, out
    assert ('"POST /v1/chat/completions HTTP/1.1" 200' in out) == access, out
    assert 'Traceback' not in out, out

def test_proxy_router_api_startup_lines_and_access_logs(tmp_path):
    with ServerProcess('engine', '--time-scale', '0') as eng:
        port = free_port()
        out = _serve(['proxy', '--upstream', eng.url], port, CHAT)
        assert f'semantic-kv proxy -> {eng.url}, no trace: listening on http://127.0.0.1:{port}' in out and '"POST /v1/chat/completions HTTP/1.1" 200' in out, out
        port = free_port()
        out = _serve(['router', '--replicas', eng.url, '--log-dir', str(tmp_path)], port, CHAT)
        assert f'listening on http://127.0.0.1:{port}' in out and '"POST /v1/chat/completions HTTP/1.1" 200' in out, out
    port = free_port()
    out = _serve(['api'], port, lambda url: httpx.post(url + '/v1/segment', json={'messages': MSG}, timeout=30).raise_for_status())
    assert f'semantic-kv simulation API: listening on http://127.0.0.1:{port}' in out and '"POST /v1/segment HTTP/1.1" 200' in out, out

def test_help_shows_defaults():
    for cmd, flag in (('engine', '--num-blocks'), ('proxy', '--max-body-bytes'), ('router', '--health-interval'), ('api', '--port')):
        p = subprocess.run([sys.executable, '-c', 'import sys; from semantic_kv.cli import main; sys.exit(main())', cmd, '--help'], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and flag in p.stdout and '(default:' in p.stdout and '--disable-uvicorn-access-log' in p.stdout, (cmd, p.stdout[-400:])

def test_proxy_readiness_reflects_its_upstream():
    "`/health` says the proxy lives; `/ready` says its upstream answers (503 with Retry-After when it does not)"
    eng = Server(Engine(time_scale=0)).start()
    try:
        with Server(Proxy(ProxyConfig(eng.url))) as px:
            r = httpx.get(px.url + '/ready', timeout=5)
            assert r.status_code == 200 and r.json() == {'status': 'ready', 'upstream': eng.url}
            eng.stop()
            r = httpx.get(px.url + '/ready', timeout=5)
            assert r.status_code == 503 and r.headers['retry-after'] == '1' and 'upstream unreachable' in r.json()['error']['message'], r.text
            assert httpx.get(px.url + '/health', timeout=5).status_code == 200
            assert httpx.post(px.url + '/ready', timeout=5).status_code == 405
    finally: eng.stop()

TEXT = ' '.join(f'Clause {i}: the tenant keeps the premises in good repair.' for i in range(20))   # about 260 tokens

def _usage_of(engine:Engine)->dict:
    "The same text sent as a completion prompt, a system message, then a user message: prompt and cached tokens of each"
    with Server(engine) as s:
        c = openai.OpenAI(base_url=s.url + '/v1', api_key='none', max_retries=0)
        out = {}
        for kind in ('system', 'user', 'completion'):
            if kind == 'completion': u = c.completions.create(model='m', prompt=TEXT, max_tokens=1).usage
            else: u = c.chat.completions.create(model='m', messages=[{'role': kind, 'content': TEXT}], max_tokens=1).usage
            out[kind] = (u.prompt_tokens, u.prompt_tokens_details.cached_tokens)
    return out

def test_chat_template_roles_count_and_cache():
    "Before (raw text): a system and a user message of the same text are one prompt and share every cached block. After (ChatML): the role markers count, and the role at the start keeps them apart"
    raw, tpl = _usage_of(Engine(time_scale=0)), _usage_of(Engine(time_scale=0, chat_template='chatml'))
    print(f"\nsame text as system / user message / completion prompt (prompt tokens, cached tokens): raw {raw}; chatml {tpl}")
    assert raw['system'][0] == raw['user'][0] == raw['completion'][0] and raw['user'][1] >= raw['user'][0] - 16   # before: indistinguishable
    assert tpl['system'][0] > tpl['completion'][0] and tpl['user'][0] > tpl['completion'][0]                      # the template's tokens count
    assert tpl['user'][1] == 0 and tpl['completion'][1] == 0                                                     # no block shared across roles

def test_engine_model_folder_renders_its_chat_template(tmp_path):
    "--model DIR: the chat prompt is the model's template rendered and tokenized by its tokenizer, as vLLM builds it"
    tokenizers = pytest.importorskip('tokenizers'); pytest.importorskip('jinja2')
    import json
    words = "<|im_start|> <|im_end|> system user assistant Be brief . How do I reset my password ?".split()
    t = tokenizers.Tokenizer(tokenizers.models.WordLevel({'[UNK]': 0, **{w: i + 1 for i, w in enumerate(dict.fromkeys(words))}}, unk_token='[UNK]'))
    t.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit(); t.add_special_tokens(['<|im_start|>', '<|im_end|>'])
    m = tmp_path/'model'; m.mkdir(); t.save(str(m/'tokenizer.json'))
    tpl = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
           "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    (m/'tokenizer_config.json').write_text(json.dumps({'chat_template': tpl, 'eos_token': '<|im_end|>'}))
    msgs = [{'role': 'system', 'content': 'Be brief .'}, {'role': 'user', 'content': 'How do I reset my password ?'}]
    with Server(Engine(time_scale=0, model=str(m))) as s:
        c = openai.OpenAI(base_url=s.url + '/v1', api_key='none', max_retries=0)
        u1 = c.chat.completions.create(model='m', messages=msgs, max_tokens=1).usage
        u2 = c.chat.completions.create(model='m', messages=msgs[:1] + [{'role': 'user', 'content': 'How do I reset my password'}], max_tokens=1).usage
    assert u1.prompt_tokens == 2 + 3 + 3 + 7 + 3 and u2.prompt_tokens == u1.prompt_tokens - 1   # the template's tokens, the model's words
    from semantic_kv.cli import main
    assert main(['engine', '--model', str(tmp_path), '--port', str(free_port())]) == 2           # not a model folder: exit 2 naming --model
