"""The first cell of every notebook: ``hosted.setup()`` makes the notebook work where it was opened
(a checkout, a folder written by ``hff-edu course``, Colab, Kaggle, a JupyterHub, VS Code) and says in
one line where that is.

The cell above the call installs hff-edu where it is missing (a hosted kernel has only what its image
ships); ``setup`` then

- turns on the frontend's widget support where it needs a switch (Colab's custom widget manager,
  without which ipywidgets 8 shows nothing there);
- picks how plotly figures reach the page: JupyterLab, Notebook 7 and VS Code render plotly's own
  mimetype; Colab and Kaggle render HTML only, so each figure's HTML loads plotly.js from its CDN;
- makes Fashion-MNIST available (found on disk, else downloaded once) or says exactly how to provide it;
- prints one line: where it runs, the versions, the device, the data and the cache folder.

Nothing here raises: a notebook that cannot get its data says what to do, never a traceback.
"""
from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: how each hosted frontend is recognised from inside its kernel (environment variables it sets)
_FRONTENDS = (
    ("Colab", lambda env: "COLAB_RELEASE_TAG" in env or "google.colab" in sys.modules),
    ("Kaggle", lambda env: "KAGGLE_KERNEL_RUN_TYPE" in env or "KAGGLE_URL_BASE" in env),
    ("VS Code", lambda env: "VSCODE_PID" in env or env.get("VSCODE_CWD") is not None),
    ("JupyterHub", lambda env: "JUPYTERHUB_USER" in env or "JUPYTERHUB_API_URL" in env),
)
#: frontends that render HTML outputs but not plotly's mimetype: each figure brings plotly.js itself
_PLOTLY_FROM_CDN = ("Colab", "Kaggle")


@dataclass
class Setup:
    """What :func:`setup` found and did (also printed as one line)."""
    frontend: str
    versions: dict
    device: str
    cache: Path
    data: str
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        v = self.versions
        return (f"hff-edu {v['hff_edu']} on {self.frontend} · Python {v['python']} · torch {v['torch']} "
                f"({self.device}) · data: {self.data} · cache: {self.cache}")


def frontend(env=None) -> str:
    """``"Colab"``, ``"Kaggle"``, ``"VS Code"``, ``"JupyterHub"`` or ``"Jupyter"`` (a local JupyterLab or
    Notebook 7, or papermill), from what the kernel's environment shows."""
    env = os.environ if env is None else env
    return next((name for name, seen in _FRONTENDS if seen(env)), "Jupyter")


def _enable_widgets(where: str) -> str | None:
    if where != "Colab":
        return None
    try:
        from google.colab import output  # type: ignore[import-not-found]
        output.enable_custom_widget_manager()
        return None
    except Exception as e:  # noqa: BLE001: an old Colab image; the figures still work, widgets may not
        return f"could not turn on Colab's widget manager ({e}): sliders may not show; restart the runtime"


def _plotly_renderer(where: str) -> None:
    from . import widgets
    widgets.PLOTLY_JS = "cdn" if where in _PLOTLY_FROM_CDN else None
    try:
        import plotly.io as pio
        if where == "Colab":
            pio.renderers.default = "colab"
        elif where == "Kaggle":
            pio.renderers.default = "kaggle"
    except Exception:  # noqa: BLE001: plotly missing is reported by the notebook's own imports
        pass


def _data(dataset: str | None, fetch: bool) -> tuple[str, list[str]]:
    """Where the notebook's dataset comes from, fetched if it can be; notes on what to do if not."""
    from ..core import sources
    from ..core.data import data_root
    if dataset is None:
        return "none needed", []
    if dataset == "digits":
        return "digits (bundled with scikit-learn)", []
    if dataset != "fashion-mnist":
        return f"{dataset} (torchvision downloads it on first use; it needs the internet once)", []
    root = data_root()
    folder = sources.fashion_mnist_folder(root)
    if folder is None and fetch:
        try:
            sources.download_fashion_mnist(root)
            folder = sources.fashion_mnist_folder(root)
        except Exception as e:  # noqa: BLE001: no internet, a proxy...: say what to do instead
            return "Fashion-MNIST MISSING", [
                f"Fashion-MNIST could not be downloaded ({type(e).__name__}: {e}).",
                sources.fashion_mnist_missing(root),
                "Until then, set DATASET = \"digits\" in the parameters cell: it needs no download."]
    if folder is None:
        return "Fashion-MNIST MISSING", [sources.fashion_mnist_missing(root)]
    return f"Fashion-MNIST in {folder}", []


def _versions() -> dict:
    import torch
    from ..version import __version__
    return dict(hff_edu=__version__, python=platform.python_version(), torch=torch.__version__.split("+")[0])


def _device() -> str:
    import torch
    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "Apple GPU (MPS)"
    n = torch.get_num_threads()
    return f"CPU, {n} thread{'s' if n > 1 else ''}"


def inspect(dataset: str | None = "fashion-mnist", fetch: bool = True) -> Setup:
    """Do what :func:`setup` does and return the findings without printing them."""
    from ..training.checkpoint import default_cache_dir
    where = frontend()
    notes = [n for n in (_enable_widgets(where),) if n]
    _plotly_renderer(where)
    data, data_notes = _data(dataset, fetch)
    return Setup(frontend=where, versions=_versions(), device=_device(), cache=default_cache_dir(),
                 data=data, notes=notes + data_notes)


def setup(dataset: str | None = "fashion-mnist", fetch: bool = True) -> None:
    """Make this notebook work where it runs, and print one line saying where that is (see the module
    docstring), then what to do about anything missing.

    ``dataset``: the one the notebook reads (``"digits"``: bundled; ``None``: the notebook reads none);
    ``fetch``: download it when it is missing.
    """
    found = inspect(dataset, fetch)
    print(found.line())
    for note in found.notes:
        print("  " + note.replace("\n", "\n  "))
