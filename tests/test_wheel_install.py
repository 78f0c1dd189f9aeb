"""A non-editable install works: build the wheel from a clean copy of the sources, install it into a fresh virtual
environment (no dependencies downloaded: the already-installed packages are made visible with a .pth file), and
from outside the repository find the bundled data inside the installed package and run one bundled workload."""
import json, os, shutil, subprocess, sys, sysconfig
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ('setup.py', 'pyproject.toml', 'settings.ini', 'MANIFEST.in', 'README.md', 'LICENSE', 'semantic_kv', 'data')

def _copy_sources(dst:Path):
    ign = shutil.ignore_patterns('__pycache__', '*.pyc', 'mooncake', '*.egg-info')
    for name in SOURCES:
        s = ROOT/name
        if s.is_dir(): shutil.copytree(s, dst/name, ignore=ign)
        elif s.exists(): shutil.copy2(s, dst/name)

def run(cmd, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p

@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    "(python, semantic-kv) of a fresh venv holding the built wheel"
    tmp = tmp_path_factory.mktemp('wheel')
    src = tmp/'src'; src.mkdir(); _copy_sources(src)
    run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', tmp/'dist', src])
    wheel = next((tmp/'dist').glob('semantic_kv-*.whl'))
    venv = tmp/'venv'
    run([sys.executable, '-m', 'venv', '--without-pip', venv])
    py = venv/'bin'/'python'
    site = Path(run([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).stdout.strip())
    # the dependencies come from this environment (a path in a .pth file: its own .pth files, including the
    # editable install of semantic_kv, are not processed, so only the wheel provides semantic_kv)
    (site/'_deps_from_dev_env.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    run([sys.executable, '-m', 'pip', '--python', py, 'install', '--no-deps', '--ignore-installed', '-q', wheel])   # never 'already installed' from the visible dev env
    return py, venv/'bin'/'semantic-kv', tmp

def test_wheel_carries_the_data(installed):
    import zipfile
    py, exe, tmp = installed
    names = zipfile.ZipFile(next((tmp/'dist').glob('*.whl'))).namelist()
    for f in ('semantic_kv/data/workloads/low_memory_rag_stress.json', 'semantic_kv/data/examples/requests.jsonl',
              'semantic_kv/data/eval/requests_labelled.jsonl', 'semantic_kv/data/traces/example_rag_openai.jsonl'):
        assert f in names, f
    assert not [n for n in names if '/mooncake/' in n]

def test_installed_package_runs_a_workload(installed, tmp_path):
    py, exe, _ = installed
    env = {k: v for k, v in os.environ.items() if k not in ('SEMANTIC_KV_DATA', 'PYTHONPATH')}
    where = json.loads(run([py, '-c', 'import json, semantic_kv, semantic_kv.models as m; '
                                      'print(json.dumps([semantic_kv.__file__, str(m.data_dir())]))'], cwd=tmp_path, env=env).stdout)
    assert str(ROOT) not in where[0] and where[1].startswith(str(Path(where[0]).parent)), where   # the wheel, not the repo
    cfg = Path(where[1])/'workloads'/'low_memory_rag_stress.json'
    p = run([exe, 'run', cfg, '--policies', 'lru,adaptive_semantic,belady', '--seeds', '0', '--executor', 'serial', '--no-progress',
             '--out', tmp_path/'out'], cwd=tmp_path, env=env)
    assert 'belady' in p.stdout and list((tmp_path/'out').glob('*_low_memory_rag_stress/summary.md')), p.stdout[-2000:]
