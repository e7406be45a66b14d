"""What an executed notebook must look like to a student, checked on every run of the runner.

A notebook can run to the end and still show a student things no one meant to show: a figure with
no caption or alt text (``<Figure size 640x480 with 1 Axes>`` is all a screen reader gets), a stray
``True`` under a cell that forgot its ``;``, a ``UserWarning`` with a path into the package, or a
wrong exercise answer in the teacher's edition. :func:`problems` lists them, one line each, naming
the cell; the runner fails the run on any (``course/runner.py``).
"""
from __future__ import annotations

import re

#: a figure shown through hff_edu.teaching.figures (its HTML has this class)
FIGURE_CLASS = "hff-figure"
#: the lines a widget or plotly figure's own bundle puts in text/plain (captioned by the next output)
DRAWN_ELSEWHERE = ("<interactive figure", "<plotly figure", "VBox(", "HBox(", "Output(")
STRAY = re.compile(r"^(True|False|None|\[None(, None)*\]|\(None(, None)*\))$")
PACKAGE_WARNING = re.compile(r"(hff_edu[/\\][\w/\\]+\.py:\d+: \w*Warning)")
WRONG_EXERCISE = re.compile(r"^\[(\S+) [^\]]*\] wrong:", re.M)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def _captioned_later(outputs: list, i: int) -> bool:
    """A caption (figures.caption) follows output ``i`` in the same cell."""
    return any(f"{FIGURE_CLASS}-caption" in _text(o.get("data", {}).get("text/html"))
               for o in outputs[i + 1:])


def problems(nb, name: str = "") -> list[str]:
    """What a student should not see in the executed notebook ``nb``: one line per problem."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        where = f"{name} cell {index}"
        for i, out in enumerate(outputs):
            kind = out.get("output_type")
            data = out.get("data", {})
            plain = _text(data.get("text/plain")).strip()
            if kind in ("display_data", "execute_result") and "image/png" in data:
                captioned = FIGURE_CLASS in _text(data.get("text/html")) or _captioned_later(outputs, i)
                if not captioned:
                    found.append(f"{where}: a figure without a caption and alt text (show it with "
                                 "figures.Figures.show, or put figs.caption(...) under a widget).")
            elif kind in ("display_data", "execute_result") and plain.startswith(DRAWN_ELSEWHERE[:2]):
                if not _captioned_later(outputs, i):
                    found.append(f"{where}: an interactive figure without a caption under it (use "
                                 "figs.interactive or figs.plotly).")
            if kind == "execute_result" and STRAY.match(plain):
                found.append(f"{where}: a stray `{plain}` output (end the line with `;`).")
            if kind == "stream":
                text = _text(out.get("text"))
                if out.get("name") == "stderr" and PACKAGE_WARNING.search(text):
                    found.append(f"{where}: a warning from inside the package reaches the student "
                                 f"({PACKAGE_WARNING.search(text).group(1)}): avoid it, or explain it in text.")
                for m in WRONG_EXERCISE.finditer(text):
                    found.append(f"{where}: exercise {m.group(1)} printed `wrong`.")
    return found
