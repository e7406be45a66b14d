"""The classroom edition: student versions of the notebooks and the exercise audit.

One source, two versions. The source notebooks are the teacher's: every exercise is a
function whose body holds the worked solution between nbgrader's markers (the convention
of :mod:`hff_edu.teaching.exercises`)::

    def etf_cosine(C):
        ### BEGIN SOLUTION
        return -1 / (C - 1)
        ### END SOLUTION

    check("02.1", etf_cosine)

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
has no hidden tests. Counting both versions' runs is ``verify.py``; the course folder
(``hff-edu course DEST``) is ``folder.py``.
"""
from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

from .checkout import here

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: nbgrader's defaults (ClearSolutions.code_stub / text_stub), so our student version is theirs
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
SOLUTION_TAG = "solution"
SUMMARY_LINE = re.compile(r"^exercises: (\d+) correct, (\d+) wrong, (\d+) not solved yet\s*$", re.M)
#: how the old style opens a worked-solution cell: "*Worked solution.*" (markdown) or "# Worked solution" (code)
WORKED = re.compile(r"(?i)^\W*worked solution")



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
    """``"check"`` when the call is an exercise check (hff_edu.teaching.exercises.check: ``check(...)``,
    ``exercises.check(...)`` or ``ex.check(...)``), else None."""
    f = node.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    if name != "check":
        return None
    if isinstance(f, ast.Attribute):  # claims.check is not an exercise check
        owner = f.value.id if isinstance(f.value, ast.Name) else ""
        return name if owner in ("exercises", "ex") else None
    return name


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
            "from hff_edu.teaching.exercises import RESULTS as _RESULTS\n"
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


def write_versions(paths: list[Path], student_dir: Path | None = None, teacher_dir: Path | None = None) -> list[str]:
    """Write the student version of every notebook into ``student_dir`` (default ``build/student``) and,
    when ``teacher_dir`` is given, the teacher's; a notebook without exercises in the convention is
    copied as it is. Returns one line per notebook."""
    import nbformat
    student_dir = student_dir or here().build / "student"
    student_dir.mkdir(parents=True, exist_ok=True)
    if teacher_dir is not None:
        teacher_dir.mkdir(parents=True, exist_ok=True)
    from .links import repository, rewrite_links
    url, ref = repository()
    lines = []
    for p in paths:
        nb = nbformat.read(str(p), as_version=4)
        rewrite_links(nb, url, ref)  # build/student has no ../docs or ../benchmarks beside it
        found = audit_notebook(nb, p.stem)
        if found.blocking:
            raise CourseError("\n".join(found.blocking))
        if found.style == "convention":
            nbformat.write(student_version(nb, p.stem), str(student_dir / p.name))
            if teacher_dir is not None:
                nbformat.write(teacher_version(nb, p.stem), str(teacher_dir / p.name))
            lines.append(f"{p.stem:32s} {found.regions:2d} solutions cleared, {len(found.checks):2d} checks kept")
        else:
            nbformat.write(nb, str(student_dir / p.name))
            if teacher_dir is not None:
                nbformat.write(nb, str(teacher_dir / p.name))
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
                      "to students; convert them to the convention of hff_edu/teaching/exercises.py):"]
                     + [f"  {f.name}: {_style_note(f)}" for f in old])


# ----------------------------------------------------------------------------
# counting what a run reports
