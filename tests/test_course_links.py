"""The course folder has no ../docs or ../benchmarks beside it: its links point at the configured
repository, or name the file in plain text, never nowhere."""
import nbformat
import pytest

from hff_edu.course import folder, links

URL = "https://github.com/example/hff-edu"


def _nb(text):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text),
                                           nbformat.v4.new_code_cell("x = '[a](../docs/a.md)'")])


def test_links_point_at_the_repository():
    nb = _nb("See [the methods](../docs/methods.md#hff), [results](../benchmarks/results/) and "
             "[notebook 2](02_prototype_geometry.ipynb).")
    assert links.rewrite_links(nb, URL, "v1") == 2
    text = nb.cells[0].source
    assert f"[the methods]({URL}/blob/v1/docs/methods.md#hff)" in text
    assert f"[results]({URL}/tree/v1/benchmarks/results/)" in text
    assert "[notebook 2](02_prototype_geometry.ipynb)" in text, "links inside the folder stay"
    assert nb.cells[1].source == "x = '[a](../docs/a.md)'", "code is not touched"


def test_without_a_repository_the_file_is_named_in_plain_text():
    nb = _nb("See [the methods](../docs/methods.md).")
    links.rewrite_links(nb, None)
    assert nb.cells[0].source == "See the methods (`docs/methods.md` in the course's repository)."


def test_the_repository_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(links.REPOSITORY_ENV, URL + "/")
    monkeypatch.setenv(links.REF_ENV, "2026-autumn")
    assert links.repository() == (URL, "2026-autumn")
    monkeypatch.setenv(links.REPOSITORY_ENV, "github.com/example")
    with pytest.raises(ValueError, match="web address"):
        links.repository()


@pytest.mark.parametrize("student", [True, False])
def test_a_written_course_has_no_link_that_leaves_it(tmp_path, monkeypatch, student):
    monkeypatch.setenv(links.REPOSITORY_ENV, URL)
    written = folder.write_course(tmp_path, student=student, kernel=False)
    assert written
    leaving = [(p.name, cell.source[:60]) for p in written for cell in nbformat.read(str(p), 4).cells
               if cell.cell_type == "markdown" and "](../" in cell.source]
    assert not leaving, f"links out of the course folder: {leaving}"
    sources = " ".join(c.source for p in written for c in nbformat.read(str(p), 4).cells)
    assert f"{URL}/blob/main/docs/" in sources
