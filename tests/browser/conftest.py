"""Fixtures of the browser tests: Chromium (or one skip line), a JupyterLab server on working
copies of the widget notebooks, the offline HTML exports, screenshots on failure and a report.

Run with ``make browser`` (or ``python -m pytest tests/browser``); a plain ``pytest`` leaves this
folder out (``norecursedirs``), since it takes minutes. The measured numbers go to
``build/browser/report.json`` and are printed at the end of the run.
"""
from __future__ import annotations

import json
import os
import time

import pytest

import browser_tools as bt

from browser_tools import REPORT

_SESSION_START = time.perf_counter()


def pytest_runtest_makereport(item, call):
    if call.when == "call":
        item._hff_failed = call.excinfo is not None


@pytest.fixture(scope="session")
def browser():
    paths = bt.browser_paths()
    if paths is None and os.environ.get("HFF_EDU_REQUIRE_BROWSER"):
        pytest.fail("HFF_EDU_REQUIRE_BROWSER is set (CI) but chromium, chromium-driver or selenium is missing: "
                    "make setup installs them")
    if paths is None:
        pytest.skip("no browser: install chromium, chromium-driver (apt) and selenium (make setup) "
                    "to run the browser tests")
    return paths


@pytest.fixture()
def driver_factory(browser, request):
    """Make drivers; each one's screenshot is saved under build/browser/ if the test fails."""
    made = []

    def make(offline: bool = False):
        d = bt.make_driver(browser, offline=offline)
        made.append(d)
        return d

    yield make
    for i, d in enumerate(made):
        if getattr(request.node, "_hff_failed", False):
            name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
            try:
                print(f"screenshot: {bt.save_screenshot(d, f'FAILED-{name}-{i}')}")
            except Exception as e:  # noqa: BLE001: a dead browser must not hide the failure
                print(f"no screenshot: {e}")
        bt.quit_driver(d)


@pytest.fixture(scope="session")
def lab(browser, tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, serving smoke-profile working copies of the notebooks."""
    root = tmp_path_factory.mktemp("lab")
    for p in bt.widget_notebooks():
        bt.smoke_copy(p, root)
    server = bt.LabServer(root, bt.ARTIFACTS / "jupyterlab.log")
    REPORT["jupyterlab_start_s"] = round(server.start_seconds, 1)
    yield server
    server.stop()


def pytest_sessionfinish(session, exitstatus):
    if not REPORT:
        return
    REPORT["suite_s"] = round(time.perf_counter() - _SESSION_START, 1)
    bt.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (bt.ARTIFACTS / "report.json").write_text(json.dumps(REPORT, indent=2))


def pytest_terminal_summary(terminalreporter):
    if not REPORT.get("notebooks"):
        return
    w = terminalreporter
    w.section("browser report (build/browser/report.json)")
    if "jupyterlab_start_s" in REPORT:
        w.line(f"JupyterLab up in {REPORT['jupyterlab_start_s']} s")
    keys = ("widgets", "updated", "stale", "log_console", "console_errors", "open_s", "run_s",
            "html_math", "html_widgets", "html_moved", "html_plotly", "html_console_errors")
    w.line(f"{'notebook':28s} " + " ".join(f"{k:>10s}" for k in keys))
    for name, r in sorted(REPORT["notebooks"].items()):
        w.line(f"{name:28s} " + " ".join(f"{str(r.get(k, '-')):>10s}" for k in keys))
    w.line(f"browser suite: {REPORT.get('suite_s', round(time.perf_counter() - _SESSION_START, 1))} s")
