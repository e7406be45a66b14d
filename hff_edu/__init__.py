"""hff_edu: Forward-Forward and Hyperspherical Forward-Forward, side by side.

    from hff_edu import data, ff, hff, baselines, train, geometry

See README.md and the notebooks in ``notebooks/``.
"""
__version__ = "0.1.0"

from . import baselines, data, ff, geometry, hff, train  # noqa: E402,F401

__all__ = ["data", "ff", "hff", "baselines", "train", "geometry", "__version__"]
