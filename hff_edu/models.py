"""The registry of model kinds by name, and ``build`` to make one for a dataset.

Built here, in one place, from the algorithm modules (which never import it):
the CLI, checkpoints, the training cache and the benchmarks all go through it,
so a model kind is added in one place.
"""
from __future__ import annotations

from . import baselines, ff, hff
from .data import DataBundle
from .protocol import LocalModel

#: method name -> model class; names ending in "-conv" are the convolutional models
METHODS = {
    "ff": ff.FFNet,
    "hff": hff.HFFNet,
    "bp": baselines.BPNet,
    "local-ce": baselines.LocalCENet,
    "ff-conv": ff.FFConvNet,
    "hff-conv": hff.HFFConvNet,
    "bp-conv": baselines.BPConvNet,
    "local-ce-conv": baselines.LocalCEConvNet,
}

#: class name -> class, for rebuilding a checkpoint
CLASSES = {cls.__name__: cls for cls in METHODS.values()}

#: ``build``'s default sizes (and the CLI's): hidden widths of an MLP, block channels of a conv
#: model. The same for every method; 3x500 also serves small tables (``benchmarks/tabular.py``).
DEFAULT_WIDTHS = [500, 500, 500]
DEFAULT_CHANNELS = [32, 64, 128]

#: Adam learning rates per method. FF MLP: tuned on the validation split (benchmarks/tune.py, see
#: ff.THETA_PER_UNIT); the others: what the tuning found no clear gain over (see the study); conv:
#: what the conv runs here used, Adam with batch 64-128 (not tuned yet)
DEFAULT_LR = {"ff": 7e-4, "hff": 1e-3, "bp": 1e-3, "local-ce": 1e-3,
              "ff-conv": 2e-3, "hff-conv": 2e-3, "bp-conv": 2e-3, "local-ce-conv": 2e-3}


def register(name: str, cls: type, lr: float = 1e-3) -> None:
    """Add a model kind of your own (a :class:`~hff_edu.protocol.LocalModel` subclass)."""
    METHODS[name] = cls
    CLASSES[cls.__name__] = cls
    DEFAULT_LR.setdefault(name, lr)


def method_of(model: LocalModel) -> str:
    for name, cls in METHODS.items():
        if type(model) is cls:
            return name
    return type(model).__name__


def base_method(method: str) -> str:
    """``"hff-conv"`` -> ``"hff"``: the algorithm, whatever the architecture."""
    return method[:-len("-conv")] if method.endswith("-conv") else method


def build(method: str, ds: DataBundle, widths=None, **kwargs) -> LocalModel:
    """A model of kind ``method`` sized for ``ds`` (input size and number of classes).

    ``widths`` are the hidden widths of an MLP, or the block channels of a conv
    model (``"hff-conv"``, ...), which is built from ``ds.input_shape[0]`` image channels;
    ``None`` uses ``DEFAULT_WIDTHS`` (3x500) or ``DEFAULT_CHANNELS`` (32, 64, 128).
    For FF, the label overlay mode is chosen from the data unless given:
    overwrite the first C inputs only where they are a blank border.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"Unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    if not isinstance(ds, DataBundle):
        raise ValueError(f"ds is a {type(ds).__name__}, not a DataBundle: use data.load(name) or "
                         "data.from_arrays(x_train, y_train, x_test, y_test).")
    cls = METHODS[method]
    if widths is None:
        widths = list(DEFAULT_CHANNELS if getattr(cls, "takes_images", False) else DEFAULT_WIDTHS)
    if getattr(cls, "takes_images", False):
        if len(ds.input_shape) != 3:
            raise ValueError(f"{ds.name} has inputs of shape {ds.input_shape}; {method} needs images "
                             "(channels, height, width): pick an image dataset or an MLP method.")
        return cls(ds.input_shape[0], widths, ds.num_classes, **kwargs)
    if method == "ff" and "label_mode" not in kwargs:
        kwargs["label_mode"] = ff.choose_label_mode(ds.train.x, ds.num_classes)
    return cls(ds.in_features, widths, ds.num_classes, **kwargs)
