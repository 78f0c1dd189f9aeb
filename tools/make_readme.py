"""Generate README.md from nbs/index.ipynb (the home page), as `nbdev_readme` would with Quarto: markdown as is,
code cells as Python blocks followed by their text output. `--check` exits 1 if README.md is out of date."""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _out(o):
    if o.get('output_type') == 'stream': return ''.join(o.get('text', ''))
    return ''.join(o.get('data', {}).get('text/plain', ''))

def render(nb_path=ROOT/'nbs'/'index.ipynb')->str:
    nb, parts = json.loads(Path(nb_path).read_text()), []
    for c in nb['cells']:
        src = ''.join(c['source'])
        if src.lstrip().startswith('#| hide') or src.lstrip().startswith('#|hide'): continue
        if c['cell_type'] == 'markdown': parts.append(src.strip())
        elif c['cell_type'] == 'code':
            parts.append(f"```python\n{src.strip()}\n```")
            out = ''.join(_out(o) for o in c.get('outputs', [])).rstrip()
            if out: parts.append(f"```\n{out}\n```")
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit("README.md is out of date: run `python tools/make_readme.py`")
    else: readme.write_text(text)
