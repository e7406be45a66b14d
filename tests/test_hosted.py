"""The first cell of every notebook (course/first_cell.py) and what it calls (teaching/hosted.py): it
installs the package where it is missing, finds its frontend, its data or says how to provide it,
and never raises; the light runtime (pip install hff-edu, no extras) runs the notebooks' imports."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import nbformat
import pytest

from hff_edu.course import first_cell
from hff_edu.teaching import hosted, widgets

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


@pytest.mark.parametrize("env, name", [
    ({"COLAB_RELEASE_TAG": "release-colab_20261201"}, "Colab"),
    ({"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, "Kaggle"),
    ({"VSCODE_PID": "4242"}, "VS Code"),
    ({"JUPYTERHUB_USER": "ada"}, "JupyterHub"),
    ({"HOME": "/home/ada"}, "Jupyter"),
])
def test_the_frontend_is_recognised_from_the_kernels_environment(env, name, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert hosted.frontend(env) == name


def _no_fashion_mnist(tmp_path, monkeypatch, download_error):
    from hff_edu.core import sources
    monkeypatch.setenv("HFF_EDU_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(sources, "DEBIAN_FASHION_DIR", tmp_path / "no-debian-package")
    calls = []

    def download(root):
        calls.append(root)
        raise download_error

    monkeypatch.setattr(sources, "download_fashion_mnist", download)
    return calls


def test_missing_data_without_internet_says_what_to_do_and_raises_nothing(tmp_path, monkeypatch, capsys):
    calls = _no_fashion_mnist(tmp_path, monkeypatch, OSError("[Errno -3] Temporary failure in name resolution"))
    hosted.setup("fashion-mnist")
    out = capsys.readouterr().out
    assert calls == [tmp_path / "data"], "a missing dataset is fetched where it can be"
    first, *rest = out.splitlines()
    assert "data: Fashion-MNIST MISSING" in first
    assert "could not be downloaded" in out and "name resolution" in out
    assert str(tmp_path / "data" / "FashionMNIST" / "raw") in out, "says where to put the files"
    assert 'DATASET = "digits"' in out, "offers the dataset that needs no download"
    assert "Traceback" not in out


def test_no_fetch_means_no_download(tmp_path, monkeypatch):
    calls = _no_fashion_mnist(tmp_path, monkeypatch, AssertionError("must not download"))
    found = hosted.inspect("fashion-mnist", fetch=False)
    assert calls == [] and found.data == "Fashion-MNIST MISSING" and found.notes


def test_data_found_on_disk_is_named_and_nothing_is_downloaded(tmp_path, monkeypatch):
    from hff_edu.core import sources
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for names in sources._IDX_FILES.values():
        for name in names:
            (raw / name).write_bytes(b"")
    calls = _no_fashion_mnist(tmp_path, monkeypatch, AssertionError("must not download"))
    found = hosted.inspect("fashion-mnist")
    assert calls == [] and found.data == f"Fashion-MNIST in {raw}" and not found.notes


def test_the_summary_line_names_version_torch_device_data_and_cache(monkeypatch, tmp_path, capsys):
    import torch
    from hff_edu import __version__
    monkeypatch.setenv("HFF_EDU_DATA", str(tmp_path))
    hosted.setup("digits")
    (line,) = capsys.readouterr().out.splitlines()
    assert f"hff-edu {__version__}" in line and f"torch {torch.__version__.split('+')[0]}" in line
    assert "digits" in line and f"cache: {tmp_path / 'models'}" in line
    assert re.search(r"\((CPU, \d+ threads?|CUDA: .+|Apple GPU \(MPS\))\)", line), line


def test_on_colab_the_widget_manager_is_enabled_and_plotly_brings_its_own_js(monkeypatch, capsys):
    enabled = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: enabled.append(True))
    colab = types.ModuleType("google.colab")
    colab.output = output
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20261201")
    monkeypatch.setattr(widgets, "PLOTLY_JS", None)
    import plotly.graph_objects as go
    import plotly.io as pio
    monkeypatch.setattr(pio.renderers, "default", pio.renderers.default)
    hosted.setup("digits")
    assert "on Colab" in capsys.readouterr().out
    assert enabled == [True]
    html = widgets.plotly_bundle(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])))["text/html"]
    assert "cdn.plot.ly" in html, "Colab renders HTML only: the figure must load plotly.js itself"
    assert pio.renderers.default == "colab"


def test_locally_plotly_figures_leave_plotly_js_to_the_page(monkeypatch):
    import plotly.graph_objects as go
    for var in ("COLAB_RELEASE_TAG", "KAGGLE_KERNEL_RUN_TYPE", "KAGGLE_URL_BASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(widgets, "PLOTLY_JS", "cdn")
    hosted.inspect(None)
    bundle = widgets.plotly_bundle(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])))
    assert "cdn.plot.ly" not in bundle["text/html"] and "application/vnd.plotly.v1+json" in bundle


# ---- the set-up cell

def _setup_cell(nb):
    cells = [c for c in nb.cells if c.cell_type == "code" and first_cell.TAG in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one set-up cell"
    return cells[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_opens_with_the_set_up_cell(path):
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0] is _setup_cell(nb), "the set-up cell is the first code cell: it runs before any import"
    assert "hosted.setup(" in code[0].source


def test_the_notebooks_are_in_step_with_the_configuration():
    stale = first_cell.out_of_step(NOTEBOOKS)
    assert not stale, f"{stale}: run python -m hff_edu.course first-cell"


def _run_cell(source: str, found: bool) -> list[tuple[str, str]]:
    """Run the set-up cell as IPython would (its %pip transformed), with hff_edu importable or not;
    returns the line magics it called."""
    from IPython.core.inputtransformer2 import TransformerManager
    python = TransformerManager().transform_cell(source)
    magics = []
    spec_state = {"found": found}

    def run_line_magic(name, line):
        magics.append((name, line))
        spec_state["found"] = True  # the install worked

    fake_util = types.SimpleNamespace(find_spec=lambda name: object() if spec_state["found"] else None)
    fake_importlib = types.SimpleNamespace(util=fake_util, invalidate_caches=lambda: None)
    ns = {"get_ipython": lambda: types.SimpleNamespace(run_line_magic=run_line_magic)}
    # the cell's own `import importlib, importlib.util` is replaced by the fakes; the rest runs as written
    python = python.replace("import importlib, importlib.util\n", "")
    ns.update(importlib=fake_importlib)
    python = python.replace("from hff_edu import hosted\n", "").replace("hosted.setup(", "_setup(")
    ns["_setup"] = lambda *a, **k: magics.append(("setup", repr(a)))
    exec(compile(python, "<set-up cell>", "exec"), ns)
    return magics


def test_the_set_up_cell_installs_the_configured_requirement_only_where_hff_edu_is_missing():
    nb = nbformat.read(str(NOTEBOOKS[0]), as_version=4)
    source = first_cell.cell_source(nb, "git+https://github.com/you/hff-edu@v1")
    assert _run_cell(source, found=True) == [("setup", "('fashion-mnist',)")]
    called = _run_cell(source, found=False)
    assert called[0][0] == "pip" and called[0][1].split() == ["install", "--quiet", '"git+https://github.com/you/hff-edu@v1"']
    assert called[1] == ("setup", "('fashion-mnist',)")


def test_a_failed_install_stops_with_a_message_not_a_traceback():
    from IPython.core.inputtransformer2 import TransformerManager
    nb = nbformat.read(str(NOTEBOOKS[0]), as_version=4)
    python = TransformerManager().transform_cell(first_cell.cell_source(nb, "hff-edu"))
    python = python.replace("import importlib, importlib.util\n", "")
    ns = {"get_ipython": lambda: types.SimpleNamespace(run_line_magic=lambda *a: None),
          "importlib": types.SimpleNamespace(util=types.SimpleNamespace(find_spec=lambda n: None),
                                             invalidate_caches=lambda: None)}
    with pytest.raises(SystemExit, match="wheel file"):  # IPython shows SystemExit as one line, no traceback
        exec(compile(python, "<set-up cell>", "exec"), ns)


def test_badges_open_the_notebook_from_the_configured_repository():
    line = first_cell.badges("00_local_learning.ipynb", "https://github.com/ada/hff-edu", "v2")
    assert "https://colab.research.google.com/github/ada/hff-edu/blob/v2/notebooks/00_local_learning.ipynb" in line
    assert ("https://kaggle.com/kernels/welcome?src=https%3A%2F%2Fraw.githubusercontent.com%2Fada%2Fhff-edu"
            "%2Fv2%2Fnotebooks%2F00_local_learning.ipynb") in line
    with pytest.raises(ValueError, match="github.com/<owner>/<name>"):
        first_cell.badges("00.ipynb", "https://gitlab.com/ada/hff-edu", "main")


def test_apply_adds_badges_under_the_title_idempotently_and_removes_them():
    nb = nbformat.read(str(NOTEBOOKS[0]), as_version=4)
    first_cell.apply(nb, "00_local_learning.ipynb", "https://github.com/ada/hff-edu", "main", "hff-edu")
    title = nb.cells[0].source
    assert title.splitlines()[0].startswith("# 00") and title.splitlines()[2].startswith(first_cell.BADGES_MARK)
    once = [c.source for c in nb.cells]
    first_cell.apply(nb, "00_local_learning.ipynb", "https://github.com/ada/hff-edu", "main", "hff-edu")
    assert [c.source for c in nb.cells] == once
    first_cell.apply(nb, "00_local_learning.ipynb", None, "main", "hff-edu")
    assert first_cell.BADGES_MARK not in nb.cells[0].source
    assert nb.cells[0].source == nbformat.read(str(NOTEBOOKS[0]), as_version=4).cells[0].source


@pytest.mark.parametrize("spec", ["hff-edu; rm -rf ~", 'hff-edu" && echo', "two words"])
def test_an_install_requirement_that_is_not_one_requirement_is_refused(spec, monkeypatch):
    monkeypatch.setenv(first_cell.INSTALL_ENV, spec)
    with pytest.raises(ValueError, match="one pip requirement"):
        first_cell.install_spec()


# ---- the light runtime

LIGHT_BLOCKED = ("jupyterlab", "notebook", "papermill", "nbconvert", "nbformat", "nbclient", "jupyter_server",
                 "yaml", "optuna", "selenium", "pytest", "jupyter_book")


def _notebook_imports() -> list[str]:
    """Every ``import hff_edu...`` / ``from hff_edu... import ...`` statement of the notebooks."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager
    found = set()
    for path in NOTEBOOKS:
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(TransformerManager().transform_cell(cell.source))):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                    [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if any(n.split(".")[0] == "hff_edu" for n in names):
                    found.add(ast.unparse(node))
    return sorted(found)


def test_the_light_runtime_runs_every_notebook_import_and_the_set_up(tmp_path):
    """What `pip install hff-edu` (no extras) brings is enough for the notebooks: their hff_edu imports
    and the set-up call work with the extras' packages made unimportable."""
    imports = _notebook_imports()
    assert len(imports) >= 10
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        BLOCKED = {LIGHT_BLOCKED!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (an extra: not in the light runtime)")
        sys.meta_path.insert(0, Block())
        for line in {imports!r}:
            exec(line, {{}})
        from hff_edu import hosted
        hosted.setup("digits")
        from hff_edu import data, train
        from hff_edu.methods import build
        ds = data.load("digits", subset=200, test_subset=100)
        train.fit(build("hff", ds, widths=[16]), ds, epochs=1)
        print("light ok")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0 and "light ok" in r.stdout, r.stderr[-3000:]


def test_pyproject_keeps_the_runtime_light():
    import tomllib
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0].lower() for r in meta["dependencies"]}
    assert runtime == {"torch", "torchvision", "numpy", "scikit-learn", "matplotlib", "tqdm", "ipywidgets",
                       "umap-learn", "plotly", "platformdirs"}
    extras = meta["optional-dependencies"]
    assert {"jupyterlab", "notebook", "ipykernel"} <= {re.split(r"[<>=]", r)[0] for r in extras["lab"]}
    assert {"papermill", "nbconvert", "nbformat"} <= {re.split(r"[<>=]", r)[0] for r in extras["course"]}
    assert "hff-edu[lab,course]" in extras["dev"]


def test_writing_the_course_without_jupyter_names_the_extra(tmp_path, monkeypatch, capsys):
    import argparse

    from hff_edu.course import folder
    monkeypatch.setattr(folder, "_missing", lambda module: module == "nbformat")
    a = argparse.Namespace(dest=tmp_path / "course", student=True, force=False, no_kernel=False)
    assert folder.cmd_course(a) == 2
    assert "pip install 'hff-edu[lab]'" in capsys.readouterr().err
    assert not (tmp_path / "course").exists()


def test_writing_the_course_without_ipykernel_skips_the_kernel(tmp_path, monkeypatch, capsys):
    import argparse

    from hff_edu.course import folder
    monkeypatch.setattr(folder, "_missing", lambda module: module == "ipykernel")
    monkeypatch.setattr(folder, "install_kernel", lambda: pytest.fail("no kernel without ipykernel"))
    a = argparse.Namespace(dest=tmp_path / "course", student=False, force=False, no_kernel=False)
    assert folder.cmd_course(a) == 0
    assert "not registered" in capsys.readouterr().out
    assert len(list((tmp_path / "course").glob("*.ipynb"))) == len(NOTEBOOKS)


def test_a_configured_repository_is_what_the_first_cell_installs(monkeypatch):
    monkeypatch.delenv(first_cell.INSTALL_ENV, raising=False)
    monkeypatch.setenv("HFF_EDU_REPOSITORY", "https://github.com/ada/hff-edu")
    monkeypatch.setenv("HFF_EDU_REPOSITORY_REF", "spring-2027")
    assert first_cell.install_spec() == "git+https://github.com/ada/hff-edu@spring-2027"
    monkeypatch.setenv(first_cell.INSTALL_ENV, "https://example.org/hff_edu-0.1.0-py3-none-any.whl")
    assert first_cell.install_spec() == "https://example.org/hff_edu-0.1.0-py3-none-any.whl"
