"""The model kinds by name, and ``build`` to make one for a dataset.

The CLI, checkpoints, the training cache and the benchmarks all go through
this one registry, so a model kind is added in one place.
"""
from __future__ import annotations

from . import baselines, ff, hff
from .data import DataBundle
from .protocol import LocalModel

#: method name -> model class (MLP)
METHODS = {
    "ff": ff.FFNet,
    "hff": hff.HFFNet,
    "bp": baselines.BPNet,
    "local-ce": baselines.LocalCENet,
}

#: class name -> class, for rebuilding a checkpoint
CLASSES = {cls.__name__: cls for cls in METHODS.values()}

#: learning rates that work for each method with Adam on the bundled datasets
DEFAULT_LR = {"ff": 1e-3, "hff": 1e-3, "bp": 1e-3, "local-ce": 1e-3}


def register(name: str, cls: type) -> None:
    """Add a model kind (used by the conv models and by users' own)."""
    METHODS[name] = cls
    CLASSES[cls.__name__] = cls


def method_of(model: LocalModel) -> str:
    for name, cls in METHODS.items():
        if type(model) is cls:
            return name
    return type(model).__name__


def build(method: str, ds: DataBundle, widths, **kwargs) -> LocalModel:
    """A model of kind ``method`` sized for ``ds`` (input size and number of classes).

    ``widths`` are the hidden widths of an MLP, or the block channels of a conv
    model (``"hff-conv"``, ...), which is built from ``ds.input_shape[0]`` image channels.
    For FF, the label overlay mode is chosen from the data unless given:
    overwrite the first C inputs only where they are a blank border.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    cls = METHODS[method]
    if getattr(cls, "takes_images", False):
        if len(ds.input_shape) != 3:
            raise ValueError(f"{ds.name} has inputs of shape {ds.input_shape}; {method} needs images "
                             "(channels, height, width): pick an image dataset or an MLP method.")
        return cls(ds.input_shape[0], widths, ds.num_classes, **kwargs)
    if method == "ff" and "label_mode" not in kwargs:
        kwargs["label_mode"] = ff.choose_label_mode(ds.train.x, ds.num_classes)
    return cls(ds.in_features, widths, ds.num_classes, **kwargs)


def base_method(method: str) -> str:
    """``"hff-conv"`` -> ``"hff"``: the algorithm, whatever the architecture."""
    return method[:-len("-conv")] if method.endswith("-conv") else method


# The conv kinds register themselves on import; importing here makes every
# kind available wherever the registry is used (CLI, checkpoints, benchmarks).
from . import conv  # noqa: E402,F401  (after the registry exists: conv registers into it)
