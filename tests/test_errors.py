"""Bad input raises a clear error that names the problem and the fix."""
import numpy as np
import pytest
import torch

from hff_edu.core import sources
from hff_edu import baselines, checkpoint, data, exercises, ff, hff, profiles, train

MODELS = [lambda: ff.FFNet(10, [8], 3), lambda: hff.HFFNet(10, [8], 3),
          lambda: baselines.BPNet(10, [8], 3), lambda: baselines.LocalCENet(10, [8], 3)]


@pytest.mark.parametrize("make", MODELS)
def test_wrong_input_size(make):
    with pytest.raises(ValueError, match="expects 10"):
        make().predict(torch.randn(4, 11))
    with pytest.raises(ValueError, match="no batch dimension"):
        make().predict(torch.randn(10))


@pytest.mark.parametrize("make", MODELS)
def test_labels_out_of_range(make):
    x = torch.randn(4, 10)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        make().local_losses(x, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        make().local_losses(x, torch.tensor([0, -1, 2, 2]))
    with pytest.raises(ValueError, match="one label per input"):
        make().local_losses(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="integer class indices"):
        make().local_losses(x, torch.zeros(4))


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_inf_batch(make, bad):
    x = torch.randn(4, 10)
    x[1, 3] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        make().local_losses(x, torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="NaN or Inf"):
        make().predict(x)


@pytest.mark.parametrize("tau", [0, -0.1, float("nan")])
def test_non_positive_temperature(tau):
    with pytest.raises(ValueError, match="tau=.*must be > 0"):
        hff.HFFNet(10, [8], 3, tau=tau)


@pytest.mark.parametrize("widths", [[], [0], [8, -2], [2.5]])
@pytest.mark.parametrize("make", [ff.FFNet, hff.HFFNet, baselines.BPNet, baselines.LocalCENet])
def test_bad_widths(make, widths):
    with pytest.raises(ValueError, match="widths"):
        make(10, widths, 3)


def test_other_bad_options():
    with pytest.raises(ValueError, match="theta"):
        ff.FFNet(10, [8], 3, theta=0)
    with pytest.raises(ValueError, match="margin"):
        hff.HFFNet(10, [8], 3, margin=-1)
    with pytest.raises(ValueError, match="init"):
        hff.HFFNet(10, [8], 3, init="sphere")
    with pytest.raises(ValueError, match="rule"):
        hff.HFFNet(10, [8], 3).predict(torch.randn(2, 10), rule="first")
    with pytest.raises(ValueError, match="mode"):
        ff.FFNet(10, [8], 3).predict(torch.randn(2, 10), mode="fast")
    with pytest.raises(ValueError, match="at least 2 classes"):
        hff.HFFNet(10, [8], 1)
    with pytest.raises(ValueError, match="label_mode='append'"):
        ff.FFNet(3, [8], 3, label_mode="overwrite")


def test_unknown_dataset():
    with pytest.raises(ValueError, match="Unknown dataset 'imagenet'.*digits"):
        data.load("imagenet")


def test_missing_fashion_files(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_FASHION_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError) as e:
        data.load("fashion-mnist", root=tmp_path, download=False)
    msg = str(e.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "FashionMNIST" in msg and "download" in msg


def test_from_arrays_checks():
    x = np.random.rand(20, 5)
    with pytest.raises(ValueError, match="one label per sample"):
        data.from_arrays(x, np.zeros(19), x, np.zeros(20))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        data.from_arrays(bad, np.arange(20) % 2, x, np.arange(20) % 2)
    with pytest.raises(ValueError, match="same input shape"):
        data.from_arrays(x, np.arange(20) % 2, np.random.rand(20, 6), np.arange(20) % 2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        data.from_arrays(x, np.zeros(20), x, np.zeros(20))


def test_dataset_model_mismatch_in_fit(digits):
    with pytest.raises(ValueError, match="10 classes but the model was built for 3"):
        train.fit(hff.HFFNet(64, [8], 3), digits, epochs=1, progress=False)
    with pytest.raises(ValueError, match="features"):
        train.fit(hff.HFFNet(63, [16], 10), digits, epochs=1, progress=False)


def test_checkpoint_of_another_architecture(tmp_path):
    path = checkpoint.save(hff.HFFNet(10, [8, 8], 3), tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"holds a HFFNet with .*widths.*\[8, 8\]"):
        checkpoint.load_into(hff.HFFNet(10, [8, 16], 3), path)
    with pytest.raises(ValueError, match="holds a HFFNet.*but the model is a FFNet"):
        checkpoint.load_into(ff.FFNet(10, [8, 8], 3), path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt is not a readable hff_edu checkpoint.*Delete it and train again"):
        checkpoint.load(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an hff_edu checkpoint"):
        checkpoint.load(tmp_path / "other.pt")


def test_profiles_and_exercises(monkeypatch):
    with pytest.raises(ValueError, match="Unknown PROFILE 'fast'"):
        profiles.pick("fast", smoke=1, classroom=2, full=3)
    assert profiles.pick("smoke", smoke=1, classroom=2, full=3) == 1

    def halve(t, answer):
        t.close(t.call(answer, 1.0), 0.5, "an input of 1")
    monkeypatch.setitem(exercises.REGISTRY, "99.9", exercises.Exercise("99.9", "halve", "compute", 1, 2, halve))
    monkeypatch.setattr(exercises, "RESULTS", {})  # this test's results only
    monkeypatch.setenv(exercises.MODE_ENV, "strict")  # as under the notebook runner: a wrong answer raises
    exercises.check("99.9", lambda v: v / 2)
    assert exercises.RESULTS["99.9"] == exercises.CORRECT
    with pytest.raises(exercises.ExerciseError, match=r"\[99.9 halve\] for an input of 1 the value is not right") as e:
        exercises.check("99.9", lambda v: 0.6 * v)
    assert "0.5" not in str(e.value)  # says what is wrong, not the expected value
    exercises.check("99.9", None)  # a stub: not solved yet, not an error
    assert exercises.RESULTS["99.9"] == exercises.UNSOLVED
    with pytest.raises(exercises.ExerciseError, match="raised ZeroDivisionError"):
        exercises.check("99.9", lambda v: 1 / 0)
