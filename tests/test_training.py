"""Training on digits reaches the targets; seeds reproduce; checkpoints round-trip; the CLI runs."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hff_edu import checkpoint, train
from hff_edu.methods import build

ROOT = Path(__file__).resolve().parent.parent

# A few seconds each on 2 cores.
RECIPES = {
    "hff": dict(widths=[256, 256], epochs=10, lr=1e-3),
    "bp": dict(widths=[256, 256], epochs=10, lr=1e-3),
    "local-ce": dict(widths=[256, 256], epochs=10, lr=1e-3),
    "ff": dict(widths=[256, 256], epochs=15, lr=3e-3),
}


@pytest.fixture(scope="module")
def trained(digits):
    out = {}
    for method, r in RECIPES.items():
        model = build(method, digits, r["widths"])
        history = train.fit(model, digits, epochs=r["epochs"], batch_size=32, lr=r["lr"], progress=False)
        out[method] = (model, history)
    return out


@pytest.mark.parametrize("method", ["hff", "bp", "local-ce"])
def test_digits_accuracy_90(trained, digits, method):
    model, history = trained[method]
    assert history.test_acc >= 0.90
    assert train.accuracy(model, digits.test) == pytest.approx(history.test_acc)


@pytest.mark.parametrize("mode", ["goodness", "softmax"])
def test_ff_digits_accuracy_85(trained, digits, mode):
    model, _ = trained["ff"]
    assert train.accuracy(model, digits.test, mode=mode) >= 0.85


def test_hff_sum_rule_also_learns(trained, digits):
    model, _ = trained["hff"]
    assert train.accuracy(model, digits.test, rule="sum") >= 0.90


def test_history_records(trained):
    _, h = trained["hff"]
    assert len(h.records) == RECIPES["hff"]["epochs"]
    r = h.final
    assert len(r["train_loss"]) == len(h.loss_names) == 2
    assert len(r["layer_test_acc"]) == 2 and r["seconds"] > 0
    losses = h.column("train_loss")
    assert losses[-1][0] < losses[0][0], "layer-1 loss should fall"
    assert "test acc" in h.table()


def test_same_seed_same_numbers(digits):
    def run(seed):
        model = build("ff", digits, [32, 32], seed=seed)
        h = train.fit(model, digits, epochs=2, batch_size=64, seed=seed, progress=False)
        return h.column("train_loss"), h.column("test_acc"), model.layers[0].linear.weight.clone()
    a, b, c = run(3), run(3), run(4)
    assert a[0] == b[0] and a[1] == b[1]
    torch.testing.assert_close(a[2], b[2])
    assert a[0] != c[0]


def test_greedy_schedule_trains_one_layer_at_a_time(digits):
    model = build("hff", digits, [32, 32])
    w2 = model.layers[1].linear.weight.clone()
    seen = []

    def watch(m, epoch, history):
        if epoch == 1:
            seen.append(torch.equal(m.layers[1].linear.weight, w2))
    train.fit(model, digits, epochs=2, schedule="greedy", progress=False, callbacks=[watch])
    assert seen == [True], "layer 2 must stay frozen while layer 1 trains"
    assert not torch.equal(model.layers[1].linear.weight, w2)
    with pytest.raises(ValueError, match="greedily"):
        train.fit(build("bp", digits, [8]), digits, epochs=1, schedule="greedy", progress=False)


def test_callbacks_see_epoch_zero_and_each_epoch(digits):
    from hff_edu.training.callbacks import EmbeddingSnapshots
    snaps = EmbeddingSnapshots(digits.test.x[:50], digits.test.y[:50])
    train.fit(build("hff", digits, [16, 16]), digits, epochs=2, progress=False, callbacks=[snaps])
    assert snaps.epochs == [0, 1, 2]
    assert snaps.snapshots[0]["embeddings"][1].shape == (50, 16)
    assert snaps.snapshots[0]["prototypes"][0].shape == (10, 1, 16)


@pytest.mark.parametrize("method", ["ff", "hff", "bp", "local-ce"])
def test_checkpoint_round_trip(trained, digits, tmp_path, method):
    model, history = trained[method]
    path = checkpoint.save(model, tmp_path / f"{method}.pt", history=history.to_dict())
    loaded, extra = checkpoint.load(path)
    x = digits.test.x
    assert torch.equal(loaded.predict(x), model.predict(x))
    assert extra["history"]["records"][-1]["test_acc"] == history.test_acc
    fresh = build(method, digits, RECIPES[method]["widths"], seed=123)
    checkpoint.load_into(fresh, path)
    assert torch.equal(fresh.predict(x), model.predict(x))


def test_train_or_load_caches(digits, tmp_path):
    kw = dict(fit_kwargs=dict(epochs=1, progress=False), cache_dir=tmp_path, data_kwargs=dict(seed=0))
    m1, h1 = checkpoint.train_or_load("hff", digits, [16], **kw)
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1
    m2, h2 = checkpoint.train_or_load("hff", digits, [16], **kw)
    assert torch.equal(m1.predict(digits.test.x), m2.predict(digits.test.x))
    assert h2.records == h1.records
    checkpoint.train_or_load("hff", digits, [16], tau=0.2, **kw)  # another config: another file
    assert len(list(tmp_path.glob("*.pt"))) == 2


def _cli(*args, cwd=ROOT):
    env = dict(os.environ, OMP_NUM_THREADS="1")  # tiny models: one thread, as in conftest
    return subprocess.run([sys.executable, "-m", "hff_edu", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env=env)


def test_cli_train_and_evaluate(tmp_path):
    ckpt = tmp_path / "hff.pt"
    r = _cli("train", "--method", "hff", "--dataset", "digits", "--epochs", "8", "--batch-size", "32", "--widths", "2x64",
             "--quiet", "--save", str(ckpt))
    assert r.returncode == 0, r.stderr
    assert "acc:layer 2" in r.stdout and "final test accuracy (hff last)" in r.stdout
    acc = float(r.stdout.split("final test accuracy (hff last):")[1].split()[0])
    assert acc > 0.8
    r = _cli("evaluate", str(ckpt))
    assert r.returncode == 0, r.stderr
    assert f"test accuracy (hff last): {acc:.4f}" in r.stdout


def test_cli_compare_and_help(tmp_path):
    out = tmp_path / "cmp.json"
    r = _cli("compare", "--methods", "ff,bp", "--dataset", "digits", "--epochs", "1", "--widths", "32",
             "--quiet", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "| ff goodness |" in r.stdout and "| bp |" in r.stdout and out.is_file()
    r = _cli("train", "--help")
    assert r.returncode == 0 and "--protos-per-class" in r.stdout and "--negatives" in r.stdout


def test_cli_reports_bad_input_cleanly():
    r = _cli("train", "--method", "hff", "--dataset", "digits", "--tau", "0", "--epochs", "1", "--quiet")
    assert r.returncode == 2 and "tau=0.0: must be > 0" in r.stderr
    r = _cli("evaluate", "nonexistent.pt")
    assert r.returncode == 2 and "No checkpoint" in r.stderr


def test_cli_trains_and_evaluates_conv_models(tmp_path):
    ckpt = tmp_path / "hff-conv.pt"
    r = _cli("train", "--method", "hff-conv", "--dataset", "digits", "--channels", "8,16", "--epochs", "2",
             "--batch-size", "64", "--augment", "--quiet", "--save", str(ckpt))
    assert r.returncode == 0, r.stderr
    assert "channels [8, 16]" in r.stdout and "final test accuracy (hff-conv sum)" in r.stdout
    acc = float(r.stdout.split("final test accuracy (hff-conv last):")[1].split()[0])
    r = _cli("evaluate", str(ckpt))
    assert r.returncode == 0, r.stderr
    assert f"test accuracy (hff-conv last): {acc:.4f}" in r.stdout
    r = _cli("compare", "--methods", "ff-conv,bp-conv", "--dataset", "digits", "--channels", "8",
             "--epochs", "1", "--subset", "300", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "| ff-conv goodness |" in r.stdout and "| bp-conv |" in r.stdout


def test_build_dispatches_conv_kinds(digits):
    from hff_edu import data, ff, hff, methods
    assert isinstance(methods.build("hff-conv", digits, [4, 8]), hff.HFFConvNet)
    assert isinstance(methods.build("ff-conv", digits, [4]), ff.FFConvNet)
    flat = data.from_arrays(digits.train.x.reshape(len(digits.train), -1).numpy(), digits.train.y.numpy(),
                            digits.test.x.reshape(len(digits.test), -1).numpy(), digits.test.y.numpy())
    with pytest.raises(ValueError, match="needs images"):
        methods.build("bp-conv", flat, [4])


def test_optimizer_groups_and_fused_adam():
    from hff_edu import hff
    from hff_edu.training.trainer import make_optimizer, param_groups
    model = hff.HFFNet(12, [8, 8], 3)
    protos = {id(layer.prototypes.raw) for layer in model.layers}
    decayed, plain = param_groups(model, 1e-4)
    assert decayed["weight_decay"] == 1e-4 and plain["weight_decay"] == 0.0
    assert {id(p) for p in plain["params"]} == protos and not protos & {id(p) for p in decayed["params"]}
    assert len(param_groups(model, 0.0)) == 1  # nothing to tell apart: one optimiser pass
    opt = make_optimizer(model, "adam", 1e-3)
    assert opt.defaults["fused"] is True
    assert isinstance(make_optimizer(model, "sgd", 0.1), torch.optim.SGD)
    with pytest.raises(ValueError, match="Unknown optimizer 'rmsprop'"):
        make_optimizer(model, "rmsprop")
