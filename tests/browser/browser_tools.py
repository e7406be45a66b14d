"""Driving headless Chromium for the browser tests: JupyterLab and Jupyter Notebook 7 on
127.0.0.1, and the offline HTML.

Everything a user would see is read from the page: widget controls, the figure inside
the widget (hashed), the cell's other outputs, the Log Console, the browser console.
``window.jupyterapp`` (``--expose-app-in-browser``) is used to run the notebook and to know
when the kernel is done, as JupyterLab's own UI tests (galata) do.

Both frontends are driven by the same code (``FRONTENDS``, ``JupyterServer``): Notebook 7 is
built from JupyterLab's components, so the page has the same ``.jp-Notebook``, ``.jp-Cell`` and
``.jp-OutputArea`` nodes, ``jupyterapp.shell.widgets('main')`` holds its one notebook panel, and
the commands (``notebook:run-all-cells``, ``logconsole:open``) are the same; only the server
(``python -m notebook``, its app's config class) and the URL (``/notebooks/<name>``) differ. The
Log Console is there in Notebook 7 too (View > Show Log Console, in the bottom area); should a
frontend lack it, ``log_console_entries`` says so (``None``, reported as "n/a"). Two bugs of
Notebook 7.6 itself are allowed for, named and counted, never hidden: a console error at start-up
(``KNOWN_CONSOLE_ERRORS``) and arrow keys that never reach a focused slider (``KEYS_TAKEN``: the
handle is dragged with the mouse there).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "build" / "browser"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMEDRIVER = ("/usr/bin/chromedriver",)
#: flags for headless Chromium on a machine without a display or a network (see README, Tests)
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                # WebGL (plotly's 3-D scenes) in software: SwiftShader must be allowed explicitly
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader")
WIDGET_CALLS = ("interactive_figure(", "show_plotly(", "interact(", "figs.interactive(", "figs.plotly(",
                "prototype_explorer(")
#: what the tests measured, per notebook (written to build/browser/report.json)
REPORT: dict = {}


def record(notebook: str, frontend: str | None = None, **values) -> None:
    """Note ``values`` for ``notebook``: under its frontend's key (``jupyterlab``, ``notebook7``)
    when ``frontend`` is given, else beside them (the offline HTML's ``html_*``)."""
    entry = REPORT.setdefault("notebooks", {}).setdefault(notebook, {})
    if frontend is not None:
        entry = entry.setdefault(FRONTENDS[frontend]["key"], {})
    entry.update(values)


def browser_paths():
    """``(chromium, chromedriver)`` when both exist and selenium imports, else ``None``."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None
    chrome = next((p for p in CHROMIUM if os.path.exists(p)), shutil.which("chromium"))
    driver = next((p for p in CHROMEDRIVER if os.path.exists(p)), shutil.which("chromedriver"))
    return (chrome, driver) if chrome and driver else None


def widget_notebooks() -> list[Path]:
    """Source notebooks with at least one interactive cell (the widget helper or a plotly figure)."""
    out = []
    for p in sorted(NOTEBOOKS.glob("[0-9][0-9]*_*.ipynb")):
        nb = nbformat.read(str(p), as_version=4)
        if any(c.cell_type == "code" and any(w in c.source for w in WIDGET_CALLS) for c in nb.cells):
            out.append(p)
    return out


def smoke_copy(src: Path, dest_dir: Path) -> Path:
    """A working copy of ``src`` with ``PROFILE = "smoke"`` in its parameters cell."""
    nb = nbformat.read(str(src), as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert 'PROFILE = "classroom"' in cell.source, f"{src.name}: parameters cell without PROFILE"
    cell.source = cell.source.replace('PROFILE = "classroom"', 'PROFILE = "smoke"')
    dest = dest_dir / src.name
    nbformat.write(nb, str(dest))
    return dest


def make_driver(paths, offline: bool = False, extra_flags=()):
    """A headless Chromium with a fresh profile, its console captured; ``offline`` blocks the network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    chrome, driver_path = paths
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for flag in CHROME_FLAGS + tuple(extra_flags):
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="hff-chrome-")
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_script_timeout(60)
    driver._hff_profile = profile
    if offline:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", dict(
            offline=True, latency=0, downloadThroughput=0, uploadThroughput=0))
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
    return driver


def quit_driver(driver) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(getattr(driver, "_hff_profile", ""), ignore_errors=True)


def console_errors(driver) -> list[str]:
    """Browser-console entries of level SEVERE since the last call (the log is drained)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


#: browser-console errors that are a frontend's own known bug, not the course's: per frontend,
#: (part of the script's URL, part of the message, where the bug is reported). Both parts must
#: match. They are counted apart (``known_console_errors`` in the report), never dropped unseen.
KNOWN_CONSOLE_ERRORS = {
    # Notebook 7.6's keyboard-shortcuts plugin reads the settings registry before its own plugin is
    # in it (a race at start-up): on every Notebook 7 page, the file browser's too, with no notebook
    "notebook": [("/static/notebook/notebook_core.", "Cannot read properties of undefined (reading 'schema')",
                  "https://github.com/jupyter/notebook/issues/7862")],
}


#: frontends that take the arrow keys from a focused ipywidgets slider: Notebook 7.6 handles its
#: keyboard shortcuts in the capture phase (its app starts without ``bubblingKeydown``, JupyterLab's
#: with it), so in command mode ArrowLeft/ArrowRight run ``notebook:move-cursor-heading-above-or-
#: collapse`` / ``...-below-or-expand`` before the slider sees them: the cursor jumps to a heading and
#: the slider stays. There the test drags the handle with the mouse instead, and counts it
#: (``keys_taken``); in JupyterLab the keys must move the slider.
KEYS_TAKEN = {"notebook": "Notebook 7 runs its own arrow-key shortcuts before a focused slider gets the keys "
                          "(shortcuts in the capture phase: the app is started without bubblingKeydown)"}


def split_known_errors(errors: list[str], frontend: str) -> tuple[list[str], list[str]]:
    """``(unexpected, known)``: ``errors`` less, and only, the frontend's ``KNOWN_CONSOLE_ERRORS``."""
    known_parts = KNOWN_CONSOLE_ERRORS.get(frontend, [])
    known = [e for e in errors if any(url in e and msg in e for url, msg, _ in known_parts)]
    return [e for e in errors if e not in known], known


def wait_for(predicate, timeout: float, what: str, step: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


def png_hash(data_or_src: str | bytes) -> str:
    if isinstance(data_or_src, str):
        data_or_src = data_or_src.encode()
    return hashlib.sha1(data_or_src).hexdigest()[:12]


def scroll_to(d, el):
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    time.sleep(0.3)


def save_screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


# ----------------------------------------------------------------------------
# JupyterLab and Jupyter Notebook 7

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: the two frontends the widget notebooks are tested in, JupyterLab (``jupyter lab``) and Jupyter
#: Notebook 7 (``jupyter notebook``); per frontend: the module that starts it, its app's config
#: class, the notebook's URL (after ``/``), its name in messages, its key in the report and in test
#: ids (``jupyterlab``, ``notebook7``: ``-k jupyterlab`` picks one; plain "lab" would match this
#: folder's test_lab_widgets.py) and the prefix of its screenshots
FRONTENDS = {
    "lab": dict(module="jupyterlab", app="LabApp", url="lab/tree/{name}?token={token}&reset",
                title="JupyterLab", key="jupyterlab", shot="lab"),
    "notebook": dict(module="notebook", app="JupyterNotebookApp", url="notebooks/{name}?token={token}",
                     title="Notebook 7", key="notebook7", shot="nb7"),
}


def frontend_missing(frontend: str) -> str | None:
    """Why ``frontend`` cannot be served from this environment (its package is missing or too old),
    or ``None``."""
    import importlib.metadata as md
    package = FRONTENDS[frontend]["module"]
    try:
        version = md.version(package)
    except md.PackageNotFoundError:
        return f"the {package} package is not installed (pip install -e '.[dev]')"
    major = int(re.match(r"\d+", version).group())
    if package == "notebook" and major < 7:
        return f"notebook {version} is the classic Notebook, not Notebook 7 (pip install 'notebook>=7')"
    return None


class JupyterServer:
    """JupyterLab or Jupyter Notebook 7 (``frontend``: ``lab`` or ``notebook``) on 127.0.0.1 with a
    token, serving ``root`` (working copies, never the sources). Both get the same flags: no
    browser, the app exposed to the page, fresh settings and workspaces, no news, no update check,
    ``--allow-root`` as root; the kernel is the one the notebooks name (``hff-edu``)."""

    def __init__(self, root: Path, log: Path, frontend: str = "lab"):
        self.frontend, fe = frontend, FRONTENDS[frontend]
        self.title = fe["title"]
        self.root, self.log_path = Path(root), Path(log)
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        home = Path(tempfile.mkdtemp(prefix=f"hff-{frontend}-"))
        self.home = home
        settings = home / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        # no news feed and no update check: both would reach for the internet
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        env = dict(os.environ)
        env.update(PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p]),
                   JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                   OMP_NUM_THREADS="1", NUMBA_CACHE_DIR=str(ROOT / "data" / "numba_cache"),
                   PYDEVD_DISABLE_FILE_VALIDATION="1")
        env.pop("MPLBACKEND", None)
        env.pop("HFF_EDU_WIDGET_FRAMES", None)  # a live frontend redraws on the kernel: test that path
        app = fe["app"]
        # the LabApp flags reach JupyterLab's server extension under Notebook 7 too (its news and
        # update handlers, the extension manager)
        cmd = [sys.executable, "-m", fe["module"], "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", "--expose-app-in-browser",
               f"--{app}.user_settings_dir={home / 'settings'}",
               f"--{app}.workspaces_dir={home / 'workspaces'}", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly", "--ServerApp.open_browser=False"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI and containers run as root
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_for(self._up, 120, f"{self.title} to answer on {self.url} (log: {self.log_path})", step=0.5)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - start

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.title} exited with {self.proc.returncode}; see {self.log_path}")
        try:
            with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def get(self, path: str) -> str:
        """The text the server answers at ``path`` (token added)."""
        sep = "&" if "?" in path else "?"
        with urllib.request.urlopen(f"{self.url}/{path}{sep}token={self.token}", timeout=10) as r:
            return r.read().decode()

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/" + FRONTENDS[self.frontend]["url"].format(name=name, token=self.token)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server and the kernels it started
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()
        shutil.rmtree(self.home, ignore_errors=True)


class LabServer(JupyterServer):
    """JupyterLab (the name the harness had before Notebook 7 was tested too)."""

    def __init__(self, root: Path, log: Path):
        super().__init__(root, log, "lab")


# JavaScript run in the page (window.jupyterapp is the application: JupyterLab or Notebook 7). The
# notebook panel is found by its file's path among the main area's widgets, never through
# ``shell.currentWidget``: that follows the keyboard focus, which a headless browser may never give
# (with JupyterLab 4.6 it stays null although the notebook is open). Notebook 7's shell has the same
# ``widgets('main')`` (its main area holds the one notebook of the tab), so the same code finds it.
# Commands get the panel's id (``widgetId``), as the cell toolbar passes it, so they too work
# without focus; both frontends have the same notebook and log-console commands.
JS_PANEL = """
const hffPanel = (name) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const w of app.shell.widgets('main')) {
    const path = w.context && w.context.path;
    if (path && (path === name || path.endsWith('/' + name))) return w;
  }
  return null;
};
"""

JS_READY = JS_PANEL + """
const p = hffPanel(arguments[0]);
if (!p || !p.sessionContext || !p.context || !p.context.isReady || !p.content) return false;
const s = p.sessionContext.session;
return !!(s && s.kernel && s.kernel.status === 'idle');
"""

JS_HOOK = JS_PANEL + """
// count what JupyterLab's log-output plugin would put into the Log Console at its default
// level (warning): output messages that no cell handled
const p = hffPanel(arguments[0]);
window.__hff = {unhandled: []};
p.sessionContext.unhandledMessage.connect((_, msg) => {
  const t = msg.header.msg_type;
  if (['display_data', 'stream', 'error', 'execute_result'].includes(t))
    window.__hff.unhandled.push(t + ': ' + JSON.stringify(msg.content).slice(0, 160));
});
p.content.widgets.forEach((c, i) => c.node.setAttribute('data-hff-cell', String(i)));
return p.content.widgets.length;
"""

JS_RUN_ALL = JS_PANEL + """
const p = hffPanel(arguments[0]);
window.jupyterapp.commands.execute('notebook:run-all-cells', {widgetId: p.id, activate: false});
return true;
"""

JS_PROGRESS = JS_PANEL + """
const p = hffPanel(arguments[0]);
const code = p.content.widgets.filter(c => c.model.type === 'code');
const done = code.filter(c => c.model.executionCount !== null).length;
const errors = [];
code.forEach(c => c.model.outputs.toJSON().forEach(o => {
  if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
}));
const s = p.sessionContext.session;
return {done: done, total: code.length, errors: errors,
        idle: !!(s && s.kernel && s.kernel.status === 'idle')};
"""

JS_LOG_CONSOLE = JS_PANEL + """
// JupyterLab splits the main area; Notebook 7 opens it in its bottom area ('down')
const p = hffPanel(arguments[0]);
if (!window.jupyterapp.commands.hasCommand('logconsole:open')) return false;
return window.jupyterapp.commands.execute('logconsole:open', {source: p.context.path, insertMode: 'split-bottom'})
  .then(() => true);
"""

JS_UNHANDLED = "return window.__hff ? window.__hff.unhandled : null;"


def open_notebook(driver, server: JupyterServer, name: str, timeout: float = 120) -> float:
    """Open ``name`` in the server's frontend and wait for an idle kernel; returns the seconds it took."""
    start = time.perf_counter()
    driver.get(server.notebook_url(name))
    wait_for(lambda: driver.execute_script(JS_READY, name), timeout, f"{name} to open with an idle kernel")
    driver.execute_script(JS_HOOK, name)
    return time.perf_counter() - start


def run_all(driver, name: str, timeout: float = 600, title: str = "JupyterLab") -> float:
    """Run every cell (the Run All command, on this notebook's panel) and wait until all have run;
    returns the seconds. ``title`` names the frontend in the message when a cell raises."""
    start = time.perf_counter()
    driver.execute_script(JS_RUN_ALL, name)

    def finished():
        st = driver.execute_script(JS_PROGRESS, name)
        if st["errors"]:
            raise AssertionError(f"{name}: a cell raised in {title}: {st['errors'][0]}")
        return st["idle"] and st["done"] == st["total"] and st
    wait_for(finished, timeout, f"{name} to run all cells", step=0.5)
    time.sleep(1.0)  # let the last widget views render
    return time.perf_counter() - start


def log_console_entries(driver, name: str) -> list[str] | None:
    """Entries of the notebook's Log Console at its default level, as a user opening it sees them;
    ``None`` when the frontend has no Log Console (nothing was checked)."""
    hooked = driver.execute_script(JS_UNHANDLED) or []
    if not driver.execute_script(JS_LOG_CONSOLE, name):
        return None
    time.sleep(0.5)
    shown = driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-LogConsolePanel .jp-OutputArea-child'))"
        ".map(e => e.innerText.slice(0, 160));")
    return list(hooked) + [f"(panel) {s}" for s in shown if s]


# ----------------------------------------------------------------------------
# ipywidgets controls, moved as a user would; ``image()`` returns the figure shown now

REDRAW_TIMEOUT = 90  # seconds for one redraw on a busy 2-core machine


def wait_new_image(image, before: str, what: str) -> str:
    return wait_for(lambda: (lambda now: now if now and now != before else None)(image()),
                    REDRAW_TIMEOUT, f"{what}'s figure to change")


def move_slider(d, handle, image, what: str, mouse_if_keys_taken: bool = False) -> str:
    """Focus the slider's handle and press an arrow key (left, or right at the lower end); returns
    ``"keys"``. Where the frontend takes the arrow keys for its own shortcuts (``mouse_if_keys_taken``,
    see ``KEYS_TAKEN``) and the slider stays, its handle is dragged with the mouse instead, and
    ``"mouse"`` is returned; elsewhere a slider that stays fails."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    box = d.execute_script("return arguments[0].closest('.widget-inline-hbox')", handle)
    readout = box.find_element(By.CSS_SELECTOR, ".widget-readout")
    value, before = readout.text, image()
    scroll_to(d, handle)
    ActionChains(d).click(handle).perform()
    for key in (Keys.ARROW_LEFT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT):
        handle.send_keys(key)
        time.sleep(0.5)
        if readout.text != value:
            break
    how = "keys"
    if readout.text == value and mouse_if_keys_taken:
        drag_slider(d, handle)
        how = "mouse"
    if readout.text == value:
        raise AssertionError(f"{what}: the slider did not move (readout stays {value!r}"
                             + (", with the arrow keys and with the mouse)" if how == "mouse" else ")"))
    wait_new_image(image, before, what)
    return how


def drag_slider(d, handle) -> None:
    """Drag the slider's handle with the mouse, 40% of the track towards its far end."""
    from selenium.webdriver.common.action_chains import ActionChains
    track = d.execute_script("return arguments[0].closest('.noUi-target')", handle)
    scroll_to(d, handle)
    at = d.execute_script("const t = arguments[0].getBoundingClientRect(), h = arguments[1].getBoundingClientRect();"
                          "return (h.left + h.width / 2 - t.left) / t.width;", track, handle)
    dx = int(track.size["width"] * 0.4) * (1 if at < 0.5 else -1)
    ActionChains(d).click_and_hold(handle).move_by_offset(dx // 2, 0).move_by_offset(dx - dx // 2, 0) \
        .release().perform()
    time.sleep(0.5)


def move_dropdown(d, select_el, image, what: str) -> bool:
    """Choose the next option of a dropdown."""
    from selenium.webdriver.support.ui import Select
    sel = Select(select_el)
    values = [o.get_attribute("value") for o in sel.options]
    current = values.index(sel.first_selected_option.get_attribute("value"))
    before = image()
    scroll_to(d, select_el)
    sel.select_by_index((current + 1) % len(values))
    wait_new_image(image, before, what)
    return True


# ----------------------------------------------------------------------------
# plotly's own controls (the prototype explorer), in JupyterLab, Notebook 7 and the HTML

def plot_hash(plot) -> str:
    return png_hash(plot.screenshot_as_png)


def wait_plot_changed(plot, before: str, what: str) -> str:
    return wait_for(lambda: (lambda h: h if h != before else None)(plot_hash(plot)), 30, what, step=0.5)


def use_plotly_controls(d, plot) -> tuple[int, int]:
    """Layer menu, highlight menu and epoch slider of an explorer figure; returns (found, changed)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    scroll_to(d, plot)
    wait_for(lambda: plot.find_elements(By.CSS_SELECTOR, ".gl-container canvas, .main-svg"), 30,
             "the plotly figure to draw")
    time.sleep(1.0)
    found = changed = 0
    headers = plot.find_elements(By.CSS_SELECTOR, ".updatemenu-header")
    for menu, option in zip(headers[:2], (1, 2)):  # layer: the 2nd layer; highlight: the 2nd class
        found += 1
        before = plot_hash(plot)
        ActionChains(d).click(menu).perform()
        buttons = wait_for(lambda: plot.find_elements(By.CSS_SELECTOR, ".updatemenu-dropdown-button"),
                           10, "the menu to open")
        ActionChains(d).click(buttons[option]).perform()
        wait_plot_changed(plot, before, "the explorer to change after a menu choice")
        changed += 1
    rails = plot.find_elements(By.CSS_SELECTOR, ".slider-rail-touch-rect")
    if rails:
        found += 1
        before = plot_hash(plot)
        active = d.execute_script("return arguments[0].layout.sliders[0].active", plot)
        rail = rails[0]
        width = rail.size["width"]
        x = -width / 2 + 4 if active else width / 2 - 4  # jump to the first (or last) epoch
        ActionChains(d).move_to_element_with_offset(rail, int(x), 0).click().perform()
        wait_for(lambda: d.execute_script("return arguments[0]._fullLayout.sliders[0].active", plot) != active,
                 20, "the epoch slider to move")
        wait_plot_changed(plot, before, "the explorer to change with the epoch")
        changed += 1
    return found, changed
