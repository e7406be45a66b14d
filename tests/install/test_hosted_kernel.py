"""A hosted kernel, simulated: a fresh environment holding only torch and a Jupyter frontend (as Colab's,
Kaggle's or a JupyterHub's image does), no hff-edu. Each notebook is opened from the repository as it
is and run in the smoke profile; its first cell alone must install hff-edu (``%pip install hff-edu``,
found here in a local wheel index: the wheel built from this checkout) and the notebook must then run
to its end. hff-edu is uninstalled again before the next notebook, so every notebook proves its own
first cell.

Minutes (make install-test runs it with tests/install/test_fresh_env.py). ``HFF_EDU_HOSTED_NOTEBOOKS``
picks notebooks by prefix (e.g. ``"00 07"``; default: all). Times and results go to
``build/install/hosted_report.json``.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import nbformat
import pytest
from install_tools import ROOT, build_wheel, clean_env, make_venv, run

pytestmark = pytest.mark.install
REPORT: dict = {"steps": {}, "notebooks": {}}
KERNEL = "hosted-sim"
ALL = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
PICK = os.environ.get("HFF_EDU_HOSTED_NOTEBOOKS", "").split()
NOTEBOOKS = [p for p in ALL if not PICK or any(p.name.startswith(k) for k in PICK)]


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    """(python of the hosted kernel, the shell environment to run papermill in, the work folder)."""
    base = tmp_path_factory.mktemp("hosted")
    assert not base.resolve().is_relative_to(ROOT)
    home = base / "home"
    home.mkdir()
    env = clean_env(home)
    index = base / "wheels"  # the local wheel index the first cell's pip finds hff-edu in
    index.mkdir()
    start = time.perf_counter()
    build_wheel(REPORT, index)
    py = make_venv(REPORT, base / "venv", env)
    torch_req = shlex.split(os.environ.get("HFF_EDU_FRESH_TORCH", "torch torchvision"))
    run(REPORT, "preinstalled: torch", [py, "-m", "pip", "install", *torch_req], env, base)
    run(REPORT, "preinstalled: frontend (notebook)", [py, "-m", "pip", "install", "notebook", "ipykernel"], env, base)
    jupyter = base / "jupyter"
    run(REPORT, "kernelspec", [py, "-m", "ipykernel", "install", "--prefix", jupyter, "--name", KERNEL], env, base)
    env["JUPYTER_PATH"] = str(jupyter / "share" / "jupyter")
    env["PIP_FIND_LINKS"] = " ".join(filter(None, [str(index), os.environ.get("PIP_FIND_LINKS", "")]))
    assert "hff_edu" not in run(REPORT, "pip list (before)", [py, "-m", "pip", "list"], env, base).replace("-", "_")
    work = base / "work"
    work.mkdir()
    REPORT["preinstalled"] = sorted(ln.split()[0] + "==" + ln.split()[1] for ln in run(
        REPORT, "pip list", [py, "-m", "pip", "list", "--format=freeze"], env, base).replace("==", " ").splitlines()
        if ln.split()[0].lower() in ("torch", "torchvision", "notebook", "jupyterlab", "ipykernel"))
    yield py, env, work
    REPORT["total_s"] = round(time.perf_counter() - start, 1)
    out = ROOT / "build" / "install"
    out.mkdir(parents=True, exist_ok=True)
    (out / "hosted_report.json").write_text(json.dumps(REPORT, indent=2))
    print(json.dumps(REPORT, indent=2))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_first_cell_alone_installs_the_course_and_the_notebook_runs(hosted, path):
    py, env, work = hosted
    run(REPORT, f"uninstall before {path.stem}", [py, "-m", "pip", "uninstall", "-y", "-q", "hff-edu"], env, work)
    src = work / path.name
    shutil.copy(path, src)  # the notebook as Colab opens it from the repository
    executed = work / f"executed-{path.name}"
    start = time.perf_counter()
    run(REPORT, f"papermill {path.stem}", [sys.executable, "-m", "papermill", src, executed, "-k", KERNEL,
                                           "-p", "PROFILE", "smoke", "--cwd", work, "--no-progress-bar"],
        env, work, timeout=1200)
    nb = nbformat.read(str(executed), as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    setup = next(c for c in nb.cells if c.cell_type == "code")
    said = "".join(o.get("text", "") for o in setup.outputs if o.output_type == "stream")
    where = run(REPORT, f"where is hff_edu after {path.stem}", [py, "-c", "import hff_edu; print(hff_edu.__file__)"],
                env, work).strip()
    REPORT["notebooks"][path.stem] = dict(seconds=round(time.perf_counter() - start, 1), errors=len(errors),
                                          setup_line=said.strip().splitlines()[-1:] or None)
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    assert Path(where).resolve().is_relative_to(py.parent.parent.resolve()), \
        f"hff_edu should have been installed into the hosted kernel's environment by the first cell: {where}"
    assert "hff-edu " in said and " on Jupyter" in said, f"the set-up line is missing: {said!r}"
