"""hff_edu: Forward-Forward and Hyperspherical Forward-Forward, side by side.

    from hff_edu import data, ff, hff, baselines, train, geometry

See README.md and the notebooks in ``notebooks/``.
"""
from . import baselines, data, ff, geometry, hff, train  # noqa: F401
from .version import __version__

__all__ = ["data", "ff", "hff", "baselines", "train", "geometry", "__version__"]
