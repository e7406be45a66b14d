"""Every notebook with widgets, run in JupyterLab in headless Chromium (smoke profile): every
slider and dropdown is moved, and each move must change the figure inside its widget, leave no
stale copy in the cell, put nothing into the Log Console and no error into the browser console.
The plotly explorer's own controls (layer menu, highlight menu, epoch slider) are used too.
"""
from __future__ import annotations

import time

import pytest

pytest.importorskip("selenium", reason="selenium is not installed: make setup installs it (dev extra)")

from selenium.webdriver.common.by import By  # noqa: E402

import browser_tools as bt  # noqa: E402
from browser_tools import record  # noqa: E402

pytestmark = pytest.mark.browser
NOTEBOOKS = bt.widget_notebooks()
BAD_TEXT = ("Loading widget", "interactive(children", "Error displaying widget", "Error rendering output")

JS_WIDGET_CELLS = """
return Array.from(document.querySelectorAll('[data-hff-cell]'))
  .filter(c => c.querySelector('.jp-Cell-outputArea .jupyter-widgets, .jp-Cell-outputArea .js-plotly-plot'))
  .map(c => c.getAttribute('data-hff-cell'));
"""

JS_CELL_STATE = """
const c = document.querySelector('[data-hff-cell="' + arguments[0] + '"]');
const area = c.querySelector('.jp-Cell-outputArea');
const widgetImg = area.querySelector('.widget-output img');
return {
  outputs: area.querySelectorAll(':scope > .jp-OutputArea-child').length,
  // figures outside the widget and the plot: a stale copy, or a second display
  loose: Array.from(area.querySelectorAll('img')).filter(i => !i.closest('.widget-output, .js-plotly-plot')).length,
  plots: area.querySelectorAll('.js-plotly-plot').length,
  widgets: area.querySelectorAll('.widget-output').length,
  img: widgetImg ? widgetImg.getAttribute('src') : null,
  text: area.innerText,
};
"""


def cell_state(d, idx):
    return d.execute_script(JS_CELL_STATE, idx)


def cell(d, idx):
    return d.find_element(By.CSS_SELECTOR, f'[data-hff-cell="{idx}"]')


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_widgets_render_and_update_in_jupyterlab(lab, driver_factory, path):
    d = driver_factory()
    open_s = bt.open_notebook(d, lab, path.name)
    run_s = bt.run_all(d, path.name)
    cells = d.execute_script(JS_WIDGET_CELLS)
    assert cells, f"{path.name}: no widget or plotly figure rendered after Run All"
    found = updated = stale = 0
    problems = []
    for idx in cells:
        st = cell_state(d, idx)
        bad = [t for t in BAD_TEXT if t in st["text"]]
        if bad:
            problems.append(f"cell {idx} shows {bad}")
        if st["plots"]:
            f, c = bt.use_plotly_controls(d, cell(d, idx).find_element(By.CSS_SELECTOR, ".js-plotly-plot"))
            found, updated = found + f, updated + c
            if f != c:
                problems.append(f"cell {idx}: {f - c} explorer control(s) did not change the figure")
        else:
            if not st["img"]:
                problems.append(f"cell {idx}: the widget holds no figure")
            sliders = cell(d, idx).find_elements(By.CSS_SELECTOR, ".noUi-handle")
            dropdowns = cell(d, idx).find_elements(By.CSS_SELECTOR, ".widget-dropdown select")
            image = lambda: cell_state(d, idx)["img"]  # noqa: E731 (bound to this cell)
            for handle in sliders:
                found += 1
                updated += bt.move_slider(d, handle, image, f"cell {idx}")
            for sel in dropdowns:
                found += 1
                updated += bt.move_dropdown(d, sel, image, f"cell {idx}")
            if not sliders and not dropdowns:
                problems.append(f"cell {idx}: a widget without controls")
        st = cell_state(d, idx)
        extra = st["loose"] + max(st["widgets"] - 1, 0) + max(st["plots"] - 1, 0)
        stale += extra
        if extra:
            problems.append(f"cell {idx}: {st['loose']} figure(s) outside the widget, {st['widgets']} widget "
                            f"outputs, {st['plots']} plots (one widget or one plot expected)")
    time.sleep(1.0)
    log = bt.log_console_entries(d, path.name)
    errors = bt.console_errors(d)
    for n, idx in enumerate([i for i in cells if cell_state(d, i)["plots"]]):
        plot = cell(d, idx).find_element(By.CSS_SELECTOR, ".js-plotly-plot")
        bt.scroll_to(d, plot)
        bt.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        plot.screenshot(str(bt.ARTIFACTS / f"explorer-lab-{path.stem[:2]}-{n}.png"))
    record(path.stem, widgets=found, updated=updated, stale=stale, log_console=len(log),
           console_errors=len(errors), open_s=round(open_s, 1), run_s=round(run_s, 1))
    assert not problems, f"{path.name}: " + "; ".join(problems)
    assert updated == found, f"{path.name}: {found - updated} of {found} controls did not update their figure"
    assert not log, f"{path.name}: the Log Console received {len(log)} entries: {log[:3]}"
    assert not errors, f"{path.name}: browser console errors: {errors[:5]}"


def test_the_course_has_widget_notebooks_to_test():
    # an empty list would skip every widget test above without a word (it did once, when the notebooks
    # moved from interactive_figure to figs.interactive)
    assert len(NOTEBOOKS) >= 4, f"widget notebooks found: {[p.name for p in NOTEBOOKS]}"
