"""A session plan from the notebooks themselves: ``python -m hff_edu.course plan [--session 90]``.

Every section heading carries the student's minutes (``## 3. Training (~10 min)``) and every exercise
declares its own (``hff_edu/teaching/checks``), so the plan is computed, not guessed: the course's
notebooks in order, cut into sessions of at most ``--session`` minutes of lesson time, a notebook cut
between sections when it does not fit; the exercises are listed as homework beside the session that
teaches them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_SECTION = re.compile(r"^##\s+(?P<title>.+?)\s*\(~(?P<minutes>\d+)\s*min\)\s*$", re.M)


@dataclass
class Lesson:
    name: str
    sections: list[tuple[str, int]] = field(default_factory=list)
    exercise_minutes: int = 0

    @property
    def minutes(self) -> int:
        return sum(m for _, m in self.sections)


def read_lesson(path: Path) -> Lesson:
    """The sections (title, minutes) of one notebook and its exercises' declared minutes."""
    import nbformat
    from ..teaching import exercises
    nb = nbformat.read(str(path), as_version=4)
    lesson = Lesson(path.stem)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lesson.sections += [(m["title"], int(m["minutes"])) for m in _SECTION.finditer(cell.source)]
    key = path.stem.split("_")[0]
    lesson.exercise_minutes = sum(e.minutes for e in exercises.catalogue(key))
    return lesson


def make_plan(lessons: list[Lesson], session: int) -> list[list[tuple[str, list[str], int]]]:
    """Sessions, each a list of (notebook, section titles, minutes), in course order."""
    if session < 15:
        raise ValueError(f"session = {session} min: give a class's length in minutes (e.g. 90).")
    sessions, current, used = [], [], 0
    for lesson in lessons:
        part, part_min = [], 0
        for title, minutes in lesson.sections:
            if used + part_min + minutes > session and (current or part):
                if part:
                    current.append((lesson.name, part, part_min))
                sessions.append(current)
                current, used, part, part_min = [], 0, [], 0
            part.append(title)
            part_min += minutes
        if part:
            current.append((lesson.name, part, part_min))
            used += part_min
    if current:
        sessions.append(current)
    return sessions


def plan_markdown(paths: list[Path], session: int = 90) -> str:
    lessons = [read_lesson(p) for p in paths]
    lines = [f"Lesson time per notebook (the sections' minutes) and exercise time (declared per exercise); "
             f"sessions of at most {session} min. Command: `python -m hff_edu.course plan --session {session}`.",
             "", "| notebook | sections | lesson (min) | exercises (min) |", "|---|---|---|---|"]
    for lesson in lessons:
        lines.append(f"| `{lesson.name}` | {len(lesson.sections)} | {lesson.minutes} | {lesson.exercise_minutes} |")
    lines.append(f"| all | {sum(len(x.sections) for x in lessons)} | {sum(x.minutes for x in lessons)} | "
                 f"{sum(x.exercise_minutes for x in lessons)} |")
    for i, s in enumerate(make_plan(lessons, session), 1):
        lines += ["", f"**Session {i}** ({sum(m for *_, m in s)} min)", ""]
        for name, titles, minutes in s:
            first, last = titles[0].split(".")[0], titles[-1].split(".")[0]
            span = f"§ {first}" if first == last else f"§ {first}-{last}"
            lines.append(f"- `{name}` {span} ({minutes} min): " + "; ".join(t.split(". ", 1)[-1] for t in titles))
    missing = [x.name for x in lessons if not x.sections]
    if missing:
        lines += ["", "No timed sections (not in the lesson format yet): " + ", ".join(missing)]
    return "\n".join(lines) + "\n"
