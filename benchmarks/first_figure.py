"""From an empty virtual environment to the first figure: what `pip install hff-edu` costs in seconds and
disk now that Jupyter is an extra, against the dependency set the runtime had before (commit 8278247),
and how long a student waits from `pip install 'hff-edu[lab]'` to the first figure of notebook 00.

Everything runs outside the checkout, in a shell environment as a student's (`tests/install/install_tools.py`:
no paths of ours, a fresh HOME, so the per-user data and cache folder is empty), in a fresh virtual
environment per set-up, with the wheel built from the checkout, each install timed in two modes:

- ``index``: pip as it is here. PyPI is asked for every project and every file not on local disk is
  downloaded (torch's CPU wheel is local: /opt/wheels, PIP_FIND_LINKS). PIP_CACHE_DIR stays the machine's,
  but pip's HTTP cache stores nothing on this machine (the registry's responses carry no caching headers,
  ``pip download -vvv`` twice shows it), so this is a first install over a fast network.
- ``local``: pip with a cache that is as warm as it gets. Before anything is timed, ``pip download``
  fetches every file of every set-up into a folder; the timed install reads only that folder and
  /opt/wheels (PIP_NO_INDEX=1, PIP_FIND_LINKS), the pip command unchanged: no network at all, the lower bound
  of a second install (a real warm cache still asks the index for every project).

1. **Install**: ``pip install <torch> <wheel>`` (light runtime), ``pip install <torch> '<wheel>[lab]'``
   (a student's machine) and ``pip install <torch> <wheel> jupyterlab ipykernel papermill nbconvert nbformat``
   (the runtime's dependency set before 8278247, "today"), each one pip command into its own empty venv:
   seconds, bytes on disk of the venv, distributions added.
2. **torch's size**: bytes on disk of the files (each distribution's RECORD) of torch, torchvision,
   triton, nvidia-* and cuda-* in the fresh venv (the CPU build) and in the checkout's ``.venv`` (the CUDA
   build, already installed: nothing is downloaded).
3. **First figure** (the student set-up): ``hff-edu course DEST --student``, then the notebook executed
   cell by cell in the ``hff-edu`` kernel that command registered (nbclient, driven from this Python),
   the notebook's own parameters (PROFILE = "classroom"), until a cell's outputs hold an image/png.

    nice -n 5 python benchmarks/first_figure.py           # 3 set-ups x 2 modes and the first figure (~11 min)
    nice -n 5 python benchmarks/first_figure.py --quick   # the student set-up, index mode, and the figure (~4 min)

Writes ``results/first_figure.{json,csv,md}`` and the figure the student sees first as ``first_figure.png``.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, finish, metadata, parser, quick_defaults, table, write_results

sys.path.insert(0, str(ROOT / "tests" / "install"))
from install_tools import build_wheel, clean_env, du, make_venv  # noqa: E402
from install_tools import run as run_step  # noqa: E402

MODES = {
    "index": "pip as it is here: PyPI asked for every project, every file not on local disk downloaded",
    "local": "every file from a folder filled by `pip download` beforehand, no index (PIP_NO_INDEX=1)",
}

#: the runtime's dependencies before 8278247 that are extras now (bounds as in today's extras)
BEFORE = ["jupyterlab>=4.0", "ipykernel>=6.25", "papermill>=2.5", "nbconvert>=7.8", "nbformat>=5.9"]
SETUPS = {
    "light": "hff-edu (the light runtime)",
    "lab": "hff-edu[lab] (a student's machine)",
    "today": "hff-edu + jupyterlab, ipykernel, papermill, nbconvert, nbformat (before 8278247)",
}
#: the distributions whose size is "torch's": the CUDA build brings triton, nvidia-* and cuda-*
TORCH_FAMILY = r"torch|torchvision|triton|nvidia-.*|cuda-.*"
KERNEL = "hff-edu"

#: run by a venv's own python: its distributions, and the bytes of the files each matching one lists
PROBE = r"""
import importlib.metadata as md, json, os, re, stat, sys
pattern = re.compile(sys.argv[1])
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
dists, sizes, seen = {}, {}, set()
for d in md.distributions():
    name = norm(d.metadata["Name"])
    dists[name] = d.version
    if not pattern.fullmatch(name):
        continue
    total = files = 0
    for f in d.files or []:
        path = os.path.realpath(d.locate_file(f))
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and path not in seen:
            seen.add(path)
            total += st.st_size
            files += 1
    sizes[name] = dict(version=d.version, bytes=total, files=files)
print(json.dumps(dict(python=sys.executable, prefix=sys.prefix, distributions=dists, sizes=sizes)))
"""


def probe(python: Path, env: dict, cwd: Path) -> dict:
    r = subprocess.run([str(python), "-c", PROBE, TORCH_FAMILY], env=env, cwd=cwd, capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout)


def pip_sources(output: str) -> dict:
    """Where pip took each file from, counted from its output ("Processing <file>": a local file)."""
    lines = [ln.strip() for ln in output.splitlines()]
    count = lambda prefix: sum(ln.startswith(prefix) for ln in lines)  # noqa: E731
    return dict(downloaded=count("Downloading"), from_pip_cache=count("Using cached"),
                local_files=count("Processing "), wheels_built=count("Building wheel for"))


def requirements(setup: str, torch_req: list[str], wheel: Path) -> list[str]:
    return {"light": [*torch_req, str(wheel)], "lab": [*torch_req, f"{wheel}[lab]"],
            "today": [*torch_req, str(wheel), *BEFORE]}[setup]


def group_sizes(sizes: dict) -> dict:
    """{torch, torchvision, triton, nvidia-* (n), cuda-* (n)} -> bytes."""
    groups: dict[str, int] = {}
    for label, pat in (("torch", r"torch"), ("torchvision", r"torchvision"), ("triton", r"triton"),
                       ("nvidia-*", r"nvidia-.*"), ("cuda-*", r"cuda-.*")):
        hits = {n: s["bytes"] for n, s in sizes.items() if re.fullmatch(pat, n)}
        if hits:
            groups[label if len(hits) == 1 and "*" not in label else f"{label} ({len(hits)})"] = sum(hits.values())
    return groups


def first_figure(path: Path, kernel_dir: Path, env: dict, timeout: int) -> dict:
    """Execute ``path`` cell by cell in the kernel registered in ``kernel_dir`` (started with ``env``, in the
    notebook's folder) until a cell shows an image/png; the times count from the kernel's start."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from traitlets import default

    class FreshKernels(AsyncKernelManager):  # finds only the kernel of the fresh environment
        @default("kernel_spec_manager")
        def _only_fresh(self):
            return KernelSpecManager(kernel_dirs=[str(kernel_dir)])

    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, kernel_name=KERNEL, kernel_manager_class=FreshKernels, timeout=timeout,
                            resources={"metadata": {"path": str(path.parent)}})
    client.reset_execution_trackers()
    out: dict = dict(notebook=path.name, cells=[], figure=None)
    start = time.perf_counter()
    with client.setup_kernel(env=env):
        out["kernel_ready_s"] = round(time.perf_counter() - start, 2)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t0 = time.perf_counter()
            error = None
            try:
                client.execute_cell(cell, i)
            except CellExecutionError as e:
                error = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            first_line = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
            row = dict(index=i, first_line=first_line, seconds=round(time.perf_counter() - t0, 2),
                       since_kernel_start_s=round(time.perf_counter() - start, 2),
                       outputs=[o.output_type for o in cell.outputs])
            out["cells"].append(row)
            if "hff-setup" in cell.metadata.get("tags", []):
                text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
                out["setup_output"] = text
                out["setup_line"] = text.strip().splitlines()[0] if text.strip() else ""
            if error:
                out["error"] = dict(cell=i, message=error)
                break
            png = next((o["data"]["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})), None)
            if png is not None:
                out["figure"] = dict(row, seconds_from_kernel_start=row["since_kernel_start_s"])
                out["png"] = png
                break
    out["notebook_parameters"] = next((c.source for c in nb.cells if "parameters" in c.metadata.get("tags", [])),
                                      None)
    return out


def install(setup: str, mode: str, work: Path, env: dict, torch_req: list[str], wheel: Path, report: dict):
    """A new venv ``work/<setup>-<mode>/venv``, then one timed ``pip install``: (row, venv python, its env)."""
    base = work / f"{setup}-{mode}"
    base.mkdir()
    senv = dict(env)
    py = make_venv(report, base / "venv", senv)  # senv: activated for this venv
    before = probe(py, senv, base)
    if "pip_config" not in report:  # what pip reads in the clean environment (no user pip.conf: a new HOME)
        report["pip_config"] = subprocess.run([str(py), "-m", "pip", "config", "list"], env=senv, cwd=base,
                                              capture_output=True, text=True).stdout.strip().splitlines()
    empty_bytes = du(base / "venv")
    reqs = requirements(setup, torch_req, wheel)
    t0 = time.perf_counter()
    out = run_step(report, f"pip install ({setup}, {mode})", [py, "-m", "pip", "install", *reqs], senv, base)
    seconds = round(time.perf_counter() - t0, 1)
    after = probe(py, senv, base)
    added = {n: v for n, v in after["distributions"].items() if n not in before["distributions"]}
    row = dict(setup=setup, mode=mode, what=SETUPS[setup],
               command="pip install " + " ".join(r.replace(str(wheel), "<wheel>") for r in reqs),
               pip_install_s=seconds, venv_bytes=du(base / "venv"), empty_venv_bytes=empty_bytes,
               distributions_added=len(added), distributions_in_venv=len(after["distributions"]),
               pip=before["distributions"].get("pip"), **pip_sources(out),
               versions={k: after["distributions"].get(k) for k in ("hff-edu", "torch", "torchvision", "jupyterlab",
                                                                     "notebook", "ipykernel", "papermill", "nbconvert")},
               added=added, torch_sizes=after["sizes"])
    return row, base, senv


def student_first_figure(base: Path, senv: dict, home: Path, notebook: str, timeout: int, report: dict) -> dict:
    """``hff-edu course DEST --student`` in the venv at ``base``, then ``notebook`` until its first figure."""
    dest = home / "hff-course"
    t0 = time.perf_counter()
    out = run_step(report, "hff-edu course --student", [base / "venv" / "bin" / "hff-edu", "course", dest, "--student"],
                   senv, home)
    course_s = round(time.perf_counter() - t0, 1)
    kernel_dir = base / "venv" / "share" / "jupyter" / "kernels"
    spec = json.loads((kernel_dir / KERNEL / "kernel.json").read_text())
    if not Path(os.path.abspath(spec["argv"][0])).is_relative_to(base / "venv"):  # venv/bin/python: a link
        raise SystemExit(f"the '{KERNEL}' kernel does not run the fresh venv's python: {spec['argv']}")
    print(f"[first figure] executing {notebook} in {dest} ...", flush=True)
    figure = first_figure(dest / notebook, kernel_dir, senv, timeout)
    cache = home / ".cache"
    figure.update(course_s=course_s, course_output=out.strip(), kernel_argv=spec["argv"],
                  home_cache_files_after=sorted(str(q.relative_to(home)) for q in cache.rglob("*") if q.is_file())
                  if cache.exists() else [])
    print(f"[first figure] {json.dumps(figure.get('figure'))}", flush=True)
    return figure


def mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:,.0f}"


def sizes_of(probed: dict, how: str) -> dict:
    return dict(how=how, sizes=probed, groups=group_sizes(probed), total=sum(v["bytes"] for v in probed.values()))


def main(argv=None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--torch", default="torch==2.13.0 torchvision==0.28.0",
                   help="the torch requirement, installed by the same pip command as the wheel "
                        "(\"torch torchvision\": pip's choice, the CUDA build on Linux, ~5.5 GB)")
    p.add_argument("--setups", default="light,lab,today", help=f"which of {', '.join(SETUPS)}; "
                   "'lab' also runs the first-figure measurement (after its first mode's install)")
    p.add_argument("--modes", default="index,local", help=f"which of {', '.join(MODES)} (see the docstring)")
    p.add_argument("--notebook", default="00_local_learning.ipynb", help="the notebook whose first figure is timed")
    p.add_argument("--cuda-venv", default=str(ROOT / ".venv"),
                   help="an environment holding the CUDA build of torch, measured in place")
    p.add_argument("--work-dir", default=None,
                   help="where the fresh environments go (default: a new temporary folder, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the venvs and the course in the work folder")
    p.add_argument("--cell-timeout", type=int, default=900, help="seconds one notebook cell may take")
    a = p.parse_args(argv)
    quick_defaults(p, a, setups="lab", modes="index")
    setups = [s.strip() for s in a.setups.split(",") if s.strip()]
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    for given, known, what in ((setups, SETUPS, "set-up"), (modes, MODES, "mode")):
        if not given or set(given) - set(known):
            p.error(f"--{what.replace('-', '')}s {given}: pick from {list(known)}")
    torch_req = shlex.split(a.torch)
    name = "first_figure" + ("_quick" if a.quick else "") + (f"_{a.tag}" if a.tag else "")
    start = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]

    work = Path(a.work_dir or tempfile.mkdtemp(prefix="hff-first-figure-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if work.is_relative_to(ROOT):
        p.error("--work-dir must lie outside the checkout")
    pip_cache = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True,
                               text=True).stdout.strip()
    report: dict = {"steps": {}}
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = clean_env(home)
    # a student's PATH has nothing of the checkout's (ours starts with .venv/bin); pip's cache stays the machine's
    env["PATH"] = os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep)
                                  if d and not Path(d).resolve().is_relative_to(ROOT))
    if pip_cache and "PIP_NO_CACHE_DIR" not in env:
        env["PIP_CACHE_DIR"] = pip_cache
    (work / "dist").mkdir(exist_ok=True)
    wheel = build_wheel(report, work / "dist")

    envs = {m: dict(env) for m in modes}
    warm_up = None
    if "local" in modes:  # every file the timed installs will want, in a folder; then no index
        t0 = time.perf_counter()
        scratch, warm = work / "warm-up", work / "warm-up-files"
        scratch.mkdir(exist_ok=True)
        py = make_venv(report, scratch / "venv", dict(env))
        for s in setups:
            run_step(report, f"warm-up: pip download ({s})",
                     [py, "-m", "pip", "download", "-d", warm, *requirements(s, torch_req, wheel)],
                     dict(env, VIRTUAL_ENV=str(scratch / "venv")), scratch)
        shutil.rmtree(scratch)
        (warm / wheel.name).unlink(missing_ok=True)  # the wheel itself is installed from its own path
        envs["local"].update(PIP_NO_INDEX="1",
                             PIP_FIND_LINKS=" ".join(filter(None, [str(warm), env.get("PIP_FIND_LINKS", "")])))
        warm_up = round(time.perf_counter() - t0, 1)

    rows, figure = [], None
    for s in setups:
        for mode in modes:
            row, base, senv = install(s, mode, work, envs[mode], torch_req, wheel, report)
            if s == "lab" and figure is None:
                figure = student_first_figure(base, senv, home, a.notebook, a.cell_timeout, report)
                figure.update(pip_install_s=row["pip_install_s"], mode=mode)
                if figure["figure"]:
                    figure["total_from_empty_venv_s"] = round(row["pip_install_s"] + figure["course_s"]
                                                              + figure["figure"]["seconds_from_kernel_start"], 1)
                    png = figure.pop("png")
                    if not a.no_plot:
                        Path(a.out_dir).mkdir(parents=True, exist_ok=True)
                        (Path(a.out_dir) / f"{name}.png").write_bytes(base64.b64decode(png))
            rows.append(row)
            if not a.keep:
                shutil.rmtree(base)

    sizes = dict(cpu=sizes_of(rows[0]["torch_sizes"], "the files listed in each distribution's RECORD "
                              "(importlib.metadata), their st_size summed, in a fresh venv of this run"))
    cuda_python = Path(a.cuda_venv) / "bin" / "python"
    if cuda_python.exists():
        sizes["cuda"] = sizes_of(probe(cuda_python, dict(os.environ), ROOT)["sizes"],
                                 f"the same, measured in place in {a.cuda_venv} (nothing downloaded)")
    if a.work_dir is None and not a.keep:
        shutil.rmtree(work)
    elif not a.keep:
        shutil.rmtree(work / "warm-up-files", ignore_errors=True)

    config = dict(torch=a.torch, setups=setups, modes=modes, notebook=a.notebook, before=BEFORE,
                  pip_cache=pip_cache, work_dir=str(work), kept=a.keep, cuda_venv=a.cuda_venv)
    meta = metadata(a, "cpu", config,
                    " ".join(["python benchmarks/first_figure.py", *(sys.argv[1:] if argv is None else argv)]))
    meta["load_avg_at_start"] = load_start
    extra = dict(torch_sizes=sizes, first_figure=figure, steps=report["steps"], wheel=report["wheel"],
                 warm_up_s=warm_up, pip_config=report.get("pip_config"))
    write_results(name, a, meta, rows, extra)
    text = render(a, meta, rows, sizes, figure, report, pip_cache, warm_up, env, modes, setups)
    return finish(name, a, text, start)


def render(a, meta, rows, sizes, figure, report, pip_cache, warm_up, env, modes, setups) -> str:
    """The markdown report."""
    by = {(r["setup"], r["mode"]): r for r in rows}
    first = {s: by[(s, modes[0])] for s in setups}
    t1 = table(["set-up", *[f"pip install, {m} (s)" for m in modes], "venv (MB)", "of it the empty venv (MB)",
                "distributions added", "files downloaded / local"],
               [[f"{s}: {SETUPS[s]}", *[f"{by[(s, m)]['pip_install_s']:.1f}" for m in modes],
                 mb(first[s]["venv_bytes"]), mb(first[s]["empty_venv_bytes"]), first[s]["distributions_added"],
                 f"{first[s]['downloaded']} / {first[s]['local_files']}"] for s in setups])
    notes = []
    if len(modes) > 1:
        same = all(by[(s, m)]["added"] == first[s]["added"] for s in setups for m in modes)
        notes.append("The modes installed " + ("the same distributions and versions" if same else
                     "**different** distributions or versions (see the JSON's `added`)") +
                     f"; venv size and distributions are those of the {modes[0]} mode.")
    built = {f"{r['setup']}, {r['mode']}": r["wheels_built"] for r in rows if r["wheels_built"]}
    notes.append(f"Wheels built from source: {built}." if built else "No wheel was built from source.")
    if "light" in setups and "today" in setups:
        lt, td = first["light"], first["today"]
        times = "; ".join(f"{m}: {by[('light', m)]['pip_install_s']:.1f} s vs {by[('today', m)]['pip_install_s']:.1f} s "
                          f"({by[('light', m)]['pip_install_s'] / by[('today', m)]['pip_install_s']:.0%})" for m in modes)
        notes.append(f"Light runtime vs the runtime before 8278247: {mb(td['venv_bytes'] - lt['venv_bytes'])} MB "
                     f"({lt['venv_bytes'] / td['venv_bytes']:.0%} of the disk) and "
                     f"{td['distributions_added'] - lt['distributions_added']} distributions fewer; pip install {times}.")
    if "lab" in setups and "today" in setups:
        lb, td = first["lab"], first["today"]
        times = "; ".join(f"{m}: {by[('lab', m)]['pip_install_s'] - by[('today', m)]['pip_install_s']:+.1f} s"
                          for m in modes)
        notes.append(f"[lab] vs the runtime before 8278247: {(lb['venv_bytes'] - td['venv_bytes']) / 1e6:+,.0f} MB, "
                     f"{lb['distributions_added'] - td['distributions_added']:+d} distributions; pip install {times}.")
    size_rows = []
    for kind, s in sizes.items():
        g = s["groups"]
        size_rows.append([f"{kind.upper()} build (torch {s['sizes'].get('torch', {}).get('version', '?')})",
                          *[mb(g.get(k)) for k in ("torch", "torchvision", "triton")],
                          mb(sum(v for k, v in g.items() if k.startswith("nvidia")) or None),
                          mb(sum(v for k, v in g.items() if k.startswith("cuda")) or None),
                          len(s["sizes"]), mb(s["total"])])
    t2 = table(["build", "torch", "torchvision", "triton", "nvidia-*", "cuda-*", "distributions", "total (MB)"],
               size_rows)
    pip_config = "; ".join(c for c in report.get("pip_config", []) if not c.startswith(":env:")) or "none"
    text = [
        "# From an empty venv to the first figure (`first_figure.py`)\n",
        f"{meta['cpu']} ({meta['logical_cpus']} logical CPUs, shared with other jobs: load average at start "
        f"{meta['load_avg_at_start']}, at the end {[round(x, 2) for x in os.getloadavg()]}), {meta['date']}. "
        f"Command: `nice -n 5 {meta['command']}`. Python {sys.version.split()[0]}, pip {rows[0]['pip']} (the "
        f"venv's own, as `python -m venv` makes it); torch requirement `{a.torch}`; wheel {report['wheel']['name']} "
        f"({report['wheel']['bytes'] / 1e3:,.0f} kB).\n",
        "Each set-up and mode: a new venv outside the checkout, a shell environment as a student's (a fresh HOME, so "
        "the per-user data and cache folder is empty; none of the checkout's paths; OMP_NUM_THREADS="
        f"{env.get('OMP_NUM_THREADS', 'unset')}), one `pip install` with torch in the same command. "
        f"**pip's cache**: PIP_CACHE_DIR is the machine's (`{pip_cache}`, not the fresh HOME's), but pip's HTTP "
        "cache stores nothing on this machine (the registry's responses carry no caching headers), so it cannot be "
        "warm. The two modes bracket it: **index** = pip as it is here (PyPI asked for every project, every file "
        "not on local disk downloaded, at 50-130 MB/s): a first install; **local** = every file read from a "
        "folder filled by `pip download` before anything was timed"
        + (f" ({warm_up:.0f} s)" if warm_up is not None else "") +
        ", no index (PIP_NO_INDEX=1, PIP_FIND_LINKS), the pip command unchanged: the lower bound of a second "
        "install (a warm cache still asks the index for each project). "
        f"pip's configuration in the clean environment (`pip config list`, environment variables aside): "
        f"`{pip_config}`; the user pip.conf of the machine's HOME is not read under the fresh HOME, so pip sees "
        f"PyPI and PIP_FIND_LINKS (`{os.environ.get('PIP_FIND_LINKS', '')}`, where torch's CPU wheel is).\n",
        "MB = 10^6 bytes, apparent size (st_size) of the files; distributions added = in the venv after the install "
        "and not before (the empty venv holds pip and setuptools); files = how many pip downloaded / read from "
        "local paths (torch's wheel, the hff-edu wheel), in the first mode.\n",
        "## 1. Install time and size\n", "```", t1, "```", *[f"- {n}" for n in notes], "",
        "Commands (`<wheel>` = the wheel built from the checkout):", "",
        *[f"- {s}: `{first[s]['command']}`" for s in setups], "",
        "## 2. torch's size on disk\n", "```", t2, "```", f"- CPU: {sizes['cpu']['how']}."]
    if "cuda" in sizes:
        n_nv = sum(1 for n in sizes["cuda"]["sizes"] if n.startswith("nvidia-"))
        text += [f"- CUDA: {sizes['cuda']['how']}; nvidia-* = {n_nv} distributions; cuda-* = cuda-toolkit, "
                 "cuda-bindings and cuda-pathfinder, which the CUDA build requires too. It is the checkout's torch, "
                 "not necessarily the CPU build's version."]
    text.append("")
    if figure:
        f = figure.get("figure")
        steps = [[f"pip install torch + hff-edu[lab] ({figure['mode']} mode, from the empty venv)",
                  f"{figure['pip_install_s']:.1f}", ""],
                 ["hff-edu course DEST --student", f"{figure['course_s']:.1f}", ""],
                 ["kernel start (hff-edu kernel, until ready)", f"{figure['kernel_ready_s']:.1f}",
                  f"{figure['kernel_ready_s']:.1f}"]]
        steps += [[f"cell {c['index']}: {c['first_line'][:60]}", f"{c['seconds']:.1f}",
                   f"{c['since_kernel_start_s']:.1f}"] for c in figure["cells"]]
        params = (figure.get("notebook_parameters") or "?").splitlines()
        text += ["## 3. Time to the first figure (the student set-up, `hff-edu[lab]`)\n", "```",
                 table(["step", "seconds", "since kernel start"], steps), "```"]
        if f:
            text.append(f"- **First figure**: cell {f['index']} (`{f['first_line']}`), "
                        f"**{f['seconds_from_kernel_start']:.1f} s after the kernel's start**; from the empty venv "
                        f"(pip install + hff-edu course + kernel start to figure): "
                        f"**{figure['total_from_empty_venv_s']:.1f} s** ({figure['total_from_empty_venv_s'] / 60:.1f} "
                        f"min).")
        else:
            text.append(f"- No figure: {figure.get('error') or 'no cell showed an image/png'}.")
        text += [f"- The set-up cell printed: `{figure.get('setup_line', '')}`",
                 f"- {figure['notebook']} from DEST (the student edition), its own parameters (`{params[0]}`), "
                 f"executed cell by cell by nbclient from {sys.executable} in the kernel `{KERNEL}` registered by "
                 f"`hff-edu course` (argv[0] `{figure['kernel_argv'][0]}`), cwd DEST, the kernel's environment the "
                 "clean one. Fashion-MNIST came from Debian's dataset-fashion-mnist on this machine; where it is "
                 "missing the set-up cell downloads it (about 30 MB) once.", ""]
    return "\n".join(text) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
