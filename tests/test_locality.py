"""No gradient crosses a layer boundary in the local methods; backprop's does."""
import pytest
import torch

from hff_edu import baselines, ff, hff

IN, WIDTHS, C = 20, [16, 12, 8], 4


def make(kind):
    return {"ff": lambda: ff.FFNet(IN, WIDTHS, C, label_mode="append"),
            "hff": lambda: hff.HFFNet(IN, WIDTHS, C),
            "local-ce": lambda: baselines.LocalCENet(IN, WIDTHS, C),
            "bp": lambda: baselines.BPNet(IN, WIDTHS, C)}[kind]()


def batch(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, IN, generator=g), torch.randint(0, C, (n,), generator=g)


def grads_per_layer(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [sum(float(p.grad.abs().sum()) if p.grad is not None else 0.0 for p in layer.parameters())
            for layer in model.layers]


@pytest.mark.parametrize("kind", ["ff", "hff", "local-ce"])
@pytest.mark.parametrize("layer", [0, 1, 2])
def test_local_loss_reaches_only_its_layer(kind, layer):
    model = make(kind)
    x, y = batch()
    loss = model.local_losses(x, y)[layer]
    g = grads_per_layer(model, loss)
    assert g[layer] > 0, "the layer's own loss must train it"
    assert all(v == 0.0 for i, v in enumerate(g) if i != layer), f"gradient leaked: {g}"


def test_backprop_loss_reaches_every_layer():
    model = make("bp")
    x, y = batch()
    (loss,) = model.local_losses(x, y)
    assert all(v > 0 for v in grads_per_layer(model, loss))


@pytest.mark.parametrize("kind", ["ff", "hff", "local-ce", "bp"])
def test_backward_local_matches_sum_of_losses(kind):
    """Layer-by-layer backward gives the same gradients as one backward on the sum."""
    x, y = batch()
    a, b = make(kind), make(kind)
    gen_a, gen_b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    sum(a.local_losses(x, y, generator=gen_a)).backward()
    b.backward_local(x, y, generator=gen_b)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        if pa.grad is None:
            assert pb.grad is None, name
        else:
            torch.testing.assert_close(pa.grad, pb.grad, msg=name)


def test_ff_head_does_not_train_layers():
    model = make("ff")
    x, y = batch()
    head_loss = model.local_losses(x, y)[-1]
    assert all(v == 0.0 for v in grads_per_layer(model, head_loss))
