"""Slides for the teacher, built from the executed notebooks' own figures (reveal.js, nbconvert's
slides exporter): ``python -m hff_edu.course slides build/notebooks/classroom`` writes
``build/slides/<notebook>.slides.html``.

One slide per section (its heading and its first paragraph, the talking point), the section's
figures as sub-slides under it (with their captions), the "What you should see" boxes and Think!
prompts as fragments; code, provenance (folded ``<details>``), exercises and the claims appendix are
left out. Slides show what this run produced, so build them from the run the class will see.
"""
from __future__ import annotations

import re
from pathlib import Path

#: sections that are not lesson material
_SKIP_SECTIONS = re.compile(r"^(Appendix|Exercises: your score|Further reading)", re.I)
_DETAILS = re.compile(r"<details>.*?</details>", re.S)


def _slide_type(cell, kind: str) -> None:
    cell.metadata["slideshow"] = {"slide_type": kind}


def _has_figure(cell) -> bool:
    return any("image/png" in o.get("data", {}) or "text/html" in o.get("data", {}) and "<figure" in
               "".join(o["data"]["text/html"]) for o in cell.get("outputs", []))


def slide_notebook(nb):
    """A copy of the executed notebook ``nb`` with reveal.js slide metadata (see the module docstring)."""
    import copy
    nb = copy.deepcopy(nb)
    in_skipped = False
    title_done = False
    for cell in nb.cells:
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if cell.cell_type == "markdown":
            text = _DETAILS.sub("", source).strip()
            heading = re.match(r"^(#{1,2})\s+(.*)", text)
            if heading and heading.group(1) == "#" and not title_done:
                cell.source, title_done = text.split("\n\n")[0], True
                _slide_type(cell, "slide")
            elif heading and heading.group(1) == "##":
                in_skipped = bool(_SKIP_SECTIONS.match(heading.group(2)))
                # the heading and the first paragraph after it: the section's talking point
                cell.source = "\n\n".join(text.split("\n\n")[:2])
                _slide_type(cell, "skip" if in_skipped else "slide")
            elif not in_skipped and re.search(r"\*\*Think!?\*\*|What you should see", text):
                cell.source = text
                _slide_type(cell, "fragment")
            else:
                _slide_type(cell, "skip")
        elif cell.cell_type == "code":
            keep = not in_skipped and _has_figure(cell)
            if keep:  # the figure and its caption only
                cell.outputs = [o for o in cell.outputs if o.get("output_type") in ("display_data", "execute_result")]
            _slide_type(cell, "subslide" if keep else "skip")
        else:
            _slide_type(cell, "skip")
    return nb


def write_slides(executed: Path, out: Path, paths: list[Path], reveal_prefix: str | None = None) -> list[Path]:
    """Slides of every notebook of ``paths`` found executed in ``executed``; returns the files written."""
    import nbformat
    from nbconvert import SlidesExporter
    executed, out = Path(executed), Path(out)
    missing = [p.name for p in paths if not (executed / p.name).is_file()]
    if missing:
        raise FileNotFoundError(f"not executed in {executed}: {', '.join(missing)}; run "
                                f"`python -m hff_edu.course run --profile classroom` first (or point at its folder).")
    out.mkdir(parents=True, exist_ok=True)
    exporter = SlidesExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    if reveal_prefix:
        exporter.reveal_url_prefix = reveal_prefix
    written = []
    for p in paths:
        nb = slide_notebook(nbformat.read(str(executed / p.name), as_version=4))
        body, _ = exporter.from_notebook_node(nb)
        target = out / f"{p.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written
