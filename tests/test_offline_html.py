"""The notebook runner's offline HTML export and the JupyterLab working copies (no notebook is executed)."""
import os
import re
import time

import nbformat
import pytest

from hff_edu.course import runner as nr


def _executed_notebook(tmp_path, plotly=False):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Euler: $e^{i\\pi} + 1 = 0$"), nbformat.v4.new_code_cell("x")]
    data = {"text/plain": "<figure>", "image/png": "iVBORw0KGgo="}
    if plotly:
        data = {"application/vnd.plotly.v1+json": {"data": [], "layout": {}}, "text/html": "<div></div>"}
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data=data)]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0,
                                                                           "state": {}}}
    path = tmp_path / "00_x.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.mark.skipif(not all((nr.js_dir() / rel).is_file() for rel, _ in nr.JS_ASSETS.values()),
                    reason="the offline HTML's npm packages are not installed (make setup runs npm ci --prefix js)")
@pytest.mark.parametrize("plotly", [False, True])
def test_offline_html_loads_nothing_from_the_internet(tmp_path, plotly):
    html = nr.to_html(_executed_notebook(tmp_path, plotly)).read_text()
    srcs = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert srcs, "the page loads its scripts from _static/"
    assert not [s for s in srcs if "//" in s], f"scripts from elsewhere: {srcs}"
    for s in srcs:
        assert (tmp_path / s).is_file(), f"{s} is referenced but was not copied"
    names = {os.path.basename(s) for s in srcs}
    assert {"mathjax.js", "widgets.js"} <= names
    assert ("plotly.min.js" in names) == plotly, "plotly.js only where a plotly figure is shown"
    assert "require.js" not in html and "cdn" not in " ".join(srcs)
    assert "application/vnd.jupyter.widget-state+json" in html


def test_missing_npm_packages_give_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(nr, "js_dir", lambda: tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="make setup"):
        nr.to_html(_executed_notebook(tmp_path))


def test_lab_copies_are_made_once_and_never_overwritten(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    a = src / "00_a.ipynb"
    a.write_text("{}")
    lab = tmp_path / "lab"
    assert [line.split()[0] for line in nr.lab_copies([a], lab)] == ["new"]
    (lab / "00_a.ipynb").write_text('{"user": "work"}')
    assert nr.lab_copies([a], lab) == []
    future = time.time() + 10
    os.utime(a, (future, future))  # the source changed after the copy was made
    (line,) = nr.lab_copies([a], lab)
    assert "kept" in line and "lab-reset" in line
    assert (lab / "00_a.ipynb").read_text() == '{"user": "work"}', "the user's copy is never overwritten"
