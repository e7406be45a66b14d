"""hff_edu: Forward-Forward and Hyperspherical Forward-Forward, side by side.

    from hff_edu import data, ff, hff, baselines, train, geometry

The package's folders are its layers, lowest first; a module imports only from its own layer or
below (``docs/architecture.md``, checked by ``tests/test_structure.py``):

    core/       protocol, geometry, data, blocks, augment, stats, palette    the vocabulary
    methods/    one learning rule per file (ff, hff, baselines, ...) and
                the registry that collects their declarations                 what is learned, and how
    training/   trainer (fit), checkpoint, compile, callbacks, transfer, parallel/
    measuring/  clocks, inference, flops, training cost, memory, load       what it costs
    viz/        the figures
    teaching/   claims, exercises, widgets, profiles                         what a notebook checks and shows
    course/     editions, runner, site, warm cache (one command line)       tooling around the notebooks
    cli         the entry point

The modules a notebook uses are attributes of the package, loaded on first use:
``from hff_edu import ff, claims, checkpoint`` (see :data:`PUBLIC`). See README.md and ``notebooks/``.
"""
from __future__ import annotations

import importlib

from .version import __version__

#: short name -> module: what ``from hff_edu import <name>`` gives
PUBLIC = {
    "protocol": "core.protocol", "geometry": "core.geometry", "data": "core.data", "blocks": "core.blocks",
    "augment": "core.augment", "stats": "core.stats",
    "methods": "methods", "ff": "methods.ff", "hff": "methods.hff", "baselines": "methods.baselines",
    "train": "training.trainer", "checkpoint": "training.checkpoint", "compile": "training.compile",
    "callbacks": "training.callbacks", "transfer": "training.transfer", "parallel": "training.parallel",
    "timing": "measuring", "memory": "measuring.memory", "load": "measuring.load",
    "viz": "viz",
    "claims": "teaching.claims", "exercises": "teaching.exercises", "widgets": "teaching.widgets",
    "profiles": "teaching.profiles", "hosted": "teaching.hosted",
}


def __getattr__(name: str):
    if name in PUBLIC:
        module = importlib.import_module(f"{__name__}.{PUBLIC[name]}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'hff_edu' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(PUBLIC))


__all__ = ["__version__", *PUBLIC]
