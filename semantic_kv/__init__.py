__version__ = "0.0.1"
# SemanticKV: a prefix/KV-cache simulator for LLM serving. The everyday API is importable from here; its names
# load on first use. Hand-written (nbdev only updates `__version__`); documented and tested in nbs/92_main.ipynb.

# name -> module: the everyday API, loaded on first use. No name equals a submodule's name: importing that submodule
# would rebind the package attribute to the module (so `calibrate.calibrate` is exported as `fit_latency`).
_EXPORTS = {
    'InputError': 'models', 'parse_request': 'models', 'SegmentedRequest': 'models', 'Segment': 'models',
    'get_tokenizer': 'tokens', 'load_tokenizer': 'formats', 'ChatTemplate': 'formats',
    'segment_request': 'segment', 'segment_requests': 'segment',
    'build_trace': 'blocks', 'read_mooncake': 'blocks',
    'LatencyModel': 'latency', 'simulate': 'sim', 'POLICIES': 'sim', 'SimSummary': 'sim',
    'read_requests': 'traces', 'write_requests': 'traces', 'convert_trace': 'traces', 'load_block_trace': 'traces', 'native_schema': 'traces',
    'PrefixCache': 'cache', 'fit_latency': 'calibrate', 'run_replay': 'replay', 'run_experiment': 'experiments', 'run_all': 'experiments'}
_ALIASES = {'fit_latency': 'calibrate'}   # exported name -> name in its module
__all__ = ['__version__', *_EXPORTS]

def __getattr__(name):
    if name not in _EXPORTS: raise AttributeError(f"module 'semantic_kv' has no attribute {name!r}")
    import importlib
    v = getattr(importlib.import_module(f"semantic_kv.{_EXPORTS[name]}"), _ALIASES.get(name, name))
    globals()[name] = v
    return v

def __dir__(): return sorted(set(globals()) | set(_EXPORTS))
