"""What FF and HFF compute: the spec's formulas, pass counts and prototypes."""
import math

import pytest
import torch
import torch.nn.functional as F

from hff_edu import ff, geometry, hff


# -- FF ----------------------------------------------------------------------

def test_ff_loss_is_logistic_nll():
    g = torch.Generator().manual_seed(0)
    g_pos, g_neg, theta = torch.rand(50, generator=g) * 40, torch.rand(50, generator=g) * 40, 20.0
    nll = -(torch.sigmoid(g_pos - theta).log().mean() + torch.sigmoid(theta - g_neg).log().mean())
    torch.testing.assert_close(ff.ff_loss(g_pos, g_neg, theta), nll)


def test_goodness_and_rms_norm():
    h = torch.tensor([[1.0, 2.0, 2.0]])
    assert float(ff.goodness(h)) == pytest.approx(9.0)
    x = torch.randn(5, 30) * 7
    n = ff.rms_norm(x)
    torch.testing.assert_close(n.pow(2).mean(1), torch.ones(5), atol=1e-4, rtol=0)
    # direction kept
    torch.testing.assert_close(geometry.cosine_matrix(x, n).diagonal(), torch.ones(5))


def test_wrong_labels_never_true_and_uniform():
    y = torch.randint(0, 10, (20000,), generator=torch.Generator().manual_seed(0))
    neg = ff.wrong_labels(y, 10, torch.Generator().manual_seed(1))
    assert not (neg == y).any()
    # each wrong class about equally likely given the true one
    counts = torch.bincount((neg - y) % 10, minlength=10)[1:].float()
    assert counts.min() / counts.max() > 0.85


def test_hard_negatives_follow_probs_and_skip_truth():
    y = torch.zeros(5000, dtype=torch.long)
    probs = torch.tensor([[0.9, 0.08, 0.02]]).repeat(5000, 1)
    neg = ff.wrong_labels(y, 3, torch.Generator().manual_seed(0), probs)
    assert not (neg == 0).any()
    assert (neg == 1).float().mean() > 0.7  # 0.08 / 0.10 = 0.8 expected


def test_overlay_modes():
    x = torch.arange(12.0).reshape(2, 6)
    y = torch.tensor([0, 2])
    over = ff.overlay_label(x, y, 3, "overwrite")
    assert over.shape == (2, 6) and over[1, :3].tolist() == [0, 0, 1] and over[1, 3:].tolist() == [9, 10, 11]
    app = ff.overlay_label(x, y, 3, "append")
    assert app.shape == (2, 9) and app[0, :6].tolist() == x[0].tolist() and app[0, 6:].tolist() == [1, 0, 0]
    neutral = ff.overlay_label(x, None, 3, "append")
    torch.testing.assert_close(neutral[:, 6:], torch.full((2, 3), 1 / 3))


def test_label_mode_chosen_from_data():
    border = torch.cat([torch.zeros(100, 10), torch.randn(100, 50)], 1)
    assert ff.choose_label_mode(border, 10) == "overwrite"
    assert ff.choose_label_mode(torch.randn(100, 60), 10) == "append"
    # by default no pixel is lost, whatever the input size
    assert ff.FFNet(64, [8], 10).label_mode == "append"
    assert ff.FFNet(784, [8], 10).label_mode == "append"
    assert ff.FFNet(784, [8], 10, label_mode="overwrite").layers[0].linear.in_features == 784


def count_first_layer_calls(model, fn):
    """Forward passes = calls of the first layer's weight product (however the layer is entered)."""
    calls = []
    handle = model.layers[0].linear.register_forward_hook(lambda *a: calls.append(1))
    try:
        fn()
    finally:
        handle.remove()
    return len(calls)


@pytest.mark.parametrize("C", [2, 7, 13])
def test_ff_goodness_costs_C_passes_softmax_one(C):
    model = ff.FFNet(30, [16, 16], C)
    x = torch.randn(5, 30)
    assert count_first_layer_calls(model, lambda: model.predict(x, mode="goodness")) == C
    assert count_first_layer_calls(model, lambda: model.predict(x, mode="softmax")) == 1
    assert model.passes_per_prediction == C
    model.predict_mode = "softmax"
    assert model.passes_per_prediction == 1


@pytest.mark.parametrize("C", [2, 7, 13])
def test_hff_prediction_costs_one_pass(C):
    model = hff.HFFNet(30, [16, 16], C)
    x = torch.randn(5, 30)
    for rule in ("last", "sum"):
        assert count_first_layer_calls(model, lambda: model.predict(x, rule=rule)) == 1
    assert count_first_layer_calls(model, lambda: model.layer_predictions(x)) == 1
    assert model.passes_per_prediction == 1


def test_ff_goodness_prediction_skips_first_layer():
    model = ff.FFNet(30, [16, 16, 16], 4, sum_skip_first=True)
    x = torch.randn(8, 30)
    g = model.goodness_scores(x)
    assert g.shape == (8, 3, 4)
    torch.testing.assert_close(model.predict(x), g[:, 1:].sum(1).argmax(1))


def test_ff_defaults_are_the_tuned_settings():
    """The MLP defaults are benchmarks/tune.py's best trial (rounded): every layer's goodness is
    summed, hard negatives, threshold 0.08 x width, label value sqrt(10 D / C) (28 for Fashion-MNIST's
    784 x 10), Adam lr 7e-4."""
    from hff_edu.methods import DEFAULT_LR
    model = ff.FFNet(30, [16, 16, 16], 4)
    x = torch.randn(8, 30)
    torch.testing.assert_close(model.predict(x), model.goodness_scores(x).sum(1).argmax(1))
    assert model.thetas == [ff.THETA_PER_UNIT * 16] * 3 and ff.THETA_PER_UNIT == 0.08
    assert model.negatives == "hard" and model.label_scale == pytest.approx((10 * 30 / 4) ** 0.5)
    assert ff.FFNet(784, [16], 10).label_scale == pytest.approx(28.0) and ff.LABEL_ENERGY == 10.0
    assert ff.FFNet(30, [16], 4, label_scale=1.0).label_scale == 1.0
    assert DEFAULT_LR["ff"] == 7e-4
    # the classic settings stay one argument away
    assert ff.FFNet(30, [16], 4, theta=16.0).thetas == [16.0]


# -- HFF ---------------------------------------------------------------------

def test_hff_loss_is_smooth_margin_softplus():
    g = torch.Generator().manual_seed(0)
    S = torch.rand(40, 5, generator=g) * 2 - 1
    y = torch.randint(0, 5, (40,), generator=g)
    tau, m = 0.1, 0.2
    others = S.masked_fill(F.one_hot(y, 5).bool(), float("-inf"))
    lse = tau * torch.logsumexp(others / tau, 1)
    expected = F.softplus((lse - S.gather(1, y[:, None]).squeeze(1) + m) / tau).mean()
    torch.testing.assert_close(hff.hff_loss(S, y, tau, m), expected)


def test_hff_scores_are_cosines_and_logsumexp():
    model = hff.HFFNet(10, [32], 3, protos_per_class=2, tau_p=0.05)
    layer = model.layers[0]
    z, S = layer(torch.randn(4, 10, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(z.norm(dim=1), torch.ones(4))
    s = torch.einsum("nd,ckd->nck", z, layer.prototypes.unit)
    torch.testing.assert_close(S, 0.05 * torch.logsumexp(s / 0.05, 2))


def test_prototypes_unit_norm_after_training(digits):
    from hff_edu import train
    model = hff.HFFNet(digits.in_features, [32, 32], 10, init="random", protos_per_class=2)
    train.fit(model, digits, epochs=1, batch_size=64, lr=1e-2, progress=False)
    for layer in model.layers:
        raw_norms = layer.prototypes.raw.norm(dim=-1)
        assert not torch.allclose(raw_norms, torch.ones_like(raw_norms)), "prototypes should have moved"
        torch.testing.assert_close(layer.prototypes.unit.norm(dim=-1), torch.ones(10, 2))


def test_fixed_prototypes_do_not_move(digits):
    from hff_edu import train
    model = hff.HFFNet(digits.in_features, [32], 10, learnable=False)
    before = model.layers[0].prototypes.raw.clone()
    train.fit(model, digits, epochs=1, batch_size=64, progress=False)
    torch.testing.assert_close(model.layers[0].prototypes.raw, before)


def test_hff_sum_rule():
    model = hff.HFFNet(12, [8, 8, 8], 4, rule="sum", sum_skip_first=True)
    x = torch.randn(6, 12)
    S = model.layer_scores(x)
    expected = sum((s / model.tau).softmax(1) for s in S[1:]).argmax(1)
    torch.testing.assert_close(model.predict(x), expected)
    torch.testing.assert_close(model.predict(x, rule="last"), S[-1].argmax(1))


def test_default_temperature():
    assert hff.HFFNet(4, [16], 10).tau == 0.1
    assert hff.HFFNet(4, [128], 100).tau == 0.05


def test_lowest_loss_needs_low_temperature():
    """With cosines in [-1, 1], tau = 1 cannot bring the loss for C = 10 below ~1.4."""
    C = 10
    best = torch.full((1, C), -1.0 / (C - 1))
    best[0, 0] = 1.0
    y = torch.tensor([0])
    assert float(hff.hff_loss(best, y, tau=1.0)) > 1.3
    assert float(hff.hff_loss(best, y, tau=0.1)) < 0.01


# -- geometry ----------------------------------------------------------------

@pytest.mark.parametrize("n,d", [(2, 1), (4, 3), (10, 9), (10, 64), (30, 100)])
def test_etf_pairwise_cosine(n, d):
    p = geometry.simplex_etf(n, d)
    assert p.shape == (n, d)
    cos = geometry.cosine_matrix(p)
    off = cos[~torch.eye(n, dtype=torch.bool)]
    torch.testing.assert_close(off, torch.full_like(off, -1 / (n - 1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(p.norm(dim=1), torch.ones(n))


def test_etf_needs_dimension():
    with pytest.raises(ValueError, match="d >= 9"):
        geometry.simplex_etf(10, 3)


def test_separation_beats_random():
    start = geometry.random_prototypes(12, 3, seed=0)
    trace = []
    spread = geometry.separate(start, steps=300, history=trace)
    assert geometry.min_pairwise_angle(spread) > geometry.min_pairwise_angle(start) + 10
    assert geometry.min_pairwise_angle(spread) > 55  # Tammes optimum for 12 points: 63.4 degrees
    assert len(trace) == 300


@pytest.mark.parametrize("C,K,d", [(2, 1, 1), (10, 1, 3), (10, 3, 2), (100, 1, 50), (3, 2, 500)])
@pytest.mark.parametrize("init", ["random", "etf", "separated"])
def test_init_prototypes_any_shape(C, K, d, init):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = geometry.init_prototypes(C, K, d, init)
    assert p.shape == (C, K, d)
    torch.testing.assert_close(p.norm(dim=-1), torch.ones(C, K))


def test_alignment_uniformity_margin():
    z = geometry.normalise(torch.randn(200, 8))
    assert geometry.alignment(z, z) == pytest.approx(0.0, abs=1e-6)
    collapsed = geometry.normalise(torch.ones(200, 8) + 1e-3 * torch.randn(200, 8))
    assert geometry.uniformity(z) < geometry.uniformity(collapsed)  # spread points are more uniform
    P = torch.eye(3)
    zz = torch.tensor([[1.0, 0.1, 0.0], [0.0, 1.0, 0.0]])
    m = geometry.prototype_margin(zz, P, torch.tensor([0, 0]))
    assert m[0] > 0 > m[1]
    y = torch.randint(0, 3, (200,))
    assert geometry.class_alignment(z, y) > 0
    assert math.isfinite(geometry.uniformity(z))


@pytest.mark.parametrize("make,passes", [
    (lambda: ff.FFNet(12, [8, 8, 8], 4), 4),                            # C goodness passes serve both
    (lambda: hff.HFFNet(12, [8, 8, 8], 4, rule="sum"), 1),               # one pass serves both
    (lambda: ff.FFNet(12, [8, 8], 4, predict_mode="softmax"), 1 + 4)])  # softmax pass + C for the layers
def test_predict_and_layers_shares_passes(make, passes):
    model = make()
    x = torch.randn(16, 12)
    pred, layers = model.predict_and_layers(x)
    torch.testing.assert_close(pred, model.predict(x))
    for a, b in zip(layers, model.layer_predictions(x)):
        torch.testing.assert_close(a, b)
    assert count_first_layer_calls(model, lambda: model.predict_and_layers(x)) == passes


def test_hff_skip_first_per_call():
    model = hff.HFFNet(12, [8, 8, 8], 4, rule="sum")
    x = torch.randn(6, 12)
    S = model.layer_scores(x)
    skip = sum((s / model.tau).softmax(1) for s in S[1:]).argmax(1)
    torch.testing.assert_close(model.predict(x, skip_first=True), skip)
    assert model.sum_skip_first is False


def test_hff_last_relu_off_uses_whole_sphere():
    x = torch.randn(200, 12)
    on = hff.HFFNet(12, [16, 3], 4)
    off = hff.HFFNet(12, [16, 3], 4, last_relu=False)
    z_on, z_off = on.embeddings(x)[-1], off.embeddings(x)[-1]
    assert (z_on >= 0).all()  # a ReLU head never leaves the positive octant
    assert (z_off < 0).any(dim=0).all()
    assert (off.embeddings(x)[0] >= 0).all()  # hidden layers keep their ReLU


@pytest.mark.parametrize("negatives", ["uniform", "hard"])
def test_ff_streamed_head_matches_autograd(negatives):
    """The head's hand-written backward (recomputing features) equals autograd on stored features."""
    torch.manual_seed(0)
    net = ff.FFNet(20, [16, 12, 8], 5, negatives=negatives, seed=1)
    x, y = torch.randn(32, 20), torch.randint(0, 5, (32,))
    head_loss = net.local_losses(x, y, generator=torch.Generator().manual_seed(0))[-1]
    head_loss.backward()
    with torch.no_grad():
        feats = net.head_features(net.activities(x, None))
    w, b = net.head.weight.detach().clone().requires_grad_(), net.head.bias.detach().clone().requires_grad_()
    ref = F.cross_entropy(feats @ w.T + b, y)
    ref.backward()
    assert head_loss.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(net.head.weight.grad, w.grad, atol=1e-6)
    assert torch.allclose(net.head.bias.grad, b.grad, atol=1e-6)
    assert all(p.grad is None for p in net.layers.parameters())  # the head's loss reaches only the head


def test_hff_last_rule_scores_only_the_last_layer(monkeypatch):
    """Same prediction as the last layer's argmax, with one prototype product instead of L."""
    torch.manual_seed(0)
    mlp, x = hff.HFFNet(12, [16, 16, 16], 7, seed=0), torch.randn(20, 12)
    cnn, img = hff.HFFConvNet(1, [4, 8], 7, seed=0), torch.randn(20, 1, 8, 8)
    calls = []
    original = hff.Prototypes.scores
    monkeypatch.setattr(hff.Prototypes, "scores", lambda self, z: calls.append(1) or original(self, z))
    for model, inp in ((mlp, x), (cnn, img)):
        model.eval()
        expected = model.layer_scores(inp)[-1].argmax(1)
        calls.clear()
        assert torch.equal(model.predict(inp, rule="last"), expected)
        assert len(calls) == 1
        calls.clear()
        model.predict(inp, rule="sum")
        assert len(calls) == model.num_layers


def test_ff_goodness_sum_can_include_the_first_layer():
    torch.manual_seed(0)
    net = ff.FFNet(12, [8, 8, 8], 4, seed=0, sum_skip_first=True).eval()
    x = torch.randn(30, 12)
    g = net.goodness_scores(x)
    assert torch.equal(net.predict(x), g[:, 1:].sum(1).argmax(1))  # Hinton's choice: layers >= 2
    assert torch.equal(net.predict(x, skip_first=False), g.sum(1).argmax(1))
    every = ff.FFNet(12, [8, 8, 8], 4, seed=0).eval()  # the default: every layer
    assert torch.equal(every.predict(x), g.sum(1).argmax(1))
    assert torch.equal(every.predict_and_layers(x)[0], g.sum(1).argmax(1))
    assert every.config["sum_skip_first"] is False
