"""Datasets: offline sources, standardisation with training statistics, subsets, own arrays."""
import gzip
import shutil

import numpy as np
import pytest
import torch

from hff_edu import data, ff, hff, train
from hff_edu.core import sources
from hff_edu.methods import build


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


fashion_available = sources._find_idx(sources.DEBIAN_FASHION_DIR, "t10k-labels-idx1-ubyte") is not None


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


# ----------------------------------------------------------------------------
# standardisation per kind of data, and bundle.transform for fresh samples

def _wine_like(n=120, seed=0):
    """Three classes, columns in very different units (like wine's proline and hue)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 3)) + y[:, None]
    return x * np.array([1000.0, 1.0, 0.01]) + np.array([5000.0, 0.0, 2.0]), y


def test_tables_are_standardised_per_feature():
    x, y = _wine_like()
    ds = data.from_arrays(x, y, x[:30], y[:30])
    assert ds.standardise == "feature" and ds.mean.shape == (3,)
    torch.testing.assert_close(ds.train.x.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(ds.train.x.std(0), torch.ones(3), atol=1e-4, rtol=0)
    flat = data.from_arrays(x, y, x[:30], y[:30], standardise="global")
    assert float(flat.train.x[:, 2].std()) < 1e-3  # one scale for all: the small column vanishes


def test_images_per_channel_and_grey_images_globally():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(40, 2, 4, 4)) * np.array([1.0, 10.0])[None, :, None, None]
    ds = data.from_arrays(img, np.arange(40) % 2, img[:5], np.arange(5) % 2)
    assert ds.standardise == "channel" and ds.mean.shape == (2,)
    torch.testing.assert_close(ds.train.x.std(dim=(0, 2, 3)), torch.ones(2), atol=1e-4, rtol=0)
    grey = data.from_arrays(img[:, 0], np.arange(40) % 2, img[:5, 0], np.arange(5) % 2)
    assert grey.standardise == "global" and grey.mean.shape == (1,)
    none = data.from_arrays(img, np.arange(40) % 2, img[:5], np.arange(5) % 2, standardise=False)
    assert none.standardise == "none" and torch.equal(none.train.x, torch.as_tensor(img, dtype=torch.float32))


@pytest.mark.parametrize("shape", [(50, 7), (50, 2, 3, 3), (50, 5, 5)])
def test_transform_applies_the_training_statistics(shape):
    rng = np.random.default_rng(1)
    x = rng.normal(3, 2, shape)
    y = np.arange(50) % 2
    ds = data.from_arrays(x, y, x[:10], y[:10], val=0.2)
    torch.testing.assert_close(ds.transform(x[:10]), ds.test.x)  # what from_arrays did to the test split
    torch.testing.assert_close(ds.unstandardise(ds.transform(x[:10])), torch.as_tensor(x[:10]).float(),
                               atol=1e-5, rtol=1e-5)
    if len(shape) > 2:  # image bundles also take flat rows
        torch.testing.assert_close(ds.transform(x[:10].reshape(10, -1)), ds.test.x)


def test_wine_with_the_defaults_learns():
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split
    x, y = load_wine(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    ds = data.from_arrays(xtr, ytr, xte, yte)
    model = build("hff", ds, [64])
    train.fit(model, ds, progress=False)
    assert train.accuracy(model, ds.test) >= 0.95  # one global scale gave 0.67 (benchmarks/tabular.py)
    fresh = model.predict(ds.transform(xte[:5]))
    assert torch.equal(fresh, model.predict(ds.test.x[:5]))


# ----------------------------------------------------------------------------
# the validation split

def _ids(n=200, classes=(0.5, 0.3, 0.2), seed=0):
    """Samples whose first column is a unique id (kept by standardise='none'); imbalanced classes."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(classes), size=n, p=classes)
    x = np.column_stack([np.arange(n), rng.normal(size=(n, 3))])
    return x, y


def _id_set(split):
    return set(split.x[:, 0].round().long().tolist())


def test_val_split_is_stratified_and_disjoint():
    x, y = _ids()
    xte, yte = x + 10_000, y  # test ids are distinct
    ds = data.from_arrays(x, y, xte, yte, val=0.25, standardise="none")
    assert len(ds.val) == 50 and len(ds.train) == 150
    val, tr, te = _id_set(ds.val), _id_set(ds.train), _id_set(ds.test)
    assert not val & tr and not val & te and val | tr == set(range(200))
    share = torch.bincount(torch.as_tensor(y), minlength=3).double() / 200
    got = torch.bincount(ds.val.y, minlength=3).double()
    assert torch.all((got - 50 * share).abs() <= 1)  # each class in proportion, to the sample


def test_val_split_is_reproducible_with_its_own_seed():
    x, y = _ids()
    a = data.from_arrays(x, y, x, y, val=40, seed=3, standardise="none")
    b = data.from_arrays(x, y, x, y, val=40, seed=3, standardise="none")
    c = data.from_arrays(x, y, x, y, val=40, seed=3, val_seed=4, standardise="none")
    d = data.from_arrays(x, y, x, y, val=40, seed=5, val_seed=3, standardise="none")
    assert _id_set(a.val) == _id_set(b.val) and torch.equal(a.train.x, b.train.x)
    assert _id_set(a.val) != _id_set(c.val)
    assert _id_set(a.val) == _id_set(d.val)  # the default val_seed is seed


def test_statistics_come_from_the_remainder_and_subset_draws_from_it():
    x, y = _ids()
    x[:, 1] += 100 * (np.arange(200) % 7 == 0)  # a column whose mean depends on which rows are in
    ds = data.from_arrays(x, y, x, y, val=0.3, seed=1, subset=60)
    raw = data.from_arrays(x, y, x, y, val=0.3, seed=1, standardise="none")  # same draw, raw values
    remainder = raw.train.x.double()
    torch.testing.assert_close(ds.mean, remainder.mean(0), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ds.val.x, ds.transform(raw.val.x))  # val scaled with the remainder's statistics
    assert len(ds.train) == 60 and _id_set(data.from_arrays(x, y, x, y, val=0.3, seed=1, subset=60,
                                                             standardise="none").train) <= _id_set(raw.train)


def test_load_with_val(digits):
    ds = data.load("digits", val=0.2, subset=500)
    assert len(ds.val) == 270 and len(ds.train) == 500 and len(ds.test) == len(digits.test)
    assert "270 val" in ds.describe()
    moved = ds.to("cpu")
    assert moved.val is not None and torch.equal(moved.val.y, ds.val.y)


# ----------------------------------------------------------------------------
# fit(eval_on=...)

class _Untouchable:
    """A test split that fails the moment anything reads it."""

    def __getattr__(self, name):
        raise AssertionError(f"fit read ds.test.{name} although it evaluates on the validation split")

    def __len__(self):
        raise AssertionError("fit read len(ds.test)")


@pytest.fixture(scope="module")
def with_val():
    return data.load("digits", subset=300, test_subset=100, val=100)


def test_eval_on_val_never_touches_the_test_split(with_val):
    from dataclasses import replace
    ds = replace(with_val, test=_Untouchable())
    h = train.fit(build("hff", ds, [16]), ds, epochs=2, progress=False)  # "auto" picks val
    assert h.config["eval_on"] == "val" and set(h.final) >= {"val_acc", "layer_val_acc"}
    assert "test_acc" not in h.final and np.isnan(h.test_acc) and 0 < h.val_acc <= 1
    assert "val acc" in h.table() and "test acc" not in h.table()


def test_eval_on_test_both_and_none(with_val, digits):
    h = train.fit(build("bp", digits, [16]), digits, epochs=1, progress=False)  # no val: as before
    assert h.config["eval_on"] == "test" and "test_acc" in h.final and "val_acc" not in h.final
    both = train.fit(build("local-ce", with_val, [16, 16]), with_val, epochs=1, eval_on="both", progress=False)
    assert {"val_acc", "test_acc", "layer_val_acc", "layer_test_acc"} <= set(both.final)
    assert len(both.final["layer_val_acc"]) == 2
    assert "val:layer 2" in both.table() and "test:layer 2" in both.table()
    none = train.fit(build("hff", with_val, [16]), with_val, epochs=1, eval_on="none", progress=False)
    assert {"val_acc", "test_acc"}.isdisjoint(none.final) and "train_acc" in none.final
    assert train.History.from_dict(both.to_dict()).val_acc == both.val_acc


def test_cli_val_reports_validation_and_scores_test_once(tmp_path, capsys):
    from hff_edu import cli
    ckpt = tmp_path / "m.pt"
    argv = ["train", "--method", "bp", "--widths", "16", "--epochs", "2", "--quiet", "--val", "0.2",
            "--val-seed", "3", "--save", str(ckpt)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    head = out.splitlines()[2]  # the per-epoch table's header
    assert "1077 train / 270 val / 450 test" in out and "val acc" in head and "test acc" not in head
    assert out.count("final test accuracy (bp):") == 1 and "final validation accuracy (bp)" in out
    acc = out.split("final test accuracy (bp):")[1].split()[0]
    assert cli.main(["evaluate", str(ckpt)]) == 0  # the same splits, so the same standardisation
    assert f"test accuracy (bp): {acc}" in capsys.readouterr().out


def test_split_classes_keeps_the_validation_split():
    from hff_edu import transfer
    ds = data.load("digits", val=0.2)
    part = transfer.split_classes(ds, [3, 7])
    assert set(part.val.y.tolist()) == {0, 1} and len(part.val) == int(((ds.val.y == 3) | (ds.val.y == 7)).sum())
    assert torch.equal(part.mean, ds.mean) and part.standardise == ds.standardise and part.num_classes == 2
