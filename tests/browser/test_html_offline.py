"""The offline HTML exports of the widget notebooks, opened from disk with the network blocked:
math rendered by MathJax, every widget rendered from the saved widget state (controls and the
figure inside) and every slider and dropdown switching its figure with no kernel (the frames
the run stored), the plotly explorer drawn and its controls working, and no console error."""
from __future__ import annotations

import re
import time

import nbformat
import pytest

pytest.importorskip("selenium", reason="selenium is not installed: make setup installs it (dev extra)")

from selenium.webdriver.common.by import By  # noqa: E402

import browser_tools as bt  # noqa: E402
from browser_tools import record  # noqa: E402

pytestmark = pytest.mark.browser
NOTEBOOKS = bt.widget_notebooks()
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLOTLY = "application/vnd.plotly.v1+json"
RAW_MATH = re.compile(r"\$[^$\s][^$]*\$")
# the exported widget views (the template's outer divs) that show a figure
JS_WIDGET_VIEWS = """
return Array.from(document.querySelectorAll('.jp-OutputArea-output.jupyter-widgets'))
  .filter(e => !e.parentElement.closest('.jp-OutputArea-output.jupyter-widgets'))
  .filter(e => Array.from(e.querySelectorAll('img')).some(i => i.offsetParent !== null));
"""
# the figure a view shows now: its one visible image (a Stack hides the other frames)
JS_SHOWN_IMAGE = """
const shown = Array.from(arguments[0].querySelectorAll('img')).filter(i => i.offsetParent !== null);
return shown.length === 1 ? shown[0].getAttribute('src') : null;
"""


@pytest.fixture(scope="session")
def html_exports(browser, tmp_path_factory):
    """``{stem: html path}``: the smoke run's exports (``make test`` writes them) when they are newer
    than their source, else exported now with the notebook runner."""
    from hff_edu.course import runner as nr
    from hff_edu.course.checkout import here
    out, stale = {}, []
    for p in NOTEBOOKS:
        h = here().executed / "smoke" / f"{p.stem}.html"
        fresh = h.exists() and h.stat().st_mtime >= p.stat().st_mtime and (h.parent / "_static").is_dir()
        (out.__setitem__(p.stem, h) if fresh else stale.append(p))
    if stale:
        tmp = tmp_path_factory.mktemp("html")
        for p in stale:
            nr.execute(p, "smoke", tmp, html=True)
            out[p.stem] = tmp / f"{p.stem}.html"
    return out


def expected(html):
    nb = nbformat.read(str(html.with_suffix(".ipynb")), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    figures = sum(1 for o in outputs if WIDGET_VIEW in o.get("data", {}) and "image/png" in o.get("data", {}))
    plots = sum(1 for o in outputs if PLOTLY in o.get("data", {}))
    math = any("$" in c.source for c in nb.cells if c.cell_type == "markdown")
    return figures, plots, math


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_offline_html_renders_math_widgets_and_plots(html_exports, driver_factory, path):
    html = html_exports[path.stem]
    figures, plots, math = expected(html)
    d = driver_factory(offline=True)
    d.get(html.resolve().as_uri())
    bt.wait_for(lambda: d.execute_script("return document.readyState") == "complete", 60, "the page to load")
    if figures:
        bt.wait_for(lambda: len(d.execute_script(JS_WIDGET_VIEWS)) >= figures, 60,
                    f"{figures} widget figure(s) to render from the saved state")
    if math:
        bt.wait_for(lambda: d.execute_script("return window.MathJax && MathJax.startup && "
                                             "MathJax.startup.promise && document.querySelectorAll('mjx-container').length"),
                    60, "MathJax to typeset")
        d.execute_async_script("MathJax.startup.promise.then(() => arguments[arguments.length - 1](true))")
    time.sleep(1.0)
    n_math = len(d.find_elements(By.CSS_SELECTOR, "mjx-container"))
    raw = [m for t in d.execute_script(
        "return Array.from(document.querySelectorAll('.jp-RenderedMarkdown')).map(e => e.innerText)")
        for m in RAW_MATH.findall(t)]
    views = d.execute_script(JS_WIDGET_VIEWS)
    shown = len(views)
    controls = moved = 0
    for n, view in enumerate(views):
        image = lambda: d.execute_script(JS_SHOWN_IMAGE, view)  # noqa: E731 (bound to this view)
        for handle in view.find_elements(By.CSS_SELECTOR, ".noUi-handle"):
            controls += 1
            bt.move_slider(d, handle, image, f"widget {n}")  # raises when the slider or its figure stays
            moved += 1
        for sel in view.find_elements(By.CSS_SELECTOR, ".widget-dropdown select"):
            controls += 1
            moved += bt.move_dropdown(d, sel, image, f"widget {n}")
    body = d.find_element(By.TAG_NAME, "body").text
    plot_els = d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
    plot_changed = 0
    for n, plot in enumerate(plot_els):
        found, changed = bt.use_plotly_controls(d, plot)
        plot_changed += changed == found and found > 0
        bt.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        plot.screenshot(str(bt.ARTIFACTS / f"explorer-html-{path.stem[:2]}-{n}.png"))
    errors = bt.console_errors(d)
    record(path.stem, html_math=n_math, html_widgets=f"{shown}/{figures}", html_moved=f"{moved}/{controls}",
           html_plotly=f"{plot_changed}/{plots}", html_console_errors=len(errors))
    if math:
        assert n_math > 0, f"{html.name}: no MathJax output"
        assert not raw, f"{html.name}: math left as raw TeX: {raw[:3]}"
    assert shown == figures, f"{html.name}: {shown} of {figures} widget figures rendered"
    assert controls >= figures, f"{html.name}: {controls} controls for {figures} interactive figures"
    assert moved == controls, f"{html.name}: {controls - moved} of {controls} controls did not switch the figure"
    for text in ("Loading widget", "interactive(children", "Error displaying widget"):
        assert text not in body, f"{html.name}: the page shows {text!r}"
    assert len(plot_els) == plots and plot_changed == plots, \
        f"{html.name}: {len(plot_els)} of {plots} plotly figures drawn, {plot_changed} with working controls"
    assert not errors, f"{html.name}: browser console errors: {errors[:5]}"
