"""Notebooks that cannot go stale.

Two checks on the notebooks' *stored* outputs (nothing is executed):

1. **Outputs older than the code.** `--stamp` records a hash of a notebook's code cells in its metadata
   (`metadata.semantic_kv.code_hash`, kept by `nbdev_clean` through `allowed_metadata_keys` in settings.ini) right
   after the notebook was executed; the check fails when the code cells no longer hash to the stamp, i.e. the
   code changed and the published outputs were not refreshed. `#|` directive lines other than `#| eval:` are not part
   of the hash (display and export only); stamps recorded before that rule (directives included) are still accepted. `tools/run_notebook.sh NB` executes, cleans and
   stamps in one go.
A stamped notebook has opted in: every problem in it is an error. An unstamped one gets warnings only, so a
notebook joins the check the first time it is run with `tools/run_notebook.sh`.

2. **Hard-coded result numbers.** Every decimal number, percentage or number >= 100 written in a markdown cell
   must be backed by the notebook itself: it appears (at the precision written, as a fraction or a percentage)
   in a stored output or in the code. A number in prose that no cell computed is flagged, so a rerun that
   changes a result cannot leave the prose behind. Numbers in inline code, links, URLs and headings, years,
   and numbers the text cites from elsewhere (listed in a `<!-- cited: 35.66 1.5 -->` comment in the cell) are
   not results and are skipped.

nbval cannot do either job here: it re-executes notebooks (minutes per experiment) and compares outputs cell by
cell, but `nbdev_clean` blanks execution counts, and nbval treats such cells as unrun and skips them; and it does
not read prose at all.

    python tools/check_stale.py                 # every notebook under nbs/: stamped ones strictly (exit 1), others warn
    python tools/check_stale.py --strict        # every notebook strictly
    python tools/check_stale.py --stamp NB...   # record the code hash of freshly executed notebooks
    python tools/check_stale.py --require-stamp NB...  # also fail when these notebooks carry no stamp
"""
import hashlib, json, math, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/'nbs'
KEY = 'semantic_kv'

def _src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

DISPLAY_DIRECTIVE = re.compile(r'^\s*#\|(?!\s*eval\s*:).*$\n?', re.M)

def code_hash(nb:dict)->str:
    """Hash of the code cells' sources (whitespace at the ends of cells ignored), without `#|` directive lines: they
    decide what a page shows (`#| echo: false`, `#| hide`, `#| output: asis`) or what is exported (`#| export`), not
    what a cell computes, so adding one leaves the stored outputs current. `#| eval:` lines count: they decide whether a
    cell runs."""
    h = hashlib.sha256()
    for c in nb['cells']:
        if c['cell_type'] == 'code': h.update(DISPLAY_DIRECTIVE.sub('', _src(c)).strip().encode() + b'\0')
    return h.hexdigest()[:16]

def legacy_hash(nb:dict)->str:
    "The hash of stamps recorded before directives were left out (directive lines included); still accepted"
    h = hashlib.sha256()
    for c in nb['cells']:
        if c['cell_type'] == 'code': h.update(_src(c).strip().encode() + b'\0')
    return h.hexdigest()[:16]

def fresh(nb:dict)->bool:
    "Does the notebook's stamp match its code (either hash)?"
    st = nb.get('metadata', {}).get(KEY, {}).get('code_hash')
    return bool(st) and st in (code_hash(nb), legacy_hash(nb))

def restamp_display_only(path:Path, before:dict):
    """After a display-only edit (directives added or removed) of a stamped notebook whose stamp matched `before`
    (its previous content): record the new-style stamp, so it stays fresh without re-executing. Refuses any other edit."""
    nb = json.loads(path.read_text())
    if not fresh(before): raise ValueError(f"{path}: was not fresh before the edit")
    if code_hash(nb) != code_hash(before): raise ValueError(f"{path}: the edit changed code, not only directives: rerun it")
    stamp(path)

def executed(nb:dict)->bool: return any(c.get('outputs') for c in nb['cells'] if c['cell_type'] == 'code')

def stamp(path:Path):
    "Record the code hash in the notebook's metadata (after executing it)"
    text = path.read_text()
    nb = json.loads(text)
    nb.setdefault('metadata', {}).setdefault(KEY, {})['code_hash'] = code_hash(nb)
    indent = 1 if text.startswith('{\n "') else 2
    path.write_text(json.dumps(nb, indent=indent, ensure_ascii=False) + '\n')

# ---------------------------------------------------------------- numbers in prose
NUM = re.compile(r'(?<![\w.#/-])([-+−]?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\s?%|x\b|×)?(?![\w/])')

def _strip(md:str)->str:
    "Markdown without what is not prose: code, links' targets, URLs, HTML comments, headings, math"
    md = re.sub(r'```.*?```', ' ', md, flags=re.S)
    md = re.sub(r'<!--.*?-->', ' ', md, flags=re.S)
    md = re.sub(r'`[^`]*`', ' ', md)
    md = re.sub(r'\$\$.*?\$\$|\$[^$\n]+\$', ' ', md, flags=re.S)
    md = re.sub(r'\]\([^)]*\)', ']', md)
    md = re.sub(r'https?://\S+', ' ', md)
    md = re.sub(r'^#{1,6} .*$', ' ', md, flags=re.M)
    return md

def prose_numbers(md:str)->list:
    "(text, value, decimals, is_percent) of the result-like numbers in a markdown cell"
    cited = set()
    for m in re.finditer(r'<!--\s*cited:([^>]*)-->', md): cited |= {x.strip().rstrip('%') for x in m[1].replace(',', ' ').split()}
    out = []
    for m in NUM.finditer(_strip(md)):
        sign, whole, frac, unit = m[1], m[2], m[3] or '', (m[4] or '').strip()
        text = f"{whole}{frac}"
        v = float(text.replace(',', ''))
        if text.replace(',', '') in cited or text in cited: continue
        if not frac and not unit and v < 100: continue            # counts like "three seeds", "16-token blocks"
        if not frac and not unit and 1900 <= v <= 2100: continue  # years
        out.append((f"{sign}{text}{unit}", -v if sign in '-−' else v, len(frac) - 1 if frac else 0, unit == '%'))
    return out

ONUM = re.compile(r'[-+]?\d[\d,_]*\.?\d*(?:e[-+]?\d+)?')

def _output_text(c)->str:
    parts = []
    for o in c.get('outputs', []):
        if 'text' in o: parts.append(_src({'source': o['text']}))
        for k, v in o.get('data', {}).items():
            if k.startswith('text/') or k in ('application/json',): parts.append(v if isinstance(v, str) else ''.join(v) if isinstance(v, list) else json.dumps(v))
            elif k == 'image/svg+xml': parts.append(re.sub(r'<[^>]+>', ' ', v if isinstance(v, str) else ''.join(v)))
    return '\n'.join(parts)

def evidence(nb:dict)->set:
    "Every number the notebook's code and stored outputs contain"
    vals = set()
    for c in nb['cells']:
        if c['cell_type'] != 'code': continue
        for t in (_src(c), _output_text(c)):
            for m in ONUM.finditer(t):
                try: vals.add(float(m[0].replace(',', '').replace('_', '')))
                except ValueError: pass
    return vals

def supported(v:float, decimals:int, pct:bool, vals:set)->bool:
    "Is the written number some stored number at the precision written (a percentage may be a stored fraction)?"
    tol = 0.5 * 10**-decimals + 1e-9
    cands = [v] + ([v / 100] if pct else [])
    for x in vals:
        if math.isnan(x) or math.isinf(x): continue
        for c in cands:
            scale = 100 if (pct and c != v) else 1
            if abs(abs(x) * scale - abs(c) * scale) <= tol: return True
    return False

def check_notebook(path:Path, require_stamp:bool=False)->list:
    "Problems of one notebook: a stale or missing stamp, unsupported numbers in its prose"
    nb = json.loads(path.read_text())
    rel, probs = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path, []
    st = nb.get('metadata', {}).get(KEY, {}).get('code_hash')
    if st and st not in (code_hash(nb), legacy_hash(nb)):
        probs.append(f"{rel}: stored outputs are older than the code (code hash {code_hash(nb)} != stamp {st}): "
                     f"rerun it with `bash tools/run_notebook.sh {rel}`")
    elif not st and require_stamp:
        probs.append(f"{rel}: no code stamp: execute it with `bash tools/run_notebook.sh {rel}`")
    if not executed(nb): return probs
    vals = evidence(nb)
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] != 'markdown': continue
        for text, v, d, pct in prose_numbers(_src(c)):
            if not supported(v, d, pct, vals):
                probs.append(f"{rel}: cell {i}: the number {text} in the prose is not in any stored output or code of the notebook")
    return probs

def notebooks()->list:
    return sorted(p for p in NBS.rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts and not p.name.startswith('_'))

def main(argv):
    if argv and argv[0] == '--stamp':
        for p in argv[1:]: stamp(Path(p)); print(f"stamped {p}")
        return 0
    strict = '--strict' in argv
    argv = [a for a in argv if a != '--strict']
    req = set()
    if argv and argv[0] == '--require-stamp': req = {Path(p).resolve() for p in argv[1:]}; argv = []
    paths = [Path(p) for p in argv] or notebooks()
    errors, warnings = [], []
    for p in paths:
        nb = json.loads(p.read_text())
        opted_in = strict or p.resolve() in req or bool(nb.get('metadata', {}).get(KEY, {}).get('code_hash'))
        (errors if opted_in else warnings).extend(check_notebook(p, p.resolve() in req))
    for x in warnings: print(f"warning: {x}")
    for x in errors: print(f"error: {x}")
    n_st = sum(bool(json.loads(p.read_text()).get('metadata', {}).get(KEY)) for p in paths)
    print(f"checked {len(paths)} notebooks ({n_st} stamped, checked strictly): {len(errors)} error(s), "
          f"{len(warnings)} warning(s) in unstamped notebooks")
    return 1 if errors else 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
