"""Links out of a course folder: a notebook's ``../docs/...`` or ``../benchmarks/...`` link works in
the checkout but not in the folder ``hff-edu course`` writes (it ships the notebooks and a README
only). The course writer turns each such link into a link to the same file in the course's
repository, configured once by the teacher, or, with none configured, into the file's name in
plain text: never a link that leads nowhere.

The repository: ``$HFF_EDU_REPOSITORY`` (e.g. ``https://github.com/you/hff-edu``), else
``[tool.hff-edu] repository`` in the checkout's ``pyproject.toml``; the branch or tag:
``$HFF_EDU_REPOSITORY_REF`` or ``[tool.hff-edu] ref``, default ``main``.
"""
from __future__ import annotations

import os
import re

from .checkout import find

REPOSITORY_ENV, REF_ENV = "HFF_EDU_REPOSITORY", "HFF_EDU_REPOSITORY_REF"

#: a markdown link to a file outside the notebooks' folder: [text](../path)
_OUTSIDE = re.compile(r"\[(?P<text>[^\]]+)\]\(\.\./(?P<path>[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")


def configured() -> dict:
    """The checkout's ``[tool.hff-edu]`` table of ``pyproject.toml`` (empty from a wheel or on Python 3.10)."""
    checkout = find()
    if checkout is None:
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        return {}
    project = tomllib.loads((checkout.root / "pyproject.toml").read_text(encoding="utf-8"))
    return project.get("tool", {}).get("hff-edu", {})


def repository() -> tuple[str | None, str]:
    """``(repository URL or None, ref)`` as configured (see the module docstring)."""
    conf = configured()
    url = os.environ.get(REPOSITORY_ENV) or conf.get("repository")
    if url and not re.match(r"^https?://", url):
        raise ValueError(f"{REPOSITORY_ENV} / [tool.hff-edu] repository = {url!r}: give the repository's web "
                         "address, e.g. https://github.com/you/hff-edu")
    return (url.rstrip("/") if url else None), os.environ.get(REF_ENV) or conf.get("ref", "main")


def rewrite_links(nb, url: str | None, ref: str = "main") -> int:
    """Point every markdown link that leaves the notebooks' folder at ``url`` (GitHub's ``blob/<ref>/``
    layout; a folder gets ``tree/<ref>/``), or turn it into plain text naming the file when ``url`` is
    None. Changes ``nb`` in place; returns how many links it rewrote."""
    count = 0

    def swap(m: re.Match) -> str:
        nonlocal count
        count += 1
        path, anchor = m.group("path"), m.group("anchor") or ""
        if url is None:
            return f"{m.group('text')} (`{path}` in the course's repository)"
        kind = "tree" if path.endswith("/") else "blob"
        return f"[{m.group('text')}]({url}/{kind}/{ref}/{path}{anchor})"

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _OUTSIDE.sub(swap, cell.source)
    return count
