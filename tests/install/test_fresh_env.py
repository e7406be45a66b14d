"""The course a student starts outside the repository: build the wheel, install it into a fresh virtual
environment (no site packages of ours, no PYTHONPATH, a folder outside the checkout), write the course
with ``hff-edu course``, execute a notebook there with papermill; then the teacher's side: nbgrader's
own ``generate_assignment`` and ``autograde`` on the student version of the exercise fixture.

Minutes, not seconds (torch alone is a large install), so a plain ``pytest`` leaves this folder out
(``norecursedirs``); run it with ``make install-test`` or ``python -m pytest tests/install``.
Each step's time, the wheel's size and the versions go to ``build/install/report.json``.

``HFF_EDU_FRESH_TORCH`` is the pip requirement for torch in the fresh environment (default
``torch torchvision``: pip's choice, as a student would get it). A CPU-only build installs in a
fraction of the time of the CUDA one and runs the notebooks the same way on a machine without a GPU.
"""
from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

import nbformat
import pytest
from install_tools import build_wheel, clean_env, make_venv
from install_tools import run as _run_step

ROOT = Path(__file__).resolve().parents[2]
REPORT_DIR = ROOT / "build" / "install"
NOTEBOOK = "07_transfer_and_prototypes.ipynb"  # small in the smoke profile, and it trains into the cache
FIXTURE = ROOT / "tests" / "notebooks" / "90_exercise_fixture.ipynb"
REPORT: dict = {"steps": {}}


def _run(step: str, cmd: list, env: dict, cwd: Path, timeout: int = 1800) -> str:
    return _run_step(REPORT, step, cmd, env, cwd, timeout)

pytestmark = pytest.mark.install


@pytest.fixture(scope="session")
def fresh(tmp_path_factory):
    """A fresh virtual environment outside the checkout with the wheel installed: (python, env, home)."""
    base = tmp_path_factory.mktemp("fresh")
    assert not base.resolve().is_relative_to(ROOT), "the fresh environment must live outside the checkout"
    home = base / "home"
    home.mkdir()
    env = clean_env(home)
    (base / "dist").mkdir()
    start = time.perf_counter()
    wheel = build_wheel(REPORT, base / "dist")
    py = make_venv(REPORT, base / "venv", env)  # env: activated
    torch_req = shlex.split(os.environ.get("HFF_EDU_FRESH_TORCH", "torch torchvision"))
    REPORT["torch_requirement"] = torch_req
    _run("pip install torch", [str(py), "-m", "pip", "install", *torch_req], env, base)
    _run("pip install wheel", [str(py), "-m", "pip", "install", f"{wheel}[lab,course]"], env, base)  # a teacher: the frontends and the runner
    REPORT["versions"] = json.loads(_run("versions", [str(py), "-c", (
        "import json, sys, torch, hff_edu; print(json.dumps(dict(python=sys.version.split()[0], "
        "torch=torch.__version__, hff_edu=hff_edu.__version__, package=hff_edu.__file__, "
        "site=[p for p in sys.path if 'site-packages' in p])))")], env, base))
    yield py, env, home, base
    REPORT["total_s"] = round(time.perf_counter() - start, 1)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "report.json").write_text(json.dumps(REPORT, indent=2))
    print(json.dumps(REPORT, indent=2))


def test_the_wheel_is_a_real_install_outside_the_checkout(fresh):
    py, env, home, base = fresh
    v = REPORT["versions"]
    assert Path(v["package"]).resolve().is_relative_to((base / "venv").resolve()), v
    assert all(Path(p).resolve().is_relative_to((base / "venv").resolve()) for p in v["site"]), \
        f"the fresh environment sees site-packages outside itself: {v['site']}"


def test_a_student_writes_the_course_anywhere_and_runs_a_notebook(fresh):
    py, env, home, base = fresh
    dest = home / "my hff course"
    out = _run("hff-edu course", [str(py.parent / "hff-edu"), "course", str(dest), "--student"], env, home)
    assert "student edition" in out
    names = sorted(p.name for p in dest.glob("*.ipynb"))
    shipped = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    assert names == shipped and (dest / "README.md").is_file()
    data_root = home / ".cache" / "hff-edu"
    assert str(data_root) in (dest / "README.md").read_text()
    # the kernel the notebooks name was registered inside the fresh environment
    kernels = _run("kernelspecs", [str(py), "-m", "jupyter", "kernelspec", "list", "--json"], env, home)
    spec = json.loads(kernels)["kernelspecs"]["hff-edu"]
    assert Path(spec["resource_dir"]).resolve().is_relative_to((base / "venv").resolve())
    executed = dest / "executed" / NOTEBOOK
    executed.parent.mkdir()
    _run("papermill " + NOTEBOOK, [str(py), "-m", "papermill", str(dest / NOTEBOOK), str(executed), "-p", "PROFILE",
                                   "smoke", "-k", "hff-edu", "--cwd", str(dest), "--no-progress-bar"], env, dest,
         timeout=900)
    nb = nbformat.read(str(executed), as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    models = list((data_root / "models").glob("*.pt"))
    assert models, f"the notebook's training cache should be under the per-user data root {data_root}"
    REPORT["models_cached"] = len(models)


def test_nbgrader_generates_and_autogrades_our_student_version(fresh):
    """nbgrader itself: generate_assignment from our teacher version gives our student version's
    sources, and autograde scores the teacher's answers full marks and the blank ones 0."""
    py, env, home, base = fresh
    _run("pip install nbgrader", [str(py), "-m", "pip", "install", "nbgrader"], env, base)
    nbg = str(py.parent / "nbgrader")
    course_dir = home / "nbgrader-course"
    (course_dir / "source" / "lesson").mkdir(parents=True)
    (course_dir / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'hff'\nc.CourseDirectory.root = %r\n"
        "c.ExecutePreprocessor.kernel_name = 'hff-edu'\n" % str(course_dir))
    from hff_edu.course import editions as course
    src = nbformat.read(str(FIXTURE), as_version=4)
    nbformat.write(course.teacher_version(src, "90"), str(course_dir / "source" / "lesson" / FIXTURE.name))
    _run("nbgrader generate_assignment", [nbg, "generate_assignment", "lesson", "--force"], env, course_dir)
    released = nbformat.read(str(course_dir / "release" / "lesson" / FIXTURE.name), as_version=4)
    ours = course.student_version(src, "90")
    assert [c.source for c in released.cells] == [c.source for c in ours.cells], \
        "nbgrader's release differs from our student version"
    for student, answers in (("teacher", course.teacher_version(src, "90")), ("blank", ours)):
        sub = course_dir / "submitted" / student / "lesson"
        sub.mkdir(parents=True)
        nbformat.write(answers, str(sub / FIXTURE.name))
        _run(f"nbgrader db student add {student}", [nbg, "db", "student", "add", student], env, course_dir)
    _run("nbgrader autograde", [nbg, "autograde", "lesson", "--force"], env, course_dir, timeout=900)
    scores = json.loads(_run("nbgrader scores", [str(py), "-c", (
        "import json; from nbgrader.api import Gradebook\n"
        "with Gradebook('sqlite:///gradebook.db') as gb:\n"
        "    print(json.dumps({s: gb.find_submission('lesson', s).score for s in ('teacher', 'blank')}))")],
        env, course_dir))
    REPORT["nbgrader_scores"] = scores
    points = len(course.audit_notebook(src, "90").checks)  # one point per check cell of the fixture
    assert points >= 3 and scores == {"teacher": float(points), "blank": 0.0}
