"""Fixtures of the browser tests: Chromium (or one skip line), a Jupyter server per frontend
(JupyterLab, then Notebook 7) on working copies of the widget notebooks, the offline HTML
exports, screenshots on failure and a report.

Run with ``make browser`` (or ``python -m pytest tests/browser``); a plain ``pytest`` leaves this
folder out (``norecursedirs``), since it takes minutes. The measured numbers go to
``build/browser/report.json`` (per notebook, one entry per frontend: ``jupyterlab``,
``notebook7``) and are printed at the end of the run, one row per notebook and frontend.
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


@pytest.fixture(scope="session", params=list(bt.FRONTENDS), ids=[f["key"] for f in bt.FRONTENDS.values()])
def jupyter(browser, tmp_path_factory, request):
    """A frontend's server (``request.param``: ``lab`` or ``notebook``) on 127.0.0.1 with a token,
    serving its own smoke-profile working copies of the notebooks (what one frontend saves never
    reaches the other). pytest runs all tests of one frontend, stops its server, then the next.

    JupyterLab must start. Notebook 7 too where HFF_EDU_REQUIRE_BROWSER is set (CI); elsewhere its
    tests skip, with the reason, when the notebook package is missing or its server does not start.
    """
    frontend = request.param
    fe = bt.FRONTENDS[frontend]
    required = frontend == "lab" or bool(os.environ.get("HFF_EDU_REQUIRE_BROWSER"))

    def unavailable(why: str):
        if required:
            pytest.fail(f"{fe['title']} cannot be tested: {why}" +
                        (" (HFF_EDU_REQUIRE_BROWSER is set)" if frontend != "lab" else ""))
        pytest.skip(f"{fe['title']} is not tested: {why}")

    missing = bt.frontend_missing(frontend)
    if missing:
        unavailable(missing)
    root = tmp_path_factory.mktemp(fe["key"])
    for p in bt.widget_notebooks():
        bt.smoke_copy(p, root)
    log = bt.ARTIFACTS / f"{fe['key']}.log"
    try:
        server = bt.JupyterServer(root, log, frontend)
    except (RuntimeError, TimeoutError) as e:
        if frontend == "lab":
            raise
        unavailable(f"its server did not start ({e}); log: {log}")
    REPORT.setdefault("server_start_s", {})[fe["key"]] = round(server.start_seconds, 1)
    yield server
    server.stop()


def pytest_sessionfinish(session, exitstatus):
    if not REPORT:
        return
    REPORT["suite_s"] = round(time.perf_counter() - _SESSION_START, 1)
    bt.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (bt.ARTIFACTS / "report.json").write_text(json.dumps(REPORT, indent=2))


FRONTEND_KEYS = ("widgets", "updated", "stale", "log_console", "console_errors", "known_errors", "keys_taken",
                 "open_s", "run_s")
HTML_KEYS = ("html_math", "html_widgets", "html_moved", "html_plotly", "html_console_errors")


def _table(w, head: tuple[str, str], keys: tuple[str, ...], rows) -> None:
    """One line per ``(notebook, label, values)``; each column as wide as its name or widest value."""
    cells = [[name, label] + [str(r.get(k, "-")) for k in keys] for name, label, r in rows]
    widths = [max(len(c[i]) for c in [list(head) + list(keys)] + cells) for i in range(len(keys) + 2)]
    for c in [list(head) + list(keys)] + cells:
        w.line("  ".join([c[0].ljust(widths[0]), c[1].ljust(widths[1])] +
                         [v.rjust(widths[i + 2]) for i, v in enumerate(c[2:])]))


def pytest_terminal_summary(terminalreporter):
    if not REPORT.get("notebooks"):
        return
    w = terminalreporter
    w.section("browser report (build/browser/report.json)")
    notebooks = sorted(REPORT["notebooks"].items())
    fronts = [f["key"] for f in bt.FRONTENDS.values()]
    if REPORT.get("server_start_s"):
        w.line("servers up in: " + ", ".join(f"{k} {v} s" for k, v in REPORT["server_start_s"].items()))
    rows = [(name, key, r[key]) for name, r in notebooks for key in fronts if key in r]
    if rows:
        _table(w, ("notebook", "frontend"), FRONTEND_KEYS, rows)
    rows = [(name, "html", r) for name, r in notebooks if any(k in r for k in HTML_KEYS)]
    if rows:
        _table(w, ("notebook", "offline"), HTML_KEYS, rows)
    for key, why in REPORT.get("known_console_errors", {}).items():
        w.line(f"known_errors ({key}), the frontend's own bug: {'; '.join(why)}")
    for key, why in REPORT.get("keys_taken", {}).items():
        w.line(f"keys_taken ({key}): sliders dragged with the mouse: {why}")
    w.line(f"browser suite: {REPORT.get('suite_s', round(time.perf_counter() - _SESSION_START, 1))} s")
