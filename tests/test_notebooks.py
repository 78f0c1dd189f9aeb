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
    ok, secs = run_nb(nb, skip_flags=cfg.tst_flags.split(), basepath=cfg.config_path)
    assert ok, f'{nb.name} failed (see traceback above)'
