"""Run both editions of every notebook and compare what their exercise checks reported.

An exercise check is a call of ``hff_edu.teaching.exercises.check`` with a literal key;
``exercises.summary()`` at the end of a notebook prints how many were correct, wrong and not solved
yet. :func:`check` executes both versions and requires: the teacher's run has every
check correct, the student's has every check not solved yet, and both equal the number of checks
in the source. A notebook whose exercises are still in the old style (worked solutions in plain
cells) is listed by name, never skipped silently (``make student-check``).
"""
from __future__ import annotations

from pathlib import Path

from . import runner as nr
from .checkout import here
from .editions import SUMMARY_LINE, CourseError, NotebookExercises, audit, write_versions


def reported_counts(executed: Path) -> tuple[int, int, int] | None:
    """``(correct, wrong, not solved yet)`` from the last ``exercises.summary()`` in an executed notebook."""
    import nbformat
    nb = nbformat.read(str(executed), as_version=4)
    found = None
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = out.get("text", "") if out.get("output_type") == "stream" else \
                out.get("data", {}).get("text/plain", "")
            for m in SUMMARY_LINE.finditer(text if isinstance(text, str) else "".join(text)):
                found = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return found


def compare_counts(found: NotebookExercises, teacher: tuple | None, student: tuple | None) -> list[str]:
    """What is wrong with the two runs' counts (empty when the teacher's run has every check correct and
    the student's every check not solved yet)."""
    n, errors = len(found.checks), []
    if teacher is None or student is None:
        missing = "teacher's" if teacher is None else "student's"
        return [f"{found.name}: the {missing} run printed no `exercises: N correct, M wrong, K not solved yet` line"]
    if teacher != (n, 0, 0):
        errors.append(f"{found.name}: teacher version reported {teacher[0]} correct, {teacher[1]} wrong, "
                      f"{teacher[2]} not solved yet; the source has {n} checks, all of which must pass")
    if student != (0, 0, n):
        errors.append(f"{found.name}: student version reported {student[0]} correct, {student[1]} wrong, "
                      f"{student[2]} not solved yet; expected 0 correct, 0 wrong and {n} not solved yet (a "
                      "check passed or failed on a blank answer, or a check did not run)")
    return errors


def _fresh(executed: Path, source: Path) -> bool:
    return executed.is_file() and executed.stat().st_mtime >= source.stat().st_mtime


def check(paths: list[Path], profile: str = "smoke", teacher_runs: Path | None = None,
          out: Path | None = None, timeout: int | None = None) -> dict:
    """Execute the student version of every notebook that follows the convention (and the teacher's,
    unless a fresh executed copy is in ``teacher_runs``), and compare the counts. Returns the report."""
    teacher_runs = teacher_runs or here().executed / profile
    out = out or here().build / "student"
    timeout = timeout or nr.TIMEOUTS[profile]
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
