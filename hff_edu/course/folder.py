"""The course in a folder of your choice: ``hff-edu course DEST [--student]`` (from a checkout or from
the wheel, which ships the notebooks as ``hff_edu.course_notebooks``): the notebooks of one edition,
a README for the students or the teacher, and the Jupyter kernel ``hff-edu`` registered.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..version import __version__
from . import runner as nr
from .checkout import find
from .editions import audit_notebook, student_version
from .links import repository, rewrite_links

#: the notebooks inside an installed wheel (pyproject.toml maps notebooks/ here)
PACKAGED = Path(__file__).resolve().parents[1] / "course_notebooks"


def course_notebooks() -> list[Path]:
    """The course's notebooks: the checkout's ``notebooks/`` when running from a source checkout,
    else the copies shipped inside the installed package."""
    if find() is not None:
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
    jupyter notebook     # or Jupyter Notebook 7: the same notebooks

Open the notebooks in order ({first} first). Each one starts with its goal, what you will
learn and how long it runs; its first cell prints where it runs and where its data and
cache are. Every notebook has a `PROFILE` parameter in its first cells:
`"classroom"` (the default: minutes on a laptop without a GPU), `"smoke"` (seconds, tiny
data: to check that everything works) and `"full"` (reference numbers; a GPU helps).
The kernel is called "Python (hff-edu)"{kernel_note}.

{exercises}

## Data and trained models

The notebooks find their data through `hff_edu.core.data.data_root()`: here that is

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

Each notebook has exercises next to the section they practise, headed like
**Exercise 01.2 · the FF loss** · compute · ★★ · ~10 min: the kind (compute, predict, debug,
design, explain), the difficulty (★ to ★★★) and about how long it takes. Write your answer where
it says `raise NotImplementedError()`; the cell after it checks it and prints `correct`, what is
`wrong` (never the expected answer), or `not solved yet`. The notebook goes on either way, so Run
All always reaches the end. Stuck? Each exercise has hints under it, folded: open one at a time.
`exercises.summary()` at the end of a notebook counts what you have solved."""


EXERCISES_TEACHER = """## Exercises

This is the teacher's edition: every exercise shows its worked solution (between
`### BEGIN SOLUTION` and `### END SOLUTION`), and every check says `correct`.
`hff-edu course DEST --student` writes the students' edition; the answer key, with the common
wrong answers and how to discuss them, is `docs/teaching/answer-key.md` in the repository."""


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
    from ..core.data import data_root
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    sources = course_notebooks()
    url, ref = repository()
    written, kept = [], []
    for p in sources:
        target = dest / p.name
        if target.exists() and not force:
            kept.append(target.name)
            continue
        nb = nbformat.read(str(p), as_version=4)
        if student and audit_notebook(nb, p.stem).style == "convention":
            nb = student_version(nb, p.stem)
        rewrite_links(nb, url, ref)  # the folder ships no docs/ or benchmarks/
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


def add_course_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``hff-edu course`` (also ``python -m hff_edu.course write``)."""
    p.add_argument("dest", type=Path, help="folder to write the course into (created if missing)")
    p.add_argument("--student", action="store_true",
                   help="the students' edition: solutions replaced by stubs (default: the teacher's, with solutions)")
    p.add_argument("--force", action="store_true", help="overwrite notebooks already in DEST (loses edits there)")
    p.add_argument("--no-kernel", action="store_true", help="do not register the 'hff-edu' Jupyter kernel")


def _missing(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is None


def cmd_course(a) -> int:
    # the light runtime (pip install hff-edu, for hosted kernels) has no Jupyter of its own
    if _missing("nbformat"):
        print("error: hff-edu course writes notebooks with nbformat, which comes with Jupyter: "
              "pip install 'hff-edu[lab]' (JupyterLab and Notebook 7), then run it again", file=sys.stderr)
        return 2
    kernel = not a.no_kernel
    if kernel and (_missing("ipykernel") or _missing("jupyter_client")):
        print("note: no ipykernel here, so the 'hff-edu' kernel is not registered "
              "(pip install 'hff-edu[lab]' brings it; a hosted kernel needs none)")
        kernel = False
    written = write_course(a.dest, student=a.student, force=a.force, kernel=kernel)
    print(f"wrote {len(written)} notebook(s) and README.md to {a.dest} "
          f"({'student' if a.student else 'teacher'} edition); start with: cd {a.dest} && jupyter lab")
    return 0
