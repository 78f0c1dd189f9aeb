"""Build the documentation website from the notebooks, without Quarto: nbdev's own processing (`_proc/`), then
MkDocs Material + mkdocs-jupyter into `_site/`, fully offline at run time (MathJax and the search polyfill are
vendored from their npm packages at build time). Afterwards every local link and anchor is checked and any
directive that escaped processing fails the build.

Rules that fail the build (each names the notebook and cell):
- a page without a `# Title` in its first markdown cell (it would fall back to its file name);
- a warning, a traceback, a temporary path or this machine's checkout or environment path in a published output
  (known third-party log noise on stderr, tqdm's IProgress warning and Ray's timestamped log lines, is dropped first
  and counted in one summary line);
- `NoneType`, `__main__.`, `<factory>` or a raw Markdown link in a signature (`patch_show_doc` renders annotations
  as written, dataclasses and models with their fields, classes as `class`);
- a plain-text table wider than the page (`PAGE_CHARS`): a table pandas printed is turned into an HTML table
  (`text_table`); one that cannot be parsed fails.
Pages share one copy of the notebook stylesheet (`shared_styles`), and the search index holds prose only
(tools/mkdocs_hooks.py). The simulation API's reference is its OpenAPI schema rendered by ReDoc (vendored).

    python tools/build_site.py            # what `bash tools/build_site.sh` runs
    python tools/build_site.py --no-proc  # reuse an existing _proc/ (faster when iterating)
    python tools/build_site.py --keep-going  # leave out notebooks that fail to process instead of stopping
"""
import html, inspect, json, os, re, shutil, subprocess, sys, tarfile, warnings
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit, unquote

import yaml

ROOT = Path(__file__).resolve().parent.parent
NBS, PROC, SITE = ROOT/'nbs', ROOT/'_proc', ROOT/'_site'
BUILD = ROOT/'build'/'site'           # generated mkdocs project (docs/ + mkdocs.yml)
VENDOR = ROOT/'build'/'vendor'        # npm tarballs, fetched once
NPM = {'mathjax': 'mathjax@3.2.2', 'iframe-worker': 'iframe-worker@1.0.4', 'redoc': 'redoc@2.5.0'}
# Sidebar sections after the library pages (which come first, in file = layer order); subfolders of nbs/.
MATHJAX_MARK = 'SKV-MATHJAX'
REDOC_BADGE = 'https://cdn.redoc.ly/redoc/logo-mini.svg'

# ---------------------------------------------------------------- show_doc: signatures as a reader writes them
def _anno(a)->str:
    "An annotation as written in code: `X | None` (never `NoneType`), no module prefixes (`__main__.`, `typing.`, ours)"
    import types, typing
    if a is None or a is type(None): return 'None'
    if isinstance(a, str): s = a
    elif isinstance(a, list): return '[' + ', '.join(map(_anno, a)) + ']'
    else:
        o, args = typing.get_origin(a), typing.get_args(a)
        if o in (typing.Union, types.UnionType): return ' | '.join(_anno(x) for x in args)
        if o is typing.Literal: return f"Literal[{', '.join(map(repr, args))}]"
        if o is not None and args:
            name = getattr(o, '__name__', None) or str(o).replace('typing.', '')
            return f"{name}[{', '.join(map(_anno, args))}]"
        s = a.__name__ if inspect.isclass(a) else inspect.formatannotation(a)
    s = re.sub(r'\b(?:__main__|typing|semantic_kv(?:\.\w+)*)\.(?=[A-Z_a-z])', '', s.replace("'", ''))
    return re.sub(r'\bNoneType\b', 'None', s).replace(' ', '').replace('|', ' | ')

def _default(v, factory=None)->str:
    "A default value as code; a factory default as the value it makes; paths on the build machine relative to the project"
    if factory is not None:
        try: v = factory()
        except Exception: return f"{getattr(factory, '__name__', 'factory')}()"
    if inspect.isfunction(v) or inspect.isclass(v): return v.__name__
    if hasattr(v, 'value') and hasattr(v, 'name') and type(v).__module__ != 'builtins': return f"{type(v).__name__}.{v.name}"
    r = repr(v)
    for base in (str(ROOT) + os.sep, str(ROOT)): r = r.replace(base, '')
    return r if len(r) <= 60 else r[:57] + '...'

MD_LINK = re.compile(r'\[([^\]\n]+)\]\([^)\s]+\)')
def _comment(doc)->str:
    "A docments comment as plain text: Markdown links keep their text"
    return MD_LINK.sub(r'\1', doc or '').replace('`', '') if doc else ''

def _field_comments(cls)->dict:
    "Trailing `# comments` on annotated class attributes (docments for models)"
    try: src = inspect.getsource(cls)
    except (OSError, TypeError): return {}
    return {m[1]: m[2].strip() for m in re.finditer(r'^\s+(\w+)\s*:[^#\n]*#\s*(.*)$', src, re.M)}

def class_signature(cls)->str:
    "A class header; a pydantic model or a dataclass lists its fields (type, default, comment) as its constructor takes them"
    import dataclasses, enum
    bases = ', '.join(b.__name__ for b in cls.__bases__ if b is not object)
    head = f"class {cls.__name__}({bases}):" if bases else f"class {cls.__name__}:"
    lines = (['@dataclass'] if dataclasses.is_dataclass(cls) else []) + [head]
    notes = _field_comments(cls)
    def line(name, anno, has_default, d, factory, doc):
        s = f"    {name}:{_anno(anno)}" + (f"={_default(d, factory)}" if has_default else '')
        doc = _comment(doc)
        return s + (f"  # {doc}" if doc else '')
    fields = getattr(cls, 'model_fields', None)
    if fields is not None:
        for name, f in fields.items():
            lines.append(line(name, f.annotation, not f.is_required(), f.default, f.default_factory, f.description or notes.get(name)))
    elif issubclass(cls, enum.Enum):
        lines += [f"    {m.name} = {m.value!r}" for m in cls]
    elif dataclasses.is_dataclass(cls):
        hints = {}
        try: hints = typing_hints(cls)
        except Exception: pass
        for f in dataclasses.fields(cls):
            if not f.init: continue
            has = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            fac = f.default_factory if f.default_factory is not dataclasses.MISSING else None
            lines.append(line(f.name, hints.get(f.name, f.type), has, f.default, fac, notes.get(f.name)))
    else:
        for k, a in vars(cls).get('__annotations__', {}).items():
            doc = _comment(notes.get(k))
            lines.append(f"    {k}:{_anno(a)}" + (f"  # {doc}" if doc else ''))
        attrs = [(k, v) for k, v in vars(cls).items() if not k.startswith('_') and isinstance(v, (str, int, float, bool))]
        lines += [f"    {k} = {v!r}" for k, v in attrs]
    if len(lines) == 1 + dataclasses.is_dataclass(cls): lines.append('    ...')
    return '\n'.join(lines)

def typing_hints(cls)->dict:
    import typing, sys as _s
    return typing.get_type_hints(cls, vars(_s.modules.get(cls.__module__)) if cls.__module__ in _s.modules else None)

def patch_show_doc():
    """show_doc as a reader expects it: models and dataclasses with their fields, plain classes without a fake
    `(*args, **kwargs)`, a class with its own `__init__` as `class Name(...)` (not `def`), annotations as written
    (`X | None`, never `NoneType` or `__main__.X`), factory defaults as values, docments comments without Markdown"""
    import dataclasses, enum, nbdev.showdoc as sd, fastcore.docments as fd
    from inspect import Parameter
    def signature(obj, *a, eval_str=False, **k):   # an annotation naming a type defined later: show it as written
        try: return inspect.signature(obj, *a, eval_str=eval_str, **k)
        except NameError: return inspect.signature(obj, *a, eval_str=False, **k)
    fd.signature = signature
    def _fmt_param(self, nm, p):
        anno, default, kind = p.get('anno', fd.empty), p.get('default', fd.empty), p.get('kind')
        try: real = inspect.signature(self.obj).parameters[nm].annotation   # docments infers `type(default)`: show only a written one
        except (ValueError, TypeError, KeyError): real = anno
        if real is fd.empty and anno is type(None): anno = fd.empty
        pre = '*' if kind == Parameter.VAR_POSITIONAL else '**' if kind == Parameter.VAR_KEYWORD else ''
        fac = None
        if default is dataclasses._HAS_DEFAULT_FACTORY:
            fac = getattr(getattr(self.obj, '__dataclass_fields__', {}).get(nm), 'default_factory', None)
        return pre + nm + (f':{_anno(anno)}' if anno is not fd.empty else '') + (f'={_default(default, fac)}' if default is not fd.empty else '')
    fd.DocmentText._fmt_param = _fmt_param
    fd.DocmentText.params = property(lambda self: [(self._fmt_param(k, v), _comment(v.get('docment', ''))) for k, v in self.dm.items() if k != 'return'])
    def _ret_str(self):
        if inspect.isclass(self.obj): return '):'
        ret = self.dm.get('return', {})
        a = ret.get('anno', fd.empty)
        anno = f"->{_anno(a)}" if a is not fd.empty else ''
        doc = f" # {_comment(ret['docment'])}" if ret.get('docment') else ''
        return f"){anno}:{doc}"
    fd.DocmentText._ret_str = property(_ret_str)
    orig_str = fd.DocmentText.__str__
    def __str__(self):
        s = orig_str(self)
        return re.sub(r'^def ', 'class ', s, count=1) if inspect.isclass(self.obj) else s
    fd.DocmentText.__str__ = fd.DocmentText.__repr__ = __str__
    orig = sd.BasicMarkdownRenderer._repr_markdown_
    def _repr_markdown_(self):
        sym = self.sym
        init_mod = getattr(getattr(sym, '__init__', None), '__module__', None)   # object's slot wrapper: None; Protocol's: typing
        plain = inspect.isclass(sym) and (hasattr(sym, 'model_fields') or dataclasses.is_dataclass(sym) or issubclass(sym, enum.Enum)
                                          or init_mod in (None, 'builtins', 'typing', 'typing_extensions'))
        if not plain: return orig(self)
        doc, src = '---\n\n', sd.NbdevLookup().code(self.fn)
        if src: doc += sd._ext_link(src, 'source', 'style="float:right; font-size:smaller"') + '\n\n'
        doc += f"{'#'*self.title_level} {self.nm}\n\n```python\n{class_signature(sym)}\n```"
        own = inspect.cleandoc(sym.__dict__.get('__doc__') or '')   # not pydantic's BaseModel docstring
        if dataclasses.is_dataclass(sym) and own.startswith(sym.__name__ + '('): own = ''   # dataclass's generated docstring
        if own: doc += f"\n\n*{own}*"
        return doc
    sd.BasicMarkdownRenderer._repr_markdown_ = _repr_markdown_

# ---------------------------------------------------------------- pages and sidebar
def source_notebooks()->list:
    return sorted(p.relative_to(NBS) for p in NBS.rglob('*.ipynb')
                  if '.ipynb_checkpoints' not in p.parts and not any(x.startswith(('_', '.')) for x in p.parts))

def _num(p): return p.name.split('_')[0]
START = ['index.ipynb', 'experiments/00_overview.ipynb', '90_cli.ipynb']     # "Start here", in this order
# The library reference in groups, by notebook number prefix (a new module falls into the group of its number)
LIBRARY = [('Requests, tokens and blocks', ('00', '00b', '01', '02', '03', '04')),
           ('Cache core and eviction policies', ('05', '05b', '06', '06b', '06c', '06d', '07', '07b', '07c', '07d', '08', '09')),
           ('Synthetic workloads', ('10', '10a', '10b', '10c', '10d', '10e', '10f', '10g', '10h', '10i', '10j')),
           ('Routing and clusters', ('11', '14')),
           ('Experiments, reports and benchmarks', ('12', '13', '13b', '15', '16')),
           ('Traces and formats', ('19', '20', '21', '22', '22b', '23', '24')),
           ('Command line and package', ('90', '91', '92'))]
SECTIONS = [('experiments', 'Experiments'), ('serve', 'Serving'), ('benchmarks', 'Benchmarks')]

def sidebar_groups(nbs=None)->list:
    """[(section, [entries])], an entry a notebook path or (subsection, [paths]): Start here, Experiments, Serving,
    Library reference (in groups), Benchmarks; every notebook exactly once"""
    nbs = source_notebooks() if nbs is None else nbs
    start = [Path(x) for x in START if Path(x) in nbs]
    rest = [p for p in nbs if p not in start]
    sec = {d: [p for p in rest if len(p.parts) > 1 and p.parts[0] == d] for d, _ in SECTIONS}
    top = [p for p in rest if len(p.parts) == 1]
    lib, seen = [], set()
    for title, nums in LIBRARY:
        ps = [p for p in top if _num(p) in nums]
        seen |= set(ps)
        if ps: lib.append((title, ps))
    if other := [p for p in top if p not in seen]: lib.append(('More modules', other))
    groups = [('Start here', start), ('Experiments', sec['experiments']), ('Serving', sec['serve']),
              ('Library reference', lib), ('Benchmarks', sec['benchmarks'])]
    known = {d for d, _ in SECTIONS}
    for d in sorted({p.parts[0] for p in rest if len(p.parts) > 1} - known):
        groups.append((d.capitalize(), [p for p in rest if len(p.parts) > 1 and p.parts[0] == d]))
    return [(t, es) for t, es in groups if es]

def group_pages(groups)->list:
    "Every notebook of `sidebar_groups`, in order"
    return [q for _, es in groups for e in es for q in ([e] if isinstance(e, Path) else e[1])]

def write_sidebar(path=NBS/'sidebar.yml'):
    "The Quarto sidebar with the same sections and order as the MkDocs navigation"
    def entry(e): return str(e) if isinstance(e, Path) else {'section': e[0], 'contents': [str(q) for q in e[1]]}
    contents = [{'section': t, 'contents': [entry(e) for e in es]} for t, es in sidebar_groups()]
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
    failed, mixed = [], []
    for f in files:
        job = _proc_file(f, mtime=None, cache=PROC, path=NBS)
        if job is None: continue
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter('always')
            try: nbdev.serve_drv.main(job)
            except Exception as e:
                failed.append(f.relative_to(NBS))
                print(f"!!! {f.relative_to(ROOT)}: processing failed: {str(e).splitlines()[0]}", file=sys.stderr)
        for w in ws:   # nbdev's "cells containing imports and other code": handled by patch_mixed_import_cells, one summary line
            if str(w.message).startswith('Found cells containing imports and other code'): mixed.append(f.relative_to(NBS))
            else: warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if mixed: print(f"note: {len(mixed)} cell(s) in {len(set(mixed))} notebook(s) mix imports and other code; "
                    "only their imports run at processing time (nbdev FAQ)", file=sys.stderr)
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

# Third-party log noise in stderr (not a result): dropped from the published page, counted in one summary line.
NOISE = re.compile(r'^.*TqdmWarning: IProgress not found.*\n(?:[ \t]+from \.autonotebook import .*\n?)?'
                   r'|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\t(?:DEBUG|INFO|WARNING) .*\n?', re.M)
BAD_OUTPUT = re.compile(r'\b\w*Warning\b:|\bWARNING\b|Traceback \(most recent call last\)|/tmp/|/var/folders/'
                        f"|{re.escape(str(ROOT))}|{re.escape(sys.prefix)}")
BAD_SIGNATURE = re.compile(r'NoneType|__main__\.|<factory>|\]\(https?:|^class \w+\(\s*\*args, \*\*kwds?\s*\):', re.M)   # the last: a fake class signature
PAGE_CHARS = 118   # monospace characters that fit the content column at 1,400 px without scrolling
PROBLEMS, DROPPED = [], []

def _otext(o)->str:
    if 'text' in o: return ''.join(o['text'])
    return '\n'.join(''.join(v) if isinstance(v, list) else v for k, v in o.get('data', {}).items()
                     if k in ('text/plain', 'text/markdown', 'text/html') and isinstance(v, (str, list)))

def printed_table_width(t:str)->int:
    "Width of the widest line of a plain-text table in `t` (lines with 2+ column gaps, or pandas' wrapped `\\` lines); 0 if none"
    lines = t.splitlines()
    if any(l.endswith(' \\') for l in lines): return max(len(l) for l in lines) + PAGE_CHARS   # pandas wrapped a wide frame
    rows = [l for l in lines if len(re.findall(r'\S {2,}(?=\S)', l)) >= 2]
    return max(map(len, rows)) if len(rows) >= 3 else 0

def text_table(block:str)->str|None:
    """A table printed by pandas (`print(df)`, `df.to_string()`: every line the same width, values right-aligned) as
    an HTML table (caption lines above it kept); None if `block` is not one"""
    lines, cap = block.splitlines(), []
    while lines and lines[0].strip() and not lines[0][0].isspace() and len(re.findall(r'\S {2,}(?=\S)', lines[0])) < 2:
        cap.append(lines.pop(0))
    if len(lines) < 2: return None
    w = len(lines[-1])
    named = next((i for i, l in enumerate(lines[:5]) if i and not l[0].isspace() and len(l.rstrip()) < w/2), None)
    heads, rows = (lines[:named], lines[named+1:]) if named is not None else (lines[:1], lines[1:])
    if not rows or not heads or any(len(l) != w for l in rows + heads[-1:]): return None
    heads = heads[:-1] + [heads[-1]]
    ends = [p for p in range(w) if all(r[p] != ' ' and (p+1 == w or r[p+1] == ' ') for r in rows)]
    if not ends or ends[-1] != w-1: return None
    def split_index(r):   # (index text, first column's value): they are separated by the last run of 2+ spaces
        left = r[:ends[0]+1].rstrip(); k = left.rfind('  ')
        return (left[:k].strip(), left[k:].strip()) if k >= 0 else ('', left.strip())
    def cells(r): return [split_index(r)[1]] + [r[a+1:b+1].strip() for a, b in zip(ends, ends[1:])]
    if any(not all(cells(r)) for r in rows): return None      # a value that did not line up
    e, starts = html.escape, [None] + [x+1 for x in ends[:-1]]
    thead = []
    first = min(ends[0] + 1 - len(cells(r)[0]) for r in rows)
    spans = [first] + [x+1 for x in ends[:-1]]
    for u in heads[:-1]:   # upper MultiIndex levels: each label starts over the first column of its group
        labs, idx = [None]*len(ends), ''
        for m in re.finditer(r'\S+(?: \S+)*', u):
            k = next((k for k in range(len(ends)-1, -1, -1) if m.start() >= spans[k]), 0 if m.end() > first else None)
            if k is None: idx = m[0]
            else: labs[k] = m[0]
        row, k = [f"<th>{e(idx)}</th>"], 0
        while k < len(labs):
            n = k
            while n+1 < len(labs) and labs[n+1] is None: n += 1
            row.append(f'<th colspan="{n-k+1}">{e(labs[k] or "")}</th>' if n > k else f"<th>{e(labs[k] or '')}</th>"); k = n+1
        thead.append('<tr>' + ''.join(row) + '</tr>')
    thead.append('<tr>' + f"<th>{e(split_index(heads[-1])[0])}</th>" + ''.join(f"<th>{e(x)}</th>" for x in cells(heads[-1])) + '</tr>')
    if named is not None: thead.append('<tr>' + f"<th>{e(re.sub(' {2,}', ' · ', lines[named].strip()))}</th>" + '<th></th>'*len(ends) + '</tr>')
    tbody = ''.join('<tr>' + f"<th>{e(re.sub(' {2,}', ' · ', split_index(r)[0]))}</th>" + ''.join(f"<td>{e(c)}</td>" for c in cells(r)) + '</tr>' for r in rows)
    caption = ''.join(f"<p><strong>{e(c)}</strong></p>" for c in cap)
    return f'{caption}<table class="dataframe printed"><thead>{"".join(thead)}</thead><tbody>{tbody}</tbody></table>'

def printed_tables_html(t:str)->str|None:
    "Stream text whose wide printed tables become HTML tables (other paragraphs kept as text); None if none is wide"
    blocks = re.split(r'\n\s*\n', t.strip('\n'))
    out, hit = [], False
    for b in blocks:
        h = text_table(b) if printed_table_width(b) > PAGE_CHARS else None
        hit |= h is not None
        out.append(h or f"<pre>{html.escape(b)}</pre>")
    return '\n'.join(out) if hit else None

def clean_outputs(outs:list, where:str)->list:
    """Drop third-party log noise from stderr; record rule breaks: a warning or a build machine's path in a published
    output, a printed (plain text) table wider than the page"""
    res = []
    for o in outs:
        if o.get('output_type') == 'stream' and o.get('name') == 'stderr':
            t = ''.join(o['text']); n = len(NOISE.findall(t))
            if n: DROPPED.append(n); t = NOISE.sub('', t)
            if not t.strip(): continue
            o = dict(o, text=t)
        if o.get('output_type') == 'stream' and o.get('name') == 'stdout' and (h := printed_tables_html(''.join(o['text']))):
            o = {'output_type': 'display_data', 'metadata': {}, 'data': {'text/html': h}}   # a printed table: a real table
        t = _otext(o)
        for sig in re.findall(r'```python\n(.*?)```', t, re.S):
            if m := BAD_SIGNATURE.search(sig): PROBLEMS.append(f"{where}: `{m[0]}` in a signature: ...{sig[max(0, m.start()-60):m.end()+20]!r}...")
        if m := BAD_OUTPUT.search(t): PROBLEMS.append(f"{where}: a warning or build-machine path in an output: ...{t[max(0, m.start()-60):m.end()+40]!r}...")
        plain = o.get('text') if 'text' in o else (o.get('data', {}).get('text/plain') if not {'text/html', 'text/markdown', 'image/svg+xml', 'image/png'} & o.get('data', {}).keys() else None)
        if plain and (wide := printed_table_width(''.join(plain))) > PAGE_CHARS:
            PROBLEMS.append(f"{where}: a printed table {wide} characters wide (the page fits {PAGE_CHARS}): show it as a DataFrame (HTML) or a chart")
        res.append(o)
    return res

def convert(nb_path:Path, page:Path, names:dict, host:str)->dict:
    nb = json.loads((PROC/nb_path).read_text())
    title, desc = summary(nb_path)
    if title == nb_path.stem: PROBLEMS.append(f"{nb_path}: no title: its first markdown cell needs a `# Title` line (and a `> summary`)")
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
        c['outputs'] = clean_outputs(c.get('outputs', []), f"{nb_path}: cell {len(cells)}")
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

def _extract(tgz:Path, member_prefix:str, dest:Path, only=None):
    with tarfile.open(tgz) as t:
        for m in t.getmembers():
            if m.isfile() and m.name.startswith(member_prefix) and (only is None or m.name[len(member_prefix):] in only):
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

def shared_styles(site=SITE, min_bytes=5000):
    """mkdocs-jupyter inlines the same ~600 kB of notebook CSS into every page: each large `<style>` block that several
    pages share moves to one cached stylesheet (`assets/stylesheets/nb-<hash>.css`), linked where the block was"""
    import hashlib
    STYLE = re.compile(r'<style[^>]*>(.*?)</style>', re.S)
    pages = [p for p in site.rglob('*.html') if 'assets' not in p.relative_to(site).parts]
    seen = {}
    for p in pages:
        for m in STYLE.finditer(p.read_text()):
            if len(m[1]) >= min_bytes: seen.setdefault(hashlib.sha256(m[1].encode()).hexdigest()[:12], set()).add(p)
    shared = {h for h, ps in seen.items() if len(ps) > 1}
    out = site/'assets'/'stylesheets'; out.mkdir(parents=True, exist_ok=True)
    for p in pages:
        t = p.read_text()
        def link(m):
            h = hashlib.sha256(m[1].encode()).hexdigest()[:12]
            if len(m[1]) < min_bytes or h not in shared: return m[0]
            f = out/f"nb-{h}.css"
            if not f.exists(): f.write_text(m[1])
            return f'<link rel="stylesheet" href="{rel(f.relative_to(site), p.relative_to(site))}">'
        new = STYLE.sub(link, t)
        if new != t: p.write_text(new)

# ---------------------------------------------------------------- build
def openapi_page(docs:Path)->str:
    """The simulation API's reference: its OpenAPI schema (`serve/openapi.json`) rendered by ReDoc, vendored from npm
    (offline at run time), after a table of the endpoints"""
    try: from semantic_kv.serve.api import app
    except ImportError as e: return ''
    spec = app.openapi()
    (docs/'serve').mkdir(exist_ok=True)
    (docs/'serve'/'openapi.json').write_text(json.dumps(spec, indent=1))
    rows = '\n'.join(f"| `{m.upper()}` | `{path}` | {op.get('summary', '')} |"
                     for path, ops in spec['paths'].items() for m, op in ops.items())
    opts = dict(hideDownloadButton=False, scrollYOffset='.md-header', expandResponses='200', jsonSampleExpandLevel=2,
                theme=dict(typography=dict(fontFamily='inherit', headings=dict(fontFamily='inherit'), code=dict(fontFamily='monospace'))))
    (docs/'serve'/'openapi.md').write_text(
        f"---\nhide:\n  - toc\n---\n\n# Simulation API reference\n\n"
        f"`semantic-kv api` (OpenAPI {spec.get('openapi')}, version {spec['info'].get('version')}): every endpoint with its "
        f"request and response schemas, examples and errors. The schema itself: [openapi.json](openapi.json).\n\n"
        f"| method | path | |\n|---|---|---|\n{rows}\n\n"
        f'<div id="redoc" class="skv-redoc"></div>\n<script src="../assets/vendor/redoc/redoc.standalone.js"></script>\n'
        f"<script>Redoc.init('openapi.json', {json.dumps(opts)}, document.getElementById('redoc'))</script>\n")
    return 'serve/openapi.md'

def build(proc=True, keep_going=False):
    from nbdev.config import get_config
    cfg = get_config()
    host = f"{cfg.doc_host}{cfg.doc_baseurl}".rstrip('/') + '/'
    if proc: run_proc(keep_going)
    write_sidebar()
    shutil.rmtree(BUILD, ignore_errors=True)
    docs = BUILD/'docs'; docs.mkdir(parents=True)
    groups = sidebar_groups([p for p in source_notebooks() if (PROC/p).exists()])
    names = {}
    for p in group_pages(groups):
        o = out_name(p)
        names[str(p)] = names[str(p.with_suffix('.html'))] = names[str(o)] = o
    pages = []
    def item(p):
        o = names[str(p)]
        nb = convert(p, o, names, host)
        dst = docs/o.with_suffix('.ipynb'); dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(nb))
        pages.append(o.as_posix())
        return {summary(p)[0].replace('`', '') if p.name != 'index.ipynb' else 'Home': str(o.with_suffix('.ipynb'))}
    nav = [{t: [item(e) if isinstance(e, Path) else {e[0]: [item(q) for q in e[1]]} for e in es]} for t, es in groups]
    api = openapi_page(docs)
    if api:
        svc = next((g for g in nav if 'Serving' in g), None)
        if svc is None: svc = {'Serving': []}; nav.insert(min(3, len(nav)), svc)
        svc['Serving'].append({'Simulation API reference (OpenAPI)': api})
    shutil.copy(NBS/'styles.css', docs/'styles.css')
    tgz = vendor()
    _extract(tgz['iframe-worker'], 'package/shim/', docs/'assets'/'vendor'/'iframe-worker')
    _extract(tgz['redoc'], 'package/bundles/', docs/'assets'/'vendor'/'redoc', only=('redoc.standalone.js', 'redoc.standalone.js.LICENSE.txt'))
    rd = docs/'assets'/'vendor'/'redoc'/'redoc.standalone.js'   # its only request off the site: the "Redocly" badge
    js = rd.read_text()
    if REDOC_BADGE not in js: sys.exit(f"{rd}: the Redocly badge URL was not found: check the vendored ReDoc version")
    rd.write_text(js.replace(REDOC_BADGE, 'data:image/svg+xml,%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22%2F%3E'))
    conf = yaml.safe_load((ROOT/'tools'/'mkdocs.yml').read_text())
    conf.update(docs_dir=str(docs), site_dir=str(SITE), nav=nav, hooks=[str(ROOT/'tools'/'mkdocs_hooks.py')])
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
    shared_styles(SITE)
    if DROPPED: print(f"note: {sum(DROPPED)} third-party log line(s) (tqdm, Ray) left out of stderr outputs", file=sys.stderr)
    problems = PROBLEMS + check_site(SITE, set(pages))
    for x in problems: print(x, file=sys.stderr)
    if problems: sys.exit(f"site check failed: {len(problems)} problem(s)")
    print(f"built {len(pages)} notebook pages{' + API schema' if api else ''} into {SITE.relative_to(ROOT)}/; "
          f"links, anchors and directives checked")

if __name__ == '__main__':
    build(proc='--no-proc' not in sys.argv, keep_going='--keep-going' in sys.argv)
