"""The session plan is computed from the notebooks' own minutes and never overfills a session."""
import nbformat
import pytest

from hff_edu.course import plan


def _lesson(name, minutes):
    return plan.Lesson(name, [(f"{i + 1}. Part {i + 1}", m) for i, m in enumerate(minutes)])


def test_sessions_never_overflow_and_keep_the_order():
    lessons = [_lesson("00_a", [20, 30]), _lesson("01_b", [40, 25, 10]), _lesson("02_c", [50])]
    sessions = plan.make_plan(lessons, 90)
    assert [sum(m for *_, m in s) for s in sessions] == [90, 85]
    assert all(sum(m for *_, m in s) <= 90 for s in sessions)
    order = [(name, t) for s in sessions for name, titles, _ in s for t in titles]
    assert order == [(x.name, t) for x in lessons for t, _ in x.sections], "every section once, in order"
    assert sessions[0][-1] == ("01_b", ["1. Part 1"], 40), "a notebook is cut between sections"


def test_a_section_longer_than_a_session_gets_its_own():
    assert [len(s) for s in plan.make_plan([_lesson("00_a", [120, 10])], 90)] == [1, 1]
    with pytest.raises(ValueError, match="class's length"):
        plan.make_plan([], 5)


def test_minutes_are_read_from_the_headings(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# 09 · x\n\n## 1. First (~7 min)\n\ntext\n\n## 2. Second part (~12 min)\n\n## Summary")])
    path = tmp_path / "09_x.ipynb"
    nbformat.write(nb, str(path))
    lesson = plan.read_lesson(path)
    assert lesson.sections == [("1. First", 7), ("2. Second part", 12)] and lesson.minutes == 19
    text = plan.plan_markdown([path], 15)
    assert "| `09_x` | 2 | 19 | 0 |" in text and "**Session 2** (12 min)" in text
