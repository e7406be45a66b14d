"""Callbacks that record what a network looks like during training."""
import pytest
import torch

from hff_edu import baselines, data, ff, hff, train
from hff_edu.training.callbacks import LayerStats, hoyer_sparsity


def test_hoyer_sparsity_ends_and_scale():
    flat, one_hot = torch.ones(1, 16), torch.zeros(1, 16)
    one_hot[0, 3] = 5.0
    assert float(hoyer_sparsity(flat)) == pytest.approx(0.0, abs=1e-6)
    assert float(hoyer_sparsity(one_hot)) == pytest.approx(1.0, abs=1e-6)
    a = torch.rand(8, 16)
    torch.testing.assert_close(hoyer_sparsity(a), hoyer_sparsity(7.0 * a))
    assert float(hoyer_sparsity(torch.zeros(1, 16))) == 1.0  # every unit off


@pytest.mark.parametrize("make", [lambda d: ff.FFNet(d.in_features, [32, 32], 10, theta=5.0, label_scale=3.0),
                                  lambda d: hff.HFFNet(d.in_features, [32, 32], 10),
                                  lambda d: baselines.BPNet(d.in_features, [32, 32], 10),
                                  lambda d: hff.HFFConvNet(1, [4, 8], 10)])
def test_layer_stats_record_every_epoch(make, digits):
    ds = data.load("digits", subset=300)
    stats = LayerStats(ds.test.x[:100], ds.test.y[:100])
    model = make(ds)
    train.fit(model, ds, epochs=2, batch_size=50, lr=3e-3, progress=False, callbacks=[stats])
    assert stats.epochs == [0, 1, 2]
    for key in ("sparsity", "active"):
        per_layer = stats.series(key)
        assert len(per_layer) == len(model.embeddings(ds.test.x[:2]))
        assert all(0.0 <= v <= 1.0 for layer in per_layer for v in layer)
    if isinstance(model, ff.FFNet):
        pos, neg = stats.series("goodness_pos"), stats.series("goodness_neg")
        # FF learns to give positive data more goodness than negative data
        assert pos[0][-1] - neg[0][-1] > pos[0][0] - neg[0][0]
    else:
        with pytest.raises(KeyError, match="goodness_pos"):
            stats.series("goodness_pos")
