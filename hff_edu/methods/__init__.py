"""The learning rules, one module each, and the registry that collects what each declares.

Every module of this folder that defines ``SPECS`` (a tuple of :class:`MethodSpec`) is a method
module: ``ff.py``, ``hff.py``, ``baselines.py`` (backprop and local cross-entropy), ``symba.py``,
``cwcomp.py``. The registry imports them all (``pkgutil``: a new file is found without an edit
here) and derives everything the rest of the package reads:

    SPECS["hff"]            the declaration (classes, learning rates, readouts, options, colour, ...)
    METHODS["hff-conv"]     command-line name -> model class
    DEFAULT_LR["ff"]        fit's default learning rate for a kind
    build("hff", ds)        a model sized for a dataset
    spec_of(model)          the declaration of a model, a class or a name ("hff", "hff-conv", "HFFNet")

Adding a method: the recipe is in ``docs/architecture.md`` ("add a method in N files").
"""
from __future__ import annotations

import importlib
import pkgutil

from ..core.data import DataBundle
from ..core.protocol import LocalModel
from .spec import MethodSpec, Option, Readout

#: ``build``'s default sizes (and the CLI's): hidden widths of an MLP, block channels of a conv
#: model. The same for every method; 3x500 also serves small tables (``benchmarks/tabular.py``).
DEFAULT_WIDTHS = [500, 500, 500]
DEFAULT_CHANNELS = [32, 64, 128]


def _discover() -> dict:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "spec":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += list(getattr(module, "SPECS", ()))
    found.sort(key=lambda s: (s.order, s.name))
    return {s.name: s for s in found}


#: method name -> its declaration, in the order of tables and legends
SPECS: dict[str, MethodSpec] = _discover()
#: command-line name -> model class; names ending in "-conv" are the convolutional models
METHODS: dict[str, type] = {}
#: class name -> class, for rebuilding a checkpoint
CLASSES: dict[str, type] = {}
#: command-line name -> fit's default Adam learning rate
DEFAULT_LR: dict[str, float] = {}


def _index(spec: MethodSpec) -> None:
    for kind, cls in spec.kinds().items():
        METHODS[kind] = cls
        CLASSES[cls.__name__] = cls
        DEFAULT_LR[kind] = spec.lr_for(kind)


for _spec in SPECS.values():
    _index(_spec)


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method of your own at run time (a notebook's experiment): the CLI's ``build``, ``fit``'s
    defaults, checkpoints and figures then know it. A package method is a file here instead."""
    if not isinstance(spec, MethodSpec):
        raise ValueError(f"register takes a MethodSpec (hff_edu.methods.MethodSpec), got {type(spec).__name__}.")
    SPECS[spec.name] = spec
    _index(spec)
    return spec


def base_method(method: str) -> str:
    """``"hff-conv"`` -> ``"hff"``: the algorithm, whatever the architecture."""
    return method[:-len("-conv")] if method.endswith("-conv") else method


def spec_of(what) -> MethodSpec:
    """The declaration of a model, a model class, a kind (``"hff-conv"``), a method name, or a label as
    tables and legends write it (``"HFF"``, ``"backprop"``, ``"local CE"``, ``"FF goodness"``)."""
    if isinstance(what, str):
        text = what.split(":")[0].strip().lower()  # "FF: goodness" -> "ff"
        for candidate in (text, text.split()[0] if text else text):  # "hff last" -> "hff"
            if base_method(candidate) in SPECS:
                return SPECS[base_method(candidate)]
        for spec in SPECS.values():  # a label: "local CE", "backprop", "local CE last head"
            if text == spec.label.lower() or text.startswith(spec.label.lower() + " "):
                return spec
        cls = CLASSES.get(what)
        if cls is None:
            raise ValueError(f"Unknown method {what!r}: choose one of {', '.join(METHODS)}.")
        what = cls
    cls = what if isinstance(what, type) else type(getattr(what, "module", what))
    for spec in SPECS.values():
        if any(cls is c or issubclass(cls, c) for c in spec.kinds().values()):
            return spec
    raise ValueError(f"{cls.__name__} is not a registered method: declare a MethodSpec and register it.")


def method_of(model: LocalModel) -> str:
    """The command-line name of a model (``"hff-conv"``), or its class name if unregistered."""
    for name, cls in METHODS.items():
        if type(model) is cls:
            return name
    return type(model).__name__


def readouts_of(model: LocalModel) -> dict:
    """Readout name -> ``predict`` keyword arguments, for every readout the model's method declares."""
    try:
        return {r.name: dict(r.kwargs) for r in spec_of(model).readouts}
    except ValueError:
        return {"default": {}}


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
    takes_images = getattr(cls, "takes_images", False)
    if widths is None:
        widths = list(DEFAULT_CHANNELS if takes_images else DEFAULT_WIDTHS)
    if takes_images:
        if len(ds.input_shape) != 3:
            raise ValueError(f"{ds.name} has inputs of shape {ds.input_shape}; {method} needs images "
                             "(channels, height, width): pick an image dataset or an MLP method.")
        return cls(ds.input_shape[0], widths, ds.num_classes, **kwargs)
    prepare = getattr(cls, "data_defaults", None)  # e.g. FF's label overlay, chosen from the data
    if prepare is not None:
        kwargs = {**prepare(ds.train.x, ds.num_classes), **kwargs}
    return cls(ds.in_features, widths, ds.num_classes, **kwargs)


__all__ = ["MethodSpec", "Option", "Readout", "SPECS", "METHODS", "CLASSES", "DEFAULT_LR", "DEFAULT_WIDTHS",
           "DEFAULT_CHANNELS", "register", "base_method", "spec_of", "method_of", "readouts_of", "build"]
