"""Build the documentation website from the notebooks, without Quarto: nbdev's own processing (`_proc/`), then
MkDocs Material + mkdocs-jupyter into `_site/`, fully offline at run time (MathJax and the search polyfill are
vendored from their npm packages at build time). Afterwards every local link and anchor is checked and any
directive that escaped processing fails the build.

    python tools/build_site.py            # what `bash tools/build_site.sh` runs
    python tools/build_site.py --no-proc  # reuse an existing _proc/ (faster when iterating)
    python tools/build_site.py --keep-going  # leave out notebooks that fail to process instead of stopping
"""
import html, inspect, json, os, re, shutil, subprocess, sys, tarfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit, unquote

import yaml

ROOT = Path(__file__).resolve().parent.parent
NBS, PROC, SITE = ROOT/'nbs', ROOT/'_proc', ROOT/'_site'
BUILD = ROOT/'build'/'site'           # generated mkdocs project (docs/ + mkdocs.yml)
VENDOR = ROOT/'build'/'vendor'        # npm tarballs, fetched once
NPM = {'mathjax': 'mathjax@3.2.2', 'iframe-worker': 'iframe-worker@1.0.4'}
# Sidebar sections after the library pages (which come first, in file = layer order); subfolders of nbs/.
SECTIONS = [('experiments', 'Experiments'), ('serve', 'Services'), ('benchmarks', 'Benchmarks')]
MATHJAX_MARK = 'SKV-MATHJAX'

# ---------------------------------------------------------------- show_doc: classes and models with their fields
def _anno(a):
    s = inspect.formatannotation(a) if not isinstance(a, str) else a
    return re.sub(r'\bsemantic_kv(\.\w+)*\.(?=[A-Z_a-z]\w*)', '', s.replace('typing.', '').replace(' ', ''))

def _field_comments(cls)->dict:
    "Trailing `# comments` on annotated class attributes (docments for models)"
    try: src = inspect.getsource(cls)
    except (OSError, TypeError): return {}
    return {m[1]: m[2].strip() for m in re.finditer(r'^\s+(\w+)\s*:[^#\n]*#\s*(.*)$', src, re.M)}

def class_signature(cls)->str:
    "A class header; a pydantic model lists its fields (type, default, comment) as its constructor takes them"
    bases = ', '.join(b.__name__ for b in cls.__bases__ if b is not object)
    head = f"class {cls.__name__}({bases}):" if bases else f"class {cls.__name__}:"
    lines = [head]
    fields = getattr(cls, 'model_fields', None)
    if fields is not None:
        notes = _field_comments(cls)
        for name, f in fields.items():
            s = f"    {name}:{_anno(f.annotation)}"
            if not f.is_required():
                d = f.default_factory() if f.default_factory is not None else f.default
                s += f"={d!r}" if not hasattr(d, 'value') else f"={type(d).__name__}.{d.name}"
            doc = f.description or notes.get(name)
            lines.append(s + (f"  # {doc}" if doc else ''))
        if len(lines) == 1: lines.append('    ...')
    else:
        notes = _field_comments(cls)
        for k, a in vars(cls).get('__annotations__', {}).items():
            lines.append(f"    {k}:{_anno(a)}" + (f"  # {notes[k]}" if k in notes else ''))
        attrs = [(k, v) for k, v in vars(cls).items() if not k.startswith('_') and isinstance(v, (str, int, float, bool))]
        lines += [f"    {k} = {v!r}" for k, v in attrs]
        if len(lines) == 1: lines.append('    ...')
    return '\n'.join(lines)

def patch_show_doc():
    "Render pydantic models with their fields and plain classes without a fake `(*args, **kwargs)` signature"
    import nbdev.showdoc as sd, fastcore.docments as fd
    def signature(obj, *a, eval_str=False, **k):   # an annotation naming a type defined later: show it as written
        try: return inspect.signature(obj, *a, eval_str=eval_str, **k)
        except NameError: return inspect.signature(obj, *a, eval_str=False, **k)
    fd.signature = signature
    orig = sd.BasicMarkdownRenderer._repr_markdown_
    def _repr_markdown_(self):
        sym = self.sym
        init_mod = getattr(getattr(sym, '__init__', None), '__module__', None)   # object's slot wrapper: None; Protocol's: typing
        plain = inspect.isclass(sym) and (hasattr(sym, 'model_fields') or init_mod in (None, 'builtins', 'typing', 'typing_extensions'))
        if not plain: return orig(self)
        doc, src = '---\n\n', sd.NbdevLookup().code(self.fn)
        if src: doc += sd._ext_link(src, 'source', 'style="float:right; font-size:smaller"') + '\n\n'
        doc += f"{'#'*self.title_level} {self.nm}\n\n```python\n{class_signature(sym)}\n```"
        own = inspect.cleandoc(sym.__dict__.get('__doc__') or '')   # not pydantic's BaseModel docstring
        if own: doc += f"\n\n*{own}*"
        return doc
    sd.BasicMarkdownRenderer._repr_markdown_ = _repr_markdown_

# ---------------------------------------------------------------- pages and sidebar
def source_notebooks()->list:
    return sorted(p.relative_to(NBS) for p in NBS.rglob('*.ipynb')
                  if '.ipynb_checkpoints' not in p.parts and not any(x.startswith(('_', '.')) for x in p.parts))

def sidebar_groups(nbs=None)->list:
    "[(section title or None, [notebook paths])]: home and library pages first, then the sections in SECTIONS order"
    nbs = source_notebooks() if nbs is None else nbs
    top = [p for p in nbs if len(p.parts) == 1]
    top = sorted(top, key=lambda p: (p.name != 'index.ipynb', p.name))
    groups = [(None, top)]
    known = [d for d, _ in SECTIONS]
    dirs = known + sorted({p.parts[0] for p in nbs if len(p.parts) > 1} - set(known))
    for d in dirs:
        pages = [p for p in nbs if len(p.parts) > 1 and p.parts[0] == d]
        if pages: groups.append((dict(SECTIONS).get(d, d.capitalize()), pages))
    return groups

def write_sidebar(path=NBS/'sidebar.yml'):
    "The Quarto sidebar with the same sections and order as the MkDocs navigation"
    contents = []
    for title, pages in sidebar_groups():
        if title is None: contents += [str(p) for p in pages]
        else: contents.append({'section': title, 'contents': [str(p) for p in pages]})
    text = yaml.safe_dump({'website': {'sidebar': {'contents': contents}}}, sort_keys=False)
    if not path.exists() or path.read_text() != text: path.write_text(text)
    return text

def summary(nb_path)->tuple:
    "Title and the *whole* `>` summary (every line) of a source notebook"
    nb = json.loads((NBS/nb_path).read_text())
    for c in nb['cells']:
        if c['cell_type'] != 'markdown': continue
        src = ''.join(c['source'])
        m = re.match(r'\s*#\s+(.+)', src)
        if not m: continue
        desc = ' '.join(l[1:].strip() for l in src.splitlines() if l.startswith('>'))
        return m[1].strip(), desc
    return nb_path.stem, ''

# ---------------------------------------------------------------- processing nbdev's output for mkdocs-jupyter
def patch_mixed_import_cells():
    """nbdev's doc processing executes every cell that contains an import, so a test cell that also imports (say,
    `import tempfile` followed by test code using earlier non-imported names) fails the whole page. Only exported
    cells, show_doc cells and cells that are nothing but imports are executed here; `nbdev_docs` with Quarto still
    executes such cells (see nbdev's FAQ on cells mixing imports and code)."""
    import ast, nbdev.processors as P
    orig = P._do_eval
    def _do_eval(cell):
        r = orig(cell)
        if not r or cell.directives_.keys() & {'export', 'exports', 'exporti', 'exec_doc'}: return r
        trees = cell.parsed_()
        if P._show_docs(trees): return r
        if all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in trees): return r
        return None
    P._do_eval = _do_eval

def run_proc(keep_going=False)->list:
    "nbdev's processing of every notebook into _proc/ (what Quarto would render); returns the notebooks that failed"
    patch_show_doc()
    patch_mixed_import_cells()
    import nbdev.doclinks, nbdev.serve_drv
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml
    from nbdev.serve import _proc_file
    from fastcore.xtras import globtastic
    cfg = get_config()
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    write_sidebar()
    shutil.rmtree(PROC, ignore_errors=True); PROC.mkdir()
    files = [NBS/p for p in source_notebooks()] + [NBS/f for f in ('_quarto.yml', 'styles.css') if (NBS/f).exists()]
    failed = []
    for f in files:
        job = _proc_file(f, mtime=None, cache=PROC, path=NBS)
        if job is None: continue
        try: nbdev.serve_drv.main(job)
        except Exception as e:
            failed.append(f.relative_to(NBS))
            print(f"!!! {f.relative_to(ROOT)}: processing failed: {str(e).splitlines()[0]}", file=sys.stderr)
    if failed and not keep_going: sys.exit(f"{len(failed)} notebook(s) failed to process")
    return failed

def _front(nb)->dict:
    c = nb['cells'][0]
    if c['cell_type'] != 'raw': return {}
    src = ''.join(c['source']).strip()
    return yaml.safe_load(src.strip('-')) or {} if src.startswith('---') else {}

def out_name(nb_path)->Path:
    "Where a page lands (relative to the site root, `.html`), as nbdev names it (`output-file`)"
    nb = json.loads((PROC/nb_path).read_text())
    f = _front(nb).get('output-file') or nb_path.with_suffix('.html').name
    return nb_path.parent/f

def rel(target:Path, page:Path)->str:
    return os.path.relpath(target, page.parent or Path('.')).replace(os.sep, '/')

PANDOC_LINK = re.compile(r'\[([^\]\n]*)\]\(([^)\s]*)\)\{([^}\n]*)\}')
def fix_markdown(s:str, page:Path, names:dict, host:str)->str:
    "Pandoc link attributes -> HTML; links to the published host or to notebooks -> relative links between pages"
    s = PANDOC_LINK.sub(lambda m: f'<a href="{html.escape(m[2])}" {m[3]}>{m[1]}</a>', s)
    def local(m):
        url = m[2]
        path, _, frag = url.partition('#')
        if host and path.startswith(host): path = path[len(host):].lstrip('/')
        elif path.startswith(('http:', 'https:', 'mailto:', '#')) or not path: return m[0]
        elif path.startswith('nbs/'): path = path[4:]             # README-style link from the repository root
        else: path = str((page.parent/path)) if not path.startswith('/') else path.lstrip('/')
        target = names.get(os.path.normpath(path).replace('.html', '.ipynb')) or names.get(os.path.normpath(path))
        if target is None: return m[0]
        return f"{m[1]}{rel(target, page)}{'#'+frag if frag else ''}{m[3]}"
    s = re.sub(r'(\]\()([^)\s]+)(\))', local, s)
    # mkdocs-jupyter's table of contents drops inline code (and links) in headings: plain text there
    s = re.sub(r'^(#{1,6} .*)$', lambda m: re.sub(r'\[`([^`\]]+)`\]\([^)]*\)|`([^`]+)`', lambda k: k[1] or k[2], m[1]), s, flags=re.M)
    s = re.sub(r'(href=")([^"]+)(")', local, s)
    return s

def _directives(src:str)->tuple:
    lines, opts = src.splitlines(), {}
    while lines and re.match(r'\s*#\|', lines[0]):
        k, _, v = lines.pop(0).split('|', 1)[1].partition(':')
        opts[k.strip()] = v.strip()
    return opts, '\n'.join(lines)

def convert(nb_path:Path, page:Path, names:dict, host:str)->dict:
    nb = json.loads((PROC/nb_path).read_text())
    title, desc = summary(nb_path)
    head = f"# {title}\n\n> {desc}\n" if desc else f"# {title}\n"
    cells = [{'cell_type': 'markdown', 'metadata': {}, 'source': fix_markdown(head, page, names, host)}]
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'raw': continue
        if c['cell_type'] == 'markdown':
            if src.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
            cells.append({'cell_type': 'markdown', 'metadata': {}, 'source': fix_markdown(src, page, names, host)})
            continue
        opts, body = _directives(src)
        c.pop('has_sd', None)
        c['source'] = body
        tags = []
        if opts.get('echo') == 'false' or opts.get('include') == 'false': tags.append('remove_input')
        if opts.get('output') == 'false' or opts.get('include') == 'false': c['outputs'] = []
        for o in c.get('outputs', []):
            d = o.get('data', {})
            if 'text/markdown' in d:
                md = ''.join(d['text/markdown'])
                d['text/markdown'] = fix_markdown(md, page, names, host)
                if opts.get('output') == 'asis': d.pop('text/plain', None)
        if 'remove_input' in tags and not c.get('outputs'): continue
        c.setdefault('metadata', {})['tags'] = tags
        cells.append(c)
    for i, c in enumerate(cells): c['id'] = f"c{i}"
    nb['cells'] = cells
    nb.setdefault('metadata', {})['title'] = title
    return nb

# ---------------------------------------------------------------- vendored scripts (npm packages, fetched at build time)
def vendor()->dict:
    VENDOR.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, spec in NPM.items():
        tgz = next(iter(VENDOR.glob(f"{name}-*.tgz")), None)
        if tgz is None:
            r = subprocess.run(['npm', 'pack', spec, '--silent'], cwd=VENDOR, capture_output=True, text=True)
            if r.returncode: sys.exit(f"npm pack {spec} failed (needs the npm registry once): {r.stderr.strip()}")
            tgz = next(VENDOR.glob(f"{name}-*.tgz"))
        out[name] = tgz
    return out

def _extract(tgz:Path, member_prefix:str, dest:Path):
    with tarfile.open(tgz) as t:
        for m in t.getmembers():
            if m.isfile() and m.name.startswith(member_prefix):
                p = dest/m.name[len(member_prefix):]
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(t.extractfile(m).read())

# ---------------------------------------------------------------- checks on the built site
class _Links(HTMLParser):
    def __init__(self):
        super().__init__(); self.links, self.ids, self.text, self._skip = [], set(), [], 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if 'id' in a: self.ids.add(a['id'])
        if tag == 'a' and 'name' in a: self.ids.add(a['name'])
        for k in ('href', 'src'):
            if a.get(k) and not (tag == 'link' and a.get('rel') in ('preconnect', 'dns-prefetch')): self.links.append(a[k])
        if tag in ('script', 'style'): self._skip += 1
    def handle_endtag(self, tag):
        if tag in ('script', 'style'): self._skip -= 1
    def handle_data(self, d):
        if not self._skip: self.text.append(d)

DIRECTIVE_RE = re.compile(r'^\s*#\|\s*[\w-]+|\{target="|\{\.[\w-]+[ }]|^:::|show_doc\(|^output-file:|^---\s*$\ntitle:', re.M)
def check_site(site=SITE, pages=None)->list:
    "Problems: broken local links or anchors, outside requests, and directives that escaped processing"
    problems, parsed = [], {}
    def parse(p):
        if p not in parsed:
            h = _Links(); h.feed(p.read_text(errors='replace')); parsed[p] = h
        return parsed[p]
    htmls = sorted(p for p in site.rglob('*.html') if p.name != '404.html')   # 404 uses site-absolute links
    for p in htmls:
        h = parse(p)
        for url in h.links:
            u = urlsplit(url)
            if u.scheme in ('http', 'https') or url.startswith('//'):
                if p.relative_to(site).parts[0] not in ('assets',) and u.netloc not in ('github.com',) : pass
                continue
            if u.scheme in ('mailto', 'data', 'javascript') or u.scheme: continue
            target = (p.parent/unquote(u.path)).resolve() if u.path else p
            if target.is_dir(): target = target/'index.html'
            if not target.exists():
                problems.append(f"{p.relative_to(site)}: broken link {url}"); continue
            if u.fragment and target.suffix == '.html' and u.fragment not in parse(target).ids:
                problems.append(f"{p.relative_to(site)}: missing anchor {url}")
        if pages is None or p.relative_to(site).as_posix() in pages:
            text = ''.join(h.text)
            for m in DIRECTIVE_RE.finditer(text):
                line = text[max(0, m.start()-40):m.end()+40].replace('\n', ' ')
                problems.append(f"{p.relative_to(site)}: unprocessed directive: ...{line}...")
    return problems

def member_anchor_fallback(site=SITE):
    "nbdev links a method (`Class.method`) or a private helper to an anchor that exists only if it has its own show_doc: use the class, or the module page"
    ids = {}
    def page_ids(p):
        if p not in ids: h = _Links(); h.feed(p.read_text(errors='replace')); ids[p] = h.ids
        return ids[p]
    for p in site.rglob('*.html'):
        t = p.read_text(errors='replace')
        def fix(m):
            path, frag = m[2], m[3]
            target = (p.parent/path).resolve() if path else p
            if not target.exists() or target.suffix != '.html' or frag in page_ids(target): return m[0]
            parts = frag.split('.')
            while len(parts) > 1:
                parts.pop()
                if '.'.join(parts) in page_ids(target): return f'{m[1]}{path}#{".".join(parts)}"'
            if frag.startswith('_'): return f'{m[1]}{path or "#"}"'   # a private helper has no docs entry: its module page
            return m[0]
        new = re.sub(r'(href=")([^"#:]*)#(_[\w.-]+|[\w.-]+\.[\w.-]+)"', fix, t)
        if new != t: p.write_text(new)

# ---------------------------------------------------------------- build
def openapi_page(docs:Path)->str:
    "The simulation API's OpenAPI schema, published as a page and as openapi.json"
    try: from semantic_kv.serve.api import app
    except ImportError as e: return ''
    spec = app.openapi()
    (docs/'serve').mkdir(exist_ok=True)
    (docs/'serve'/'openapi.json').write_text(json.dumps(spec, indent=1))
    rows = '\n'.join(f"| `{m.upper()}` | `{path}` | {op.get('summary', '')} |"
                     for path, ops in spec['paths'].items() for m, op in ops.items())
    (docs/'serve'/'openapi.md').write_text(
        f"# Simulation API schema\n\nThe OpenAPI {spec.get('openapi')} schema of `semantic-kv api` "
        f"(version {spec['info'].get('version')}): [openapi.json](openapi.json).\n\n| method | path | |\n|---|---|---|\n{rows}\n\n"
        f"```json\n{json.dumps(spec, indent=1)}\n```\n")
    return 'serve/openapi.md'

def build(proc=True, keep_going=False):
    from nbdev.config import get_config
    cfg = get_config()
    host = f"{cfg.doc_host}{cfg.doc_baseurl}".rstrip('/') + '/'
    if proc: run_proc(keep_going)
    write_sidebar()
    shutil.rmtree(BUILD, ignore_errors=True)
    docs = BUILD/'docs'; docs.mkdir(parents=True)
    groups = [(t, [p for p in ps if (PROC/p).exists()]) for t, ps in sidebar_groups()]
    names = {}
    for _, ps in groups:
        for p in ps:
            o = out_name(p)
            names[str(p)] = names[str(p.with_suffix('.html'))] = names[str(o)] = o
    nav, pages = [], []
    for title, ps in groups:
        items = []
        for p in ps:
            o = names[str(p)]
            nb = convert(p, o, names, host)
            dst = docs/o.with_suffix('.ipynb'); dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(json.dumps(nb))
            items.append({summary(p)[0].replace('`', '') if p.name != 'index.ipynb' else 'Home': str(o.with_suffix('.ipynb'))})
            pages.append(o.as_posix())
        if title is None: nav += items
        else: nav.append({title: items})
    api = openapi_page(docs)
    if api:
        svc = next((g for g in nav if isinstance(g, dict) and 'Services' in g), None)
        if svc is None: svc = {'Services': []}; nav.insert(len(nav) - (1 if any('Benchmarks' in g for g in nav if isinstance(g, dict)) else 0), svc)
        svc['Services'].append({'API schema (OpenAPI)': api})
    shutil.copy(NBS/'styles.css', docs/'styles.css')
    tgz = vendor()
    _extract(tgz['iframe-worker'], 'package/shim/', docs/'assets'/'vendor'/'iframe-worker')
    conf = yaml.safe_load((ROOT/'tools'/'mkdocs.yml').read_text())
    conf.update(docs_dir=str(docs), site_dir=str(SITE), nav=nav)
    (BUILD/'mkdocs.yml').write_text(yaml.safe_dump(conf, sort_keys=False))
    shutil.rmtree(SITE, ignore_errors=True)
    env = dict(os.environ, NO_MKDOCS_2_WARNING='1')
    r = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '-q', '-f', str(BUILD/'mkdocs.yml')], env=env)
    if r.returncode: sys.exit(f"mkdocs build failed ({r.returncode})")
    _extract(tgz['mathjax'], 'package/es5/', SITE/'assets'/'vendor'/'mathjax')
    for p in SITE.rglob('*.html'):
        t = p.read_text()
        if MATHJAX_MARK in t:
            src = rel(Path('assets/vendor/mathjax/tex-chtml-full.js'), p.relative_to(SITE))
            t = t.replace(f'<script src="{MATHJAX_MARK}"> </script>',
                          "<script>window.MathJax={tex:{inlineMath:[['$','$'],['\\\\(','\\\\)']],processEscapes:true}};</script>"
                          f'<script src="{src}"></script>')
            p.write_text(t)
    member_anchor_fallback(SITE)
    problems = check_site(SITE, set(pages))
    for x in problems: print(x, file=sys.stderr)
    if problems: sys.exit(f"site check failed: {len(problems)} problem(s)")
    print(f"built {len(pages)} notebook pages{' + API schema' if api else ''} into {SITE.relative_to(ROOT)}/; "
          f"links, anchors and directives checked")

if __name__ == '__main__':
    build(proc='--no-proc' not in sys.argv, keep_going='--keep-going' in sys.argv)
