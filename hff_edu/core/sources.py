"""Where each named dataset comes from: scikit-learn's digits, Fashion-MNIST's IDX files (the data
root in torchvision's layout, Debian's ``dataset-fashion-mnist``, or torchvision's download), and
torchvision's MNIST and CIFAR. Each reader returns plain arrays; ``data.load`` makes the bundle.
A file cut short (a half-finished download) raises an error that names it and the fix.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _digits(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = d.images.astype(np.float32)[:, None]  # (N, 1, 8, 8)
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.25, random_state=0,
                                          stratify=d.target)
    return xtr, ytr, xte, yte, tuple(str(c) for c in range(10)), "scikit-learn digits"


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not.

    A file cut short (a half-finished download or copy) raises an error that names it and says
    how to get it again, rather than numpy's "cannot reshape array".
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, OSError) as e:  # gzip: "Compressed file ended before the end-of-stream marker"
        raise ValueError(f"{path} cannot be read ({e}). {_REFETCH}") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 8:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes. {_REFETCH}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is cut short inside its header. {_REFETCH}")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims)) if dims else 0
    if len(raw) - header != expected:
        raise ValueError(f"{path} holds {len(raw) - header:,} bytes of data but its header announces "
                         f"{' x '.join(map(str, dims))} = {expected:,}: the file is "
                         f"{'truncated' if len(raw) - header < expected else 'longer than its header says'}. "
                         f"{_REFETCH}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


_REFETCH = ("Delete it and fetch it again (torchvision's download, data.load(name, download=True), "
            "or Debian's dataset-fashion-mnist package).")


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def fashion_mnist_folder(root: Path) -> Path | None:
    """The folder holding all four Fashion-MNIST IDX files: ``<root>/FashionMNIST/raw`` (torchvision's
    layout) or Debian's ``dataset-fashion-mnist``; ``None`` when neither has them all."""
    for folder in (Path(root) / "FashionMNIST" / "raw", DEBIAN_FASHION_DIR):
        if all(_find_idx(folder, f) is not None for names in _IDX_FILES.values() for f in names):
            return folder
    return None


def download_fashion_mnist(root: Path) -> None:
    """torchvision's download of Fashion-MNIST into ``<root>/FashionMNIST/raw`` (about 30 MB; needs the
    internet). Raises what torchvision raises when it cannot."""
    from torchvision.datasets import FashionMNIST
    FashionMNIST(root, train=True, download=True)
    FashionMNIST(root, train=False, download=True)


def fashion_mnist_missing(root: Path) -> str:
    """What to do when Fashion-MNIST is in neither of :func:`fashion_mnist_folder`'s places."""
    return ("Fashion-MNIST files not found. Any one of these works:\n"
            f"  1. put the four *-ubyte(.gz) files in {Path(root) / 'FashionMNIST' / 'raw'} (torchvision's layout; "
            "set HFF_EDU_DATA to use another root);\n"
            f"  2. install Debian's package: sudo apt-get install dataset-fashion-mnist (files land in {DEBIAN_FASHION_DIR});\n"
            "  3. go online and let torchvision download them (download=True).")


def _fashion_mnist(root: Path, download: bool):
    folder = fashion_mnist_folder(root)
    error, source = None, str(folder)
    if folder is None and download:
        try:
            download_fashion_mnist(root)
            folder, source = fashion_mnist_folder(root), f"torchvision download into {root}"
        except Exception as e:  # no internet, no torchvision...
            error = e
    if folder is None:
        raise FileNotFoundError(fashion_mnist_missing(root)
                                + (f"\nThe download failed with: {error!r}" if error else ""))
    xi, yi = (_find_idx(folder, f) for f in _IDX_FILES["train"])
    ti, tl = (_find_idx(folder, f) for f in _IDX_FILES["test"])
    return (read_idx(xi)[:, None].astype(np.float32) / 255.0, read_idx(yi),
            read_idx(ti)[:, None].astype(np.float32) / 255.0, read_idx(tl), source)


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
