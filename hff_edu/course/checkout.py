"""Where the course's files are: a :class:`Checkout` of the project, found rather than assumed.

The course tooling (the notebook runner, the editions, the site) works on a checkout of hff-edu:
its ``notebooks/``, its ``build/`` folder, the npm packages in ``js/``. Nothing here hard-codes
where that checkout is: :func:`here` takes ``$HFF_EDU_ROOT`` if set, else the nearest folder at or
above the current directory that holds hff-edu's ``pyproject.toml`` and ``notebooks/``, else the
checkout this package was imported from (an editable install), and says how to point it at one
when there is none (an installed wheel: ``hff-edu course DEST`` writes a course folder instead).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "HFF_EDU_ROOT"


@dataclass(frozen=True)
class Checkout:
    """The folders of one checkout of hff-edu (``root``: the folder holding ``pyproject.toml``)."""

    root: Path

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def executed(self) -> Path:
        """Executed notebooks, one folder per profile (``build/notebooks/<profile>``)."""
        return self.build / "notebooks"

    @property
    def lab(self) -> Path:
        """JupyterLab's working copies (``make lab``): the sources stay clean."""
        return self.build / "lab"

    @property
    def js(self) -> Path:
        """The npm packages of the offline HTML and the site (``npm ci --prefix js``)."""
        return self.root / "js" / "node_modules"

    @property
    def book(self) -> Path:
        """The site's configuration (``_config.yml``, ``_toc.yml``, ``_ext/``)."""
        return self.root / "book"

    @staticmethod
    def is_checkout(folder: Path) -> bool:
        project = folder / "pyproject.toml"
        return (folder / "notebooks").is_dir() and project.is_file() and 'name = "hff-edu"' in project.read_text()


def find(start: Path | None = None) -> Checkout | None:
    """The checkout to work on (see the module docstring), or None when there is none."""
    env = os.environ.get(ROOT_ENV)
    if env:
        root = Path(env).expanduser().resolve()
        if not Checkout.is_checkout(root):
            raise ValueError(f"{ROOT_ENV}={env}: not a checkout of hff-edu (no pyproject.toml and notebooks/ there).")
        return Checkout(root)
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if Checkout.is_checkout(folder):
            return Checkout(folder)
    package_checkout = Path(__file__).resolve().parents[2]
    return Checkout(package_checkout) if Checkout.is_checkout(package_checkout) else None


@functools.lru_cache(maxsize=None)
def _here(cwd: str, env: str | None) -> Checkout:
    found = find(Path(cwd))
    if found is None:
        raise FileNotFoundError(
            "No checkout of hff-edu here: run this inside a clone of the project (or set "
            f"{ROOT_ENV} to one). With an installed wheel, `hff-edu course DEST` writes the course into a folder.")
    return found


def here() -> Checkout:
    """The checkout for this process (cached per working directory and ``$HFF_EDU_ROOT``)."""
    return _here(os.getcwd(), os.environ.get(ROOT_ENV))
