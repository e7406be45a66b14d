"""Execute the notebooks with papermill into a build folder (never over the sources).

    python -m hff_edu.notebook_runner --profile smoke            # what CI runs
    python -m hff_edu.notebook_runner --profile classroom --html # executed copies + HTML
    python -m hff_edu.notebook_runner --strip                    # remove outputs from the sources

Executed notebooks land in ``build/notebooks/<profile>/`` with HTML beside
them when asked, and ``timings.json`` records how long each one took. A
failure names the notebook and the cell, and the command exits non-zero.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build" / "notebooks"
KERNEL = "hff-edu"
PROFILES = ("smoke", "classroom", "full")


def notebook_paths(only: list[str] | None = None) -> list[Path]:
    """Source notebooks in teaching order: names start with two digits, optionally a letter
    (``02b_...`` sorts after ``02_...`` and before ``03_...``)."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]*_*.ipynb"))
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
    """Environment the kernels inherit: numba's cache on disk, inline figures kept, and in
    the smoke profile one torch thread (tiny models gain nothing from two, and two threads
    waiting on each other stall badly on a busy CI machine)."""
    if profile == "smoke":
        os.environ["OMP_NUM_THREADS"] = "1"
    from .data import data_root
    os.environ.setdefault("NUMBA_CACHE_DIR", str(data_root() / "numba_cache"))
    Path(os.environ["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
    os.environ.pop("MPLBACKEND", None)  # Agg would make inline figures vanish
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


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
    out_dir = Path(out_dir) if out_dir is not None else BUILD / profile
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
    if html:
        to_html(out)
    return seconds


def to_html(executed: Path) -> Path:
    from nbconvert import HTMLExporter
    import nbformat
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(str(executed), as_version=4))
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hff_edu.notebook_runner", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default=os.environ.get("PROFILE", "classroom"), choices=PROFILES,
                   help="smoke (CI, seconds), classroom (minutes on a laptop), full (reference numbers)")
    p.add_argument("--only", nargs="*", help="run only these notebooks (name prefixes, e.g. 00 03_hff)")
    p.add_argument("--html", action="store_true", help="also render each executed notebook to HTML")
    p.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    p.add_argument("--out", default=None, help="build folder (default build/notebooks/<profile>)")
    p.add_argument("--strip", action="store_true", help="strip outputs from the source notebooks and exit")
    a = p.parse_args(argv)
    paths = notebook_paths(a.only)
    if a.strip:
        for c in strip_outputs(paths):
            print(f"stripped {c.relative_to(ROOT)}")
        return 0
    timeout = a.timeout or {"smoke": 300, "classroom": 1200, "full": 7200}[a.profile]
    out_dir = Path(a.out) if a.out else BUILD / a.profile
    timings, failed = {}, []
    for path in paths:
        print(f"running {path.name} ({a.profile}) ...", flush=True)
        try:
            timings[path.name] = round(execute(path, a.profile, out_dir, timeout, a.html), 1)
            print(f"  ok in {timings[path.name]:.1f} s", flush=True)
        except NotebookFailed as e:
            failed.append(path.name)
            print(f"  FAILED: {e}", file=sys.stderr, flush=True)
    (out_dir / "timings.json").write_text(json.dumps(dict(profile=a.profile, seconds=timings), indent=2))
    print(f"executed notebooks in {out_dir}; timings in {out_dir / 'timings.json'}")
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
    print(f"notebooks ({a.profile}): {len(timings)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
