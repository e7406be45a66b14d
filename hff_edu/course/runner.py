"""Execute the notebooks with papermill into a build folder (never over the sources).

    python -m hff_edu.course run --profile smoke             # what CI runs
    python -m hff_edu.course run --profile classroom --html  # executed copies + HTML
    python -m hff_edu.course strip                           # remove outputs from the sources
    python -m hff_edu.course lab                             # working copies for `make lab`

Executed notebooks land in ``build/notebooks/<profile>/`` of the checkout (``checkout.here()``) with
HTML beside them when asked, and ``timings.json`` records how long each one took. A failure names
the notebook and the cell, and the command exits non-zero.

The HTML works offline: every script it needs comes from a local package and is
copied into ``_static/`` beside the pages (MathJax 3 and the Jupyter widget renderer
from ``js/node_modules``, installed by ``make setup`` with ``npm ci --prefix js``;
plotly.js from the plotly package), and
the widget state the run stored makes sliders and their figures render without a
kernel. ``make lab`` opens working copies under ``build/lab/``,
so JupyterLab's autosave never writes outputs into the sources.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from ..teaching.profiles import PROFILES
from .checkout import here

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: the offline page's scripts: name -> (file under js/node_modules, what it is for)
JS_ASSETS = {
    "mathjax": ("mathjax/es5/tex-svg-full.js", "MathJax 3 (SVG output: no web fonts to load)"),
    "widgets": ("@jupyter-widgets/html-manager/dist/embed.js", "the Jupyter widget renderer"),
}
PLOTLY_MIME = "application/vnd.plotly.v1+json"
KERNEL = "hff-edu"
#: seconds one cell may run, per profile
TIMEOUTS = {"smoke": 300, "classroom": 1200, "full": 7200}


def js_dir() -> Path:
    """The npm packages of the offline HTML, in the checkout."""
    return here().js


def notebook_paths(only: list[str] | None = None) -> list[Path]:
    """Source notebooks in teaching order: names start with two digits, optionally a letter
    (``02b_...`` sorts after ``02_...`` and before ``03_...``)."""
    paths = sorted(here().notebooks.glob("[0-9][0-9]*_*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(o) or p.name == o for o in only)]
        if not paths:
            raise SystemExit(f"No notebook matches {only}: names start like 00_, 01_, ...")
    return paths


def kernel_name() -> str:
    """The registered ``hff-edu`` kernel when present, else the current Python's ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager
    specs = KernelSpecManager().find_kernel_specs()
    return KERNEL if KERNEL in specs else "python3"


def notebook_env(profile: str = "classroom") -> None:
    """Environment the kernels inherit: numba's cache on disk, inline figures kept, interactive
    figures drawn up front for the HTML (``widgets.FRAMES_ENV``), and in
    the smoke profile one torch thread (tiny models gain nothing from two, and two threads
    waiting on each other stall badly on a busy CI machine)."""
    if profile == "smoke":
        os.environ["OMP_NUM_THREADS"] = "1"
    from ..core.data import data_root
    os.environ.setdefault("NUMBA_CACHE_DIR", str(data_root() / "numba_cache"))
    Path(os.environ["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
    os.environ.pop("MPLBACKEND", None)  # Agg would make inline figures vanish
    from ..teaching.widgets import FRAMES_ENV
    os.environ[FRAMES_ENV] = "1"  # no widget frontend: interactive figures store their frames
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    from ..teaching.claims import MODE_ENV
    os.environ.setdefault(MODE_ENV, "strict")  # a claim that does not hold fails the run (claims.py)
    from ..teaching import exercises
    # the runner executes the teacher's solutions: a wrong one is a bug of the course (exercises.py)
    os.environ.setdefault(exercises.MODE_ENV, "strict")


def repoll_kernel_messages(step: float = 1.0) -> None:
    """Work around an intermittent hang of papermill/nbclient on ``ipywidgets`` cells.

    After a widget cell (``interact``) the kernel's reply sometimes sits in the
    socket while the client's single long ``poll`` never wakes up, so the run
    stalls until the cell timeout, then interrupts the kernel and goes on (seen here
    in about 1 of 16 executions of a widget cell; upstream: jupyter/nbclient#312).
    Polling in short steps up to the same deadline picks the waiting message up
    within ``step`` seconds. Patches jupyter_client's async channel in this process only.
    """
    from queue import Empty

    from jupyter_client.channels import AsyncZMQSocketChannel
    if getattr(AsyncZMQSocketChannel.get_msg, "_repolls", False):
        return
    single_poll = AsyncZMQSocketChannel.get_msg

    async def get_msg(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = step if deadline is None else max(0.0, min(step, deadline - time.monotonic()))
            try:
                return await single_poll(self, timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    get_msg._repolls = True
    AsyncZMQSocketChannel.get_msg = get_msg


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook and the cell."""


def execute(path: Path, profile: str = "smoke", out_dir: Path | None = None, timeout: int = 900,
            html: bool = False, parameters: dict | None = None) -> float:
    """Run one notebook with papermill; returns the wall time in seconds."""
    import papermill as pm
    repoll_kernel_messages()
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}: choose one of {', '.join(PROFILES)}.")
    notebook_env(profile)
    out_dir = Path(out_dir) if out_dir is not None else here().executed / profile
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / path.name
    params = dict(PROFILE=profile, **(parameters or {}))
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(path), str(out), parameters=params, cwd=str(path.parent),
                            kernel_name=kernel_name(), execution_timeout=timeout,
                            progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as e:
        raise NotebookFailed(f"{path.name}: cell {e.exec_count} (index {e.cell_index}) raised "
                             f"{e.ename}: {e.evalue}\n  executed copy: {out}") from None
    except Exception as e:  # timeouts, dead kernels
        raise NotebookFailed(f"{path.name}: {type(e).__name__}: {e}\n  executed copy: {out}") from None
    seconds = time.perf_counter() - start
    import nbformat
    from .output_checks import problems
    shown = problems(nbformat.read(str(out), as_version=4), path.name)
    if shown:  # it ran, but a student would see something no one meant to show
        raise NotebookFailed(f"{path.name}: {len(shown)} output problem(s):\n  " + "\n  ".join(shown)
                             + f"\n  executed copy: {out}")
    if html:
        to_html(out)
    return seconds


def needs_all_cpus(path: Path) -> bool:
    """True for a notebook whose measurements need the whole machine (its metadata says
    ``"hff_edu": {"needs_all_cpus": true}``): :func:`execute_all` runs it alone."""
    meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    return bool(meta.get("hff_edu", {}).get("needs_all_cpus"))


def _execute_quietly(args) -> float | NotebookFailed:
    try:
        return execute(*args)
    except NotebookFailed as e:
        return e


def execute_all(paths: list[Path], profile: str, out_dir: Path, timeout: int, html: bool = False,
                parameters: dict | None = None, jobs: int = 1, what: str = ""):
    """Run ``paths``, ``jobs`` at a time; yields ``(name, seconds or NotebookFailed)`` as each ends.

    Every notebook pins torch to one thread (its ``THREADS`` parameter), so two at once on two cores
    leave each other's single-threaded timings alone; a notebook that :func:`needs_all_cpus` runs by
    itself after the others. The pool takes the longest first (by the last run's ``timings.json``).
    """
    if jobs <= 1:
        for p in paths:
            print(f"running {p.name} ({what}) ...", flush=True)
            yield p.name, _execute_quietly((p, profile, out_dir, timeout, html, parameters))
        return
    last = {}
    if (out_dir / "timings.json").is_file():
        last = json.loads((out_dir / "timings.json").read_text()).get("seconds", {})
    os.environ["OMP_NUM_THREADS"] = "1"  # every kernel one torch thread (the notebooks' THREADS default)
    alone = [p for p in paths if needs_all_cpus(p)]
    pooled = sorted((p for p in paths if p not in alone), key=lambda p: -last.get(p.name, 0.0))
    if pooled:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        print(f"running {', '.join(p.stem[:3].rstrip('_') for p in pooled)} ({what}), {jobs} at a time ...", flush=True)
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_execute_quietly, (p, profile, out_dir, timeout, html, parameters)): p
                       for p in pooled}
            for f in as_completed(futures):
                yield futures[f].name, f.result()
    for p in alone:
        print(f"running {p.name} ({what}) by itself: it needs every CPU ...", flush=True)
        yield p.name, _execute_quietly((p, profile, out_dir, timeout, html, parameters))


def check_offline_assets() -> None:
    """Raise a clear error when the npm packages of the offline HTML are not installed."""
    js = js_dir()
    missing = [rel for rel, _ in JS_ASSETS.values() if not (js / rel).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Offline HTML needs {', '.join(missing)} under {js}: run `make setup` "
            f"(or `npm ci --prefix {js.parent}`), which installs MathJax and the widget renderer from npm.")


def offline_scripts(nb, out_dir: Path) -> dict:
    """The scripts an offline page of ``nb`` needs, copied into ``out_dir/_static/`` once; returns
    their relative URLs: MathJax always, the widget renderer when the run stored widget state,
    plotly.js when an output is a plotly figure. (Files beside the page rather than inlined: the
    widget renderer and MathJax find their own location from their script's ``src``.)"""
    check_offline_assets()
    wanted = ["mathjax"] + (["widgets"] if "widgets" in nb.metadata else [])
    if any(PLOTLY_MIME in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
           for out in cell.get("outputs", [])):
        wanted.append("plotly")
    static = out_dir / "_static"
    static.mkdir(parents=True, exist_ok=True)
    urls = {}
    for name in wanted:
        target = static / (f"{name}.js" if name != "plotly" else "plotly.min.js")
        if name == "plotly":
            from plotly.offline import get_plotlyjs
            text = get_plotlyjs()
            if not target.exists() or target.stat().st_size != len(text.encode()):
                target.write_text(text, encoding="utf-8")
        else:
            source = js_dir() / JS_ASSETS[name][0]
            if not target.exists() or target.stat().st_size != source.stat().st_size:
                shutil.copyfile(source, target)
        urls[name] = f"_static/{target.name}"
    return urls


def to_html(executed: Path) -> Path:
    """``executed``'s HTML export beside it, viewable offline (see the module docstring): keep
    the ``_static/`` folder beside the page when you copy it."""
    from nbconvert import HTMLExporter
    import nbformat
    nb = nbformat.read(str(executed), as_version=4)
    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(TEMPLATES)])
    resources = {"offline_js": offline_scripts(nb, executed.parent)}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def lab_copies(paths: list[Path], out_dir: Path | None = None) -> list[str]:
    """Working copies of the source notebooks for JupyterLab, so its autosave cannot dirty the sources.

    A missing copy is created. An existing copy is kept (it holds the user's work) and
    reported when its source has changed since (``--lab-reset`` replaces it). Returns one
    line per notebook saying what happened.
    """
    out_dir = out_dir or here().lab
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for src in paths:
        copy = out_dir / src.name
        if not copy.exists():
            shutil.copy2(src, copy)
            lines.append(f"new copy   {copy}")
        elif src.stat().st_mtime > copy.stat().st_mtime:
            lines.append(f"kept       {copy.name}: its source changed since; `make lab-reset` replaces the copy")
    return lines

def strip_outputs(paths: list[Path]) -> list[Path]:
    """Remove outputs and execution counts from source notebooks; returns those changed."""
    import nbformat
    changed = []
    for p in paths:
        nb = nbformat.read(str(p), as_version=4)
        dirty = False
        for cell in nb.cells:
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
                cell.outputs, cell.execution_count, dirty = [], None, True
            if "papermill" in cell.metadata or "execution" in cell.metadata:
                cell.metadata.pop("papermill", None)
                cell.metadata.pop("execution", None)
                dirty = True
        if dirty:
            nbformat.write(nb, str(p))
            changed.append(p)
    return changed


def run(profile: str, only: list[str] | None = None, html: bool = False, jobs: int = 1, seed: int | None = None,
        out: Path | None = None, timeout: int | None = None) -> int:
    """Execute the notebooks (``only`` these name prefixes) in ``profile``; print one line per notebook
    and write ``timings.json``. Returns the exit status: 1 when a notebook failed, 2 when the HTML
    cannot be made offline."""
    paths = notebook_paths(only)
    if html:
        try:
            check_offline_assets()
        except FileNotFoundError as e:
            print(e, file=sys.stderr)
            return 2
    timeout = timeout or TIMEOUTS[profile]
    seeded = seed is not None and seed != 0
    out_dir = Path(out) if out else here().executed / (f"{profile}-seed{seed}" if seeded else profile)
    parameters = {"SEED": seed} if seed is not None else None
    what = f"{profile}{f', SEED = {seed}' if seed is not None else ''}"
    timings, failed = {}, []
    for name, result in execute_all(paths, profile, out_dir, timeout, html, parameters, jobs, what):
        if isinstance(result, NotebookFailed):
            failed.append(name)
            print(f"  FAILED: {result}", file=sys.stderr, flush=True)
        else:
            timings[name] = round(result, 1)
            print(f"  {name}: ok in {timings[name]:.1f} s", flush=True)
    (out_dir / "timings.json").write_text(json.dumps(dict(profile=profile, seed=seed, seconds=timings), indent=2))
    print(f"executed notebooks in {out_dir}; timings in {out_dir / 'timings.json'}")
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
    print(f"notebooks ({profile}): {len(timings)} passed, {len(failed)} failed")
    return 1 if failed else 0
