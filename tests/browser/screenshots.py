"""Screenshots of the course as a student sees it, for the teacher's pack and the README: the students'
edition of 01 in JupyterLab (headless Chromium, smoke profile), one exercise answered wrong the way
students do, another left blank, a Think! prompt opened, a figure with its caption, a "What you should
see" box. Not a test (it asserts only that it found what it shoots); run it by hand:

    python tests/browser/screenshots.py [--out docs/teaching/images]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_tools as bt  # noqa: E402

from hff_edu.course.editions import student_version  # noqa: E402

NOTEBOOK = "01_forward_forward.ipynb"
#: a wrong answer students give to 01.2 (the goodness): the sum of the activities, not of their squares
WRONG = ("def my_goodness(h):", "    return h.sum(dim=1)  # a student's answer: forgot the square\n")

JS_CELL = """
const cells = Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'));
const where = c => arguments[1] ? (c.querySelector('.jp-OutputArea') || {textContent: ''}) : c;
return cells.find(c => where(c).textContent.includes(arguments[0])) || null;
"""


def _student_copy(root: Path) -> Path:
    nb = student_version(nbformat.read(str(bt.NOTEBOOKS / NOTEBOOK), as_version=4), NOTEBOOK[:2])
    answered = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(WRONG[0]):
            cell.source = WRONG[0] + "\n" + WRONG[1]
            answered += 1
    assert answered == 1, f"{NOTEBOOK}: the answer cell of 01.2 was not found"
    target = root / NOTEBOOK
    nbformat.write(nb, str(target))
    return bt.smoke_copy(target, root)


def _shoot(d, text: str, out: Path, name: str, click_summary: bool = False, above: int = 0,
           in_output: bool = False, end_at: str | None = None) -> str:
    cell = d.execute_script(JS_CELL, text, in_output)
    assert cell is not None, f"no cell shows {text!r}"
    if click_summary:
        d.execute_script("arguments[0].querySelector('summary').click()", cell)
    for _ in range(3):  # the notebook lays out cells as they come into view: settle, then align again
        d.execute_script("arguments[0].scrollIntoView({block: 'start'});"
                         "const s = arguments[0].closest('.jp-WindowedPanel-outer'); if (s) s.scrollTop -= arguments[1];",
                         cell, above)
        if end_at:  # bring this element of the cell (a figure's caption) to the bottom of the window
            d.execute_script("arguments[0].querySelector(arguments[1]).scrollIntoView({block: 'end'})", cell, end_at)
        time.sleep(0.7)
    path = out / f"{name}.png"
    d.save_screenshot(str(path))
    print(f"wrote {path}")
    return str(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=bt.ROOT / "docs" / "teaching" / "images")
    a = p.parse_args(argv)
    paths = bt.browser_paths()
    if paths is None:
        print("no browser: install chromium, chromium-driver (apt) and selenium", file=sys.stderr)
        return 1
    a.out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="hff-shots-"))
    _student_copy(root)
    server = bt.JupyterServer(root, bt.ARTIFACTS / "screenshots-lab.log", "lab")
    d = bt.make_driver(paths)
    try:
        d.set_window_size(1200, 1300)
        bt.open_notebook(d, server, NOTEBOOK)
        d.execute_script("window.jupyterapp.commands.execute('application:toggle-left-area')")
        bt.run_all(d, NOTEBOOK)
        _shoot(d, "Exercise 01.2", a.out, "exercise-wrong-answer")
        _shoot(d, "Exercise 01.3", a.out, "exercise-not-solved")
        _shoot(d, "Think!", a.out, "think-prompt-opened", click_summary=True)
        _shoot(d, "Figure 01.1.", a.out, "figure-with-caption", in_output=True, end_at="figcaption")
        _shoot(d, "What you should see:", a.out, "what-you-should-see", in_output=True)
    finally:
        bt.quit_driver(d)
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
