"""The course's lesson format (docs/course-format.md), notebook by notebook: time for the student per
section, Think! prompts with answers to reveal, "What you should see" boxes, exercises with their
header and folded hints, figures with captions, claim checks in a folded appendix, short markdown
cells, provenance out of the explanations."""
import re
from pathlib import Path

import nbformat
import pytest

from hff_edu.teaching import exercises as ex

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
MINUTES = re.compile(r"\(~(\d+) min\)\s*$")
UNTIMED = re.compile(r"^(Summary|Further reading|Appendix|Exercises|Set-up|Setup)", re.I)
YOUR_TIME = re.compile(r"\*\*Your time:\*\* about (\d+) min \(sections (\d+) min, exercises (\d+) min\)")
DETAILS = re.compile(r"<details>.*?</details>", re.S)
OLD_CHECKS = re.compile(r"\bcheck_(close|equal|true|range|function)\(")
APPENDIX = "## Appendix: checks of this notebook's claims"
MAX_WORDS = 250


def _nb(path):
    return nbformat.read(str(path), as_version=4)


def _md(nb):
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def _number(path):
    return path.name.split("_")[0]


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: _number(p))
def notebook(request):
    return request.param, _nb(request.param)


def test_time_per_section_adds_up_to_the_header(notebook):
    path, nb = notebook
    sections = []
    for text in _md(nb):
        for line in text.splitlines():
            if line.startswith("## "):
                title = line[3:].strip()
                m = MINUTES.search(title)
                if not UNTIMED.match(re.sub(r"^\d+[a-z]?\.\s*", "", title)):
                    assert m, f"{path.name}: section {title!r} gives no student time: end it with '(~N min)'"
                    sections.append(int(m.group(1)))
    header = YOUR_TIME.search(_md(nb)[0])
    assert header, (f"{path.name}: the first cell needs '**Your time:** about T min (sections S min, exercises "
                    "E min)'")
    total, s, e = (int(g) for g in header.groups())
    assert s == sum(sections), f"{path.name}: the sections add up to {sum(sections)} min, the header says {s}"
    declared = sum(x.minutes for x in ex.catalogue(_number(path)))
    assert e == declared, f"{path.name}: the exercises add up to {declared} min (their headers), the header says {e}"
    assert total == s + e, f"{path.name}: {s} + {e} is not {total}"


def test_think_prompts_have_answers_to_reveal(notebook):
    path, nb = notebook
    prompts = [t for t in _md(nb) if "**Think!**" in t]
    assert len(prompts) >= 3, f"{path.name}: {len(prompts)} Think! prompts; give at least 3 (one or two a section)"
    for text in prompts:
        after = text.split("**Think!**", 1)[1]
        assert re.search(r"<details>\s*<summary>", after), \
            f"{path.name}: a Think! prompt without an answer in <details><summary>...</summary>...</details>"


def test_experiments_say_what_you_should_see(notebook):
    path, nb = notebook
    boxes = sum(c.source.count("claims.expect(") for c in nb.cells if c.cell_type == "code")
    assert boxes >= 2, f"{path.name}: {boxes} 'What you should see' boxes (claims.expect); give one per experiment"


def test_exercises_have_their_header_hints_and_one_check(notebook):
    path, nb = notebook
    declared = ex.catalogue(_number(path))
    text = "\n".join(_md(nb))
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not OLD_CHECKS.search(code), f"{path.name}: uses the old check_* functions; use check(key, answer)"
    used = re.findall(r"(?<![.\w])check\(\s*\"([^\"]+)\"", code)
    assert sorted(used) == sorted(e.key for e in declared), \
        f"{path.name}: checks {sorted(used)} vs exercises declared in hff_edu/teaching/checks: " \
        f"{sorted(e.key for e in declared)} (each checked exactly once)"
    for e in declared:
        assert e.header() in text, f"{path.name}: no heading {e.header()!r} for exercise {e.key}"
        block = re.split(r"\*\*Exercise \d", text.split(e.header(), 1)[1], maxsplit=1)[0]
        hints = re.findall(r"<details>\s*<summary>\s*Hint", block)
        assert len(hints) >= (2 if e.level >= 2 else 1), \
            f"{path.name}: exercise {e.key} (level {e.level}) has {len(hints)} folded hint(s)"


def test_claim_checks_sit_in_a_folded_appendix(notebook):
    path, nb = notebook
    starts = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith(APPENDIX)]
    assert len(starts) == 1, f"{path.name}: needs one '{APPENDIX}' section"
    for c in nb.cells[starts[0] + 1:]:
        if c.cell_type == "code":
            assert c.metadata.get("jupyter", {}).get("source_hidden"), \
                f"{path.name}: the appendix's code cells are folded (metadata jupyter.source_hidden)"
    for i, c in enumerate(nb.cells[:starts[0]]):
        if c.cell_type == "code":
            assert not re.search(r"\bclaims\.check(_better|_timing)?\(", c.source), \
                f"{path.name} cell {i}: claim checks belong in the appendix (claims.expect boxes may stay)"


def test_markdown_is_short_and_provenance_is_folded(notebook):
    path, nb = notebook
    for i, c in enumerate(nb.cells):
        if c.cell_type != "markdown":
            continue
        visible = DETAILS.sub("", c.source)
        words = len(re.findall(r"[A-Za-z0-9]+", re.sub(r"\$[^$]*\$", " x ", visible)))
        assert words <= MAX_WORDS, f"{path.name} cell {i}: {words} words outside <details>; split it"
        assert "[ours" not in visible, f"{path.name} cell {i}: '[ours' outside a <details> block"
        assert "holds a worked solution" not in c.source and "data/models/" not in visible, \
            f"{path.name} cell {i}: text that is wrong in the student edition"
