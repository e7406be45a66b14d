"""The training cache with callbacks: ``fit_or_load`` and ``train_or_load`` train once, then load the
weights, the history and what every callback recorded; any change of the model, its initial
weights, the training arguments or a callback's settings trains again."""
import pytest
import torch

from hff_edu import checkpoint, hff
from hff_edu.training.callbacks import EmbeddingSnapshots, GoodnessSnapshots, LayerStats

FIT = dict(epochs=2, batch_size=64, progress=False)


def _no_training(*args, **kwargs):
    raise AssertionError("trained again although the cache holds this configuration")


def _equal(a, b) -> bool:
    """Deep equality of recordings (dicts and lists of tensors and numbers)."""
    if torch.is_tensor(a):
        return torch.is_tensor(b) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(_equal, a, b))
    return a == b


def test_fit_or_load_restores_weights_history_and_snapshots(digits, tmp_path, monkeypatch):
    probe = digits.test.x[:40], digits.test.y[:40]
    m1, s1 = hff.HFFNet(digits.in_features, [16, 3], 10, seed=0), EmbeddingSnapshots(*probe)
    h1 = checkpoint.fit_or_load(m1, digits, cache_dir=tmp_path, callbacks=[s1], **FIT)
    assert len(list(tmp_path.glob("*.pt"))) == 1 and s1.epochs == [0, 1, 2]

    monkeypatch.setattr(checkpoint, "fit", _no_training)
    m2, s2 = hff.HFFNet(digits.in_features, [16, 3], 10, seed=0), EmbeddingSnapshots(*probe)
    h2 = checkpoint.fit_or_load(m2, digits, cache_dir=tmp_path, callbacks=[s2], **FIT)
    assert h2.records == h1.records and _equal(s2.snapshots, s1.snapshots)
    assert torch.equal(m2.predict(digits.test.x), m1.predict(digits.test.x)) and not m2.training


@pytest.mark.parametrize("change", ["seed", "widths", "epochs", "probe", "every"])
def test_fit_or_load_trains_again_when_anything_changes(digits, tmp_path, change):
    def run(**kw):
        model = hff.HFFNet(digits.in_features, kw.get("widths", [16]), 10, seed=kw.get("seed", 0))
        n = kw.get("probe", 30)
        snaps = EmbeddingSnapshots(digits.test.x[:n], digits.test.y[:n], every=kw.get("every", 1))
        checkpoint.fit_or_load(model, digits, cache_dir=tmp_path, callbacks=[snaps],
                               **dict(FIT, epochs=kw.get("epochs", 2)))
    run()
    run(**{"seed": dict(seed=1), "widths": dict(widths=[17]), "epochs": dict(epochs=1),
           "probe": dict(probe=31), "every": dict(every=2)}[change])
    assert len(list(tmp_path.glob("*.pt"))) == 2


def test_train_or_load_caches_callbacks_too(digits, tmp_path, monkeypatch):
    probe = digits.test.x[:30], digits.test.y[:30]
    first = [GoodnessSnapshots(*probe), LayerStats(*probe)]
    kw = dict(cache_dir=tmp_path, data_kwargs=dict(seed=0))
    checkpoint.train_or_load("ff", digits, [16], fit_kwargs=dict(FIT, callbacks=first), **kw)
    monkeypatch.setattr(checkpoint, "fit", _no_training)
    again = [GoodnessSnapshots(*probe), LayerStats(*probe)]
    checkpoint.train_or_load("ff", digits, [16], fit_kwargs=dict(FIT, callbacks=again), **kw)
    assert _equal(again[0].snapshots, first[0].snapshots) and again[1].records == first[1].records


def test_a_callback_without_a_recording_trains_every_time(digits, tmp_path):
    calls = []

    def counter(model, epoch, history):  # records into a list the cache cannot see
        calls.append(epoch)
    for _ in range(2):
        checkpoint.fit_or_load(hff.HFFNet(digits.in_features, [8], 10), digits, cache_dir=tmp_path,
                               callbacks=[counter], **dict(FIT, epochs=1))
    assert calls == [0, 1, 0, 1]


def test_train_or_load_trains_again_when_a_method_initialises_differently(digits, tmp_path, monkeypatch):
    # the same arguments, but the package now builds other initial weights (as when the ETF
    # construction changed): the old cached model must not come back
    from hff_edu import geometry
    checkpoint.train_or_load("hff", digits, [16], fit_kwargs=FIT, cache_dir=tmp_path)
    monkeypatch.setattr(checkpoint, "fit", _no_training)
    checkpoint.train_or_load("hff", digits, [16], fit_kwargs=FIT, cache_dir=tmp_path)  # a hit
    real = geometry.simplex_etf
    monkeypatch.setattr(geometry, "simplex_etf", lambda n, d, seed=0: real(n, d, seed + 1))
    with pytest.raises(AssertionError, match="trained again"):
        checkpoint.train_or_load("hff", digits, [16], fit_kwargs=FIT, cache_dir=tmp_path)
