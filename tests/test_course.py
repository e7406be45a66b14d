"""The classroom edition (hff_edu.course): solution regions become nbgrader's stubs, checks are counted
from the source, both versions of the convention's fixture notebook report the right counts when run,
nbgrader's hidden tests score a blank answer 0, the course is written to any folder, and the notebooks
find their data through ``data_root()``."""
import contextlib
import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from hff_edu import data, exercises
from hff_edu.course import editions as course
from hff_edu.course import folder, verify
from hff_edu.course import runner as nr

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "notebooks" / "90_exercise_fixture.ipynb"
FIXTURE_CHECKS = ["90.1 ETF cosine", "90.2 unit rows", "90.3 goodness"]


def _nb(*cells):
    return new_notebook(cells=[new_code_cell(c) if not c.startswith("md:") else new_markdown_cell(c[3:])
                               for c in cells])


# ----------------------------------------------------------------------------
# regions and stubs

def test_regions_become_nbgrader_stubs_indented_like_the_marker():
    src = ("class Net:\n    def __init__(self):\n        ### BEGIN SOLUTION\n        self.w = 1\n"
           "        ### END SOLUTION\n\n    def f(self, x):\n        ### BEGIN SOLUTION\n        return x\n"
           "        ### END SOLUTION\n        # after")
    cell = new_code_cell(src)
    assert course.solution_regions(src) == [(2, 4), (7, 9)]
    out = course.clear_solution(cell)
    assert out == ("class Net:\n    def __init__(self):\n        # YOUR CODE HERE\n        raise NotImplementedError()\n"
                   "\n    def f(self, x):\n        # YOUR CODE HERE\n        raise NotImplementedError()\n        # after")
    compile(out, "stub", "exec")  # still valid Python


@pytest.mark.parametrize("src, says", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "never opened"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
])
def test_unbalanced_markers_name_the_line_and_the_fix(src, says):
    with pytest.raises(course.CourseError, match=says):
        course.solution_regions(src, "nb cell 3")


def test_markdown_answers_tagged_cells_and_prose_that_names_the_marker():
    md = new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")
    assert course.clear_solution(md) == "Why?\n\nYOUR ANSWER HERE"
    tagged = new_code_cell("x = 42", metadata={"tags": ["solution"]})
    assert course.is_solution_cell(tagged) and course.clear_solution(tagged) == course.CODE_STUB
    prose = new_markdown_cell("The solution sits between `### BEGIN SOLUTION` and `### END SOLUTION`.")
    assert not course.is_solution_cell(prose)


def test_checks_are_counted_from_the_source():
    src = ('%matplotlib inline\ncheck("a", lambda: f(1))\nexercises.check("b", g);\nprint(ex.check("c", 1))\n'
           'claims.check("not an exercise", 1)\ncheck_close("an old check, gone", 1, 1)')
    assert course.check_calls(src) == ["a", "b", "c"]
    with pytest.raises(course.CourseError, match="string literal"):
        course.check_calls('check(f"x {i}", 1)')
    with pytest.raises(course.CourseError, match="inside a loop"):
        course.check_calls('for i in range(2):\n    check("x", i)')


# ----------------------------------------------------------------------------
# the audit

def test_the_audit_tells_the_styles_apart():
    convention = _nb("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                     'check("f", f)', "exercises.summary()")
    old = _nb('x = None\nif x is not None:\n    check("x", x)', "# Worked solution\nx = 1")
    mixed = _nb(*[c.source for c in convention.cells], "md:*Worked solution.* x is 1.")
    found = {name: course.audit_notebook(nb, name) for name, nb in
             [("convention", convention), ("old", old), ("mixed", mixed), ("none", _nb("x = 1"))]}
    assert {n: f.style for n, f in found.items()} == {n: n for n in found}
    assert found["convention"].checks == ["f"] and found["convention"].regions == 1
    assert found["old"].worked_solution_cells == [1]
    report = course.old_style_report(list(found.values()))
    assert "old:" in report and "mixed:" in report and "convention:" not in report


@pytest.mark.parametrize("cells, says", [
    (["def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
      'check("f", f)\ncheck("f", f)', "exercises.summary()"], "used twice"),
    (["def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", 'check("f", f)'],
     "summary"),
    (["def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\ncheck('f', f)",
      "exercises.summary()"], "both a solution and checks"),
])
def test_convention_problems_stop_the_student_version(cells, says):
    nb = _nb(*cells)
    assert any(says in p for p in course.audit_notebook(nb, "x").blocking)
    with pytest.raises(course.CourseError, match=says):
        course.student_version(nb, "x")


def test_every_course_notebook_is_classified_and_old_style_ones_are_listed():
    found = course.audit(nr.notebook_paths())
    assert found and all(f.style in ("convention", "old", "mixed", "none") for f in found)
    blocking = [p for f in found for p in f.blocking]
    assert not blocking, "\n".join(blocking)
    report = course.old_style_report(found)
    old = [f.name for f in found if f.style in ("old", "mixed")]
    assert all(name in report for name in old)
    if report:  # shown in pytest's warnings summary of every run, until the notebooks are converted
        warnings.warn(report, UserWarning)


# ----------------------------------------------------------------------------
# the fixture notebook: both versions

def _fixture():
    return nbformat.read(str(FIXTURE), as_version=4)


def test_student_version_keeps_the_checks_and_carries_nbgrader_metadata():
    src = _fixture()
    student = course.student_version(src, "90")
    solutions = "\n".join(c.source for c in student.cells)
    assert "return -1 / (C - 1)" not in solutions and course.BEGIN not in solutions
    assert course.HIDDEN_BEGIN not in solutions
    assert solutions.count("raise NotImplementedError()") == 4
    for before, after in zip(src.cells, student.cells):
        if course.check_calls(before.source if before.cell_type == "code" else ""):
            assert after.source == before.source  # the checks are the teacher's, unchanged
    meta = [c.metadata.get("nbgrader") for c in student.cells]
    answers = [m for m in meta if m and m["solution"]]
    tests = [m for m in meta if m and m["grade"]]
    assert len(answers) == 3 and all(not m["locked"] for m in answers)
    assert [m["points"] for m in tests] == [1, 1, 1] and all(m["locked"] for m in tests)
    assert len({m["grade_id"] for m in answers + tests}) == 6
    assert "schema_version" in answers[0] and answers[0]["schema_version"] == 3


def _run_in_process(nb) -> str:
    """Execute a notebook's code cells here (no kernel); returns what they printed."""
    exercises.RESULTS.clear()
    ns, buf = {}, io.StringIO()
    with contextlib.redirect_stdout(buf):
        for cell in nb.cells:
            if cell.cell_type == "code":
                exec(compile(course._python(cell.source), "cell", "exec"), ns)
    return buf.getvalue()


def test_hidden_tests_pass_on_the_solutions_and_fail_on_a_blank_answer():
    teacher = course.teacher_version(_fixture(), "90")
    assert "exercises: 3 correct, 0 wrong, 0 not solved yet" in _run_in_process(teacher)
    # What nbgrader's autograder runs: the student's (blank) answers with the hidden tests put back.
    blank = course.teacher_version(_fixture(), "90")
    for cell in blank.cells:
        if course.is_solution_cell(cell):
            cell.source = course.clear_solution(cell)
    with pytest.raises(AssertionError, match="not solved yet: \\['90.1'\\]"):
        _run_in_process(blank)
    exercises.RESULTS.clear()


@pytest.mark.notebooks
def test_both_versions_of_the_fixture_report_every_check(tmp_path):
    """Executed with papermill like CI's `course check`: teacher all correct, student all not solved yet."""
    report = verify.check([FIXTURE], "smoke", teacher_runs=tmp_path / "teacher", out=tmp_path / "student")
    entry = report["notebooks"]["90_exercise_fixture"]
    assert report["errors"] == []
    assert entry["teacher"] == (3, 0, 0) and entry["student"] == (0, 0, 3) and entry["checks"] == 3
    executed = nbformat.read(str(tmp_path / "student" / "executed" / "smoke" / FIXTURE.name), as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert all(f"[{name}] not solved yet" in printed for name in FIXTURE_CHECKS)


def test_compare_counts_catches_a_check_that_passes_on_a_blank_answer():
    found = course.audit_notebook(_fixture(), "90")
    assert verify.compare_counts(found, (3, 0, 0), (0, 0, 3)) == []
    assert "passed or failed on a blank answer" in verify.compare_counts(found, (3, 0, 0), (1, 0, 2))[0]
    assert "all of which must pass" in verify.compare_counts(found, (2, 1, 0), (0, 0, 3))[0]
    assert "printed no" in verify.compare_counts(found, None, (0, 0, 3))[0]


# ----------------------------------------------------------------------------
# the course in a folder

def test_write_course_student_edition(tmp_path, monkeypatch):
    monkeypatch.setattr(folder, "course_notebooks", lambda: [FIXTURE] + nr.notebook_paths()[:1])
    dest = tmp_path / "my course"
    written = folder.write_course(dest, student=True, kernel=False)
    assert [p.name for p in written] == [FIXTURE.name, nr.notebook_paths()[0].name]
    student = nbformat.read(str(dest / FIXTURE.name), as_version=4)
    assert "return -1 / (C - 1)" not in "".join(c.source for c in student.cells)
    readme = (dest / "README.md").read_text()
    assert "student edition" in readme and str(data.data_root()) in readme and FIXTURE.name in readme
    # a second call keeps the student's work
    (dest / FIXTURE.name).write_text("my work")
    assert folder.write_course(dest, student=True, kernel=False) == []
    assert (dest / FIXTURE.name).read_text() == "my work"
    assert len(folder.write_course(dest, student=True, kernel=False, force=True)) == 2


def test_hff_edu_course_command(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "hff_edu", "course", str(tmp_path / "c"), "--no-kernel"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "c").glob("*.ipynb")) == [p.name for p in nr.notebook_paths()]
    assert "teacher edition" in r.stdout


# ----------------------------------------------------------------------------
# data root

def test_data_root_env_then_checkout_then_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HFF_EDU_DATA", str(tmp_path / "mine"))
    assert data.data_root() == tmp_path / "mine"
    monkeypatch.delenv("HFF_EDU_DATA")
    assert data.data_root() == ROOT / "data"  # running from this checkout
    installed = tmp_path / "site-packages" / "hff_edu" / "data.py"  # a wheel: no pyproject.toml above
    installed.parent.mkdir(parents=True)
    monkeypatch.setattr(data, "__file__", str(installed))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.data_root() == tmp_path / "cache" / "hff-edu"


def test_the_wheel_ships_every_module_and_every_notebook(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("hff_edu-*.whl")
    import zipfile
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "hff_edu").rglob("*.py") if "__pycache__" not in p.parts}
    assert not modules - names, f"modules missing from the wheel (list their package in pyproject.toml): {modules - names}"
    notebooks = {f"hff_edu/course_notebooks/{p.name}" for p in nr.notebook_paths()}
    assert not notebooks - names, f"notebooks missing from the wheel: {notebooks - names}"
