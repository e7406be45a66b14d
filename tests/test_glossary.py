"""docs/glossary.md: every term defined once, in order, each linking to a notebook section that exists.

A link is ``../notebooks/NN_name.ipynb#Anchor`` with Jupyter's anchor convention: the heading's text with
spaces replaced by ``-`` (percent-encoding allowed, e.g. ``%22`` for a quote). Renaming a notebook or one of
its linked sections makes this test fail, naming the glossary entry to update.
"""
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

import nbformat

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = ROOT / "docs" / "glossary.md"

ENTRY = re.compile(r"^- \*\*(?P<term>.+?)\*\*")
LINK = re.compile(r"\]\((?P<target>[^)\s]*\.ipynb(?:#[^)\s]*)?)\)")
# Jupyter builds the anchor from the *rendered* heading text: a heading with math or code renders
# differently from its source, so the glossary links only to plain-text headings.
FORMATTING = re.compile(r"[`$*_\\]")

# The vocabulary every notebook reader meets; the glossary must define each of these.
REQUIRED = {
    "goodness", "threshold", "positive and negative data", "neutral label", "one-pass softmax mode",
    "prototype", "temperature", "margin", "logsumexp matching", "implicit negatives",
    "hypersphere (unit sphere)", "cosine similarity", "simplex etf", "tammes problem", "auxconv",
    "local loss", "detach (gradient isolation)", "layer-local vs block-local",
    "greedy vs simultaneous schedule", "alignment and uniformity", "backward locking",
    "smooth-margin loss", "goodness mode", "rms normalisation", "forward-forward (ff)",
    "hyperspherical forward-forward (hff)",
}


def entries(text: str) -> list[tuple[str, str]]:
    """``(term, full entry text)`` for every ``- **term** ...`` item, continuation lines included."""
    out = []
    for line in text.splitlines():
        m = ENTRY.match(line)
        if m:
            out.append([m.group("term"), line])
        elif out and line.startswith("  "):
            out[-1][1] += "\n" + line
    return [tuple(e) for e in out]


@lru_cache(maxsize=None)
def anchors(path: Path) -> dict[str, str]:
    """Jupyter anchors of a notebook's markdown headings (outside fenced code) -> heading text."""
    found = {}
    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        fenced = False
        for line in cell.source.splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m and not fenced:
                found[m.group(1).replace(" ", "-")] = m.group(1)
    return found


def link_problems(text: str, base: Path) -> list[str]:
    """What is wrong with the notebook links of ``text`` (resolved against ``base``); empty when all work."""
    problems = []
    for m in LINK.finditer(text):
        target = m.group("target")
        file, _, anchor = target.partition("#")
        path = (base / file).resolve()
        if not path.is_file():
            problems.append(f"{target}: no notebook {file}")
            continue
        if not anchor:
            problems.append(f"{target}: link to a section (#Heading-text), not the whole notebook")
            continue
        heads = anchors(path)
        heading = heads.get(unquote(anchor))
        if heading is None:
            near = [a for a in heads if a.split("-")[0] == unquote(anchor).split("-")[0]]
            problems.append(f"{target}: {path.name} has no heading with anchor {unquote(anchor)!r}"
                            + (f" (did it become {near[0]!r}?)" if near else ""))
        elif FORMATTING.search(heading):
            problems.append(f"{target}: heading {heading!r} has markdown formatting; link a plain heading")
    return problems


def test_every_term_is_defined_once_in_alphabetical_order():
    terms = [t for t, _ in entries(GLOSSARY.read_text())]
    assert len(terms) >= 30, f"only {len(terms)} glossary entries were found: is the '- **term** ...' format intact?"
    lower = [t.lower() for t in terms]
    twice = sorted({t for t in lower if lower.count(t) > 1})
    assert not twice, f"defined more than once: {twice}"
    assert lower == sorted(lower), "keep the glossary in alphabetical order (case-insensitive)"
    missing = REQUIRED - set(lower)
    assert not missing, f"terms the notebooks use but the glossary does not define: {sorted(missing)}"


def test_every_entry_has_a_definition_and_a_link():
    for term, entry in entries(GLOSSARY.read_text()):
        body = entry.split("**", 2)[2]
        assert " — " in body and len(body.split(" — ", 1)[1].split("([")[0].strip()) > 20, \
            f"{term!r}: write 'term — definition' with a sentence of definition"
        assert LINK.search(entry), f"{term!r}: link the notebook section that teaches it"


def test_every_link_points_to_an_existing_notebook_section():
    problems = []
    for term, entry in entries(GLOSSARY.read_text()):
        problems += [f"{term}: {p}" for p in link_problems(entry, GLOSSARY.parent)]
    assert not problems, "broken glossary links:\n  " + "\n  ".join(problems)


def test_the_link_check_catches_a_renamed_section_and_a_missing_notebook(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "## 1. The unit sphere\n```bash\n# not a heading\n```\n### With $math$")])
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, str(tmp_path / "notebooks" / "02_x.ipynb"))
    anchors.cache_clear()
    base = tmp_path / "docs"
    assert link_problems("([02](../notebooks/02_x.ipynb#1.-The-unit-sphere))", base) == []
    renamed = link_problems("([02](../notebooks/02_x.ipynb#1.-The-sphere))", base)
    assert len(renamed) == 1 and "no heading" in renamed[0] and "1.-The-unit-sphere" in renamed[0]
    assert "no notebook" in link_problems("([x](../notebooks/09_gone.ipynb#A))", base)[0]
    assert "section" in link_problems("([x](../notebooks/02_x.ipynb))", base)[0]
    assert "formatting" in link_problems("([x](../notebooks/02_x.ipynb#With-$math$))", base)[0]
    assert "no heading" in link_problems("([x](../notebooks/02_x.ipynb#not-a-heading))", base)[0]



def _entry(term: str) -> str:
    found = {t.lower(): e for t, e in entries(GLOSSARY.read_text())}
    return " ".join(found[term.lower()].split())


def test_entries_state_the_package_defaults():
    """The glossary says what the code does: its defaults are read from the package, so changing a default
    without the glossary fails here (the review found three entries describing old defaults)."""
    import inspect

    from hff_edu.methods import ff, hff, symba

    ff_defaults = inspect.signature(ff.FFNet).parameters
    assert f"{ff.THETA_PER_UNIT:g}\\,d" in _entry("threshold")
    assert ff_defaults["negatives"].default == "hard"
    assert "hard negative" in _entry("positive and negative data")
    assert "the default `\"hard\"`" in _entry("wrong labels")
    assert ff_defaults["sum_skip_first"].default is False
    assert "every layer" in _entry("goodness mode")
    assert f"\\alpha = {symba.MLP_ALPHA:g}" in _entry("SymBa loss")
    assert f"\\alpha = {symba.ALPHA:g}" in _entry("SymBa loss")
    tau = _entry("temperature")
    assert f"{hff.default_tau(10):g} for $C \\le 10$" in tau and f"{hff.default_tau(11):g} above" in tau
    assert f"{ff.default_label_scale(784, 10):.0f} for Fashion-MNIST" in _entry("label value")
