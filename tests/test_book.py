"""The course website's links: every Jupyter-style section link in the docs and the README becomes
a MyST anchor that names a real heading of its notebook (what ``make book`` would otherwise
report as a broken link only after executing every notebook)."""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("myst_parser", reason="the site's builder (dev extra: jupyter-book) is not installed")


from hff_edu.course import site as build  # noqa: E402 (after the importorskip)


def test_jupyter_anchors_become_myst_slugs():
    assert build.slug("5.-Memory-against-depth") == "5-memory-against-depth"
    assert build.slug("2.-What-%22local%22-means") == build.slug('2. What "local" means') == "2-what-local-means"
    assert build.site_links("[x](../notebooks/00_a.ipynb#2.-What-%22local%22-means)") == \
        "[x](../notebooks/00_a.ipynb#2-what-local-means)"


def _heading_slugs(notebook: Path) -> set:
    nb = nbformat.read(str(notebook), as_version=4)
    return {build.slug(line.lstrip("#").strip()) for c in nb.cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if re.match(r"#{1,6} ", line)}


def test_every_section_link_of_the_site_resolves():
    pages = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    broken = []
    for page in pages:
        for link in build.JUPYTER_ANCHOR.finditer(page.read_text(encoding="utf-8")):
            target = ROOT / "notebooks" / Path(link.group(1).split("(")[-1]).name
            if not target.is_file():
                broken.append(f"{page.name}: {link.group(0)} (no such notebook)")
            elif build.slug(link.group(2)) not in _heading_slugs(target):
                broken.append(f"{page.name}: {link.group(0)} -> #{build.slug(link.group(2))}")
    assert not broken, "section links the site cannot resolve:\n" + "\n".join(broken)
