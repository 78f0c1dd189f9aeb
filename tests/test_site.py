"""The documentation website in a real browser (Debian's chromium, driven by playwright, no download): the home
page, a module page, every experiment page, the API reference and the search; titles, the grouped sidebar, zero
console errors and no request leaving the site. Then every page: each chart renders, nothing overflows sideways at
1,400 px, and the page weighs under 1.5 MB.

Screenshots: the first page of every top-level section of the sidebar (and the API reference) is kept in
`_site/screenshots/` (`section-<n>-<name>.png`, 1,400 × 900, top of the page), with `home-chart.png` (the home page's
chart in view) and `experiment-low_memory_rag_stress.png`. Builds the site first if _site/ is missing (set SKV_SITE
to test another build)."""
import functools, http.server, os, re, shutil, subprocess, sys, threading
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get('SKV_SITE', ROOT/'_site'))
CHROMIUM = os.environ.get('SKV_CHROMIUM') or shutil.which('chromium') or shutil.which('chromium-browser')   # SKV_CHROMIUM: e.g. playwright's own build in CI
pw = pytest.importorskip('playwright.sync_api')
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs a chromium binary (Debian: apt-get install chromium)")
EXPERIMENTS = ['experiments/low_memory_rag_stress.html', 'experiments/shared_system_prompt_high_reuse.html',
               'experiments/tool_agent_session_reuse.html', 'experiments/legal_review_long_context.html',
               'experiments/workload_shift_static_vs_adaptive.html']

@pytest.fixture(scope='module')
def base_url():
    if not (SITE/'index.html').exists():
        subprocess.run([sys.executable, str(ROOT/'tools'/'build_site.py')], check=True, cwd=ROOT)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    handler = functools.partial(Quiet, directory=str(SITE))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()
    try: yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally: srv.shutdown(); srv.server_close(); t.join(5)

@pytest.fixture(scope='module')
def browser():
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu'])
        try: yield b
        finally: b.close()

class Page:
    "A page with its console errors, page errors and any request that tried to leave the site"
    def __init__(self, browser, base_url, width=1400):
        self.ctx = browser.new_context(viewport={'width': width, 'height': 900})
        self.errors, self.outside = [], []
        self.page = self.ctx.new_page()
        self.page.on('request', lambda r: r.url.startswith((base_url, 'data:', 'blob:', 'about:')) or self.outside.append(r.url))
        self.page.on('console', lambda m: m.type == 'error' and self.errors.append(m.text))
        self.page.on('pageerror', lambda e: self.errors.append(str(e)))
        self.base = base_url
    def open(self, path):
        self.page.goto(self.base + path, wait_until='load'); self.page.wait_for_load_state('networkidle')
        return self.page
    def close(self): self.ctx.close()
    def clean(self):
        assert not self.errors, self.errors
        assert not self.outside, self.outside

@pytest.fixture
def page(browser, base_url):
    p = Page(browser, base_url)
    try: yield p
    finally: p.close()

def sidebar(pg): return [t.strip() for t in pg.locator('nav.md-nav--primary .md-nav__link').evaluate_all('ls => ls.map(l => l.textContent)') if t.strip()]
SECTIONS = ['Start here', 'Experiments', 'Serving', 'Library reference', 'Benchmarks']
MAX_PAGE_BYTES = 1_500_000

def shot(pg, name, full_page=False):
    d = SITE/'screenshots'; d.mkdir(exist_ok=True)
    pg.screenshot(path=str(d/name), full_page=full_page)

def site_pages(): return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob('*.html')
                                if p.name != '404.html' and 'assets' not in p.relative_to(SITE).parts)

def test_home(page):
    pg = page.open('index.html')
    assert 'SemanticKV' in pg.title()
    nav = sidebar(pg)
    assert [n for n in nav if n in SECTIONS] == SECTIONS, nav           # the sidebar's sections, in this order
    for item in ('Home', 'Experiments: overview', 'Command line', 'Eviction policies', 'Prefix-cache simulator'):
        assert item in nav, (item, nav)
    heads = [h.strip().rstrip('¶') for h in pg.locator('.md-content h2').all_inner_texts()]
    assert heads[0] == 'The answer' and heads.index('Where to go next') < heads.index('Quickstart'), heads
    chart = pg.locator('.md-content .jp-OutputArea svg, .md-content .jp-OutputArea img').first   # the headline chart
    assert chart.bounding_box()['height'] > 100
    answer_y = pg.locator('.md-content h2', has_text='The answer').bounding_box()['y']
    assert answer_y < chart.bounding_box()['y']                          # the answer first, then the chart
    text = pg.locator('.md-content').inner_text()
    assert '\\|' not in text and 'process,ray,serial' in text           # no escaped pipes left in the commands table
    chart.scroll_into_view_if_needed()
    shot(pg, 'home-chart.png'); page.clean()

def test_module_page(page):
    pg = page.open('policies.html')
    assert pg.title().startswith('Eviction policies')
    assert pg.locator('h1').first.inner_text().strip().startswith('Eviction policies')
    assert pg.locator('.md-nav__link--active').last.inner_text().strip() == 'Eviction policies'
    code = ' '.join(pg.locator('.md-content pre').all_inner_texts())
    assert 'class Policy' in code and '*args, **kwargs' not in code        # API docs: real class headers, no fake signatures
    assert 'show_doc' not in pg.content() and '#| ' not in code
    assert 'NoneType' not in code and '__main__.' not in code
    assert pg.locator('.md-footer__link--next').count() == 1 and pg.locator('.md-footer__link--prev').count() == 1
    shot(pg, 'module-policies.png'); page.clean()

def test_model_fields(page):
    pg = page.open('replay.html')
    code = ' '.join(pg.locator('.md-content pre').all_inner_texts())
    assert 'class ReplayConfig(BaseModel)' in code and 'capacity_tokens' in code and '**data' not in code

@pytest.mark.parametrize('path', EXPERIMENTS)
def test_experiment_page(page, path):
    pg = page.open(path)
    assert pg.locator('h1').count() >= 1
    charts = pg.locator('.md-content .jp-OutputArea svg, .md-content .jp-OutputArea img')
    assert charts.count() >= 1, path
    assert charts.first.bounding_box()['height'] > 50
    if path == EXPERIMENTS[0]: shot(pg, 'experiment-low_memory_rag_stress.png')
    page.clean()

def test_api_reference(page):
    "The OpenAPI page is an API reference (ReDoc, served from the site), with typed responses"
    pg = page.open('serve/openapi.html')
    pg.wait_for_selector('#redoc [data-section-id]', timeout=60000)
    text = pg.locator('#redoc').inner_text()
    for op in ('Liveness and version', 'Eviction policies', '/v1/simulate/trace'): assert op in text, op
    assert pg.evaluate("() => document.documentElement.scrollHeight") > 2000
    shot(pg, 'section-serving-api-reference.png'); page.clean()

def test_section_screenshots(page):
    "The first page of every top-level section, as a reader lands on it"
    pg = page.open('index.html')
    firsts = pg.evaluate("""() => [...document.querySelectorAll('nav.md-nav--primary > ul > li.md-nav__item--section')].map(li =>
        [li.querySelector(':scope > label, :scope > a, :scope > div > a').textContent.trim(), li.querySelector('a[href]').getAttribute('href')])""")
    assert [t for t, _ in firsts] == SECTIONS, firsts
    for i, (title, href) in enumerate(firsts):
        p = page.open(href)
        assert p.locator('h1').count() >= 1, href
        shot(p, f"section-{i+1}-{title.lower().replace(' ', '-')}.png")
    page.clean()

def test_every_page(browser, base_url):
    "Every page at 1,400 px: no sideways overflow, every chart drawn, under 1.5 MB, no console errors"
    pages = site_pages()
    assert len(pages) >= 60
    heavy = {p: (SITE/p).stat().st_size for p in pages if (SITE/p).stat().st_size > MAX_PAGE_BYTES}
    assert not heavy, heavy
    p = Page(browser, base_url, width=1400)
    problems = []
    try:
        for path in pages:
            pg = p.open(path)
            r = pg.evaluate("""() => {
                const out = {overflow: document.documentElement.scrollWidth - window.innerWidth, bad: []};
                for (const c of document.querySelectorAll('.md-content .jp-OutputArea-output svg, .md-content .jp-OutputArea-output img')) {
                    if (c.closest('svg') !== c && c.tagName.toLowerCase() === 'svg' && c.parentElement.closest('svg')) continue;
                    const b = c.getBoundingClientRect();
                    if (b.width < 20 || b.height < 20 || (c.tagName === 'IMG' && !c.naturalWidth)) out.bad.push(c.outerHTML.slice(0, 80));
                    if (b.right > document.querySelector('.md-content').getBoundingClientRect().right + 2) out.bad.push('wider than the column: ' + c.outerHTML.slice(0, 60));
                }
                return out }""")
            if r['overflow'] > 0: problems.append(f"{path}: {r['overflow']} px wider than the window")
            problems += [f"{path}: chart not drawn: {b}" for b in r['bad']]
        problems += [f"console: {e}" for e in p.errors] + [f"outside request: {u}" for u in p.outside]
    finally: p.close()
    assert not problems, '\n'.join(problems[:40])

def test_search(page):
    pg = page.open('index.html')
    pg.locator('label.md-search__icon, .md-search__input').first.click()
    # the search worker builds its index first ("Initializing search"); a query typed before that is not rerun
    pg.wait_for_function("() => { const m = document.querySelector('.md-search-result__meta');"
                         " return m && m.textContent.trim() && !/initializ/i.test(m.textContent) }", timeout=120000)
    pg.locator('input.md-search__input').press_sequentially('belady', delay=50)   # typed: Material searches on key events
    try: pg.wait_for_selector('.md-search-result__item', timeout=60000)
    except Exception:
        shot(pg, 'search-failure.png')
        raise AssertionError(f"no search results: {pg.locator('.md-search-result__meta').all_inner_texts()} {page.errors}")
    assert pg.locator('.md-search-result__item').count() >= 1
    arts = pg.locator('.md-search-result__article')
    assert pg.locator('.md-search-result__article pre').count() == 0          # no code block as an excerpt
    texts = [t for t in pg.locator('.md-search-result__article p').all_inner_texts() if t.strip()]
    assert texts, "search results without excerpts"
    code_like = [t for t in texts if re.search(r'\bdef \w+\(|^\s*(import|from) \w|^\s*[\w.]+\s*=\s*\S', t, re.M)]
    assert not code_like, code_like                                          # excerpts are prose, not code
    assert not any('¶' in t for t in pg.locator('.md-search-result__article h1, .md-search-result__article h2').all_inner_texts())
    shot(pg, 'search.png')
    page.clean()
