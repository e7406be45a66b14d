"""Bad and edge inputs, table-driven: every entry point names the problem and the fix.

Each case of ``BAD`` calls the API (constructors, predict, fit, data.load,
from_arrays, checkpoints) with one mistake and asserts the error type and a phrase
of its message. ``CLI`` runs ``hff_edu.cli.main([...])`` in-process and asserts
exit status 2 with exactly one ``error:`` line on stderr (no traceback); two cases
run as real subprocesses. ``EDGE`` holds inputs that are unusual but legitimate
and checks their result. Then: two processes saving to one path many times, and
the training cache never handing one dataset's model to another.
"""
import functools
import os
import re
import subprocess
import sys
import textwrap
import warnings
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from hff_edu import baselines, checkpoint, cli, data, ff, hff, methods, train
from hff_edu.methods import symba

ROOT = Path(__file__).resolve().parent.parent
X10 = torch.randn(6, 10)
Y3 = torch.tensor([0, 1, 2, 0, 1, 2])


@functools.lru_cache(maxsize=None)
def small_digits(**kw):
    """A small digits bundle (cached: the cases only read it)."""
    return data.load("digits", subset=120, test_subset=60, **kw)


def table(n=30, d=4, classes=3, seed=0):
    """A small learnable table: class centres 4 apart, unit noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    return rng.normal(0, 4, (classes, d))[y] + rng.normal(size=(n, d)), y


def fit_small(model=None, ds=None, **kw):
    ds = ds or small_digits()
    model = model or methods.build("hff", ds, [8])
    return train.fit(model, ds, **dict(dict(epochs=1, progress=False, device="cpu"), **kw))


def with_nan_weight():
    model = hff.HFFNet(64, [8, 8], 10)
    with torch.no_grad():
        model.layers[1].linear.weight[0, 0] = float("nan")
    return model


def write(tmp, name, content: bytes):
    path = tmp / name
    path.write_bytes(content)
    return path


def saved(tmp, name="m.pt", model=None):
    return checkpoint.save(model or hff.HFFNet(10, [8], 3), tmp / name)


def tampered(tmp, change):
    """A real checkpoint with its payload changed by ``change(payload)``."""
    path = saved(tmp)
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    return path


def fashion_root(tmp, cut: str | None = None, gz: bool = False):
    """A data root holding small, valid Fashion-MNIST IDX files (torchvision's layout), with the file
    named ``cut`` truncated as a half-finished download leaves it."""
    import gzip
    raw = tmp / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for stem, dims in (("train-images-idx3-ubyte", (5, 5, 5)), ("train-labels-idx1-ubyte", (5,)),
                       ("t10k-images-idx3-ubyte", (5, 5, 5)), ("t10k-labels-idx1-ubyte", (5,))):
        body = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
        body += bytes(int(np.prod(dims)) * [1])
        if stem == cut:
            body = body[:4 + 4 * len(dims) + (7 if len(dims) == 3 else 2)]
        if gz:
            with gzip.open(raw / f"{stem}.gz", "wb") as f:
                f.write(body)
        else:
            (raw / stem).write_bytes(body)
    return tmp


def load_fashion(root):
    return data.load("fashion-mnist", root=root, download=False)


def truncated(tmp):
    path = saved(tmp)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")

# (category, name, call(tmp), error type, phrase of the message)
BAD = [
    # -- model constructors -----------------------------------------------------------
    ("constructor", "tau inf", lambda t: hff.HFFNet(10, [8], 3, tau=float("inf")), ValueError, "tau=inf: must be > 0 and finite"),
    ("constructor", "tau 0", lambda t: hff.HFFNet(10, [8], 3, tau=0), ValueError, "tau=0: must be > 0"),
    ("constructor", "margin negative", lambda t: hff.HFFNet(10, [8], 3, margin=-0.1), ValueError, "margin=-0.1"),
    ("constructor", "margin nan", lambda t: hff.HFFNet(10, [8], 3, margin=float("nan")), ValueError, "margin=nan"),
    ("constructor", "protos 0", lambda t: hff.HFFNet(10, [8], 3, protos_per_class=0), ValueError, "protos_per_class=0"),
    ("constructor", "protos 1.5", lambda t: hff.HFFNet(10, [8], 3, protos_per_class=1.5), ValueError, "whole number"),
    ("constructor", "init unknown", lambda t: hff.HFFNet(10, [8], 3, init="sphere"), ValueError, "Unknown prototype init 'sphere'"),
    ("constructor", "rule unknown", lambda t: hff.HFFNet(10, [8], 3, rule="first"), ValueError, "Unknown HFF prediction rule"),
    ("constructor", "learnable str", lambda t: hff.HFFNet(10, [8], 3, learnable="yes"), ValueError, "learnable='yes': must be True or False"),
    ("constructor", "tau_p 0", lambda t: hff.HFFNet(10, [8], 3, tau_p=0), ValueError, "tau_p=0"),
    ("constructor", "theta 0", lambda t: ff.FFNet(10, [8], 3, theta=0), ValueError, "theta=0"),
    ("constructor", "theta inf", lambda t: ff.FFNet(10, [8], 3, theta=float("inf")), ValueError, "theta=inf"),
    ("constructor", "label_scale negative", lambda t: ff.FFNet(10, [8], 3, label_scale=-1), ValueError, "label_scale=-1"),
    ("constructor", "negatives unknown", lambda t: ff.FFNet(10, [8], 3, negatives="random"), ValueError, "Unknown negatives"),
    ("constructor", "predict_mode unknown", lambda t: ff.FFNet(10, [8], 3, predict_mode="fast"), ValueError, "FF prediction mode"),
    ("constructor", "label_mode unknown", lambda t: ff.FFNet(10, [8], 3, label_mode="prepend"), ValueError, "Unknown label_mode"),
    ("constructor", "overwrite too small", lambda t: ff.FFNet(3, [8], 3, label_mode="overwrite"), ValueError, "label_mode='append'"),
    ("constructor", "widths empty", lambda t: baselines.BPNet(10, [], 3), ValueError, "widths is empty"),
    ("constructor", "width 0", lambda t: baselines.BPNet(10, [8, 0], 3), ValueError, "positive integer"),
    ("constructor", "width 2.5", lambda t: baselines.BPNet(10, [2.5], 3), ValueError, "positive integer"),
    ("constructor", "width bool", lambda t: baselines.BPNet(10, [True], 3), ValueError, "positive integer"),
    ("constructor", "widths str", lambda t: baselines.BPNet(10, "500", 3), ValueError, "positive integer"),
    ("constructor", "in_features 0", lambda t: baselines.LocalCENet(0, [8], 3), ValueError, "in_features=0"),
    ("constructor", "in_features 10.5", lambda t: baselines.LocalCENet(10.5, [8], 3), ValueError, "whole number"),
    ("constructor", "one class", lambda t: baselines.LocalCENet(10, [8], 1), ValueError, "at least 2 classes"),
    ("constructor", "classes 2.5", lambda t: baselines.LocalCENet(10, [8], 2.5), ValueError, "num_classes=2.5"),
    ("constructor", "seed negative", lambda t: hff.HFFNet(10, [8], 3, seed=-1), ValueError, "seed=-1"),
    ("constructor", "channels empty", lambda t: hff.HFFConvNet(1, [], 3), ValueError, "channels is empty"),
    ("constructor", "in_channels 0", lambda t: hff.HFFConvNet(0, [4], 3), ValueError, "in_channels=0"),
    ("constructor", "head_dim 0", lambda t: hff.HFFConvNet(1, [4], 3, head_dim=0), ValueError, "head_dim=0"),
    ("constructor", "conv goodness", lambda t: ff.FFConvNet(1, [4], 3, goodness="max"), ValueError, "Unknown goodness"),
    ("constructor", "symba alpha 0", lambda t: symba.SymBaConvNet(1, [4], 3, alpha=0), ValueError, "alpha=0"),
    ("constructor", "convs_per_block 3", lambda t: baselines.BPConvNet(1, [4], 3, convs_per_block=3), ValueError, "convs_per_block=3"),
    ("constructor", "pool length", lambda t: baselines.LocalCEConvNet(1, [4, 8], 3, pool=[True]), ValueError, "pool has 1 entries"),
    ("constructor", "label every block", lambda t: ff.FFConvNet(1, [4], 3, label_mode="overlay", label_every_block=True),
     ValueError, "needs label_mode='channels'"),
    ("constructor", "build unknown method", lambda t: methods.build("svm", small_digits()), ValueError, "Unknown method 'svm'"),
    ("constructor", "build conv on a table", lambda t: methods.build("hff-conv", data.from_arrays(*table(), *table())),
     ValueError, "needs images"),
    # -- model input (predict, local_losses) -------------------------------------------
    ("model input", "numpy input", lambda t: hff.HFFNet(10, [8], 3).predict(np.zeros((2, 10))), TypeError, "Expected a torch.Tensor"),
    ("model input", "wrong features", lambda t: hff.HFFNet(10, [8], 3).predict(torch.randn(4, 11)), ValueError, "expects 10"),
    ("model input", "no batch dim", lambda t: ff.FFNet(10, [8], 3).predict(torch.randn(10)), ValueError, "no batch dimension"),
    ("model input", "empty batch", lambda t: baselines.BPNet(10, [8], 3).predict(torch.empty(0, 10)), ValueError, "batch is empty"),
    ("model input", "nan", lambda t: hff.HFFNet(10, [8], 3).predict(torch.full((2, 10), float("nan"))), ValueError, "NaN or Inf"),
    ("model input", "float64 1e300", lambda t: hff.HFFNet(10, [8], 3).predict(torch.full((2, 10), 1e300, dtype=torch.float64)),
     ValueError, "beyond float32's range"),
    ("model input", "labels out of range", lambda t: hff.HFFNet(10, [8], 3).local_losses(X10, Y3 + 1), ValueError, r"\[0, 3\)"),
    ("model input", "FF label outside the classes", lambda t: ff.FFNet(10, [8], 3).activities(X10, 3), ValueError,
     "label 3 is not a class: this model has 3 classes, labelled 0 to 2"),
    ("model input", "FF negative label tensor", lambda t: ff.FFNet(10, [8], 3).activities(X10, Y3 - 1), ValueError,
     "label -1 is not a class"),
    ("model input", "FF float label", lambda t: ff.FFNet(10, [8], 3).activities(X10, 1.0), ValueError,
     "label is a float: give a class index"),
    ("model input", "conv FF label outside the classes", lambda t: ff.FFConvNet(1, [4], 3).activities(torch.randn(2, 1, 8, 8), 5),
     ValueError, "label 5 is not a class"),
    ("model input", "float labels", lambda t: baselines.LocalCENet(10, [8], 3).local_losses(X10, Y3.float()), ValueError,
     "integer class indices"),
    ("model input", "conv flat input", lambda t: hff.HFFConvNet(1, [4], 3).predict(torch.randn(2, 64)), ValueError,
     "conv models take image batches"),
    ("model input", "conv one image", lambda t: hff.HFFConvNet(1, [4], 3).predict(torch.randn(1, 8, 8)), ValueError, "unsqueeze"),
    ("model input", "conv too small", lambda t: hff.HFFConvNet(1, [4, 4, 4, 4], 3).predict(torch.randn(2, 1, 8, 8)), ValueError,
     "too small for 4 pooling"),
    ("model input", "conv channels", lambda t: hff.HFFConvNet(3, [4], 3).predict(torch.randn(2, 1, 8, 8)), ValueError,
     "1 channels but the model expects 3"),
    # -- fit -------------------------------------------------------------------------
    ("fit", "lr 0", lambda t: fit_small(lr=0), ValueError, "lr=0: must be > 0"),
    ("fit", "lr nan", lambda t: fit_small(lr=float("nan")), ValueError, "lr=nan"),
    ("fit", "lr inf", lambda t: fit_small(lr=float("inf")), ValueError, "lr=inf"),
    ("fit", "batch 0", lambda t: fit_small(batch_size=0), ValueError, "batch_size=0"),
    ("fit", "batch 2.5", lambda t: fit_small(batch_size=2.5), ValueError, "batch_size=2.5: must be a whole number"),
    ("fit", "batch str", lambda t: fit_small(batch_size="100"), ValueError, "batch_size='100'"),
    ("fit", "epochs negative", lambda t: fit_small(epochs=-1), ValueError, "epochs=-1"),
    ("fit", "epochs 1.5", lambda t: fit_small(epochs=1.5), ValueError, "whole number"),
    ("fit", "batch 100.0", lambda t: fit_small(batch_size=100.0), ValueError, "batch_size=100.0: must be a whole number"),
    ("fit", "weight decay negative", lambda t: fit_small(weight_decay=-1e-4), ValueError, "weight_decay=-0.0001"),
    ("fit", "optimizer unknown", lambda t: fit_small(optimizer="rmsprop"), ValueError, "Unknown optimizer 'rmsprop'"),
    ("fit", "schedule unknown", lambda t: fit_small(schedule="random"), ValueError, "Unknown schedule"),
    ("fit", "greedy too few epochs", lambda t: fit_small(methods.build("hff", small_digits(), [8, 8, 8]), schedule="greedy",
                                                         epochs=2), ValueError, "would never train"),
    ("fit", "greedy backprop", lambda t: fit_small(methods.build("bp", small_digits(), [8]), schedule="greedy"), ValueError,
     "cannot be trained greedily"),
    ("fit", "eval_on unknown", lambda t: fit_small(eval_on="train"), ValueError, "Unknown eval_on 'train'"),
    ("fit", "eval_on val without val", lambda t: fit_small(eval_on="val"), ValueError, "has no validation split"),
    ("fit", "data not a bundle", lambda t: train.fit(hff.HFFNet(64, [8], 10), (X10, Y3), progress=False), ValueError,
     "not a DataBundle"),
    ("fit", "model not a model", lambda t: train.fit(torch.nn.Linear(64, 10), small_digits(), progress=False), ValueError,
     "fit trains hff_edu models"),
    pytest.param("fit", "device cuda", lambda t: fit_small(device="cuda"), ValueError, "CUDA is not available",
                 marks=no_cuda),
    ("fit", "device unknown", lambda t: fit_small(device="tpu"), ValueError, "not a device torch knows"),
    ("fit", "classes mismatch", lambda t: fit_small(hff.HFFNet(64, [8], 3)), ValueError, "10 classes but the model was built for 3"),
    ("fit", "features mismatch", lambda t: fit_small(hff.HFFNet(63, [8], 10)), ValueError, "expects 63"),
    ("fit", "callback not callable", lambda t: fit_small(callbacks=[1]), ValueError, "not callable"),
    ("fit", "augment not callable", lambda t: fit_small(augment="flip"), ValueError, "augment='flip'"),
    ("fit", "probe 0", lambda t: fit_small(train_eval_samples=0), ValueError, "train_eval_samples=0"),
    ("fit", "nan weight diverges", lambda t: fit_small(with_nan_weight()), FloatingPointError,
     r"epoch 1: the loss of layer 2 became nan \(lr=0.001\)"),
    # -- data.load -------------------------------------------------------------------
    ("data.load", "unknown name", lambda t: data.load("imagenet"), ValueError, "Unknown dataset 'imagenet'"),
    ("data.load", "name not str", lambda t: data.load(5), ValueError, "give a dataset name"),
    ("data.load", "subset 0", lambda t: data.load("digits", subset=0), ValueError, "subset=0"),
    ("data.load", "subset 2.5", lambda t: data.load("digits", subset=2.5), ValueError, "subset=2.5: must be a whole number"),
    ("data.load", "subset str", lambda t: data.load("digits", subset="100"), ValueError, "subset='100'"),
    ("data.load", "test_subset negative", lambda t: data.load("digits", test_subset=-1), ValueError, "test_subset=-1"),
    ("data.load", "seed negative", lambda t: data.load("digits", seed=-1), ValueError, "seed=-1"),
    ("data.load", "val negative", lambda t: data.load("digits", val=-1), ValueError, "non-negative number of validation"),
    ("data.load", "val 1.5", lambda t: data.load("digits", val=1.5), ValueError, r"must lie in \(0, 1\)"),
    ("data.load", "val 1.0", lambda t: data.load("digits", val=1.0), ValueError, r"must lie in \(0, 1\)"),
    ("data.load", "val bool", lambda t: data.load("digits", val=True), ValueError, "val=True: give a number of validation"),
    ("data.load", "val too large", lambda t: data.load("digits", val=1347), ValueError, "has only 1347 samples"),
    ("data.load", "val str", lambda t: data.load("digits", val="0.1"), ValueError, "val='0.1'"),
    ("data.load", "val_seed negative", lambda t: data.load("digits", val=0.1, val_seed=-2), ValueError, "val_seed=-2"),
    pytest.param("data.load", "device cuda", lambda t: data.load("digits", device="cuda"), ValueError,
                 "CUDA is not available", marks=no_cuda),
    ("data.load", "download str", lambda t: data.load("digits", download="no"), ValueError, "download='no'"),
    # -- from_arrays -----------------------------------------------------------------
    ("from_arrays", "length mismatch", lambda t: data.from_arrays(np.zeros((5, 3)), [0, 1, 0, 1], *table()), ValueError,
     "5 inputs but 4 labels"),
    ("from_arrays", "nan", lambda t: data.from_arrays(np.full((4, 3), np.nan), [0, 1, 0, 1], *table()), ValueError, "NaN or Inf"),
    ("from_arrays", "inf", lambda t: data.from_arrays(np.full((4, 3), np.inf), [0, 1, 0, 1], *table()), ValueError, "NaN or Inf"),
    ("from_arrays", "shape mismatch", lambda t: data.from_arrays(*table(d=4), *table(d=5)), ValueError, "same input shape"),
    ("from_arrays", "single class", lambda t: data.from_arrays(np.zeros((4, 3)), [0] * 4, np.zeros((2, 3)), [0, 0]), ValueError,
     "at least 2 classes"),
    ("from_arrays", "strings in x", lambda t: data.from_arrays([["a", 1], ["b", 2]], [0, 1], [["a", 1]], [0]), ValueError,
     "not all numbers"),
    ("from_arrays", "string labels", lambda t: data.from_arrays(np.zeros((2, 3)), ["cat", "dog"], np.zeros((1, 3)), ["cat"]),
     ValueError, "return_inverse=True"),
    ("from_arrays", "fractional labels", lambda t: data.from_arrays(np.zeros((2, 3)), [0.5, 1], np.zeros((1, 3)), [0]),
     ValueError, "labels are not integers"),
    ("from_arrays", "negative labels", lambda t: data.from_arrays(np.zeros((2, 3)), [-1, 1], np.zeros((1, 3)), [0]), ValueError,
     "labels must be 0..C-1"),
    ("from_arrays", "one-hot labels", lambda t: data.from_arrays(np.zeros((3, 3)), np.eye(3), np.zeros((1, 3)), [0]),
     ValueError, "y.argmax"),
    ("from_arrays", "1-d inputs", lambda t: data.from_arrays(np.zeros(4), [0, 1, 0, 1], *table()), ValueError, "reshape"),
    ("from_arrays", "5-d inputs", lambda t: data.from_arrays(np.zeros((2, 1, 1, 2, 2)), [0, 1], np.zeros((2, 1, 1, 2, 2)),
                                                             [0, 1]), ValueError, "expected \\(N, features\\)"),
    ("from_arrays", "empty split", lambda t: data.from_arrays(np.zeros((0, 3)), [], *table(d=3)), ValueError, "split is empty"),
    ("from_arrays", "typo label", lambda t: data.from_arrays(np.zeros((11, 2)), list(range(10)) + [5_000_000], np.zeros((2, 2)),
                                                             [0, 1]), ValueError, "mistyped label"),
    ("from_arrays", "standardise unknown", lambda t: data.from_arrays(*table(), *table(), standardise="pixel"), ValueError,
     "Unknown standardise 'pixel'"),
    ("from_arrays", "channel on a table", lambda t: data.from_arrays(*table(), *table(), standardise="channel"), ValueError,
     "needs images"),
    ("from_arrays", "too few class names", lambda t: data.from_arrays(*table(), *table(), class_names=["a", "b"]), ValueError,
     "2 class names given but labels go up to 2"),
    ("from_arrays", "class names str", lambda t: data.from_arrays(*table(), *table(), class_names="abc"), ValueError,
     "one name per class"),
    ("from_arrays", "1e300 unstandardised", lambda t: data.from_arrays(np.full((4, 2), 1e300), [0, 1, 0, 1], np.zeros((2, 2)),
                                                                       [0, 1], standardise="none"), ValueError,
     "beyond float32's range"),
    ("from_arrays", "val empties a class", lambda t: data.from_arrays(np.zeros((5, 2)), [0, 0, 0, 0, 1], np.zeros((2, 2)), [0, 1],
                                                                      val=0.5), ValueError, r"leaves class\(es\) \[1\]"),
    ("data", "truncated IDX images", lambda t: load_fashion(fashion_root(t, cut="train-images-idx3-ubyte")), ValueError,
     r"train-images-idx3-ubyte holds 7 bytes of data but its header announces 5 x 5 x 5 = 125: the file is truncated\. "
     "Delete it and fetch it again"),
    ("data", "truncated IDX labels, gzipped", lambda t: load_fashion(fashion_root(t, cut="t10k-labels-idx1-ubyte", gz=True)),
     ValueError, r"t10k-labels-idx1-ubyte.gz .*fetch it again"),
    ("from_arrays", "name not str", lambda t: data.from_arrays(*table(), *table(), name=3), ValueError, "name=3"),
    ("from_arrays", "complex", lambda t: data.from_arrays(np.ones((2, 2)) * 1j, [0, 1], np.ones((1, 2)), [0]), ValueError,
     "complex"),
    ("from_arrays", "transform wrong shape", lambda t: data.from_arrays(*table(), *table()).transform(np.zeros((2, 5))),
     ValueError, r"pass \(N, 4\)"),
    # -- checkpoints -----------------------------------------------------------------
    ("checkpoint", "random bytes", lambda t: checkpoint.load(write(t, "r.pt", os.urandom(4096))), ValueError,
     "not a readable hff_edu checkpoint"),
    ("checkpoint", "truncated", lambda t: checkpoint.load(truncated(t)), ValueError, "corrupt, truncated"),
    ("checkpoint", "text file", lambda t: checkpoint.load(write(t, "t.pt", b"weights: none\n")), ValueError,
     "not a readable hff_edu checkpoint"),
    ("checkpoint", "empty file", lambda t: checkpoint.load(write(t, "e.pt", b"")), ValueError, "not a readable"),
    ("checkpoint", "foreign torch file", lambda t: checkpoint.load(torch.save({"w": torch.ones(2)}, t / "f.pt") or t / "f.pt"),
     ValueError, "not written by hff_edu.training.checkpoint.save"),
    ("checkpoint", "config and weights disagree", lambda t: checkpoint.load(tampered(t, lambda p: p["config"].update(widths=[9]))),
     ValueError, "weights that do not fit its own config"),
    ("checkpoint", "unknown config key", lambda t: checkpoint.load(tampered(t, lambda p: p["config"].update(colour="red"))),
     ValueError, "config this version cannot build"),
    ("checkpoint", "unknown kind", lambda t: checkpoint.load(tampered(t, lambda p: p.update(kind="SVMNet"))), ValueError,
     "holds a SVMNet, which this version"),
    ("checkpoint", "newer format", lambda t: checkpoint.load(tampered(t, lambda p: p.update(format="hff_edu-checkpoint-9"))),
     ValueError, "its format is 'hff_edu-checkpoint-9'"),
    ("checkpoint", "missing fields", lambda t: checkpoint.load(tampered(t, lambda p: p.pop("state_dict"))), ValueError,
     "incomplete"),
    ("checkpoint", "missing file", lambda t: checkpoint.load(t / "nothing.pt"), FileNotFoundError, "No checkpoint at"),
    ("checkpoint", "folder", lambda t: checkpoint.load(t), ValueError, "is a folder"),
    ("checkpoint", "save onto a folder", lambda t: checkpoint.save(hff.HFFNet(10, [8], 3), t), ValueError,
     r"is a folder: save needs a file name, e.g. .*model\.pt"),
    ("checkpoint", "save inside a file", lambda t: checkpoint.save(hff.HFFNet(10, [8], 3), write(t, "f", b"x") / "m.pt"),
     ValueError, "is a file, so"),
    ("checkpoint", "other architecture", lambda t: checkpoint.load_into(hff.HFFNet(10, [16], 3), saved(t)), ValueError,
     "build the model with the checkpoint's configuration"),
    pytest.param("checkpoint", "device cuda", lambda t: checkpoint.load(saved(t), device="cuda"), ValueError,
                 "CUDA is not available", marks=no_cuda),
]
BAD = [c if hasattr(c, "marks") else pytest.param(*c) for c in BAD]


def _id(p):
    return f"{p.values[0]}: {p.values[1]}"


@pytest.mark.parametrize("category,name,call,error,phrase", BAD, ids=[_id(p) for p in BAD])
def test_bad_input(category, name, call, error, phrase, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the empty-class warning of some tables
        with pytest.raises(error, match=phrase):
            call(tmp_path)


# -- the command line: exit status 2, one line, no traceback ---------------------------
T = ["train", "--method", "hff", "--quiet", "--widths", "8", "--subset", "100", "--epochs", "1"]
CLI = [
    ("train --epochs 0", ["train", "--method", "hff", "--epochs", "0"], "--epochs: 0 is too small"),
    ("compare --epochs 0", ["compare", "--epochs", "0"], "--epochs: 0 is too small"),
    ("--threads -1", T + ["--threads", "-1"], "--threads: -1 is too small"),
    ("--threads x", T + ["--threads", "x"], "'x' is not a whole number"),
    pytest.param("--device cuda", T + ["--device", "cuda"], "CUDA is not available", marks=no_cuda),
    ("--device tpu", T + ["--device", "tpu"], "not a device torch knows"),
    ("--widths 3x0", T + ["--widths", "3x0"], "--widths: '3x0': write positive sizes"),
    ("--widths abc", T + ["--widths", "abc"], "write positive sizes"),
    ("--channels 0", ["train", "--method", "hff-conv", "--channels", "0"], "--channels"),
    ("--batch-size 0", T + ["--batch-size", "0"], "--batch-size: 0 is too small"),
    ("--batch-size 2.5", T + ["--batch-size", "2.5"], "'2.5' is not a whole number"),
    ("--lr 0", T + ["--lr", "0"], "--lr: 0: give a finite number > 0"),
    ("--lr nan", T + ["--lr", "nan"], "--lr: nan"),
    ("--lr -1", T + ["--lr", "-1"], "--lr"),
    ("--weight-decay -1", T + ["--weight-decay", "-1"], "--weight-decay"),
    ("--val 1.5", T + ["--val", "1.5"], r"--val: 1.5: a fraction must lie in \(0, 1\)"),
    ("--val abc", T + ["--val", "abc"], "--val"),
    ("--val -3", T + ["--val", "-3"], "non-negative number of validation samples"),
    ("--val too large", T + ["--val", "5000"], "has only 1347 samples"),
    ("--val-seed -1", T + ["--val", "0.1", "--val-seed", "-1"], "--val-seed"),
    ("--subset 0", T + ["--subset", "0"], "--subset: 0 is too small"),
    ("--test-subset 0", T + ["--test-subset", "0"], "--test-subset"),
    ("--seed -1", T + ["--seed", "-1"], "--seed: -1 is too small"),
    ("--methods unknown", ["compare", "--methods", "hff,svm"], r"unknown method\(s\) \['svm'\]"),
    ("--dataset unknown", T + ["--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    ("--method missing", ["train"], "required: --method"),
    ("no command", [], "required: command"),
    ("unknown option", T + ["--colour", "red"], "unrecognized arguments: --colour red"),
    ("--tau 0", T + ["--tau", "0"], "tau=0.0: must be > 0"),
    ("--margin -1", T + ["--margin", "-1"], "--margin"),
    ("--protos-per-class 0", T + ["--protos-per-class", "0"], "--protos-per-class"),
    ("--head-dim 0", ["train", "--method", "hff-conv", "--head-dim", "0"], "--head-dim"),
    ("--theta 0", ["train", "--method", "ff", "--theta", "0"], "--theta"),
    ("--label-scale 0", ["train", "--method", "ff", "--label-scale", "0"], "--label-scale"),
    ("--convs-per-block 3", T + ["--convs-per-block", "3"], "--convs-per-block"),
    ("greedy backprop", ["train", "--method", "bp", "--schedule", "greedy", "--quiet", "--widths", "8", "--subset", "100"],
     "cannot be trained greedily"),
    ("--save into a folder", T + ["--save", "."], "is a folder"),
]
CLI = [c if hasattr(c, "marks") else pytest.param(*c) for c in CLI]


@pytest.mark.parametrize("name,argv,phrase", CLI, ids=[p.values[0] for p in CLI])
def test_cli_user_error(name, argv, phrase, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    assert re.search(phrase, lines[0]), lines[0]


CLI_FILES = {
    "random bytes": lambda t: write(t, "r.pt", os.urandom(2048)),
    "truncated": truncated,
    "text": lambda t: write(t, "t.pt", b"hello\n"),
    "missing": lambda t: t / "missing.pt",
    "config and weights disagree": lambda t: tampered(t, lambda p: p["config"].update(widths=[9])),
    "no dataset named": lambda t: saved(t),
}


@pytest.mark.parametrize("kind", list(CLI_FILES))
def test_cli_evaluate_bad_checkpoint(kind, tmp_path, capsys):
    path = CLI_FILES[kind](tmp_path)
    assert cli.main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and str(path) in err, err


def _subprocess_cli(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "hff_edu", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env=env)


def test_cli_errors_in_a_real_process_have_no_traceback(tmp_path):
    junk = write(tmp_path, "junk.pt", b"\x80\x04not a pickle")
    for args in (["evaluate", str(junk)], ["train", "--method", "hff", "--threads", "-1"]):
        r = _subprocess_cli(*args)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert r.stderr.startswith("error: ")


# -- legitimate edge inputs: the right result -------------------------------------------
def edge_conv_batch_of_one_in_train_mode():
    model = methods.build("hff-conv", small_digits(), [4, 8, 8])  # 8x8 -> 1x1 after three pools
    model.train()
    pred = model.predict(small_digits().test.x[:1])
    assert pred.shape == (1,) and model.training  # eval mode inside predict, train mode restored
    model.eval()
    assert torch.equal(pred, model.predict(small_digits().test.x[:1]))


def edge_conv_last_batch_of_one():
    ds = data.load("digits", subset=41, test_subset=20)
    for method in ("hff-conv", "local-ce-conv", "ff-conv", "bp-conv"):
        h = train.fit(methods.build(method, ds, [4, 8, 8]), ds, epochs=2, batch_size=20, progress=False)
        assert len(h.records) == 2 and all(np.isfinite(h.records[-1]["train_loss"]))


def edge_conv_batch_size_one():
    ds = data.load("digits", subset=12, test_subset=10)
    for method in ("hff-conv", "local-ce-conv"):
        model = methods.build(method, ds, [4, 8, 8])
        h = train.fit(model, ds, epochs=1, batch_size=1, progress=False)
        assert all(np.isfinite(h.final["train_loss"])) and not model.training


def edge_labels_with_gaps():
    x, _ = table(n=10)
    with pytest.warns(UserWarning, match=r"4 of 6 classes have no training sample \(classes \[1, 2, 3, 4\]\)"):
        ds = data.from_arrays(x, [0, 5] * 5, x[:4], [0, 5, 0, 5])
    assert ds.num_classes == 6


def edge_one_based_labels():
    x, y = table(n=12)
    with pytest.warns(UserWarning, match="subtract 1"):
        data.from_arrays(x, y + 1, x, y + 1)


def edge_float_and_bool_labels():
    x, y = table(n=12, classes=2)
    assert data.from_arrays(x, y.astype(float), x, y.astype(float)).num_classes == 2
    assert data.from_arrays(x, y.astype(bool), x, y.astype(bool)).train.y.dtype == torch.long


def edge_numpy_ints():
    n = np.int64(20)
    h = fit_small(batch_size=n, epochs=np.int32(1))
    assert h.config["batch_size"] == 20 and type(h.config["batch_size"]) is int
    assert baselines.BPNet(np.int64(10), [np.int64(8)], np.int64(3)).widths == [8]
    assert len(data.load("digits", subset=n).train) == 20


def edge_val_zero():
    assert data.load("digits", val=0).val is None


def edge_constant_column():
    x, y = table(n=30)
    x[:, 2] = 7.0
    ds = data.from_arrays(x, y, x + 1, y)
    assert torch.all(ds.train.x[:, 2] == 0) and torch.all(ds.test.x[:, 2] == 1)  # scale 1, not 1/0


def edge_large_offset_column():
    x, y = table(n=40)
    x[:, 0] = 1.7e9 + np.arange(40)  # a timestamp: float32 alone would round it to steps of 128
    ds = data.from_arrays(x, y, x, y)
    assert float(ds.train.x[:, 0].std()) == pytest.approx(1.0, rel=1e-3)
    assert len(torch.unique(ds.train.x[:, 0])) == 40


def edge_empty_fit():
    h = fit_small(epochs=0)
    assert h.records == [] and np.isnan(h.test_acc)


def edge_huge_lr_says_so():
    ds = data.load("digits", subset=300)
    with pytest.warns(train.TrainingWarning, match="went backwards"):
        h = train.fit(methods.build("hff", ds, [64]), ds, epochs=3, lr=1e6, progress=False)
    assert any("likely far too high" in n for n in h.notes)
    with pytest.warns(train.TrainingWarning, match="training diverged"):
        h = train.fit(methods.build("bp", ds, [64]), ds, epochs=3, lr=1e6, progress=False)
    assert any("rose from" in n for n in h.notes)


def edge_cli_huge_lr_warning(capsys):
    assert cli.main(T + ["--lr", "1e6", "--epochs", "3", "--widths", "64", "--subset", "300"]) == 0
    out = capsys.readouterr()
    assert "final test accuracy" in out.out and "warning: Every loss of HFFNet ended above where it started" in out.err


EDGE = {f.__name__[5:]: f for f in (edge_conv_batch_of_one_in_train_mode, edge_conv_last_batch_of_one,
                                    edge_conv_batch_size_one, edge_labels_with_gaps, edge_one_based_labels,
                                    edge_float_and_bool_labels, edge_numpy_ints, edge_val_zero,
                                    edge_constant_column, edge_large_offset_column, edge_empty_fit,
                                    edge_huge_lr_says_so)}


@pytest.mark.parametrize("name", list(EDGE))
def test_edge_input(name):
    EDGE[name]()


def test_cli_edge_huge_lr_warning(capsys):
    edge_cli_huge_lr_warning(capsys)


def test_matrix_size():
    """At least 60 cases; the counts per category are what the issue's report quotes."""
    counts = Counter(p.values[0] for p in BAD)
    counts["cli"] = len(CLI) + len(CLI_FILES) + 1
    counts["edge (legitimate)"] = len(EDGE) + 1
    assert sum(counts.values()) >= 60, counts
    assert len(counts) >= 8


# -- two processes saving to one path ---------------------------------------------------
SAVER = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from hff_edu import checkpoint, hff
    model = hff.HFFNet(20, [16], 3, seed=int(sys.argv[2]))
    for i in range(int(sys.argv[3])):
        checkpoint.save(model, sys.argv[1], writer=int(sys.argv[2]), i=i)
""")


def test_two_processes_save_to_one_path(tmp_path):
    path = tmp_path / "shared.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", SAVER, str(path), str(w), "150"], env=env,
                              stderr=subprocess.PIPE, text=True) for w in (1, 2)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    model, extra = checkpoint.load(path)  # whole, readable, one writer's last save
    assert extra["writer"] in (1, 2) and extra["i"] == 149
    expected = hff.HFFNet(20, [16], 3, seed=extra["writer"])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), expected.state_dict().values()))
    assert [p.name for p in tmp_path.iterdir()] == ["shared.pt"]  # no temporary file left behind


# -- the training cache never returns another dataset's model ---------------------------
def test_cache_tells_datasets_of_the_same_size_apart(tmp_path):
    x, y = table(n=60, d=6, classes=3, seed=1)
    a = data.from_arrays(x, y, x, y)
    b = data.from_arrays(x, (y + 1) % 3, x, (y + 1) % 3)  # same size, same inputs, other labels
    kw = dict(fit_kwargs=dict(progress=False, seed=0), cache_dir=tmp_path)  # default epochs: 200 steps
    ma, ha = checkpoint.train_or_load("hff", a, [16], **kw)
    mb, hb = checkpoint.train_or_load("hff", b, [16], **kw)
    assert len(list(tmp_path.glob("*.pt"))) == 2  # two entries, not one
    assert ha.test_acc > 0.8 and hb.test_acc > 0.8
    assert train.accuracy(mb, b.test) == pytest.approx(hb.test_acc)  # b's history is b's model's
    assert train.accuracy(ma, b.test) < 0.5  # a's model is wrong on b: the entry must differ
    # another subset seed of a loaded dataset: another entry too
    d1, d2 = data.load("digits", subset=100, seed=1), data.load("digits", subset=100, seed=2)
    small = dict(fit_kwargs=dict(epochs=1, progress=False), cache_dir=tmp_path)
    checkpoint.train_or_load("bp", d1, [8], **small)
    checkpoint.train_or_load("bp", d2, [8], **small)
    assert len(list(tmp_path.glob("bp-digits-*.pt"))) == 2


def test_cache_checks_the_stored_key(tmp_path):
    x, y = table(n=60, d=6, classes=3, seed=1)
    a, b = data.from_arrays(x, y, x, y), data.from_arrays(x, (y + 1) % 3, x, (y + 1) % 3)
    kw = dict(fit_kwargs=dict(progress=False), cache_dir=tmp_path)
    checkpoint.train_or_load("bp", a, [16], **kw)
    checkpoint.train_or_load("bp", b, [16], **kw)
    pa, pb = sorted(tmp_path.glob("*.pt"), key=lambda p: p.stat().st_mtime)
    pa.replace(pb)  # b's entry now holds a's model (a renamed file, or a hash collision)
    with pytest.warns(UserWarning, match="trained with other settings or data"):
        mb, hb = checkpoint.train_or_load("bp", b, [16], **kw)
    assert train.accuracy(mb, b.test) == pytest.approx(hb.test_acc) and hb.test_acc > 0.8  # retrained on b
    pb.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        checkpoint.train_or_load("bp", b, [16], **kw)
    _, again = checkpoint.train_or_load("bp", b, [16], **kw)  # and the rewritten entry loads quietly
    assert again.test_acc == pytest.approx(hb.test_acc)


def test_cache_key_holds_its_parts(tmp_path):
    ds = small_digits()
    checkpoint.train_or_load("hff", ds, [8], fit_kwargs=dict(epochs=1, progress=False), cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.pt")
    _, extra = checkpoint.load(path)
    parts = extra["cache_key"]
    assert parts["data_fingerprint"] == ds.fingerprint() and parts["method"] == "hff"
    assert path.stem.endswith(checkpoint.cache_key(parts))
    assert replace(ds, train=data.Split(ds.train.x + 0, ds.train.y)).fingerprint() == ds.fingerprint()
    changed = ds.train.x.clone()
    changed[0, 0, 0, 0] += 1e-3
    assert replace(ds, train=data.Split(changed, ds.train.y)).fingerprint() != ds.fingerprint()
    copy = replace(ds, train=data.Split(ds.train.x.clone(), ds.train.y))
    before = copy.fingerprint()
    copy.train.x[0, 0, 0, 0] += 1e-3  # in place: the remembered digest must not be reused
    assert copy.fingerprint() != before


# -- predictions run in eval mode, for every model kind, and give the mode back ----------
@pytest.mark.parametrize("method", list(methods.METHODS))
def test_predictions_run_in_eval_mode_and_restore_it(method):
    ds = small_digits()
    model = methods.build(method, ds, [10, 20] if method.endswith("-conv") else [20, 20])  # multiples of C
    train.fit(model, ds, epochs=1, progress=False)  # BatchNorm gets running statistics
    x = ds.test.x[:7]
    reference = [model.predict(x), model.layer_predictions(x), model.predict_and_layers(x)]
    model.train()
    first = next(model.children())
    first.eval()  # a submodule the user froze stays frozen
    pred, layers = model.predict_and_layers(x)
    got = [model.predict(x), *model.layer_predictions(x), pred, *layers]
    want = [reference[0], *reference[1], reference[2][0], *reference[2][1]]
    assert all(torch.equal(a, b) for a, b in zip(got, want))  # as in eval mode: no batch statistics used
    assert model.training and not first.training
    assert model.predict(x[:1]).shape == (1,)  # one sample, in train mode


def test_a_non_finite_parameter_is_named():
    model = hff.HFFNet(10, [8, 8], 3)
    with torch.no_grad():
        model.layers[1].prototypes.raw[0, 0, 0] = float("inf")
    with pytest.raises(FloatingPointError, match=r"epoch 4: parameter layers.1.prototypes.raw \(layer 2\).*lr=0.01"):
        train.check_diverged(model, [0.5, 0.5], epoch=4, lr=0.01)
    train.check_diverged(hff.HFFNet(10, [8], 3), [0.5], epoch=1, lr=0.01)  # all finite: nothing raised
