"""The documentation website in a real browser (Debian's chromium, driven by playwright, no download): the home
page, a module page, every experiment page and the search; titles, the sidebar, rendered charts, zero console
errors and no request leaving the site. Screenshots of three pages are kept in _site/screenshots/.
Any request that leaves the site is recorded and fails the page.
Builds the site first if _site/ is missing (set SKV_SITE to test another build)."""
import functools, http.server, os, shutil, subprocess, sys, threading
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get('SKV_SITE', ROOT/'_site'))
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
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
    def __init__(self, browser, base_url):
        self.ctx = browser.new_context(viewport={'width': 1280, 'height': 900})
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

def sidebar(pg): return [t.strip() for t in pg.locator('nav.md-nav--primary .md-nav__link').all_inner_texts() if t.strip()]

def shot(pg, name):
    d = SITE/'screenshots'; d.mkdir(exist_ok=True)
    pg.screenshot(path=str(d/name), full_page=False)

def test_home(page):
    pg = page.open('index.html')
    assert pg.title().startswith('SemanticKV')
    nav = sidebar(pg)
    for item in ('Home', 'Data models', 'Eviction policies', 'Prefix-cache simulator', 'Experiments', 'Benchmarks'):
        assert any(item in n for n in nav), (item, nav)
    assert nav.index(next(n for n in nav if 'Experiments' in n)) < nav.index(next(n for n in nav if 'Benchmarks' in n))
    chart = pg.locator('.md-content .jp-OutputArea svg, .md-content .jp-OutputArea img').first   # the headline chart
    assert chart.bounding_box()['height'] > 100
    chart.scroll_into_view_if_needed()
    shot(pg, 'home.png'); page.clean()

def test_module_page(page):
    pg = page.open('policies.html')
    assert pg.title().startswith('Eviction policies')
    assert pg.locator('h1').first.inner_text().strip().startswith('Eviction policies')
    assert pg.locator('.md-nav__link--active').first.inner_text().strip() == 'Eviction policies'
    code = ' '.join(pg.locator('.md-content pre').all_inner_texts())
    assert 'class Policy' in code and '*args, **kwargs' not in code        # API docs: real class headers, no fake signatures
    assert 'show_doc' not in pg.content() and '#| ' not in code
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
    page.clean()
