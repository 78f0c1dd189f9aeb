"Run every notebook in nbs/ through nbdev's own executor (skip flags, `IN_TEST`), one pytest test per notebook."
import os, pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb   # aliased: a `test_`-named import would be collected by pytest

cfg = get_config()
def _visible(p): return not any(s.startswith(('_','.')) for s in p.relative_to(cfg.nbs_path).parts)
nbs = sorted(p for p in cfg.nbs_path.rglob('*.ipynb') if _visible(p))

@pytest.mark.parametrize('nb', nbs, ids=[str(p.relative_to(cfg.nbs_path)) for p in nbs])
def test_notebook(nb, monkeypatch):
    monkeypatch.chdir(nb.parent)
    monkeypatch.setenv('IN_TEST', '1')
    # Notebooks run in this one process: a notebook that defines and registers a policy class (06_policies, 06b, 06c)
    # would leave its own class in the registry for every later notebook, where it has no compiled form (the compiled
    # loop knows the library's classes). Each notebook starts from the library's registry.
    from semantic_kv.policies import POLICIES
    saved = dict(POLICIES.items())
    try: ok, secs = run_nb(nb, skip_flags=cfg.tst_flags.split(), basepath=cfg.config_path)
    finally: dict.clear(POLICIES); dict.update(POLICIES, saved)
    assert ok, f'{nb.name} failed (see traceback above)'
