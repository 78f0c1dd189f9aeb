"""The stale-notebook check (tools/check_stale.py): outputs older than the code, and numbers in the prose that no
cell computed. Unit cases on small notebooks, nbdev_clean keeping the stamp, and the repository's own notebooks."""
import json, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
import check_stale as cs

def nb(*cells):
    out = []
    for kind, src, *outs in cells:
        c = {'cell_type': kind, 'metadata': {}, 'source': src}
        if kind == 'code': c.update(outputs=[{'output_type': 'stream', 'name': 'stdout', 'text': o} for o in outs], execution_count=None)
        out.append(c)
    return {'cells': out, 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}

def write(tmp_path, d, name='t.ipynb'):
    p = tmp_path/name; p.write_text(json.dumps(d)); return p

def test_numbers_backed_by_outputs(tmp_path):
    d = nb(('code', 'print(r)', "{'lru': 0.8571, 'belady': 0.9286}\n"),
           ('markdown', 'LRU gets 0.86 and the optimum 92.9%, over 3 seeds in 2019; `0.123` is code. <!-- cited: 35.66 -->\n'
                        'The original reported +35.66%.'))
    assert cs.check_notebook(write(tmp_path, d)) == []

def test_number_not_in_outputs_is_flagged(tmp_path):
    d = nb(('code', 'print(r)', "{'lru': 0.8571}\n"), ('markdown', 'LRU gets 0.91 here, and 1,234 requests were served.'))
    probs = cs.check_notebook(write(tmp_path, d))
    assert len(probs) == 2 and '0.91' in probs[0] and '1,234' in probs[1]

def test_stamp_detects_code_changed_after_run(tmp_path):
    p = write(tmp_path, nb(('code', 'x = 1\nprint(x)', '1\n')))
    cs.stamp(p)
    assert cs.check_notebook(p) == []
    d = json.loads(p.read_text()); d['cells'][0]['source'] = 'x = 2\nprint(x)'; p.write_text(json.dumps(d))
    assert 'older than the code' in cs.check_notebook(p)[0]

def test_nbdev_clean_keeps_the_stamp(tmp_path):
    src = ROOT/'nbs'/'12_reports.ipynb'
    p = tmp_path/'copy.ipynb'; p.write_text(src.read_text())
    cs.stamp(p)
    from nbdev.clean import nbdev_clean
    import os
    cwd = os.getcwd(); os.chdir(ROOT)
    try: nbdev_clean(fname=str(p))
    finally: os.chdir(cwd)
    assert json.loads(p.read_text())['metadata'][cs.KEY]['code_hash'] == cs.code_hash(json.loads(p.read_text()))

def test_repository_notebooks():
    "Stamped notebooks are strictly fresh and their prose is backed by their outputs"
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'check_stale.py')], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-4000:]

def test_display_directives_keep_the_stamp(tmp_path):
    "Adding `#| echo: false` or `#| hide` leaves the stamp fresh; `#| eval: false` or a code change does not"
    p = write(tmp_path, nb(('code', 'x = 1\nprint(x)', '1\n')))
    cs.stamp(p)
    for directive, fresh in (('#| echo: false\n', True), ('#| hide\n#| export\n', True), ('#| eval: false\n', False)):
        d = json.loads(p.read_text()); d['cells'][0]['source'] = directive + 'x = 1\nprint(x)'
        q = write(tmp_path, d, 'q.ipynb')
        assert (cs.check_notebook(q) == []) == fresh, directive

def test_legacy_stamps_and_display_only_restamp(tmp_path):
    "A stamp recorded with directives in the hash still counts; a display-only edit re-records it, a code edit is refused"
    d = nb(('code', '#| hide\nx = 1\nprint(x)', '1\n'))
    d['metadata'][cs.KEY] = {'code_hash': cs.legacy_hash(d)}
    p = write(tmp_path, d)
    assert cs.check_notebook(p) == []
    before = json.loads(p.read_text())
    e = json.loads(p.read_text()); e['cells'][0]['source'] = '#| echo: false\nx = 1\nprint(x)'; p.write_text(json.dumps(e))
    cs.restamp_display_only(p, before)
    assert cs.check_notebook(p) == [] and json.loads(p.read_text())['metadata'][cs.KEY]['code_hash'] == cs.code_hash(e)
    e['cells'][0]['source'] = 'x = 2\nprint(x)'; p.write_text(json.dumps(e))
    with pytest.raises(ValueError, match='changed code'): cs.restamp_display_only(p, before)
