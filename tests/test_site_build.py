"""The site build's rules and renderers (tools/build_site.py), without building the site: signatures as written,
printed pandas tables turned into HTML tables, and the output rules that fail the build (a warning or build-machine
path in an output, a printed table wider than the page, a page without a title)."""
import dataclasses, re, sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
import build_site as bs

@pytest.fixture(autouse=True)
def fresh_problems():
    bs.PROBLEMS.clear(); bs.DROPPED.clear()
    yield
    bs.PROBLEMS.clear(); bs.DROPPED.clear()

class Limits:
    "A stand-in for a class defined in a notebook (module `__main__`)"
Limits.__module__ = '__main__'

def test_annotations_as_written():
    assert bs._anno(Optional[int]) == 'int | None'
    assert bs._anno(int | None) == 'int | None'
    assert bs._anno(Optional[Limits]) == 'Limits | None'
    assert bs._anno(list[dict[str, Limits]]) == 'list[dict[str, Limits]]'
    assert bs._anno(type(None)) == 'None'
    assert 'NoneType' not in bs._anno('Union[str,NoneType]') and '__main__' not in bs._anno('__main__.Limits')

def test_show_doc_signatures():
    bs.patch_show_doc()
    from nbdev.showdoc import show_doc
    def f(path=None,   # a [file](https://example.com/x) to read
          limits:Optional[Limits]=None, # the `Limits`
          n:int=3)->dict: "Doc"
    md = show_doc(f)._repr_markdown_()
    sig = re.search(r'```python\n(.*?)```', md, re.S)[1]
    assert 'NoneType' not in sig and '__main__' not in sig and '](' not in sig, sig
    assert 'path=None, # a file to read' in sig and 'limits:Limits | None=None' in sig
    @dataclasses.dataclass
    class Job:
        "One job"
        runs:list
        latency:dict=dataclasses.field(default_factory=dict)   # per-type latency
        tag:Optional[str]=None
    sig = re.search(r'```python\n(.*?)```', show_doc(Job)._repr_markdown_(), re.S)[1]
    assert sig.startswith('@dataclass\nclass Job:') and 'latency:dict={}  # per-type latency' in sig and '<factory>' not in sig, sig
    import enum
    class Color(str, enum.Enum):
        "Kinds"
        red = 'red'; blue = 'blue'
    sig = re.search(r'```python\n(.*?)```', show_doc(Color)._repr_markdown_(), re.S)[1]
    assert sig == "class Color(str, Enum):\n    red = 'red'\n    blue = 'blue'\n", sig
    class Engine:
        def __init__(self, cfg:int=1): pass   # a class with its own __init__ renders as a class, not `def`
    assert show_doc(Engine)._repr_markdown_().split('```python\n')[1].startswith('class Engine(')

class Cells(HTMLParser):
    def __init__(self): super().__init__(); self.rows, self._in = [], None
    def handle_starttag(self, tag, attrs):
        if tag == 'tr': self.rows.append([])
        if tag in ('td', 'th'): self._in = ''
    def handle_endtag(self, tag):
        if tag in ('td', 'th'): self.rows[-1].append(self._in); self._in = None
    def handle_data(self, d):
        if self._in is not None: self._in += d

def cells(h): p = Cells(); p.feed(h); return p.rows

def test_printed_table_becomes_html():
    df = pd.DataFrame({'wall_s_cold': [16.37, 128.25], 'cold/warm wall': [4.25, 1.91], 'cpu_s': [10.31, 63.74]},
                      index=pd.Index(['replay (bundled example)', 'run-all'], name='command'))
    t = df.to_string()
    h = bs.text_table(t)
    rows = cells(h)
    assert rows[0] == ['', 'wall_s_cold', 'cold/warm wall', 'cpu_s'] and rows[1][0] == 'command'
    assert rows[2] == ['replay (bundled example)', '16.37', '4.25', '10.31'] and rows[3] == ['run-all', '128.25', '1.91', '63.74']

def test_printed_multiindex_columns():
    cols = pd.MultiIndex.from_product([['token_hit_rate', 'p99_ttft_ms'], [1, 4, 16]], names=[None, 'load'])
    df = pd.DataFrame([[0.5263, 0.527, 0.5537, 191.9, 195.2, 1431.1], [0.8341, 0.8254, 0.7976, 129.3, 162.1, 301.5]],
                      columns=cols, index=pd.Index(['round_robin', 'llm_d'], name='policy'))
    h = bs.text_table('shared (4 replicas)\n' + df.to_string())
    assert '<strong>shared (4 replicas)</strong>' in h and '<th colspan="3">token_hit_rate</th><th colspan="3">p99_ttft_ms</th>' in h
    rows = cells(h)
    assert rows[1] == ['load', '1', '4', '16', '1', '4', '16'] and rows[3] == ['round_robin', '0.5263', '0.5270', '0.5537', '191.9', '195.2', '1431.1']

def test_not_a_table():
    assert bs.text_table('just a sentence that is printed\nand another one') is None
    assert bs.printed_table_width('{"a": 1, "b": "' + 'x'*200 + '"}') == 0   # one long line is not a table

def stream(t, name='stdout'): return {'output_type': 'stream', 'name': name, 'text': t}

def test_output_rules():
    wide = pd.DataFrame([[1.5]*14]*3, columns=[f'column_{i}' for i in range(14)]).to_string()
    assert len(wide.splitlines()[0]) > bs.PAGE_CHARS
    out = bs.clean_outputs([stream(wide)], 'nb: cell 1')
    assert 'text/html' in out[0]['data'] and not bs.PROBLEMS                 # a printed wide frame becomes a table
    bs.clean_outputs([stream('x    y    z\n' + '\n'.join(f"{'a'*60}  {'b'*60}  c{i}" for i in range(3)))], 'nb: cell 2')
    assert len(bs.PROBLEMS) == 1 and 'printed table' in bs.PROBLEMS[0]       # ragged: not convertible, so it fails
    bs.PROBLEMS.clear()
    bs.clean_outputs([stream('saved to /tmp/tmpab12cd34/x.json\n')], 'nb: cell 3')
    bs.clean_outputs([stream(f"{bs.ROOT}/data/x.json\n")], 'nb: cell 4')
    bs.clean_outputs([stream('foo.py:3: UserWarning: careful\n', 'stderr')], 'nb: cell 5')
    assert [p.split(':')[1].strip() for p in bs.PROBLEMS] == ['cell 3', 'cell 4', 'cell 5']

def test_third_party_noise_dropped():
    noise = ('/venv/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update jupyter.\n'
             '  from .autonotebook import tqdm as notebook_tqdm\n'
             '2026-11-30 15:22:50,951\tINFO worker.py:2038 -- Started a local Ray instance.\n')
    assert bs.clean_outputs([stream(noise, 'stderr')], 'nb') == [] and sum(bs.DROPPED) == 2 and not bs.PROBLEMS
    kept = bs.clean_outputs([stream(noise + 'progress: done\n', 'stderr')], 'nb')
    assert kept[0]['text'] == 'progress: done\n'

def test_every_page_has_a_title():
    for p in bs.source_notebooks():
        title, _ = bs.summary(p)
        assert title != p.stem, f"{p}: no `# Title` in its first markdown cell"

def test_workflows_and_quarto_config():
    "nbdev's two workflows exist and parse; CI runs the README's test command; _quarto.yml is valid YAML for Quarto"
    import configparser, yaml
    wf = ROOT/'.github'/'workflows'
    test, deploy = (yaml.safe_load((wf/f).read_text()) for f in ('test.yaml', 'deploy.yaml'))
    runs = '\n'.join(s.get('run', '') for s in test['jobs']['test']['steps'])
    readme = (ROOT/'README.md').read_text()
    cmd = re.search(r'Run every test.*?```sh\n(.*?)\n```', readme, re.S)[1]
    install, tests = re.search(r'(pip install -e "[^"]+")', cmd)[1], cmd.rsplit('&&', 1)[1].strip()
    assert install in runs and re.search(rf'^{re.escape(tests)}$', runs, re.M), (install, tests)
    for step in ('nbdev_clean', 'nbdev_export', 'tools/check_stale.py', 'tools/build_site.sh'): assert step in runs, step
    dsteps = deploy['jobs']['deploy']['steps']
    assert any('quarto-actions/setup' in s.get('uses', '') for s in dsteps) and any(s.get('run') == 'nbdev_docs' for s in dsteps)
    assert any(s.get('with', {}).get('publish_dir') == './_docs' for s in dsteps)
    q = yaml.safe_load((ROOT/'_quarto.yml').read_text())
    assert q['project']['type'] == 'website' and 'sidebar.yml' in q['metadata-files']
    assert (ROOT/'nbs'/'_quarto.yml').resolve() == (ROOT/'_quarto.yml').resolve()
    side = yaml.safe_load((ROOT/'nbs'/'sidebar.yml').read_text())['website']['sidebar']['contents']
    assert [s['section'] for s in side] == ['Start here', 'Experiments', 'Serving', 'Library reference', 'Benchmarks']
    assert yaml.safe_dump(yaml.safe_load(bs.write_sidebar.__defaults__[0].read_text())) and bs.write_sidebar() == (ROOT/'nbs'/'sidebar.yml').read_text()
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    d = cfg['DEFAULT']
    assert d['user'] != 'semantickv' and d['lib_name'] == 'semantic_kv'
    assert cfg.get('DEFAULT', 'git_url') == f"https://github.com/{d['user']}/{d['repo']}"

def test_api_typed_responses():
    "The API reference's endpoints answer with named schemas (`/v1/simulate/trace`'s replay report is still a free-form object)"
    pytest.importorskip('fastapi')
    from semantic_kv.serve.api import app
    spec = app.openapi()
    for path, ops in spec['paths'].items():
        if path == '/v1/simulate/trace': continue
        for m, op in ops.items():
            schema = op['responses']['200']['content']['application/json']['schema']
            assert '$ref' in schema, (m, path, schema)
    assert spec['components']['schemas']['Health']['properties']['limits'] == {'$ref': '#/components/schemas/ApiLimits'}
    assert spec['components']['schemas']['Policies']['properties']['policies']['items'] == {'$ref': '#/components/schemas/PolicyInfo'}

def test_shared_styles(tmp_path):
    "A large <style> block several pages share becomes one stylesheet linked from each page; a page's own stays inline"
    big = 'body{color:red}' * 1000
    (tmp_path/'sub').mkdir()
    for p, own in ((tmp_path/'a.html', ''), (tmp_path/'sub'/'b.html', '<style>p{margin:0}</style>')):
        p.write_text(f'<html><head><style>{big}</style>{own}</head><body></body></html>')
    bs.shared_styles(tmp_path)
    css = list((tmp_path/'assets'/'stylesheets').glob('nb-*.css'))
    assert len(css) == 1 and css[0].read_text() == big
    a, b = (tmp_path/'a.html').read_text(), (tmp_path/'sub'/'b.html').read_text()
    assert f'href="assets/stylesheets/{css[0].name}"' in a and f'href="../assets/stylesheets/{css[0].name}"' in b
    assert big not in a + b and '<style>p{margin:0}</style>' in b
