"""Datasets as small in-memory bundles of tensors.

``load(name)`` returns a :class:`DataBundle` with ``.train`` and ``.test``
splits (each an ``(x, y)`` pair of tensors), the number of classes, the input
shape and the class names. Inputs are standardised per channel with statistics
of the *training* split, so no information leaks from the test set.

Where the data comes from (taught in 00_local_learning):

- ``"digits"``: scikit-learn's bundled 8x8 digits (1797 images, offline, instant).
- ``"fashion-mnist"``: looked for, in order, under the data root in
  torchvision's layout (``<root>/FashionMNIST/raw/*-ubyte[.gz]``), in Debian's
  ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``),
  then downloaded by torchvision. If all three fail the error names them.
- ``"mnist"``, ``"cifar10"``, ``"cifar100"``: torchvision's classes (download
  needs the internet the first time).

The data root (:func:`data_root`) is ``$HFF_EDU_DATA``, else ``data/`` of the project checkout,
else the per-user cache folder of an installed package.
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


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
    """A dataset ready for training: standardised tensors plus what describes them."""
    name: str
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple
    class_names: tuple
    mean: torch.Tensor = field(repr=False, default=None)
    std: torch.Tensor = field(repr=False, default=None)
    source: str = ""

    @property
    def in_features(self) -> int:
        """Flattened input size, what the MLP models take as ``in_features``."""
        return int(np.prod(self.input_shape))

    def to(self, device) -> "DataBundle":
        return DataBundle(self.name, self.train.to(device), self.test.to(device),
                          self.num_classes, self.input_shape, self.class_names,
                          self.mean, self.std, self.source)

    def unstandardise(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the standardisation (for showing images)."""
        x = x.reshape(-1, *self.input_shape)
        shape = (1, -1) + (1,) * (len(self.input_shape) - 1)
        return x * self.std.reshape(shape).to(x) + self.mean.reshape(shape).to(x)

    def describe(self) -> str:
        return (f"{self.name}: {len(self.train)} train / {len(self.test)} test, "
                f"{self.num_classes} classes, input {tuple(self.input_shape)} ({self.source})")


def data_root() -> Path:
    """Where datasets and the training cache live: ``$HFF_EDU_DATA`` if set; else ``data/`` at the top
    of the source checkout the package runs from; else, for an installed package (``hff-edu course``
    from a wheel), the per-user cache folder (``~/.cache/hff-edu`` on Linux, platformdirs' choice elsewhere).
    """
    env = os.environ.get("HFF_EDU_DATA")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout / "data"
    import platformdirs
    return Path(platformdirs.user_cache_dir("hff-edu", appauthor=False))


DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10", "cifar100")


def load(name: str, subset: int | None = None, test_subset: int | None = None,
         seed: int = 0, device=None, root: str | os.PathLike | None = None,
         download: bool = True) -> DataBundle:
    """Load dataset ``name`` as a standardised :class:`DataBundle`.

    ``subset`` keeps a random, class-stratified subset of that many training
    samples (``test_subset`` likewise for the test split), drawn with ``seed``.
    Standardisation statistics always come from the full training split.
    """
    key = name.lower().replace("_", "-")
    if key in ("fashionmnist", "fmnist"):
        key = "fashion-mnist"
    if key not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Choose one of {', '.join(DATASETS)}, "
                         "or wrap your own arrays with hff_edu.data.from_arrays(...).")
    root = Path(root) if root is not None else data_root()
    if key == "digits":
        xtr, ytr, xte, yte, classes, source = _digits(seed)
    elif key == "fashion-mnist":
        xtr, ytr, xte, yte, source = _fashion_mnist(root, download)
        classes = FASHION_CLASSES
    else:
        xtr, ytr, xte, yte, classes, source = _torchvision(key, root, download)
    bundle = from_arrays(xtr, ytr, xte, yte, class_names=classes, name=key,
                         subset=subset, test_subset=test_subset, seed=seed)
    bundle.source = source
    return bundle.to(device) if device is not None else bundle


def from_arrays(x_train, y_train, x_test, y_test, class_names: Sequence[str] | None = None,
                name: str = "arrays", subset: int | None = None,
                test_subset: int | None = None, seed: int = 0,
                standardise: bool = True) -> DataBundle:
    """Wrap a user's own data (numpy arrays or tensors) in a :class:`DataBundle`.

    ``x`` is (N, features) or (N, C, H, W) / (N, H, W) images; ``y`` holds
    integer labels 0..C-1 (any C >= 2). Inputs are standardised with
    training-split statistics: per channel for (N, C, H, W) images, one global
    mean and std otherwise (per-feature scaling would distort the input geometry).
    """
    xtr, ytr = _as_tensors(x_train, y_train, "train")
    xte, yte = _as_tensors(x_test, y_test, "test")
    if xtr.shape[1:] != xte.shape[1:]:
        raise ValueError(f"Train inputs have shape {tuple(xtr.shape[1:])} per sample but test inputs "
                         f"{tuple(xte.shape[1:])}: both splits must have the same input shape.")
    num_classes = int(max(ytr.max(), yte.max())) + 1
    if num_classes < 2:
        raise ValueError("Labels hold a single class: classification needs at least 2 classes "
                         "(labels 0..C-1).")
    if class_names is None:
        class_names = tuple(str(c) for c in range(num_classes))
    class_names = tuple(class_names)
    if len(class_names) < num_classes:
        raise ValueError(f"{len(class_names)} class names given but labels go up to {num_classes - 1}: "
                         "pass one name per class.")
    num_classes = len(class_names)
    input_shape = tuple(xtr.shape[1:])
    if standardise:
        # Per channel for images (N, C, H, W); one global value for flat or (N, H, W) data.
        dims = [0, 2, 3] if xtr.dim() == 4 else list(range(xtr.dim()))
        mean = xtr.mean(dim=dims)
        std = xtr.std(dim=dims).clamp_min(1e-8)
        shape = (1, -1, 1, 1) if xtr.dim() == 4 else (1,) * xtr.dim()
        xtr = (xtr - mean.reshape(shape)) / std.reshape(shape)
        xte = (xte - mean.reshape(shape)) / std.reshape(shape)
    else:
        mean, std = torch.zeros(1), torch.ones(1)
    train = _subsample(Split(xtr.contiguous(), ytr), subset, seed, "subset")
    test = _subsample(Split(xte.contiguous(), yte), test_subset, seed + 1, "test_subset")
    return DataBundle(name, train, test, num_classes, input_shape, class_names,
                      mean.reshape(-1), std.reshape(-1), source="arrays")


# ----------------------------------------------------------------------------
# helpers

def _as_tensors(x, y, split: str):
    x = torch.as_tensor(np.array(x) if not torch.is_tensor(x) else x).float()
    y = torch.as_tensor(np.array(y) if not torch.is_tensor(y) else y)
    if y.dtype.is_floating_point:
        if not torch.all(y == y.round()):
            raise ValueError(f"{split} labels are not integers: pass class indices 0..C-1.")
    y = y.long().reshape(-1)
    if x.dim() < 2:
        raise ValueError(f"{split} inputs have shape {tuple(x.shape)}: expected (N, features) "
                         "or (N, channels, height, width).")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{split} split has {x.shape[0]} inputs but {y.shape[0]} labels: "
                         "give one label per sample.")
    if x.shape[0] == 0:
        raise ValueError(f"{split} split is empty.")
    if not torch.isfinite(x).all():
        raise ValueError(f"{split} inputs contain NaN or Inf: clean or impute them first.")
    if y.min() < 0:
        raise ValueError(f"{split} labels contain {int(y.min())}: labels must be 0..C-1.")
    return x, y


def _subsample(split: Split, n: int | None, seed: int, arg: str) -> Split:
    """A class-stratified random subset of ``n`` samples (the whole split if n is None)."""
    if n is None or n >= len(split):
        return split
    if n <= 0:
        raise ValueError(f"{arg}={n}: give a positive number of samples, or None for all.")
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


def _digits(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = d.images.astype(np.float32)[:, None]  # (N, 1, 8, 8)
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.25, random_state=0,
                                          stratify=d.target)
    return xtr, ytr, xte, yte, tuple(str(c) for c in range(10)), "scikit-learn digits"


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 8:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes.")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _fashion_mnist(root: Path, download: bool):
    places = [root / "FashionMNIST" / "raw", DEBIAN_FASHION_DIR]
    for folder in places:
        files = {s: [_find_idx(folder, f) for f in _IDX_FILES[s]] for s in _IDX_FILES}
        if all(p is not None for ps in files.values() for p in ps):
            (xi, yi), (ti, tl) = files["train"], files["test"]
            return (read_idx(xi)[:, None].astype(np.float32) / 255.0, read_idx(yi),
                    read_idx(ti)[:, None].astype(np.float32) / 255.0, read_idx(tl), str(folder))
    error = None
    if download:
        try:
            from torchvision.datasets import FashionMNIST
            tr = FashionMNIST(root, train=True, download=True)
            te = FashionMNIST(root, train=False, download=True)
            return (tr.data.numpy()[:, None].astype(np.float32) / 255.0, tr.targets.numpy(),
                    te.data.numpy()[:, None].astype(np.float32) / 255.0, te.targets.numpy(),
                    f"torchvision download into {root}")
        except Exception as e:  # no internet, no torchvision...
            error = e
    raise FileNotFoundError(
        "Fashion-MNIST files not found. Any one of these works:\n"
        f"  1. put the four *-ubyte(.gz) files in {root / 'FashionMNIST' / 'raw'} (torchvision's layout;"
        " set HFF_EDU_DATA to use another root);\n"
        f"  2. install Debian's package: sudo apt-get install dataset-fashion-mnist (files land in {DEBIAN_FASHION_DIR});\n"
        "  3. go online and let torchvision download them (download=True)."
        + (f"\nThe download failed with: {error!r}" if error else ""))


def _torchvision(key: str, root: Path, download: bool):
    import torchvision.datasets as tvd
    cls, classes = {"mnist": (tvd.MNIST, tuple(str(c) for c in range(10))),
                    "cifar10": (tvd.CIFAR10, CIFAR10_CLASSES),
                    "cifar100": (tvd.CIFAR100, None)}[key]
    try:
        tr = cls(root, train=True, download=download)
        te = cls(root, train=False, download=download)
    except Exception as e:
        raise FileNotFoundError(
            f"Could not load {key} under {root}: {e}. {key} comes from torchvision's download, which "
            "needs the internet once; or copy torchvision's files for it under that root "
            "(set HFF_EDU_DATA to use another root). Offline, use 'digits' or 'fashion-mnist'.") from e

    def images(ds):
        x = np.asarray(ds.data)
        return x[:, None].astype(np.float32) / 255.0 if x.ndim == 3 else \
            x.transpose(0, 3, 1, 2).astype(np.float32) / 255.0

    if classes is None:
        classes = tuple(tr.classes)
    return (images(tr), np.asarray(tr.targets), images(te), np.asarray(te.targets), classes,
            f"torchvision {cls.__name__} in {root}")
