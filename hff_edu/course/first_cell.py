"""The set-up cell that opens every notebook, and the "open in Colab / Kaggle" badges under its title.

The cell installs hff-edu where it is missing (a hosted kernel: Colab, Kaggle, a JupyterHub) with
``%pip install`` of the configured requirement, then calls :func:`hff_edu.teaching.hosted.setup`.
The teacher configures two things once, in ``pyproject.toml`` (or the environment):

    [tool.hff-edu]
    repository = "https://github.com/you/hff-edu"   # HFF_EDU_REPOSITORY: the badges' target
    ref = "main"                                     # HFF_EDU_REPOSITORY_REF
    install = "..."                                  # HFF_EDU_INSTALL: what the cell pip-installs; default
                                                     # git+<repository>@<ref> when a repository is set, else
                                                     # hff-edu (PyPI); or a wheel's URL

then ``python -m hff_edu.course first-cell`` rewrites the notebooks' set-up cells and badges (commit
them: Colab and Kaggle open the notebooks from the repository); ``--check`` (a unit test runs it) says
whether the notebooks are in step with the configuration. ``hff-edu course DEST`` copies them as they are.
"""
from __future__ import annotations

import os
import re
from urllib.parse import quote

from .links import configured, repository

INSTALL_ENV = "HFF_EDU_INSTALL"
DEFAULT_INSTALL = "hff-edu"
#: the tag that marks the set-up cell (the runner, the editions and the tests find it by it)
TAG = "hff-setup"
#: the badge line's marker in the title cell (an HTML comment: invisible in every frontend)
BADGES_MARK = "<!-- hff-edu: open in -->"

CELL = '''# Set-up: installs hff-edu where it is missing (Colab, Kaggle, a JupyterHub), then says where this runs.
import importlib, importlib.util
if importlib.util.find_spec("hff_edu") is None:
    %pip install --quiet {spec}
    importlib.invalidate_caches()
if importlib.util.find_spec("hff_edu") is None:
    raise SystemExit("hff-edu is not installed and pip could not install it (no internet?). Ask your teacher "
                     "for the wheel file, upload it next to this notebook and run: %pip install hff_edu-*.whl")
from hff_edu import hosted
hosted.setup({dataset})'''

_SPEC_OK = re.compile(r"^[A-Za-z0-9_.\-\[\],<>=!~+:/@#%?&]+$")


def install_spec() -> str:
    """What the set-up cell pip-installs: ``$HFF_EDU_INSTALL``, else ``[tool.hff-edu] install``, else the
    configured repository itself (``git+<repository>@<ref>``: the course as the teacher has it, not
    whatever a package index holds under that name), else ``hff-edu``."""
    url, ref = repository()
    spec = (os.environ.get(INSTALL_ENV) or configured().get("install")
            or (f"git+{url}@{ref}" if url else DEFAULT_INSTALL)).strip()
    if not _SPEC_OK.match(spec):
        raise ValueError(f"{INSTALL_ENV} / [tool.hff-edu] install = {spec!r}: give one pip requirement without "
                         "spaces or quotes, e.g. hff-edu, git+https://github.com/you/hff-edu@main or a wheel's URL")
    return spec


def _dataset(nb) -> str | None:
    """The notebook's ``DATASET`` parameter (the data its set-up makes available), if it has one."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            m = re.search(r"^DATASET\s*=\s*[\"']([\w-]+)[\"']", cell.source, re.M)
            return m.group(1) if m else None
    return None


def cell_source(nb, spec: str) -> str:
    dataset = _dataset(nb)
    return CELL.format(spec=f'"{spec}"', dataset="None" if dataset is None else f'"{dataset}"')


def badges(name: str, url: str, ref: str) -> str:
    """Markdown badges opening notebook ``name`` (``00_local_learning.ipynb``) from the repository at
    ``url`` (GitHub) in Colab and Kaggle."""
    m = re.match(r"^https?://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?$", url)
    if not m:
        raise ValueError(f"repository {url!r}: Colab and Kaggle open notebooks from GitHub; give "
                         "https://github.com/<owner>/<name>")
    owner, repo = m.groups()
    path = f"{owner}/{repo}/blob/{quote(ref)}/notebooks/{quote(name)}"
    raw = f"https://raw.githubusercontent.com/{owner}/{repo}/{quote(ref)}/notebooks/{quote(name)}"
    return (f"{BADGES_MARK}[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}) "
            f"[![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]"
            f"(https://kaggle.com/kernels/welcome?src={quote(raw, safe='')})")


def _set_badges(title, line: str | None) -> None:
    lines = [ln for ln in title.source.split("\n") if not ln.startswith(BADGES_MARK)]
    if line is not None:  # right under the heading
        lines[1:1] = ["", line] if len(lines) > 1 and lines[1] == "" else ["", line, ""]
    text = "\n".join(lines)
    title.source = re.sub(r"\n{3,}", "\n\n", text)


def apply(nb, name: str, url: str | None = None, ref: str = "main", spec: str | None = None) -> None:
    """Give ``nb`` its set-up cell (first code cell, tagged ``hff-setup``) installing ``spec`` and, when a
    repository ``url`` is given, the badges under its title; without one, no badges. Idempotent."""
    import nbformat
    spec = install_spec() if spec is None else spec
    source = cell_source(nb, spec)
    setup = next((c for c in nb.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])), None)
    if setup is None:
        first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        setup = nbformat.v4.new_code_cell(source, metadata={"tags": [TAG]})
        nb.cells.insert(first_code, setup)
    setup.source = source
    title = next(c for c in nb.cells if c.cell_type == "markdown")
    _set_badges(title, badges(name, url, ref) if url else None)


def out_of_step(paths) -> list[str]:
    """The notebooks whose set-up cell or badges differ from the configuration (empty: all in step)."""
    import copy
    import nbformat
    url, ref = repository()
    spec = install_spec()
    stale = []
    for p in paths:
        nb = nbformat.read(str(p), as_version=4)
        fixed = copy.deepcopy(nb)
        apply(fixed, p.name, url, ref, spec)
        if [(c.cell_type, c.source) for c in fixed.cells] != [(c.cell_type, c.source) for c in nb.cells]:
            stale.append(p.name)
    return stale


def rewrite(paths) -> list[str]:
    """Bring every notebook in ``paths`` in step with the configuration; returns the names changed."""
    import nbformat
    url, ref = repository()
    spec = install_spec()
    changed = out_of_step(paths)
    for p in paths:
        if p.name in changed:
            nb = nbformat.read(str(p), as_version=4)
            apply(nb, p.name, url, ref, spec)
            nbformat.write(nb, str(p))
    return changed
