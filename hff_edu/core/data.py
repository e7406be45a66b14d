"""Datasets as small in-memory bundles of tensors.

``load(name)`` returns a :class:`DataBundle` with ``.train``, ``.test`` and,
when asked for, ``.val`` splits (each an ``(x, y)`` pair of tensors), the number
of classes, the input shape and the class names. Inputs are standardised with
statistics of the *training* split only, so no information leaks from the
validation or test split; ``bundle.transform(x)`` applies the same statistics to
fresh samples (taught in 00_local_learning).

Where the data comes from:

- ``"digits"``: scikit-learn's bundled 8x8 digits (1797 images, offline, instant).
- ``"fashion-mnist"``: looked for, in order, under the data root in
  torchvision's layout (``<root>/FashionMNIST/raw/*-ubyte[.gz]``), in Debian's
  ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``),
  then downloaded by torchvision. If all three fail the error names them.
- ``"mnist"``, ``"cifar10"``, ``"cifar100"``: torchvision's classes (download
  needs the internet the first time).
- your own arrays: :func:`from_arrays` (tables or images).

The data root (:func:`data_root`) is ``$HFF_EDU_DATA``, else ``data/`` of the project checkout,
else the per-user cache folder of an installed package.

How the splits are made (``load`` and ``from_arrays`` alike):

1. ``val`` (a number of samples, or a fraction in (0, 1)) carves a validation
   split out of the full training split: class-stratified (each class in
   proportion to its size), drawn with ``val_seed`` (default: ``seed``), never
   overlapping the training or the test split.
2. The standardisation statistics come from what remains for training; the
   validation and test splits are standardised with them.
3. ``subset`` then keeps a class-balanced random subset of that remaining
   training part (drawn with ``seed``); ``test_subset`` does the same for the test
   split (drawn with ``seed + 1``).
"""
from __future__ import annotations

import hashlib
import math
import numbers
import os
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch

from .protocol import check_bool, check_choice, check_device, check_int, check_optional_int
from .sources import FASHION_CLASSES, _digits, _fashion_mnist, _torchvision


#: how ``from_arrays`` may standardise; ``"auto"`` picks one from the shape of the data
STANDARDISE = ("auto", "feature", "channel", "global", "none")


class Split(NamedTuple):
    """One split: inputs ``x`` (N, *input_shape) float32 and labels ``y`` (N,) int64."""
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:  # number of samples, not the tuple length
        return int(self.y.shape[0])

    def to(self, device) -> "Split":
        return Split(self.x.to(device), self.y.to(device))


@dataclass
class DataBundle:
    """A dataset ready for training: standardised tensors plus what describes them.

    ``mean`` and ``std`` are the training statistics (1-D: one value per feature,
    per channel, or a single one, as ``standardise`` says); :meth:`transform` applies
    them to new raw inputs, :meth:`unstandardise` undoes them. ``val`` is the
    validation :class:`Split`, or ``None`` when none was asked for.
    """
    name: str
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple
    class_names: tuple
    mean: torch.Tensor = field(repr=False, default=None)
    std: torch.Tensor = field(repr=False, default=None)
    source: str = ""
    val: Split | None = None
    standardise: str = "channel"

    @property
    def in_features(self) -> int:
        """Flattened input size, what the MLP models take as ``in_features``."""
        return int(np.prod(self.input_shape))

    def to(self, device) -> "DataBundle":
        return DataBundle(self.name, self.train.to(device), self.test.to(device),
                          self.num_classes, self.input_shape, self.class_names,
                          self.mean, self.std, self.source,
                          self.val.to(device) if self.val is not None else None, self.standardise)

    def transform(self, x) -> torch.Tensor:
        """Standardise new raw inputs exactly as this bundle's splits were: ``(x - mean) / std``.

        ``x`` is a batch (N, *input_shape), or flat (N, in_features) for image
        data; numpy arrays and tensors both work. Use it to predict on fresh
        samples: ``model.predict(ds.transform(x_new))``. Returns float32 (N, *input_shape).
        """
        x = _as_inputs(x, "transform")
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            if x.dim() == 2 and x.shape[1] == self.in_features:
                x = x.reshape(-1, *self.input_shape)
            else:
                raise ValueError(f"transform: inputs have shape {tuple(x.shape)} but {self.name} holds samples "
                                 f"of shape {tuple(self.input_shape)}: pass (N, {', '.join(map(str, self.input_shape))})"
                                 + (" (or flat (N, {})).".format(self.in_features) if len(self.input_shape) > 1 else "."))
        if self.mean is None:
            return _standardised(x, torch.zeros(1), torch.ones(1), (1,), "transform: inputs")
        return _standardised(x, self.mean, self.std, _stat_shape(self.standardise, self.input_shape),
                             "transform: inputs")

    def unstandardise(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the standardisation (for showing images): the inverse of :meth:`transform`."""
        x = x.reshape(-1, *self.input_shape)
        if self.mean is None:
            return x
        shape = _stat_shape(self.standardise, self.input_shape)
        return x * self.std.reshape(shape).to(x) + self.mean.reshape(shape).to(x)

    def fingerprint(self) -> dict:
        """What identifies this data: name, shapes, dtypes and a SHA-256 of every split's tensors.

        The training cache keys models by it (``checkpoint.train_or_load``), so two
        bundles of the same size but other contents never share a cache entry. Each
        tensor is hashed once per version (an in-place torch change re-hashes it):
        all of Fashion-MNIST (60,000 x 784 floats) takes about half a second.
        """
        splits = dict(train=self.train, val=self.val, test=self.test)
        return dict(name=self.name, num_classes=int(self.num_classes), input_shape=list(self.input_shape),
                    standardise=self.standardise,
                    splits={k: None if v is None else dict(n=len(v), x=_digest(v.x), y=_digest(v.y))
                            for k, v in splits.items()})

    def describe(self) -> str:
        val = f" / {len(self.val)} val" if self.val is not None else ""
        return (f"{self.name}: {len(self.train)} train{val} / {len(self.test)} test, "
                f"{self.num_classes} classes, input {tuple(self.input_shape)} ({self.source})")


def data_root() -> Path:
    """Where datasets and the training cache live: ``$HFF_EDU_DATA`` if set; else ``data/`` at the top
    of the source checkout the package runs from; else, for an installed package (``hff-edu course``
    from a wheel), the per-user cache folder (``~/.cache/hff-edu`` on Linux, platformdirs' choice elsewhere).
    """
    env = os.environ.get("HFF_EDU_DATA")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout / "data"
    import platformdirs
    return Path(platformdirs.user_cache_dir("hff-edu", appauthor=False))


DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10", "cifar100")


def load(name: str, subset: int | None = None, test_subset: int | None = None,
         seed: int = 0, device=None, root: str | os.PathLike | None = None,
         download: bool = True, val: int | float | None = None,
         val_seed: int | None = None) -> DataBundle:
    """Load dataset ``name`` as a standardised :class:`DataBundle`.

    ``val`` carves a class-stratified validation split (a number of samples, or
    a fraction in (0, 1) of the training split) out of the training split, drawn
    with ``val_seed`` (default ``seed``). ``subset`` then keeps a random,
    class-balanced subset of that many of the remaining training samples
    (``test_subset`` likewise for the test split), drawn with ``seed``.
    Standardisation statistics come from the training split minus the validation
    split (before ``subset``), per channel (every bundled dataset is images).
    """
    if not isinstance(name, str):
        raise ValueError(f"name={name!r}: give a dataset name ({', '.join(DATASETS)}), or wrap your own "
                         "arrays with hff_edu.core.data.from_arrays(...).")
    key = name.lower().replace("_", "-")
    if key in ("fashionmnist", "fmnist"):
        key = "fashion-mnist"
    if key not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Choose one of {', '.join(DATASETS)}, "
                         "or wrap your own arrays with hff_edu.core.data.from_arrays(...).")
    _check_split_args(subset, test_subset, seed, val, val_seed)
    check_bool("download", download)
    device = check_device(device) if device is not None else None
    root = Path(root) if root is not None else data_root()
    if key == "digits":
        xtr, ytr, xte, yte, classes, source = _digits(seed)
    elif key == "fashion-mnist":
        xtr, ytr, xte, yte, source = _fashion_mnist(root, download)
        classes = FASHION_CLASSES
    else:
        xtr, ytr, xte, yte, classes, source = _torchvision(key, root, download)
    bundle = from_arrays(xtr, ytr, xte, yte, class_names=classes, name=key,
                         subset=subset, test_subset=test_subset, seed=seed, val=val, val_seed=val_seed)
    bundle.source = source
    return bundle.to(device) if device is not None else bundle


def from_arrays(x_train, y_train, x_test, y_test, class_names: Sequence[str] | None = None,
                name: str = "arrays", subset: int | None = None,
                test_subset: int | None = None, seed: int = 0,
                standardise: str | bool = "auto", val: int | float | None = None,
                val_seed: int | None = None) -> DataBundle:
    """Wrap a user's own data (numpy arrays, pandas frames or tensors) in a :class:`DataBundle`.

    ``x`` is a table (N, features), images (N, C, H, W), or grey images (N, H, W);
    ``y`` holds integer labels 0..C-1 (any C >= 2; ``class_names`` may name more
    classes than occur). ``val``, ``val_seed``, ``subset``, ``test_subset`` and
    ``seed``: as :func:`load` (the module docstring says in which order).

    ``standardise`` (statistics from the training split, minus ``val``):

    - ``"auto"`` (default): ``"feature"`` for a table (N, features): columns come in
      different units (wine's proline is in the hundreds, its hue near 1), and one
      global scale would leave all but the largest column near zero; ``"channel"``
      for (N, C, H, W) images; ``"global"`` for (N, H, W), which are single-channel
      images, so per channel *is* global. Images are never scaled per pixel: a border
      pixel that is almost always blank would be blown up to the size of the ink.
    - ``"feature"``: every input position its own mean and std; ``"channel"``: one per
      image channel; ``"global"``: one mean and std for all; ``"none"`` (or ``False``):
      the data as given. ``True`` means ``"auto"``.

    A column with no spread in the training data (constant) keeps scale 1, so it
    becomes 0 instead of dividing by zero. ``bundle.transform(x_new)`` standardises
    new samples the same way.

    Labels are checked: a label that leaves classes without any training sample
    (labels {0, 5} make six classes) warns; a largest label far beyond the labels
    present (one typo of 5,000,000 among labels 0..9) raises, unless ``class_names``
    confirms that many classes.
    """
    if not isinstance(name, str):
        raise ValueError(f"name={name!r}: give the dataset a name (a string).")
    _check_split_args(subset, test_subset, seed, val, val_seed)
    mode = _standardise_mode(standardise)
    xtr, ytr = _as_tensors(x_train, y_train, "train")
    xte, yte = _as_tensors(x_test, y_test, "test")
    if xtr.shape[1:] != xte.shape[1:]:
        raise ValueError(f"Train inputs have shape {tuple(xtr.shape[1:])} per sample but test inputs "
                         f"{tuple(xte.shape[1:])}: both splits must have the same input shape.")
    class_names = _class_names(ytr, yte, class_names)
    num_classes = len(class_names)
    input_shape = tuple(xtr.shape[1:])
    mode = _resolve_mode(mode, input_shape)

    # 1. the validation split, carved from the whole training split
    n_val = _val_count(val, ytr)
    val_split = None
    if n_val:
        val_idx = stratified_indices(ytr, n_val, seed if val_seed is None else val_seed)
        keep = torch.ones(len(ytr), dtype=torch.bool)
        keep[val_idx] = False
        _check_every_class_trains(ytr, keep, val)
        val_split = Split(xtr[val_idx], ytr[val_idx])
        xtr, ytr = xtr[keep], ytr[keep]
    # 2. statistics from what remains for training, applied to every split
    mean, std = _statistics(xtr, mode)
    shape = _stat_shape(mode, input_shape)

    def scale(x, what):
        return _standardised(x, mean, std, shape, what)

    if val_split is not None:
        val_split = Split(scale(val_split.x, "validation inputs"), val_split.y)
    # 3. subsets
    train = _subsample(Split(scale(xtr, "train inputs"), ytr), subset, seed)
    test = _subsample(Split(scale(xte, "test inputs"), yte), test_subset, seed + 1)
    return DataBundle(name, train, test, num_classes, input_shape, class_names, mean, std,
                      source="arrays", val=val_split, standardise=mode)


# ----------------------------------------------------------------------------
# helpers

def _check_split_args(subset, test_subset, seed, val, val_seed) -> None:
    """The split arguments ``load`` and ``from_arrays`` share, checked before any data is read."""
    check_optional_int("subset", subset, 1, "Give a number of training samples, or None for all.")
    check_optional_int("test_subset", test_subset, 1, "Give a number of test samples, or None for all.")
    check_int("seed", seed, 0, "It seeds the subsets (and the validation split unless val_seed is given).")
    check_optional_int("val_seed", val_seed, 0, "It seeds the validation split; None uses seed.")
    if val is not None and (isinstance(val, bool) or not isinstance(val, numbers.Real)):
        raise ValueError(f"val={val!r}: give a number of validation samples (an int, e.g. val=5000) or a "
                         "fraction of the training split (a float in (0, 1), e.g. val=0.1), or None.")


def _standardise_mode(standardise) -> str:
    if standardise is True:
        return "auto"
    if standardise is False or standardise is None:
        return "none"
    return check_choice("standardise", standardise, STANDARDISE)


def _resolve_mode(mode: str, input_shape: tuple) -> str:
    """``"auto"`` -> feature (tables), channel (N, C, H, W) or global (N, H, W); checks the others."""
    if mode == "auto":
        return {1: "feature", 3: "channel"}.get(len(input_shape), "global")
    if mode == "channel" and len(input_shape) != 3:
        raise ValueError(f"standardise='channel' needs images (N, C, H, W), but the samples have shape "
                         f"{input_shape}: use 'feature' for a table, 'global' for (N, H, W) images, or 'auto'.")
    return mode


def _stat_shape(mode: str, input_shape: tuple) -> tuple:
    """How the 1-D ``mean``/``std`` broadcast over a batch (N, *input_shape)."""
    if mode == "feature":
        return (1, *input_shape)
    if mode == "channel":
        return (1, -1) + (1,) * (len(input_shape) - 1)
    return (1,) * (len(input_shape) + 1)


def _statistics(x: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """1-D mean and std of ``x`` (N, ...) under ``mode``; a spread of zero keeps scale 1.

    Tables (``"feature"``) and float64 data are reduced in float64, so that a
    constant column has a std of exactly 0 and a column with a large offset (a
    year, a timestamp) keeps its precision; float32 images stay in float32.
    """
    if mode == "none":
        return torch.zeros(1), torch.ones(1)
    dims = {"feature": [0], "channel": [0, 2, 3]}.get(mode, list(range(x.dim())))
    if mode == "feature":
        x = x.double()
    mean = x.mean(dim=dims)
    std = x.std(dim=dims) if x.numel() // mean.numel() > 1 else torch.zeros_like(mean)
    tiny = 1e-12 if x.dtype == torch.float64 else 1e-6  # relative rounding error of a constant's std
    std = torch.where(std <= tiny * mean.abs(), torch.ones_like(std), std)  # covers std == 0
    return mean.reshape(-1), std.reshape(-1)


def _standardised(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, shape: tuple, what: str) -> torch.Tensor:
    """``(x - mean) / std`` in the wider of the two dtypes, returned as float32 (checked to fit)."""
    dtype = torch.promote_types(x.dtype, mean.dtype)
    out = ((x.to(dtype) - mean.to(x.device, dtype).reshape(shape)) / std.to(x.device, dtype).reshape(shape))
    out = out.float().contiguous()
    if not torch.isfinite(out).all():
        raise ValueError(f"{what} hold values up to {float(x.double().abs().max()):.3g}, beyond float32's range "
                         "(3.4e38), which the models compute in: standardise them (standardise='auto') or "
                         "rescale them first.")
    return out


def _as_inputs(x, split: str) -> torch.Tensor:
    """Inputs as a float tensor: float64 where the data is float64 or wide integers (kept exact
    until standardised), float32 otherwise; a clear error for non-numbers, NaN and Inf."""
    if not torch.is_tensor(x):
        try:
            x = np.asarray(x)
        except Exception as e:  # ragged lists ...
            raise ValueError(f"{split} inputs could not be read as an array ({e}): pass a numpy array, "
                             "a tensor or a list of equal-length rows.") from None
        if x.dtype == object or x.dtype.kind in "USMmV":
            raise ValueError(f"{split} inputs are not all numbers (dtype {x.dtype}): encode text or "
                             "categorical columns as numbers first (e.g. one-hot), and drop identifiers.")
        if x.dtype.kind == "c":
            raise ValueError(f"{split} inputs are complex numbers: pass real features (e.g. abs and angle).")
        # A copy with standard strides: numpy keeps odd strides on size-1 axes (images[:, None]),
        # which torch would take for channels-last and run other (equal up to rounding) kernels on.
        x = torch.as_tensor(np.array(x))
    if x.is_complex():
        raise ValueError(f"{split} inputs are complex numbers: pass real features (e.g. abs and angle).")
    wide = x.dtype == torch.float64 or x.dtype in (torch.int32, torch.int64)
    x = x.double() if wide else x.float()
    if not torch.isfinite(x).all():
        raise ValueError(f"{split} inputs contain NaN or Inf: clean or impute them first.")
    return x


def _as_tensors(x, y, split: str):
    if not torch.is_tensor(y):
        y = np.asarray(y)
        if y.dtype == object or y.dtype.kind in "USO":
            raise ValueError(f"{split} labels are not numbers (dtype {y.dtype}): map them to 0..C-1, e.g. "
                             "names, y = np.unique(y, return_inverse=True), and pass class_names=names.")
        y = torch.as_tensor(np.array(y))
    if y.dtype.is_floating_point:
        if not torch.isfinite(y).all() or not torch.all(y == y.round()):
            raise ValueError(f"{split} labels are not integers: pass class indices 0..C-1.")
    if y.dim() > 1 and not (y.dim() == 2 and y.shape[1] == 1):
        raise ValueError(f"{split} labels have shape {tuple(y.shape)}: pass one class index per sample, "
                         "shape (N,); for one-hot labels use y.argmax(1).")
    y = y.long().reshape(-1)
    x = _as_inputs(x, split)
    if x.dim() < 2:
        raise ValueError(f"{split} inputs have shape {tuple(x.shape)}: expected (N, features) "
                         "or (N, channels, height, width); one feature per sample is x.reshape(-1, 1).")
    if x.dim() > 4:
        raise ValueError(f"{split} inputs have shape {tuple(x.shape)}: expected (N, features), (N, H, W) "
                         "or (N, channels, height, width).")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{split} split has {x.shape[0]} inputs but {y.shape[0]} labels: "
                         "give one label per sample.")
    if x.shape[0] == 0:
        raise ValueError(f"{split} split is empty: give at least one sample.")
    if x[0].numel() == 0:
        raise ValueError(f"{split} inputs have shape {tuple(x.shape)}: every sample has zero features.")
    if y.min() < 0:
        raise ValueError(f"{split} labels contain {int(y.min())}: labels must be 0..C-1.")
    return x, y


def _class_names(ytr: torch.Tensor, yte: torch.Tensor, class_names) -> tuple:
    """The class names (``"0"``, ``"1"``, ... by default), after checking the labels make sense."""
    top = int(max(ytr.max(), yte.max()))
    present = torch.unique(torch.cat([ytr, yte]))  # sorted
    if class_names is not None:
        if isinstance(class_names, str):
            raise ValueError(f"class_names={class_names!r}: give one name per class, e.g. ['cat', 'dog'].")
        class_names = tuple(str(c) for c in class_names)
        if len(class_names) <= top:
            raise ValueError(f"{len(class_names)} class names given but labels go up to {top}: "
                             "pass one name per class.")
    else:
        if top + 1 > max(2 * len(present), len(present) + 100):
            largest = present[-3:].tolist()
            raise ValueError(f"Labels run up to {top} but only {len(present)} distinct values occur: that would "
                             f"make {top + 1} classes, {top + 1 - len(present)} of them empty. The largest "
                             f"labels are {largest}: fix a mistyped label, relabel with "
                             "np.unique(y, return_inverse=True), or pass class_names with all "
                             f"{top + 1} names if the classes are real.")
        class_names = tuple(str(c) for c in range(top + 1))
    if len(class_names) < 2:
        raise ValueError("Labels hold a single class: classification needs at least 2 classes "
                         "(labels 0..C-1).")
    counts = torch.bincount(ytr, minlength=len(class_names))
    empty = torch.nonzero(counts == 0).flatten().tolist()
    if empty:
        hint = (" The labels start at 1: subtract 1 to make them 0..C-1." if empty[:1] == [0]
                and int(ytr.min()) == 1 else "")
        shown = empty if len(empty) <= 10 else empty[:10] + ["..."]
        warnings.warn(f"{len(empty)} of {len(class_names)} classes have no training sample (classes {shown}): "
                      "the model still gets an output for each. Relabel to 0..k-1 with "
                      f"np.unique(y, return_inverse=True) if those classes do not exist.{hint}", stacklevel=3)
    return class_names


def _val_count(val, y: torch.Tensor) -> int:
    """The number of validation samples ``val`` asks for (0 for None/0), checked against the split."""
    n = len(y)
    if val is None:
        return 0
    if isinstance(val, numbers.Integral):
        k = int(val)
        if k < 0:
            raise ValueError(f"val={val}: give a non-negative number of validation samples (0 or None for "
                             "no validation split).")
        if k >= n:
            raise ValueError(f"val={val} but the training split has only {n} samples: a validation split "
                             f"must leave training samples, so give fewer than {n} (or a fraction, e.g. val=0.1).")
        return k
    if not (math.isfinite(val) and 0 < val < 1):
        raise ValueError(f"val={val}: a float is a fraction of the training split and must lie in (0, 1), "
                         "e.g. val=0.1; give an int for a number of samples.")
    k = math.ceil(val * n)
    if k >= n:
        raise ValueError(f"val={val} of {n} training samples leaves none for training: give a smaller fraction.")
    return k


def _check_every_class_trains(y: torch.Tensor, keep: torch.Tensor, val) -> None:
    """After carving the validation split, every class that had training samples still has one."""
    before = torch.bincount(y)
    after = torch.bincount(y[keep], minlength=len(before))
    lost = torch.nonzero((before > 0) & (after == 0)).flatten().tolist()
    if lost:
        raise ValueError(f"val={val} leaves class(es) {lost} with no training sample (class {lost[0]} has only "
                         f"{int(before[lost[0]])} in the training split): give a smaller val.")


def stratified_indices(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Sorted indices of ``n`` samples drawn with ``seed``, each class in proportion to its size.

    Class c gets ``floor(n * n_c / N)`` samples, and the few left over go to the
    classes with the largest remainders (ties: lower class index first), so the
    total is exactly ``n``; which samples of a class is random.
    """
    g = torch.Generator().manual_seed(seed)
    counts = torch.bincount(y)
    exact = counts.double() * n / len(y)
    quota = exact.floor().long()
    short = n - int(quota.sum())
    if short:
        order = torch.argsort(-(exact - quota), stable=True)
        quota[order[:short]] += 1
    picks = []
    for c in torch.nonzero(quota).flatten().tolist():
        idx = torch.nonzero(y == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=g)[:int(quota[c])]])
    return torch.sort(torch.cat(picks)).values


# Digests of tensors, by identity and version: hashing 188 MB of Fashion-MNIST costs ~0.5 s,
# once. A weak reference checks that the id still belongs to the same tensor.
_DIGESTS: dict = {}


def _digest(t: torch.Tensor) -> str:
    """SHA-256 (first 16 hex digits) of a tensor's dtype, shape and bytes."""
    try:
        version = t._version
    except RuntimeError:  # an inference-mode tensor keeps no version counter: hash it every time
        version = None
    entry = _DIGESTS.get(id(t))
    if version is not None and entry is not None and entry[0]() is t and entry[1] == version:
        return entry[2]
    data = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{data.dtype}{tuple(data.shape)}".encode())
    if data.numel():
        h.update(memoryview(data.reshape(-1).view(torch.uint8).numpy()))
    digest = h.hexdigest()[:16]
    if version is not None:
        key = id(t)
        _DIGESTS[key] = (weakref.ref(t, lambda _, k=key: _DIGESTS.pop(k, None)), version, digest)
    return digest


def _subsample(split: Split, n: int | None, seed: int) -> Split:
    """A class-balanced random subset of ``n`` samples (the whole split if n is None)."""
    if n is None or n >= len(split):
        return split
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(split), generator=g)
    # Rank each sample within its class (in random order), then take ranks 0, 1, ...
    # round-robin over classes: small subsets keep the class balance.
    y = split.y[perm]
    ranks = torch.empty_like(y)
    for c in y.unique():
        mask = y == c
        ranks[mask] = torch.arange(int(mask.sum()))
    pick = perm[torch.argsort(ranks, stable=True)[:n]]
    pick, _ = torch.sort(pick)
    return Split(split.x[pick], split.y[pick])


