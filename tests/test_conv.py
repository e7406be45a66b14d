"""Convolutional HFF, FF and baselines; augmentation; transfer helpers (hff_edu.methods.ff, hff, baselines, blocks; augment, transfer)."""
import pytest
import torch

from hff_edu import augment, baselines, checkpoint, data, ff, hff, methods, train, transfer
from hff_edu.core.data import Split
from hff_edu.methods import CLASSES, METHODS

IN_CH, CH, C, HW = 2, [4, 6, 8], 3, 8


def make(kind, **kw):
    return {"hff": lambda: hff.HFFConvNet(IN_CH, CH, C, **kw),
            "ff": lambda: ff.FFConvNet(IN_CH, CH, C, **kw),
            "local-ce": lambda: baselines.LocalCEConvNet(IN_CH, CH, C, **kw),
            "bp": lambda: baselines.BPConvNet(IN_CH, CH, C, **kw)}[kind]()


def batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, IN_CH, HW, HW, generator=g), torch.randint(0, C, (n,), generator=g)


def units(model):
    """Parameters of each trained unit: block l together with its own head (where it has one)."""
    heads = getattr(model, "heads", None)
    return [list(b.parameters()) + (list(heads[i].parameters()) if heads is not None else [])
            for i, b in enumerate(model.blocks)]


def grad_per_unit(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [sum(float(p.grad.abs().sum()) for p in ps if p.grad is not None) for ps in units(model)]


def test_public_names_and_registry():
    conv = {"hff-conv": hff.HFFConvNet, "ff-conv": ff.FFConvNet, "bp-conv": baselines.BPConvNet,
            "local-ce-conv": baselines.LocalCEConvNet}
    for name, cls in conv.items():
        assert METHODS[name] is cls and CLASSES[cls.__name__] is cls
        assert cls.__module__ == METHODS[name.replace("-conv", "")].__module__, "MLP and conv in one module"


@pytest.mark.parametrize("kind", ["hff", "ff", "local-ce"])
@pytest.mark.parametrize("block", [0, 1, 2])
def test_block_loss_reaches_only_its_block(kind, block):
    model = make(kind).train()
    x, y = batch()
    g = grad_per_unit(model, model.local_losses(x, y)[block])
    assert g[block] > 0, "a block's own loss must train it"
    assert all(v == 0.0 for i, v in enumerate(g) if i != block), f"gradient leaked across blocks: {g}"


def test_two_conv_blocks_are_block_local():
    model = make("hff", convs_per_block=2).train()
    x, y = batch()
    model.zero_grad()
    model.local_losses(x, y)[1].backward()
    convs = [m for m in model.blocks[1].modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 and all(float(c.weight.grad.abs().sum()) > 0 for c in convs)
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in model.blocks[0].parameters())


def test_backprop_loss_reaches_every_block():
    model = make("bp").train()
    x, y = batch()
    (loss,) = model.local_losses(x, y)
    g = grad_per_unit(model, loss)
    assert all(v > 0 for v in g), g


def test_ff_head_loss_trains_only_the_head():
    model = make("ff").train()
    x, y = batch()
    g = grad_per_unit(model, model.local_losses(x, y)[-1])
    assert all(v == 0.0 for v in g)
    assert model.head.weight.grad is not None and float(model.head.weight.grad.abs().sum()) > 0


@pytest.mark.parametrize("kind", ["hff", "ff", "local-ce", "bp"])
def test_shapes_and_names(kind):
    model = make(kind).eval()
    x, y = batch(10)
    assert model.predict(x).shape == (10,)
    preds = model.layer_predictions(x)
    assert len(preds) == len(model.layer_names) and all(p.shape == (10,) for p in preds)
    assert len(model.local_losses(x, y)) == len(model.loss_names)
    assert model.num_layers == len(CH)
    emb = model.embeddings(x)
    assert len(emb) == len(CH) and all(e.shape[0] == 10 and e.dim() == 2 for e in emb)
    maps = model.feature_maps(x)
    assert [tuple(m.shape[1:]) for m in maps] == [(4, 4, 4), (6, 2, 2), (8, 1, 1)]
    for key in ("in_channels", "channels", "num_classes"):
        assert key in model.config


def test_hff_embeddings_unit_and_prototypes():
    model = make("hff", head_dim=5, protos_per_class=2).eval()
    x, _ = batch(6)
    for z in model.embeddings(x):
        assert z.shape == (6, 5)
        torch.testing.assert_close(z.norm(dim=1), torch.ones(6))
    assert all(p.shape == (C, 2, 5) for p in model.prototypes())
    assert model.head_dims == [5, 5, 5]
    assert make("hff").head_dims == [4, 6, 8]  # d = max(c_l, C*K)


def count_first_block_calls(model, fn):
    calls = []
    handle = model.blocks[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        fn()
    finally:
        handle.remove()
    return len(calls)


def test_hff_predicts_in_one_pass_ff_in_C():
    x, _ = batch(5)
    h, f = make("hff").eval(), make("ff").eval()
    assert count_first_block_calls(h, lambda: h.predict(x)) == 1 == h.passes_per_prediction
    assert count_first_block_calls(f, lambda: f.predict(x)) == C == f.passes_per_prediction
    assert count_first_block_calls(f, lambda: f.predict(x, mode="softmax")) == 1
    f2 = make("ff", predict_mode="softmax")
    assert f2.passes_per_prediction == 1


def test_hff_rules():
    model = make("hff").eval()
    x, _ = batch(8)
    scores = model.layer_scores(x)
    assert torch.equal(model.predict(x, rule="last"), scores[-1].argmax(1))
    summed = sum((s / model.tau).softmax(1) for s in scores).argmax(1)
    assert torch.equal(model.predict(x, rule="sum"), summed)
    with pytest.raises(ValueError, match="rule"):
        model.predict(x, rule="mean")


def test_ff_options():
    x, y = batch()
    for kw in (dict(goodness="mean"), dict(label_mode="overlay"), dict(label_every_block=True),
               dict(negatives="hard"), dict(batchnorm=False)):
        model = make("ff", **kw).train()
        losses = model.local_losses(x, y)
        assert len(losses) == len(CH) + 1 and all(torch.isfinite(v) for v in losses), kw
    from hff_edu.methods import symba  # SymBa: FF's networks with the symmetric loss, a method of its own
    assert symba.symba_loss(torch.tensor([2.0]), torch.tensor([0.0]), 4.0) < 1e-3
    sym = symba.SymBaConvNet(IN_CH, CH, C, alpha=2.0).train()
    assert all(torch.isfinite(v) for v in sym.local_losses(x, y)) and sym.config["alpha"] == 2.0
    planes = ff.label_planes(x[:2], torch.tensor([1, 2]), C)
    assert planes.shape == (2, IN_CH + C, HW, HW)
    assert torch.equal(planes[0, IN_CH:, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    neutral = ff.label_planes(x[:2], None, C)
    torch.testing.assert_close(neutral[:, IN_CH:], torch.full((2, C, HW, HW), 1 / C))


def test_ff_hard_negatives_leave_batchnorm_stats_alone():
    model = make("ff", negatives="hard").train()
    x, y = batch()
    before = model.blocks[0].body[1].num_batches_tracked.clone()
    model.local_losses(x, y)
    assert int(model.blocks[0].body[1].num_batches_tracked - before) == 1  # the training pass only


@pytest.mark.parametrize("kind", ["hff", "ff", "local-ce", "bp"])
def test_bad_inputs_raise_clear_errors(kind):
    model = make(kind)
    x, y = batch(4)
    with pytest.raises(ValueError, match="in_channels=2|channels but the model expects 2"):
        model.predict(torch.randn(4, 3, HW, HW))
    with pytest.raises(ValueError, match="unsqueeze"):
        model.predict(x[0])
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        model.predict(x.reshape(4, -1))
    with pytest.raises(ValueError, match="NaN"):
        bad = x.clone()
        bad[0, 0, 0, 0] = float("nan")
        model.predict(bad)
    with pytest.raises(ValueError, match="too small"):
        model.predict(torch.randn(2, IN_CH, 4, 4))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model.local_losses(x, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="one label per input"):
        model.local_losses(x, y[:3])
    with pytest.raises(TypeError, match="torch.Tensor"):
        model.predict(x.numpy())


def test_bad_constructor_arguments(digits):
    with pytest.raises(ValueError, match="channels"):
        hff.HFFConvNet(1, [], 10)
    with pytest.raises(ValueError, match="in_channels"):
        hff.HFFConvNet(0, [4], 10)
    with pytest.raises(ValueError, match="pool has 1 entries"):
        hff.HFFConvNet(1, [4, 4], 10, pool=[True])
    with pytest.raises(ValueError, match="convs_per_block"):
        baselines.BPConvNet(1, [4], 10, convs_per_block=3)
    with pytest.raises(ValueError, match="head_dim"):
        hff.HFFConvNet(1, [4], 10, head_dim=0)
    with pytest.raises(ValueError, match="label_mode"):
        ff.FFConvNet(1, [4], 10, label_mode="pixels")
    with pytest.raises(TypeError, match="loss"):  # SymBa's loss is a method of its own (methods/symba.py)
        ff.FFConvNet(1, [4], 10, loss="symba")
    with pytest.raises(ValueError, match="Unknown method"):
        methods.build("svm", digits, [4])


@pytest.mark.parametrize("kind", ["hff", "ff", "local-ce", "bp"])
def test_checkpoint_round_trip(kind, tmp_path):
    model = make(kind, pool=[True, True, False]).train()
    x, y = batch(32)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(2):  # move the weights and BatchNorm's running statistics off their init
        opt.zero_grad()
        model.backward_local(x, y)
        opt.step()
    model.eval()
    path = checkpoint.save(model, tmp_path / "m.pt")
    loaded, _ = checkpoint.load(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    assert torch.equal(loaded.predict(x), model.predict(x))
    for a, b in zip(loaded.layer_predictions(x), model.layer_predictions(x)):
        assert torch.equal(a, b)


def test_augment_deterministic_and_shape():
    x = torch.randn(20, 3, 8, 8)
    a1, a2 = augment.RandomCropFlip(padding=2, seed=3), augment.RandomCropFlip(padding=2, seed=3)
    out = a1(x)
    assert out.shape == x.shape and torch.equal(out, a2(x))
    assert not torch.equal(a1(x), out)  # the stream moves on
    a1.reset()
    assert torch.equal(a1(x), out)
    assert not torch.equal(augment.RandomCropFlip(padding=2, seed=4)(x), out)
    # Without padding and flipping it is the identity; flipping only gives x or its mirror.
    assert torch.equal(augment.RandomCropFlip(padding=0, flip=False)(x), x)
    flipped = augment.RandomCropFlip(padding=0, flip=True, seed=0)(x)
    assert all(torch.equal(f, s) or torch.equal(f, s.flip(2)) for f, s in zip(flipped, x))
    # A crop is a shifted window of the padded image: every crop's pixels come from x or the fill.
    crop = augment.RandomCropFlip(padding=1, flip=False, fill=99.0, seed=0)(x)
    assert bool(((crop == 99.0) | torch.isin(crop, x)).all())
    assert "seed=3" in repr(a1)
    with pytest.raises(ValueError, match="image batch"):
        a1(torch.randn(4, 10))
    assert augment.for_dataset("cifar10").padding == 4 and not augment.for_dataset("digits").flip


def test_transfer_helpers(digits):
    part_a = transfer.split_classes(digits, [0, 1, 2, 3, 4])
    part_b = transfer.split_classes(digits, [5, 6, 7, 8, 9])
    assert part_b.num_classes == 5 and int(part_b.train.y.max()) == 4
    assert part_b.class_names == ("5", "6", "7", "8", "9")
    assert torch.equal(part_b.train.x[part_b.train.y == 0], digits.train.x[digits.train.y == 5])
    shots = transfer.few_shot(part_b.train, 3, seed=0)
    assert len(shots) == 15 and torch.equal(shots.y.bincount(), torch.full((5,), 3))
    z = torch.randn(12, 4)
    y = torch.arange(12) % 3
    p = transfer.mean_prototypes(z, y)
    torch.testing.assert_close(p.norm(dim=1), torch.ones(3))
    expected = torch.nn.functional.normalize(torch.nn.functional.normalize(z[y == 1]).mean(0), dim=0)
    torch.testing.assert_close(p[1], expected)
    with pytest.raises(ValueError, match="class"):
        transfer.mean_prototypes(z[:2], y[:2], num_classes=3)

    model = hff.HFFConvNet(1, [8, 16], 5, pool=[True, True])
    train.fit(model, part_a, epochs=2, batch_size=64, lr=5e-3, progress=False)
    protos = transfer.class_mean_prototypes(model, part_b.train.x, part_b.train.y)
    assert protos.shape == (5, 16)
    z_test = transfer.frozen_embeddings(model, part_b.test.x)
    acc_mean = transfer.prototype_accuracy(z_test, part_b.test.y, protos)
    z_train = transfer.frozen_embeddings(model, part_b.train.x)
    learned = transfer.fit_prototypes_only(z_train, part_b.train.y, epochs=50)
    acc_learned = transfer.prototype_accuracy(z_test, part_b.test.y, learned)
    assert acc_mean > 0.4 and acc_learned > 0.4, (acc_mean, acc_learned)  # chance is 0.2
    curve = transfer.shots_curve(model, part_b.train, part_b.test, [1, 5], repeats=2, learn_epochs=20)
    assert curve["mean"].shape == (2, 2) and curve["learned"].shape == (2, 2)
    assert curve["mean"][1].mean() > 0.3 and curve["all"] > 0.4


def test_tiny_fit_on_fashion_beats_chance():
    try:
        ds = data.load("fashion-mnist", subset=1000, test_subset=500, download=False)
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed here")
    model = methods.build("hff-conv", ds, [8, 16], pool=[True, True])
    history = train.fit(model, ds, epochs=3, batch_size=50, lr=5e-3, progress=False)
    assert history.test_acc > 0.4, history.table()  # chance is 0.1
    assert len(history.final["layer_test_acc"]) == 2


def test_conv_train_or_load_caches(digits, tmp_path):
    fit_kwargs = dict(epochs=1, batch_size=128, progress=False,
                      augment=augment.RandomCropFlip(padding=1, flip=False))
    m1, h1 = checkpoint.train_or_load("hff-conv", digits, [4], fit_kwargs, cache_dir=tmp_path)
    m2, h2 = checkpoint.train_or_load("hff-conv", digits, [4], fit_kwargs, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 1
    x = digits.test.x[:20]
    assert torch.equal(m1.predict(x), m2.predict(x)) and h1.records == h2.records
