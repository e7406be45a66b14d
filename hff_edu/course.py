"""The classroom edition: student versions of the notebooks, the exercise audit, the course in a folder.

    python -m hff_edu.course student                  # build/student/ (and build/teacher/ for nbgrader)
    python -m hff_edu.course check --profile smoke    # run both versions, compare the counts (CI)
    python -m hff_edu.course audit                    # exercises per notebook; old-style ones listed
    python -m hff_edu.course warm-cache               # train and cache every classroom model
    python -m hff_edu.course times build/warm-cache   # seconds per notebook section of executed copies
    hff-edu course DEST [--student]                   # the course, written anywhere (from the wheel too)

One source, two versions. The source notebooks are the teacher's: every exercise is a
function whose body holds the worked solution between nbgrader's markers (the convention
of :mod:`hff_edu.exercises`)::

    def etf_cosine(C):
        ### BEGIN SOLUTION
        return -1 / (C - 1)
        ### END SOLUTION

    check_close("ETF cosine", lambda: etf_cosine(10), -1 / 9)

The student version replaces each region by nbgrader's own stub (``# YOUR CODE HERE`` /
``raise NotImplementedError()``, indented like the region), so the check prints ``not
solved yet`` and the notebook runs on. A markdown cell's region becomes ``YOUR ANSWER
HERE``; a cell tagged ``solution`` without markers is replaced whole (nbgrader does the same).

Both versions carry nbgrader's cell metadata (schema 3): a cell with a solution is an
"autograded answer", a cell with checks an "autograder tests" cell worth one point per
check, so a teacher can put ``build/teacher/`` into an nbgrader course as ``source/`` and
use ``nbgrader generate_assignment`` / ``autograde`` (docs/teaching.md). The teacher version
also appends to each test cell a hidden test (nbgrader's ``### BEGIN HIDDEN TESTS``) that
fails when a check of that cell is not ``correct``: without it nbgrader would score an
unsolved exercise as passed, since our checks do not stop the notebook. The student version
has no hidden tests.

Counting. An exercise check is a call of one of ``hff_edu.exercises``' ``check_*``
functions with a literal name; ``exercises.summary()`` at the end of a notebook prints how
many were correct and not solved yet. ``check`` executes both versions and requires: the
teacher's run has every check correct, the student's has every check not solved yet, and
both equal the number of checks in the source. A notebook whose exercises are still in the
old style (worked solutions in plain cells) is listed by name, never skipped silently.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import notebook_runner as nr
from .version import __version__

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: nbgrader's defaults (ClearSolutions.code_stub / text_stub), so our student version is theirs
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
SOLUTION_TAG = "solution"
#: the checks of hff_edu.exercises; a call of one of these is an exercise check
CHECKS = ("check_close", "check_equal", "check_true", "check_range", "check_function")
SUMMARY_LINE = re.compile(r"^exercises: (\d+) correct, (\d+) not solved yet\s*$", re.M)
#: how the old style opens a worked-solution cell: "*Worked solution.*" (markdown) or "# Worked solution" (code)
WORKED = re.compile(r"(?i)^\W*worked solution")

BUILD = nr.ROOT / "build"
STUDENT, TEACHER = BUILD / "student", BUILD / "teacher"
#: the notebooks inside an installed wheel (pyproject.toml maps notebooks/ here)
PACKAGED = Path(__file__).resolve().parent / "course_notebooks"


class CourseError(ValueError):
    """A notebook breaks the exercise convention; the message names the notebook, the cell and the fix."""


# ----------------------------------------------------------------------------
# solution regions

def solution_regions(source: str, where: str = "") -> list[tuple[int, int]]:
    """``(begin, end)`` line indices of every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region."""
    regions, begin = [], None
    for i, line in enumerate(source.splitlines()):
        text = line.strip()
        if text == BEGIN:
            if begin is not None:
                raise CourseError(f"{where}: line {i + 1} opens a solution region inside another one "
                                  f"(line {begin + 1}): close it with `{END}` first.")
            begin = i
        elif text == END:
            if begin is None:
                raise CourseError(f"{where}: line {i + 1} closes a solution region that was never opened: "
                                  f"put `{BEGIN}` above the solution.")
            regions.append((begin, i))
            begin = None
    if begin is not None:
        raise CourseError(f"{where}: the solution region opened on line {begin + 1} is never closed: "
                          f"add `{END}` after the solution.")
    return regions


def _replace_regions(source: str, begin: str, end: str, stub: str | None, where: str) -> str:
    """``source`` with every region between the markers replaced by ``stub`` (indented like the
    marker), or removed when ``stub`` is None."""
    lines = source.splitlines()
    if begin == BEGIN:
        regions = solution_regions(source, where)
    else:
        starts = [i for i, line in enumerate(lines) if line.strip() == begin]
        ends = [i for i, line in enumerate(lines) if line.strip() == end]
        if len(starts) != len(ends) or any(s > e for s, e in zip(starts, ends)):
            raise CourseError(f"{where}: unbalanced `{begin}` / `{end}` markers.")
        regions = list(zip(starts, ends))
    out, last = [], 0
    for b, e in regions:
        out += lines[last:b]
        if stub is not None:
            indent = lines[b][:len(lines[b]) - len(lines[b].lstrip())]
            out += [indent + s for s in stub.splitlines()]
        last = e + 1
    out += lines[last:]
    return "\n".join(out)


def has_markers(source: str) -> bool:
    """A line that is exactly ``### BEGIN SOLUTION`` (prose that names the marker does not count)."""
    return any(line.strip() == BEGIN for line in source.splitlines())


def is_solution_cell(cell) -> bool:
    return (has_markers(cell.source) or SOLUTION_TAG in cell.metadata.get("tags", [])
            or cell.metadata.get("nbgrader", {}).get("solution", False))


def clear_solution(cell, where: str = "") -> str:
    """The student's source of a solution cell (what nbgrader's ClearSolutions writes)."""
    stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
    if has_markers(cell.source):
        return _replace_regions(cell.source, BEGIN, END, stub, where)
    return stub  # a cell tagged `solution` without markers: the whole cell is the answer


# ----------------------------------------------------------------------------
# exercise checks, read from the source

def _python(source: str) -> str:
    """A code cell's source as Python: IPython magics and shell lines commented out."""
    return "\n".join("#" + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    return name if name in CHECKS else None


_NESTING = (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
            ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def check_calls(source: str, where: str = "") -> list[str]:
    """The names of the exercise checks a code cell calls, in order.

    A check whose name is not a string literal, or that sits in a loop, a function or a
    comprehension, cannot be counted from the source (nor graded by nbgrader): it raises.
    """
    try:
        tree = ast.parse(_python(source))
    except SyntaxError as e:
        raise CourseError(f"{where}: the cell is not valid Python ({e.msg}, line {e.lineno}).") from None
    names = []

    def visit(node, nested: bool):
        for child in ast.iter_child_nodes(node):
            check = isinstance(child, ast.Call) and _call_name(child)
            if check and nested:
                raise CourseError(f"{where}: `{check}` is called inside a loop, a function or a lambda: call "
                                  "each exercise check once, at the top level of its cell, so it can be counted.")
            if check:
                arg = child.args[0] if child.args else None
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    raise CourseError(f"{where}: `{check}` needs a string literal as its name (the first "
                                      "argument), so the check can be counted and graded.")
                names.append(arg.value)
            visit(child, nested or isinstance(child, _NESTING))
    visit(tree, False)
    return names


@dataclass
class NotebookExercises:
    """What the audit found in one source notebook."""
    name: str
    answer_cells: list[int] = field(default_factory=list)   # cells holding a solution
    regions: int = 0                                        # solution regions (a whole tagged cell counts 1)
    checks: list[str] = field(default_factory=list)         # exercise check names, in order
    check_cells: list[int] = field(default_factory=list)
    worked_solution_cells: list[int] = field(default_factory=list)
    has_summary: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> list[str]:
        """The problems that stop the student version: those of a notebook that uses the convention (an
        old-style notebook's are what to fix when converting it)."""
        return self.problems if self.style in ("convention", "mixed") else []

    @property
    def style(self) -> str:
        """``convention`` (solutions in regions), ``old`` (worked solutions in plain cells),
        ``mixed`` (both) or ``none`` (no exercises)."""
        if self.regions and not self.worked_solution_cells:
            return "convention"
        if self.regions:
            return "mixed"
        return "old" if self.checks or self.worked_solution_cells else "none"


def audit_notebook(nb, name: str) -> NotebookExercises:
    """Find the solutions, the checks and what breaks the convention in one notebook."""
    found = NotebookExercises(name)
    for i, cell in enumerate(nb.cells):
        where = f"{name} cell {i}"
        if WORKED.match(cell.source) and not is_solution_cell(cell):
            found.worked_solution_cells.append(i)
        try:
            if is_solution_cell(cell):
                found.answer_cells.append(i)
                found.regions += len(solution_regions(cell.source, where)) or 1
            if cell.cell_type != "code":
                continue
            calls = check_calls(cell.source, where)
        except CourseError as e:
            found.problems.append(str(e))
            continue
        if calls:
            found.check_cells.append(i)
            found.checks += calls
            if is_solution_cell(cell):
                found.problems.append(f"{where}: holds both a solution and checks; put the checks in the next "
                                      "cell (nbgrader grades a tests cell, and clears an answer cell).")
        if re.search(r"\bsummary\(\)", cell.source):
            found.has_summary = True
    duplicates = sorted({n for n in found.checks if found.checks.count(n) > 1})
    if duplicates:
        found.problems.append(f"{name}: check names {duplicates} are used twice; exercises.RESULTS keeps one "
                              "entry per name, so give every check its own name.")
    if found.regions and not found.has_summary:
        found.problems.append(f"{name}: has exercises but never calls `exercises.summary()`: end the exercises "
                              "with it, so a run reports how many are correct and not solved yet.")
    if found.regions and not found.checks:
        found.problems.append(f"{name}: has solutions but no exercise check: every answer needs a check.")
    return found


def audit(paths: list[Path]) -> list[NotebookExercises]:
    import nbformat
    return [audit_notebook(nbformat.read(str(p), as_version=4), p.stem) for p in paths]


# ----------------------------------------------------------------------------
# the two versions

def _nbgrader(grade_id: str, solution: bool, grade: bool, points: int = 0) -> dict:
    meta = dict(grade=grade, grade_id=grade_id, locked=not solution, schema_version=3, solution=solution,
                task=False)
    if grade:
        meta["points"] = points
    return meta


def _hidden_test(names: list[str]) -> str:
    listed = ", ".join(repr(n) for n in names)
    return (f"{HIDDEN_BEGIN}\n"
            "# nbgrader: a check that is not solved yet must not score (our checks let the notebook run on)\n"
            "from hff_edu.exercises import RESULTS as _RESULTS\n"
            f"_unsolved = [n for n in [{listed}] if _RESULTS.get(n) != 'correct']\n"
            "assert not _unsolved, f'not solved yet: {_unsolved}'\n"
            f"{HIDDEN_END}")


def teacher_version(nb, name: str):
    """The source with nbgrader's metadata on every answer and tests cell, and a hidden test in each
    tests cell: what an nbgrader course keeps in ``source/``. Raises on a convention problem."""
    found = audit_notebook(nb, name)
    if found.blocking:
        raise CourseError("\n".join(found.blocking))
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        if i in found.answer_cells:
            cell.metadata["nbgrader"] = _nbgrader(f"{name}-answer-{i}", solution=True, grade=False)
        elif i in found.check_cells:
            names = check_calls(cell.source)
            cell.metadata["nbgrader"] = _nbgrader(f"{name}-checks-{i}", solution=False, grade=True,
                                                  points=len(names))
            cell.source = cell.source.rstrip("\n") + "\n" + _hidden_test(names)
    return nb


def student_version(nb, name: str):
    """The student's notebook: solutions replaced by nbgrader's stub, hidden tests removed, checks
    kept (with nbgrader's metadata), outputs cleared."""
    nb = teacher_version(nb, name)
    for i, cell in enumerate(nb.cells):
        where = f"{name} cell {i}"
        if is_solution_cell(cell):
            cell.source = clear_solution(cell, where)
        if HIDDEN_BEGIN in cell.source:
            cell.source = _replace_regions(cell.source, HIDDEN_BEGIN, HIDDEN_END, None, where).rstrip("\n")
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def write_versions(paths: list[Path], student_dir: Path = STUDENT, teacher_dir: Path | None = TEACHER) -> list[str]:
    """Write the student (and teacher) version of every notebook; a notebook without exercises in the
    convention is copied as it is. Returns one line per notebook."""
    import nbformat
    student_dir.mkdir(parents=True, exist_ok=True)
    if teacher_dir is not None:
        teacher_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for p in paths:
        nb = nbformat.read(str(p), as_version=4)
        found = audit_notebook(nb, p.stem)
        if found.blocking:
            raise CourseError("\n".join(found.blocking))
        if found.style == "convention":
            nbformat.write(student_version(nb, p.stem), str(student_dir / p.name))
            if teacher_dir is not None:
                nbformat.write(teacher_version(nb, p.stem), str(teacher_dir / p.name))
            lines.append(f"{p.stem:32s} {found.regions:2d} solutions cleared, {len(found.checks):2d} checks kept")
        else:
            shutil.copyfile(p, student_dir / p.name)
            if teacher_dir is not None:
                shutil.copyfile(p, teacher_dir / p.name)
            lines.append(f"{p.stem:32s} copied as it is ({_style_note(found)})")
    return lines


def _style_note(found: NotebookExercises) -> str:
    if found.style == "none":
        return "no exercises"
    worked = f", worked solutions in cells {found.worked_solution_cells}" if found.worked_solution_cells else ""
    return f"old-style exercises: {len(found.checks)} checks, no solution regions{worked}"


def old_style_report(found: list[NotebookExercises]) -> str:
    """The notebooks whose exercises still show their solutions, one line each ('' when none)."""
    old = [f for f in found if f.style in ("old", "mixed")]
    if not old:
        return ""
    return "\n".join([f"{len(old)} notebook(s) still have exercises in the old style (solutions visible "
                      "to students; convert them to the convention of hff_edu/exercises.py):"]
                     + [f"  {f.name}: {_style_note(f)}" for f in old])


# ----------------------------------------------------------------------------
# counting what a run reports

def reported_counts(executed: Path) -> tuple[int, int] | None:
    """``(correct, not solved yet)`` from the last ``exercises.summary()`` in an executed notebook."""
    import nbformat
    nb = nbformat.read(str(executed), as_version=4)
    found = None
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = out.get("text", "") if out.get("output_type") == "stream" else \
                out.get("data", {}).get("text/plain", "")
            for m in SUMMARY_LINE.finditer(text if isinstance(text, str) else "".join(text)):
                found = (int(m.group(1)), int(m.group(2)))
    return found


def compare_counts(found: NotebookExercises, teacher: tuple | None, student: tuple | None) -> list[str]:
    """What is wrong with the two runs' counts (empty when the teacher's run has every check correct and
    the student's every check not solved yet)."""
    n, errors = len(found.checks), []
    if teacher is None or student is None:
        missing = "teacher's" if teacher is None else "student's"
        return [f"{found.name}: the {missing} run printed no `exercises: N correct, M not solved yet` line"]
    if teacher != (n, 0):
        errors.append(f"{found.name}: teacher version reported {teacher[0]} correct, {teacher[1]} not solved "
                      f"yet; the source has {n} checks, all of which must pass")
    if student != (0, n):
        errors.append(f"{found.name}: student version reported {student[0]} correct, {student[1]} not solved "
                      f"yet; expected 0 correct and {n} not solved yet (a check passed on a blank answer, "
                      "or a check did not run)")
    return errors


def _fresh(executed: Path, source: Path) -> bool:
    return executed.is_file() and executed.stat().st_mtime >= source.stat().st_mtime


def check(paths: list[Path], profile: str = "smoke", teacher_runs: Path | None = None,
          out: Path = STUDENT, timeout: int | None = None) -> dict:
    """Execute the student version of every notebook that follows the convention (and the teacher's,
    unless a fresh executed copy is in ``teacher_runs``), and compare the counts. Returns the report."""
    teacher_runs = teacher_runs or nr.BUILD / profile
    timeout = timeout or {"smoke": 300, "classroom": 1200, "full": 7200}[profile]
    found = audit(paths)
    problems = [p for f in found for p in f.blocking]
    if problems:
        raise CourseError("\n".join(problems))
    write_versions(paths, out, None)
    report = dict(profile=profile, notebooks={}, errors=[], old_style=[])
    for p, f in zip(paths, found):
        entry = dict(style=f.style, answer_cells=len(f.answer_cells), solutions=f.regions, checks=len(f.checks))
        report["notebooks"][p.stem] = entry
        if f.style != "convention":
            if f.style in ("old", "mixed"):
                report["old_style"].append(p.stem)
            continue
        teacher = teacher_runs / p.name
        if not _fresh(teacher, p):
            print(f"running {p.name} (teacher version, {profile}) ...", flush=True)
            entry["teacher_s"] = round(nr.execute(p, profile, teacher_runs, timeout), 1)
        print(f"running {p.name} (student version, {profile}) ...", flush=True)
        entry["student_s"] = round(nr.execute(out / p.name, profile, out / "executed" / profile, timeout), 1)
        entry["teacher"] = reported_counts(teacher)
        entry["student"] = reported_counts(out / "executed" / profile / p.name)
        report["errors"] += compare_counts(f, entry["teacher"], entry["student"])
    return report


def format_report(report: dict) -> str:
    lines = [f"{'notebook':32s} {'style':10s} {'answers':>7s} {'solutions':>9s} {'checks':>6s} "
             f"{'teacher (correct/unsolved)':>27s} {'student (correct/unsolved)':>27s}"]
    for name, e in report["notebooks"].items():
        t = "/".join(map(str, e["teacher"])) if e.get("teacher") else "-"
        s = "/".join(map(str, e["student"])) if e.get("student") else "-"
        lines.append(f"{name:32s} {e['style']:10s} {e['answer_cells']:7d} {e['solutions']:9d} {e['checks']:6d} "
                     f"{t:>27s} {s:>27s}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# the course in a folder of the student's choice

def course_notebooks() -> list[Path]:
    """The course's notebooks: the checkout's ``notebooks/`` when running from a source checkout,
    else the copies shipped inside the installed package."""
    if nr.NOTEBOOKS.is_dir() and (nr.ROOT / "pyproject.toml").is_file():
        return nr.notebook_paths()
    paths = sorted(PACKAGED.glob("[0-9][0-9]*_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"No notebooks in {PACKAGED}: this installation of hff-edu has no course; "
                                "reinstall it from its wheel (make dist) or run from a checkout.")
    return paths


STUDENT_README = """# Learning without backprop: the hff-edu course

Notebooks about Hinton's Forward-Forward (FF) and the Hyperspherical Forward-Forward (HFF),
written by `hff-edu course` (hff-edu {version}, {edition} edition).

## Start

    jupyter lab          # in this folder, with the Python that has hff-edu installed

Open the notebooks in order ({first} first). Each one starts with its goal, what you will
learn and how long it runs. Every notebook has a `PROFILE` parameter in its first cells:
`"classroom"` (the default: minutes on a laptop without a GPU), `"smoke"` (seconds, tiny
data: to check that everything works) and `"full"` (reference numbers; a GPU helps).
The kernel is called "Python (hff-edu)"{kernel_note}.

{exercises}

## Data and trained models

The notebooks find their data through `hff_edu.data.data_root()`: here that is

    {data_root}

(set `HFF_EDU_DATA` to use another folder). Fashion-MNIST is read from Debian's
`dataset-fashion-mnist` package when it is installed, else from
`<data root>/FashionMNIST/raw/`, else downloaded once. Trained models are cached in
`<data root>/models/`, so a notebook trains each model once; your teacher may give you a
`models/` folder trained before class: copy it there.

## The notebooks

{listing}
"""

EXERCISES_STUDENT = """## Exercises

The exercises are at the end of each notebook that has them. Write your answer where it
says `raise NotImplementedError()`; the cell after it checks your answer: `correct`, a hint
when it is wrong, or `not solved yet`, and the notebook goes on either way.
`exercises.summary()` at the end counts what you have solved."""

EXERCISES_TEACHER = """## Exercises

This is the teacher's edition: every exercise shows its worked solution (between
`### BEGIN SOLUTION` and `### END SOLUTION`), and every check says `correct`.
`hff-edu course DEST --student` writes the students' edition."""


def _title(path: Path) -> str:
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    line = first.strip().splitlines()[0] if first.strip() else path.stem
    return line.lstrip("# ").strip()


def install_kernel() -> str:
    """Register this Python as the ``hff-edu`` Jupyter kernel (inside its environment) if it is not yet."""
    from jupyter_client.kernelspec import KernelSpecManager
    if nr.KERNEL in KernelSpecManager().find_kernel_specs():
        return "already registered"
    from ipykernel.kernelspec import install
    install(prefix=sys.prefix, kernel_name=nr.KERNEL, display_name="Python (hff-edu)")
    return f"registered in {sys.prefix}"


def write_course(dest: Path, student: bool = False, force: bool = False, kernel: bool = True) -> list[Path]:
    """Write the course (teacher or student edition) and a README into ``dest``; returns the notebooks.

    An existing notebook in ``dest`` is never overwritten (it may hold a student's work) unless
    ``force``; the names of the ones kept are printed.
    """
    import nbformat
    from .data import data_root
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    sources = course_notebooks()
    written, kept = [], []
    for p in sources:
        target = dest / p.name
        if target.exists() and not force:
            kept.append(target.name)
            continue
        nb = nbformat.read(str(p), as_version=4)
        if student and audit_notebook(nb, p.stem).style == "convention":
            nb = student_version(nb, p.stem)
        nbformat.write(nb, str(target))
        written.append(target)
    if kept:
        print(f"kept {len(kept)} notebook(s) already in {dest} (your work; --force replaces them): "
              + ", ".join(kept))
    kernel_note = ""
    if kernel:
        kernel_note = f" ({install_kernel()})"
    listing = "\n".join(f"- `{p.name}`: {_title(p)}" for p in sources)
    (dest / "README.md").write_text(STUDENT_README.format(
        version=__version__, edition="student" if student else "teacher", first=sources[0].name,
        kernel_note=kernel_note, exercises=EXERCISES_STUDENT if student else EXERCISES_TEACHER,
        data_root=data_root(), listing=listing), encoding="utf-8")
    return written


# ----------------------------------------------------------------------------
# the warm cache

def warm_cache(paths: list[Path], profile: str = "classroom", out: Path | None = None,
               timeout: int | None = None) -> dict:
    """Execute every notebook once in ``profile`` so that each model it trains lands in the training
    cache (``train_or_load`` / ``fit_or_load``) and numba's cache is compiled; a later run only loads.
    The executed copies go where ``make notebooks`` puts them (``build/notebooks/<profile>/``), so
    ``make book`` reuses them. Returns the seconds per notebook; a failing notebook raises after the
    others have run."""
    timeout = timeout or {"smoke": 300, "classroom": 1200, "full": 7200}[profile]
    out = Path(out) if out is not None else nr.BUILD / profile
    seconds, failed = {}, []
    for p in paths:
        print(f"warming {p.name} ({profile}) ...", flush=True)
        try:
            seconds[p.name] = round(nr.execute(p, profile, out, timeout), 1)
            print(f"  {seconds[p.name]:.1f} s", flush=True)
        except nr.NotebookFailed as e:
            failed.append(str(e))
    (out / "timings.json").write_text(json.dumps(dict(profile=profile, seconds=seconds), indent=2))
    if failed:
        raise nr.NotebookFailed("\n".join(failed))
    return seconds


def section_times(executed: Path) -> list[tuple[str, float]]:
    """Seconds per section (``## `` heading) of an executed notebook, from papermill's per-cell
    durations; what comes before the first section (imports, parameters, data) is ``start``."""
    import nbformat
    nb = nbformat.read(str(executed), as_version=4)
    sections, name = {}, "start"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            headings = [line[3:].strip() for line in cell.source.splitlines() if line.startswith("## ")]
            name = headings[-1] if headings else name  # the code that follows belongs to the last one
        seconds = cell.metadata.get("papermill", {}).get("duration") or 0.0
        sections[name] = sections.get(name, 0.0) + float(seconds)
    return [(k, round(v, 1)) for k, v in sections.items()]


def times_table(executed_dir: Path, paths: list[Path]) -> str:
    """A Markdown table of every section's run time in the executed copies in ``executed_dir``."""
    lines = ["| notebook | section | s |", "|---|---|---|"]
    for p in paths:
        done = executed_dir / p.name
        if not done.is_file():
            continue
        rows = section_times(done)
        lines += [f"| {p.stem} | {name} | {sec:.1f} |" for name, sec in rows]
        lines.append(f"| {p.stem} | **all** | **{sum(sec for _, sec in rows):.1f}** |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# command line

def add_course_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``hff-edu course`` (also ``python -m hff_edu.course write``)."""
    p.add_argument("dest", type=Path, help="folder to write the course into (created if missing)")
    p.add_argument("--student", action="store_true",
                   help="the students' edition: solutions replaced by stubs (default: the teacher's, with solutions)")
    p.add_argument("--force", action="store_true", help="overwrite notebooks already in DEST (loses edits there)")
    p.add_argument("--no-kernel", action="store_true", help="do not register the 'hff-edu' Jupyter kernel")


def cmd_course(a) -> int:
    written = write_course(a.dest, student=a.student, force=a.force, kernel=not a.no_kernel)
    print(f"wrote {len(written)} notebook(s) and README.md to {a.dest} "
          f"({'student' if a.student else 'teacher'} edition); start with: cd {a.dest} && jupyter lab")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hff_edu.course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("student", help="write the student versions to build/student/ and the nbgrader "
                                       "sources to build/teacher/")
    p.add_argument("--only", nargs="*", help="notebook name prefixes")
    p.add_argument("--out", type=Path, default=STUDENT)
    p.add_argument("--teacher-out", type=Path, default=TEACHER)
    p = sub.add_parser("audit", help="exercises per notebook, and the notebooks still in the old style")
    p.add_argument("--only", nargs="*")
    p = sub.add_parser("check", help="execute the teacher and student versions and compare their counts")
    p.add_argument("--profile", default=os.environ.get("PROFILE", "smoke"), choices=nr.PROFILES)
    p.add_argument("--only", nargs="*")
    p.add_argument("--teacher-runs", type=Path, default=None,
                   help="executed teacher notebooks to reuse when fresh (default build/notebooks/<profile>)")
    p = sub.add_parser("warm-cache", help="execute every notebook once so that a class run only loads models")
    p.add_argument("--profile", default="classroom", choices=nr.PROFILES)
    p.add_argument("--only", nargs="*")
    p = sub.add_parser("times", help="run time per notebook section of executed copies (papermill's cell durations)")
    p.add_argument("executed", type=Path, help="folder of executed notebooks, e.g. build/warm-cache")
    p.add_argument("--only", nargs="*")
    p = sub.add_parser("write", help="write the course into a folder (= hff-edu course DEST)")
    add_course_arguments(p)
    a = parser.parse_args(argv)
    try:
        if a.command == "write":
            return cmd_course(a)
        paths = nr.notebook_paths(a.only)
        if a.command == "student":
            for line in write_versions(paths, a.out, a.teacher_out):
                print(line)
            print(f"student versions in {a.out}, nbgrader sources (teacher versions) in {a.teacher_out}")
            report = old_style_report(audit(paths))
            if report:
                print(report)
            return 0
        if a.command == "audit":
            found = audit(paths)
            for f in found:
                print(f"{f.name:32s} {f.style:10s} {len(f.answer_cells):2d} answer cells, {f.regions:2d} solutions, "
                      f"{len(f.checks):2d} checks")
                for problem in f.problems:
                    print(f"  {'problem' if f.blocking else 'to fix when converting'}: {problem}")
            print(old_style_report(found) or "every notebook with exercises follows the convention")
            return 1 if any(f.blocking for f in found) else 0
        if a.command == "times":
            print(times_table(a.executed, paths))
            return 0
        if a.command == "warm-cache":
            seconds = warm_cache(paths, a.profile)
            print(f"warm cache ({a.profile}): {len(seconds)} notebooks in {sum(seconds.values()):.0f} s")
            return 0
        report = check(paths, a.profile, a.teacher_runs)
    except (CourseError, nr.NotebookFailed, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_report(report))
    (STUDENT / f"exercises_{a.profile}.json").write_text(json.dumps(report, indent=2))
    followed = [n for n, e in report["notebooks"].items() if e["style"] == "convention"]
    old = old_style_report([f for f in audit(paths) if f.name in report["old_style"]])
    if old:
        print(old)
    for err in report["errors"]:
        print(f"FAILED: {err}", file=sys.stderr)
    print(f"exercise counts ({a.profile}): {len(followed) - len({e.split(':')[0] for e in report['errors']})} "
          f"passed, {len({e.split(':')[0] for e in report['errors']})} failed")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
