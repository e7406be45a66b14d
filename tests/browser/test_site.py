"""The course website (``make book``), opened from disk in headless Chromium with the network blocked:
every page renders its math (MathJax output elements, no raw TeX left), its figures (every image
decoded, every plotly figure drawn, every widget view rendered from the saved state), logs no
console error, and every internal link and image resolves (file and anchor); the search page finds
pages offline.

The site is ``build/book/<profile>/_build/html`` for ``HFF_EDU_SITE_PROFILE`` (default ``smoke``,
what CI builds; ``classroom`` for the published site); it is built first if it is missing. Run with
``make browser-site`` (or ``python -m pytest tests/browser/test_site.py``); a plain ``pytest`` leaves
tests/browser out. Per-page numbers go to ``build/browser/site_report.json``.

The driver below uses the same flags and network block as the issue-11 harness
(tests/browser/browser_tools.py); once that harness is in, ``_driver`` can be its ``make_driver``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("selenium", reason="selenium is not installed: make setup installs it (dev extra)")

import browser_tools as bt  # noqa: E402  (tests/browser is on the path: its conftest imports it too)

ROOT = Path(__file__).resolve().parents[2]
PROFILE = os.environ.get("HFF_EDU_SITE_PROFILE", "smoke")
SITE = ROOT / "build" / "book" / PROFILE / "_build" / "html"
ARTIFACTS = ROOT / "build" / "browser"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
REPORT: dict = {}

pytestmark = pytest.mark.browser


def _site() -> Path:
    if not (SITE / "index.html").is_file():
        r = subprocess.run([sys.executable, str(ROOT / "book" / "build.py"), "--profile", PROFILE],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, f"make book PROFILE={PROFILE} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return SITE


def pages() -> list[Path]:
    site = _site()
    return sorted(p for p in site.rglob("*.html") if not p.relative_to(site).parts[0].startswith("_"))


# ----------------------------------------------------------------------------
# links, read from the HTML

class _Refs(HTMLParser):
    """Every id on a page, and every address it links to or loads."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.loads = set(), [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag in ("img", "script", "source") and a.get("src"):
            self.loads.append(a["src"])
        if tag == "link" and a.get("href") and "stylesheet" in (a.get("rel") or ""):
            self.loads.append(a["href"])


_PARSED: dict = {}


def _refs(page: Path) -> _Refs:
    if page not in _PARSED:
        r = _Refs()
        r.feed(page.read_text(encoding="utf-8", errors="replace"))
        _PARSED[page] = r
    return _PARSED[page]


def broken_links(page: Path) -> list[str]:
    """Internal links whose file is missing or whose anchor is not on the target page; missing loads."""
    refs, bad = _refs(page), []
    for href in refs.links + refs.loads:
        parts = urlsplit(href)
        if parts.scheme in ("http", "https", "mailto", "javascript", "data") or href.startswith("//"):
            continue
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            bad.append(f"{href} (no file {target.relative_to(SITE) if target.is_relative_to(SITE) else target})")
        elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _refs(target).ids:
            bad.append(f"{href} (no #{parts.fragment} on {target.name})")
    return bad


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(SITE)))
def test_internal_links_resolve(page):
    bad = broken_links(page)
    REPORT.setdefault(str(page.relative_to(SITE)), {})["broken_links"] = len(bad)
    assert not bad, f"{page.relative_to(SITE)}: {len(bad)} broken link(s): " + "; ".join(bad[:10])


def test_the_site_has_a_page_per_notebook_and_the_reference_pages():
    names = {str(p.relative_to(SITE)) for p in pages()}
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    missing = [n for n in notebooks if f"notebooks/{n}.html" not in names]
    assert not missing, f"no page for {missing}"
    for page in ("index.html", "search.html", "docs/teaching.html", "docs/glossary.html",
                 "docs/paper_vs_measured.html", "benchmarks/figures.html", "benchmarks/README.html"):
        assert page in names, f"the site has no {page}"
    REPORT["_site"] = dict(profile=PROFILE, pages=len(names))


# ----------------------------------------------------------------------------
# the browser

@pytest.fixture(scope="module")
def driver():
    """One headless Chromium with the network blocked, for every page (a fresh profile)."""
    paths = bt.browser_paths()
    if paths is None:
        pytest.skip("no browser: install chromium and chromium-driver (apt) to run the site's browser test")
    d = bt.make_driver(paths, offline=True, extra_flags=("--allow-file-access-from-files",))  # pages from disk
    yield d
    bt.quit_driver(d)


JS_STATE = """
const q = s => document.querySelectorAll(s);
const imgs = Array.from(q('article img'));
return {
  math: q('.math').length,
  typeset: q('mjx-container').length,
  raw_tex: Array.from(q('.math')).filter(e => !e.querySelector('mjx-container') && /\\\\[(\\[]/.test(e.textContent)).length,
  images: imgs.length,
  broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(-60)),
  plotly: q('.js-plotly-plot').length,
  plotly_drawn: q('.js-plotly-plot .main-svg').length ? Array.from(q('.js-plotly-plot')).filter(p => p.querySelector('.main-svg')).length : 0,
  widget_views: q('script[type="application/vnd.jupyter.widget-view+json"]').length,
  widgets_drawn: q('.jupyter-widgets.widget-container, .jupyter-widgets.widget-inline-hbox, .jupyter-widgets.widget-output, .widget-vbox, .widget-hbox').length,
  widget_errors: Array.from(q('.jupyter-widgets')).filter(e => /Error|cannot|failed/i.test(e.className)).length,
};
"""


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(SITE)))
def test_page_renders_offline(driver, page):
    rel = str(page.relative_to(SITE))
    html = page.read_text(encoding="utf-8", errors="replace")
    plots = html.count("Plotly.newPlot(")
    start = time.perf_counter()
    driver.get(page.resolve().as_uri())
    bt.wait_for(lambda: driver.execute_script("return document.readyState") == "complete", 60, f"{rel} to load")
    has_math = 'class="math' in html  # the navigation too: "04 · ... on $S^2$"
    if has_math:
        mathjax_ready = "return !!(window.MathJax && MathJax.startup && MathJax.startup.promise)"
        bt.wait_for(lambda: driver.execute_script(mathjax_ready), 60, "MathJax to start")
        driver.execute_async_script("MathJax.startup.promise.then(() => arguments[arguments.length - 1](true))")
    if plots:
        bt.wait_for(lambda: driver.execute_script(JS_STATE)["plotly_drawn"] >= plots, 60, f"{plots} plotly figure(s)")
    state = driver.execute_script(JS_STATE)
    if state["widget_views"]:
        state = bt.wait_for(lambda: (lambda s: s if s["widgets_drawn"] >= 1 else None)(driver.execute_script(JS_STATE)),
                            60, "the widgets to render from the saved state")
    time.sleep(0.3)
    state = driver.execute_script(JS_STATE)
    errors = bt.console_errors(driver)
    state.update(load_s=round(time.perf_counter() - start, 2), console_errors=len(errors))
    REPORT.setdefault(rel, {}).update({k: v for k, v in state.items() if k != "broken_images"})
    if has_math:
        assert state["typeset"] > 0 and state["raw_tex"] == 0, \
            f"{rel}: {state['math']} math elements, {state['typeset']} typeset, {state['raw_tex']} left as raw TeX"
    assert not state["broken_images"], f"{rel}: images not shown: {state['broken_images'][:5]}"
    assert state["plotly_drawn"] == plots, f"{rel}: {plots} plotly figures, {state['plotly_drawn']} drawn"
    if state["widget_views"]:
        assert state["widgets_drawn"] > 0 and not state["widget_errors"], \
            f"{rel}: {state['widget_views']} widget views, {state['widgets_drawn']} rendered, {state['widget_errors']} errors"
    assert not errors, f"{rel}: console errors: {errors[:3]}"


def test_search_works_offline(driver):
    search = _site() / "search.html"
    driver.get(search.resolve().as_uri() + "?q=prototype")
    hits = bt.wait_for(lambda: driver.execute_script(
        "return document.querySelectorAll('#search-results li, ul.search li').length"), 60, "search results")
    REPORT["_search"] = dict(query="prototype", hits=hits)
    assert hits >= 3


def teardown_module(module):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "site_report.json").write_text(json.dumps(REPORT, indent=2))
