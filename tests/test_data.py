"""Datasets: offline sources, standardisation with training statistics, subsets, own arrays."""
import gzip
import shutil

import numpy as np
import pytest
import torch

from hff_edu import data, ff, hff, train
from hff_edu.models import build


def test_digits_bundle(digits):
    assert digits.num_classes == 10 and digits.input_shape == (1, 8, 8) and digits.in_features == 64
    assert len(digits.train) + len(digits.test) == 1797
    assert abs(float(digits.train.x.mean())) < 1e-4
    assert float(digits.train.x.std()) == pytest.approx(1.0, abs=1e-3)
    assert digits.class_names[3] == "3"


def test_subset_is_stratified_and_seeded():
    a = data.load("digits", subset=100, seed=1)
    b = data.load("digits", subset=100, seed=1)
    c = data.load("digits", subset=100, seed=2)
    assert len(a.train) == 100
    assert torch.equal(a.train.y, b.train.y) and torch.equal(a.train.x, b.train.x)
    assert not torch.equal(a.train.x, c.train.x)
    counts = torch.bincount(a.train.y, minlength=10)
    assert counts.min() >= 9 and counts.max() <= 11


fashion_available = data._find_idx(data.DEBIAN_FASHION_DIR, "t10k-labels-idx1-ubyte") is not None


@pytest.mark.skipif(not fashion_available, reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_offline():
    ds = data.load("fashion-mnist", subset=1000, test_subset=500)
    assert ds.num_classes == 10 and ds.input_shape == (1, 28, 28)
    assert len(ds.train) == 1000 and len(ds.test) == 500
    assert ds.class_names[9] == "Ankle boot"
    img = ds.unstandardise(ds.train.x[:4])
    assert float(img.min()) >= -1e-4 and float(img.max()) <= 1 + 1e-4


def test_fashion_from_torchvision_layout(tmp_path):
    """Files under <root>/FashionMNIST/raw are found (gzipped or not)."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("t10k", 20)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        header_i = b"\x00\x00\x08\x03" + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
        header_l = b"\x00\x00\x08\x01" + n.to_bytes(4, "big")
        (raw / f"{split}-images-idx3-ubyte").write_bytes(header_i + imgs.tobytes())
        with gzip.open(raw / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(header_l + labels.tobytes())
    ds = data.load("fashion-mnist", root=tmp_path, download=False)
    assert len(ds.train) == 30 and len(ds.test) == 20 and ds.source == str(raw)
    assert ds.test.y.tolist()[:3] == [0, 1, 2]


def test_standardised_with_training_statistics():
    rng = np.random.default_rng(0)
    xtr, xte = rng.normal(5, 2, (200, 12)), rng.normal(50, 2, (100, 12))
    ds = data.from_arrays(xtr, np.arange(200) % 3, xte, np.arange(100) % 3)
    assert abs(float(ds.train.x.mean())) < 1e-4
    assert float(ds.test.x.mean()) > 10  # the test shift is kept, not hidden


@pytest.mark.parametrize("C,D", [(2, 3), (3, 5), (25, 40), (12, 2000)])
def test_from_arrays_any_classes_and_sizes(C, D):
    rng = np.random.default_rng(C)
    centres = rng.normal(0, 5, (C, D))
    y = np.arange(40 * C) % C
    x = centres[y] + rng.normal(0, 1, (len(y), D))
    ds = data.from_arrays(x, y, x, y)
    assert ds.num_classes == C and ds.in_features == D
    # Adam moves every weight by ~lr, so a unit's input moves by ~lr * D: wide inputs
    # need a smaller step, or FF's ReLUs overshoot and die (goodness stuck at 0).
    lr = 1e-2 if D < 100 else 1e-3
    for method in ("ff", "hff"):
        model = build(method, ds, [32])
        train.fit(model, ds, epochs=10, batch_size=16, lr=lr, progress=False)
        assert train.accuracy(model, ds.test) > min(0.8, 3 / C)  # clearly learns
    small = build("ff", ds, [8])
    assert small.label_mode == "append"  # no blank border: the label is appended, no pixel lost


def test_small_input_keeps_pixels():
    x = torch.randn(4, 5)
    model = ff.FFNet(5, [8], 3)
    assert model.label_mode == "append" and model.layers[0].linear.in_features == 8
    h = hff.HFFNet(5, [8], 3)
    assert h.layers[0].linear.in_features == 5
    assert model.predict(x).shape == (4,)
