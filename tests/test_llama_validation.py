"""Validation on a real engine: the openai SDK -> the telemetry proxy -> llama-server with a tiny random model.

Selected by `pytest -k llama`. Builds llama-server on first use (about ten minutes on two cores; CI builds it
beforehand with tools/build_llama_server.sh) and skips, saying why, only if it cannot be built on this machine.
"""
import pytest
from semantic_kv.serve.llamacpp import (EngineUnavailable, ensure_llama_server, write_tiny_model, validation_workload,
                                        run_validation, TinyTokenizer, LlamaServer)
from semantic_kv.profiles import llamacpp_config, compare_profiles, llamacpp_replay, kv_state_bytes


@pytest.fixture(scope='module')
def engine():
    try: return ensure_llama_server(build=True)
    except EngineUnavailable as e: pytest.skip(f"llama-server cannot be built on this machine: {e}")


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp('llama')/'tiny-256x2.gguf', n_embd=256, n_layer=2)


def test_llama_tokenizer_matches_server(engine, model):
    tok = TinyTokenizer()
    reqs = validation_workload(n_requests=6, seed=3)
    with LlamaServer(model, n_ctx=4096) as srv:
        for r in reqs:
            prompt = srv.apply_template(r['messages'])
            assert prompt == tok.render(r['messages'])
            assert srv.tokenize(prompt) == tok.chat_ids(r['messages'])
    assert srv.proc is None


def test_llama_profile_predicts_cached_tokens(engine, model, tmp_path):
    # a few dozen requests with cache pressure: the host prompt cache holds about 2,000 tokens (4 MiB at ~2 KB/token)
    reqs = validation_workload(n_requests=36, n_docs=6, doc_chars=(300, 700), system_chars=(200, 400), max_prompt_chars=1800, seed=0)
    per_tok, fixed = kv_state_bytes(n_layer=2, n_embd_k=256)
    cfg = llamacpp_config(n_ctx=2048, cache_ram_mib=4, state_bytes_per_token=per_tok, state_bytes_overhead=fixed)
    d = run_validation(model, reqs, tmp_path, n_ctx=cfg.n_ctx, cache_ram_mib=cfg.cache_ram_mib)
    assert len(d) == len(reqs)
    # the prompt rebuilt from the proxy's trace is the one the server tokenized
    assert (d.server_prompt_tokens == d.token_ids.map(len)).all()
    assert (d.observed_cached_tokens == d.cached_tokens).all()      # proxy trace == what the SDK saw
    sim = llamacpp_replay(d.token_ids, cfg)
    assert sim.loaded_from_host_cache.any() and (sim.selected_by == 'similarity').any()   # the workload exercises both paths
    t = compare_profiles(d.token_ids, d.observed_cached_tokens, cfg).set_index('profile')
    assert t.exact_match_share['llamacpp'] >= 0.95, t
    assert t.exact_match_share['vllm'] < t.exact_match_share['llamacpp'], t
