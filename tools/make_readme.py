"""Generate README.md from nbs/index.ipynb (the home page), as `nbdev_readme` would with Quarto: markdown as is,
code cells as Python blocks followed by their text output. `--check` exits 1 if README.md is out of date."""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _out(o):
    "Text of one output: markdown as markdown, else plain text; images are left to the website"
    if o.get('output_type') == 'stream': return ''.join(o.get('text', ''))
    d = o.get('data', {})
    if 'text/markdown' in d: return '\x00' + ''.join(d['text/markdown'])       # marked: goes in as markdown, not a code block
    if any(k.startswith('image/') for k in d): return ''
    return ''.join(d.get('text/plain', ''))

def _directives(src):
    lines = src.splitlines()
    opts = {}
    while lines and lines[0].lstrip().startswith('#|'):
        k, _, v = lines.pop(0).split('|', 1)[1].partition(':'); opts[k.strip()] = v.strip()
    return opts, '\n'.join(lines)

def render(nb_path=ROOT/'nbs'/'index.ipynb')->str:
    nb, parts = json.loads(Path(nb_path).read_text()), []
    for c in nb['cells']:
        src = ''.join(c['source'])
        opts, body = _directives(src)
        if 'hide' in opts: continue
        if c['cell_type'] == 'markdown': parts.append(src.strip())
        elif c['cell_type'] == 'code':
            if opts.get('echo') != 'false': parts.append(f"```python\n{body.strip()}\n```")
            outs = [_out(o) for o in c.get('outputs', [])]
            md = [x[1:].strip() for x in outs if x.startswith('\x00')]
            txt = ''.join(x for x in outs if not x.startswith('\x00')).rstrip()
            if txt: parts.append(f"```\n{txt}\n```")
            parts += [m for m in md if m]
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit("README.md is out of date: run `python tools/make_readme.py`")
    else: readme.write_text(text)
