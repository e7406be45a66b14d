"""Exercises of 02b_hff_from_scratch: the smooth-margin loss in its softplus form, an HFF layer, a network of
them, the training loop of ``train.fit`` (debug), an FF layer and network, LogSumExp scores, and why a schedule
mismatch leaves the first half of a run identical. Every check builds its own small cases (prototypes that are
not unit length, inputs where ``exp`` overflows, a batch size that leaves a smaller last batch) and compares with
the package in float64 or step by step, without printing the expected values."""
from __future__ import annotations

import torch
from torch import nn

from ..exercises import digest, exercise

#: the loss's other form, and every package function that computes it: the exercise asks for the softplus form
_LOSS_FORMS = ["hff_edu.methods.hff.hff_loss", "torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss",
               "torch.nn.functional.log_softmax", "torch.log_softmax", "torch.Tensor.log_softmax",
               "torch.nn.functional.softmax", "torch.softmax", "torch.Tensor.softmax", "torch.nn.CrossEntropyLoss"]


def _reference_loss(S: torch.Tensor, y: torch.Tensor, tau: float, margin: float) -> torch.Tensor:
    """The cross-entropy form in float64: the value every right answer must give."""
    S = S.double() - margin * torch.nn.functional.one_hot(y, S.shape[1]).double()
    logits = S / tau
    return (torch.logsumexp(logits, 1) - logits.gather(1, y[:, None])[:, 0]).mean()


def _code_mentions(fn, words) -> str | None:
    """The first of ``words`` that the answer's code (comments left out) uses, if its source can be read: a
    guard for what :mod:`~hff_edu.teaching.forbid` cannot watch (tensor methods such as ``x.log_softmax``)."""
    import inspect
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return None
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    return next((w for w in words if w in code), None)


@exercise("02b.1", "the smooth-margin loss, softplus form", kind="compute", level=2, minutes=12, forbid=_LOSS_FORMS)
def _loss(t, my_hff_loss):
    used = _code_mentions(my_hff_loss, ("softmax(", "cross_entropy(", "nll_loss("))
    if used:
        t.fail(f"your loss uses `{used[:-1]}`: that is the cross-entropy form, which hff.hff_loss already uses. "
               "The exercise asks for the second form: a softplus of the gap between a soft maximum of the other "
               "classes and the true class.")
    g = torch.Generator().manual_seed(2101)
    cos = lambda n, c: 2 * torch.rand(n, c, generator=g) - 1
    lab = lambda n, c: torch.randint(0, c, (n,), generator=g)
    y_same = torch.full((8,), 2)
    cases = [(cos(16, 10), lab(16, 10), 0.1, 0.0, "ten classes at tau = 0.1"),
             (cos(16, 10), lab(16, 10), 0.05, 0.2, "a margin of 0.2"),
             (cos(9, 3), lab(9, 3), 1.0, 0.5, "three classes at tau = 1 with a margin of 0.5"),
             (cos(5, 2), lab(5, 2), 0.3, 0.0, "two classes"),
             (cos(8, 6), y_same, 0.2, 0.1, "a batch in which every sample has the same label"),
             (cos(12, 10), lab(12, 10), 0.001, 0.0, "tau = 0.001, logits S/tau up to +-1000"),
             (cos(1, 4), lab(1, 4), 0.1, 0.0, "a batch of one sample")]
    for S, y, tau, m, what in cases:
        got = t.call(my_hff_loss, S.clone(), y.clone(), tau, m)
        t.require(torch.is_tensor(got) and got.dim() == 0,
                  f"for {what} the loss should be one number (a 0-dimensional tensor): the mean over the batch.")
        t.require(bool(torch.isfinite(got)), f"for {what} the loss is {float(got)}, not a finite number: an exp "
                  "overflows somewhere. Which torch function computes log(sum(exp(...))) without overflowing?")
        t.close(got, _reference_loss(S, y, tau, m), what, rtol=1e-5, atol=1e-6)
    # the margin argument is optional (the network calls loss_fn(S, y, tau))
    S, y = cos(6, 5), lab(6, 5)
    got = t.call(my_hff_loss, S.clone(), y.clone(), 0.1)
    t.close(got, _reference_loss(S, y, 0.1, 0.0), "a call without the margin argument (it defaults to 0)")
    # training differentiates it
    S = cos(6, 5).requires_grad_(True)
    got = t.call(my_hff_loss, S, y, 0.1, 0.1)
    t.require(torch.is_tensor(got) and got.requires_grad, "the loss should be computed from S with torch "
              "operations, so that autograd can differentiate it (no .item(), no numpy, no torch.no_grad()).")
    got.backward()
    S2 = S.detach().double().requires_grad_(True)
    _reference_loss(S2, y, 0.1, 0.1).backward()
    t.require(S.grad is not None, "the loss does not depend on S through autograd.")
    t.close(S.grad, S2.grad, "the gradient with respect to S", rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------
# 02b.2: one HFF layer

_LAYER_PARTS = ["hff_edu.methods.hff.HFFLayer", "hff_edu.methods.hff.Prototypes", "hff_edu.methods.hff.sphere"]


def _package_layer(D: int, d: int, C: int, seed: int):
    from ...methods import hff
    return hff.HFFLayer(D, d, C, init="etf", seed=seed)


def _build(t, cls, *args, what: str, **kwargs):
    layer = t.call(cls, *args, **kwargs)
    t.require(isinstance(layer, nn.Module), f"{what} should be an nn.Module.")
    return layer


def _copy_into(t, mine, linear: nn.Linear, protos: torch.Tensor, what: str) -> None:
    t.require(isinstance(getattr(mine, "linear", None), nn.Linear),
              f"{what}: `self.linear` should be the layer's nn.Linear (the check copies W and b into it).")
    t.require(isinstance(getattr(mine, "prototypes", None), nn.Parameter),
              f"{what}: `self.prototypes` should be an nn.Parameter of shape (C, d), so that the optimiser "
              "trains it.")
    t.require(tuple(mine.linear.weight.shape) == tuple(linear.weight.shape),
              f"{what}: `self.linear.weight` has shape {tuple(mine.linear.weight.shape)}; it should be "
              f"{tuple(linear.weight.shape)} (out_features, in_features).")
    t.require(tuple(mine.prototypes.shape) == tuple(protos.shape),
              f"{what}: `self.prototypes` has shape {tuple(mine.prototypes.shape)}; it should be "
              f"{tuple(protos.shape)}, one row per class.")
    with torch.no_grad():
        mine.linear.weight.copy_(linear.weight)
        mine.linear.bias.copy_(linear.bias)
        mine.prototypes.copy_(protos)


def _reference_layer(u, W, b, P):
    h = torch.relu(u.double() @ W.double().T + b.double())
    z = h / (h.norm(dim=1, keepdim=True) + 1e-8)
    p = P.double() / (P.double().norm(dim=1, keepdim=True) + 1e-8)
    return z, z @ p.T


@exercise("02b.2", "one HFF layer", kind="compute", level=2, minutes=12, forbid=_LAYER_PARTS)
def _layer(t, MyHFFLayer):
    g = torch.Generator().manual_seed(2102)
    # 1. the prototypes start as the package's ETF, from the seed
    for D, d, C, seed in ((12, 16, 4, 3), (30, 9, 10, 0)):
        mine = _build(t, MyHFFLayer, D, d, C, seed=seed, what="MyHFFLayer(...)")
        P = getattr(mine, "prototypes", None)
        ref = _package_layer(D, d, C, seed).prototypes.raw.detach()[:, 0]
        t.require(isinstance(P, nn.Parameter) and tuple(P.shape) == (C, d),
                  f"for {C} classes in a layer of {d} units, `self.prototypes` should be an nn.Parameter of shape "
                  f"({C}, {d}).")
        t.close(P, ref, f"the initial prototypes of a layer with {C} classes, {d} units and seed {seed} (they "
                "should be the package's ETF for that seed)", rtol=1e-6, atol=1e-7)
    # 2. forward with copied weights and prototypes of many lengths (a layer that never normalises them fails)
    D, d, C = 20, 12, 5
    for scale, what in ((torch.tensor([0.2, 1.0, 3.0, 0.5, 7.0]), "prototypes of lengths 0.2 to 7"),
                        (torch.full((C,), 40.0), "prototypes all of length 40")):
        linear = nn.Linear(D, d)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(d, D, generator=g) * 0.3)
            linear.bias.copy_(torch.randn(d, generator=g) * 0.1)
        P = torch.nn.functional.normalize(torch.randn(C, d, generator=g), dim=1) * scale[:, None]
        mine = _build(t, MyHFFLayer, D, d, C, seed=1, what="MyHFFLayer(...)")
        _copy_into(t, mine, linear, P, what)
        u = torch.randn(9, D, generator=g) * 2
        with torch.no_grad():  # a sample whose ReLU output is all 0: W u + b = -1 on every unit
            u[4] = -torch.linalg.pinv(linear.weight) @ (1 + linear.bias)
        out = t.call(mine, u.clone())
        t.require(isinstance(out, tuple) and len(out) == 2, "forward(u) should return the pair (z, S).")
        z, S = out
        z_ref, S_ref = _reference_layer(u, linear.weight.detach(), linear.bias.detach(), P)
        t.require(torch.is_tensor(z) and bool(torch.isfinite(z).all()),
                  f"with {what}, z has NaN or infinite values for a sample whose ReLU output is all 0: divide by "
                  "the norm plus a small epsilon.")
        t.close(z, z_ref, f"z, with {what}", rtol=1e-5, atol=1e-6)
        t.require(torch.is_tensor(S) and tuple(S.shape) == (len(u), C),
                  f"S should have shape (N, C) = {(len(u), C)}: one cosine per sample and class.")
        t.require(bool(torch.isfinite(S).all()), f"with {what}, S has NaN or infinite values.")
        if not torch.allclose(S.double(), S_ref, rtol=1e-4, atol=1e-5):
            raw = z.detach().double() @ P.double().T
            if torch.allclose(S.detach().double(), raw, rtol=1e-4, atol=1e-5):
                t.fail(f"with {what}, S is the dot product with the stored prototypes, not the cosine: a "
                       "prototype's length changes its score. The optimiser changes their lengths too.")
            t.close(S, S_ref, f"S, with {what}", rtol=1e-4, atol=1e-5)
        # gradients reach W, b and the prototypes
        mine.zero_grad(set_to_none=True)
        S.sum().backward()
        t.require(mine.prototypes.grad is not None and mine.linear.weight.grad is not None,
                  "no gradient reaches the prototypes or W from S: compute S from self.prototypes and "
                  "self.linear with torch operations, without .detach() or torch.no_grad().")


# ----------------------------------------------------------------------------
# 02b.3: a network of layers, local


def _flat(parts) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in parts])


def _net_parts(net) -> list[tuple[str, torch.Tensor, bool]]:
    """(name, parameter, stored as (C, 1, d)) of every layer's W, b and prototypes, in order."""
    out = []
    for i, layer in enumerate(net.layers):
        out += [(f"layer {i + 1}'s W", layer.linear.weight, False), (f"layer {i + 1}'s b", layer.linear.bias, False)]
        P = layer.prototypes
        out.append((f"layer {i + 1}'s prototypes", P.raw, True) if hasattr(P, "raw") else
                   (f"layer {i + 1}'s prototypes", P, False))
    return out


def _view(x, packed: bool):
    return None if x is None else (x[:, 0] if packed else x)


def _copy_parts(mine, ref) -> None:
    with torch.no_grad():
        for (_, a, pa), (_, b, pb) in zip(_net_parts(mine), _net_parts(ref)):
            _view(a, pa).copy_(_view(b, pb))


def _compare_parts(t, mine, ref, what: str, grad: bool, rtol: float, atol: float) -> None:
    a, b = _net_parts(mine), _net_parts(ref)
    t.require(len(a) == len(b), f"{what}: your network has {len(a) // 3} layers; it should have {len(b) // 3}.")
    for (name, x, px), (_, r, pr) in zip(a, b):
        x = _view(x.grad if grad else x, px)
        r = _view(r.grad if grad else r, pr)
        t.require(x is not None, f"{what}: {name} has no gradient: is its loss in the list local_losses returns?")
        t.require(tuple(x.shape) == tuple(r.shape), f"{what}: {name} has shape {tuple(x.shape)}, not "
                  f"{tuple(r.shape)}.")
        if not torch.allclose(x.detach().double(), r.detach().double(), rtol=rtol, atol=atol):
            t.fail(f"{what}: {name} is not right." + (
                " If only layer 1 is off, a later layer's loss reaches it: every layer should read the previous "
                "layer's z detached." if grad else ""))


@exercise("02b.3", "a network of local layers", kind="compute", level=2, minutes=12,
          forbid=["hff_edu.methods.hff.HFFNet", "hff_edu.methods.hff.HFFLayer"])
def _net(t, MyHFFNet):
    from ...methods import hff
    g = torch.Generator().manual_seed(2103)
    for D, widths, C, seed in ((20, [16, 12], 4, 0), (10, [8, 8, 6], 3, 5)):
        tau = 0.1
        # 1. the initial weights from the seed alone; building does not disturb the global random numbers
        torch.manual_seed(77)
        expected_next = torch.rand(3)
        torch.manual_seed(77)
        mine = t.call(MyHFFNet, D, widths, C, tau, seed=seed, loss_fn=hff.hff_loss)
        after = torch.rand(3)
        t.require(isinstance(getattr(mine, "layers", None), nn.ModuleList),
                  "`self.layers` should be an nn.ModuleList of your layers.")
        ref = hff.HFFNet(D, widths, C, tau=tau, seed=seed)
        _compare_parts(t, mine, ref, f"the initial weights of a network of widths {widths}, seed {seed}",
                       grad=False, rtol=0, atol=0)
        t.require(torch.equal(after, expected_next), "building your network changes torch's global random "
                  "numbers for the code that runs after it: set the seed inside torch.random.fork_rng(devices=[]).")
        # 2. with the same weights: the local losses, their gradients, the prediction
        x, y = torch.randn(24, D, generator=g), torch.randint(0, C, (24,), generator=g)
        with torch.no_grad():  # perturb the prototypes' lengths, so that a missing normalisation shows
            for layer in ref.layers:
                layer.prototypes.raw.mul_(0.5 + 2 * torch.rand(C, 1, 1, generator=g))
        mine = t.call(MyHFFNet, D, widths, C, tau, seed=seed + 1, loss_fn=hff.hff_loss)
        _copy_parts(mine, ref)
        losses = t.call(mine.local_losses, x, y)
        t.require(isinstance(losses, (list, tuple)) and len(losses) == len(widths),
                  f"local_losses should return a list of {len(widths)} losses, one per layer.")
        ref_losses = ref.local_losses(x, y)
        t.close(torch.stack([torch.as_tensor(l).reshape(()) for l in losses]), torch.stack(ref_losses).detach(),
                f"the local losses of a network of widths {widths} (if 02b.2 is correct: does every layer read the "
                "previous layer's z, and score with self.loss_fn(S, y, self.tau)?)", rtol=1e-5, atol=1e-6)
        t.call(lambda ls=losses: sum(ls).backward() or 0)
        sum(ref_losses).backward()
        _compare_parts(t, mine, ref, f"the gradients of sum(local_losses), widths {widths}", grad=True,
                       rtol=1e-4, atol=1e-7)
        pred = t.call(mine.predict, x)
        t.require(torch.is_tensor(pred) and tuple(pred.shape) == (len(x),),
                  "predict(x) should return one class index per sample.")
        t.equal(pred.long(), ref.predict(x), "predict(x), the last layer's nearest prototype,")


# ----------------------------------------------------------------------------
# 02b.4: the training loop of train.fit (debug)

def _digits(n_train: int, seed: int):
    from ...core import data
    return data.load("digits", subset=n_train, test_subset=50, seed=seed)


def _fit_curve(model, ds, batch_size, lr, seed, cooldown):
    """train.fit for one epoch; every step's losses (fit keeps epoch means only)."""
    from ...training import trainer
    steps, inner = [], model.backward_local

    def backward_local(*args, **kwargs):
        losses = inner(*args, **kwargs)
        steps.append(torch.stack(losses))
        return losses

    model.backward_local = backward_local
    trainer.fit(model, ds, epochs=1, batch_size=batch_size, lr=lr, seed=seed, device="cpu", progress=False,
                cooldown=cooldown)
    return torch.stack(steps)


#: how close a loop's losses must stay to train.fit's, step by step (bit-for-bit is the optional challenge)
LOOP_TOL = 1e-4


@exercise("02b.4", "the training loop of train.fit", kind="debug", level=2, minutes=15,
          forbid=["hff_edu.training.trainer.fit", "hff_edu.training.trainer.train_step",
                  "hff_edu.training.trainer._train_epoch"])
def _loop(t, my_train_one_epoch):
    from ...methods import ff, hff
    ds = _digits(150, 0)
    x, y = ds.train.x.reshape(len(ds.train), -1), ds.train.y
    D, C = x.shape[1], ds.num_classes
    cases = [(lambda: hff.HFFNet(D, [16, 16], C, tau=0.1, seed=1), 32, 0.02, 3, True,
              "HFF, 150 samples in batches of 32 (the last one smaller), with the cool-down"),
             (lambda: hff.HFFNet(D, [16], C, tau=0.1, seed=2), 50, 0.02, 4, False, "HFF with cooldown=False"),
             (lambda: ff.FFNet(D, [16], C, negatives="uniform", seed=3), 25, 0.02, 5, True,
              "FF, which draws its wrong labels from the generator the loop passes on")]
    for build, batch, lr, seed, cooldown, what in cases:
        ref = _fit_curve(build(), ds, batch, lr, seed, cooldown)
        # fit seeds torch's global generator with `seed`: move it on, so that a loop that draws its permutation or
        # its negatives from the global generator cannot match fit by accident
        torch.manual_seed(seed + 1000)
        got = t.call(my_train_one_epoch, build(), x.clone(), y.clone(), batch, lr, seed, cooldown)
        t.require(torch.is_tensor(got) and got.dim() == 2,
                  f"for {what} the answer should be a (steps, losses) tensor: one row per training step.")
        t.require(got.shape[0] == ref.shape[0], f"for {what} your loop took {got.shape[0]} steps; one epoch "
                  f"of {len(x)} samples in batches of {batch} takes {ref.shape[0]}.")
        t.require(got.shape[1] == ref.shape[1], f"for {what} each row should hold {ref.shape[1]} losses, one per "
                  "entry of local_losses.")
        t.require(not got.requires_grad, f"for {what} the curve still carries autograd history: store the losses "
                  "detached.")
        gap = (got.double() - ref.double()).abs().max(dim=1).values
        bad = torch.nonzero(gap > LOOP_TOL)
        if len(bad):
            first = int(bad[0])
            hint = ("the very first step already differs: the data order (permutation) or the first batch's "
                    "losses" if first == 0 else
                    "the first steps agree, so the data and model are right; look at what changes from step to step")
            t.fail(f"for {what}, the losses first differ from train.fit's by more than {LOOP_TOL:g} at step {first} "
                   f"(counting from 0): {hint}.")


# ----------------------------------------------------------------------------
# 02b.6 and 02b.7: Forward-Forward the same way

def _rms_reference(x: torch.Tensor, W, b) -> torch.Tensor:
    x = x.double()
    n = x / (x.pow(2).mean(dim=1, keepdim=True).sqrt() + 1e-8)
    return torch.relu(n @ W.double().T + b.double())


@exercise("02b.6", "the FF layer", kind="compute", level=1, minutes=6, forbid=["hff_edu.methods.ff.FFLayer"])
def _ff_layer(t, MyFFLayer):
    g = torch.Generator().manual_seed(2105)
    for D, d in ((15, 8), (40, 20)):
        mine = _build(t, MyFFLayer, D, d, what="MyFFLayer(...)")
        t.require(isinstance(getattr(mine, "linear", None), nn.Linear) and
                  tuple(mine.linear.weight.shape) == (d, D),
                  f"`self.linear` should be an nn.Linear({D}, {d}) (the check copies W and b into it).")
        with torch.no_grad():
            mine.linear.weight.copy_(torch.randn(d, D, generator=g) * 0.3)
            mine.linear.bias.copy_(torch.randn(d, generator=g) * 0.1)
        x = torch.randn(7, D, generator=g) * torch.tensor([0.01, 0.5, 1.0, 3.0, 100.0, 1.0, 1.0])[:, None]
        x[5] = 0.0  # an all-zero input
        got = t.call(mine, x.clone())
        t.require(torch.is_tensor(got) and bool(torch.isfinite(got).all()),
                  "h has NaN or infinite values for an all-zero input: divide by the root mean square plus a small "
                  "epsilon.")
        t.close(got, _rms_reference(x, mine.linear.weight.detach(), mine.linear.bias.detach()),
                f"inputs of lengths from 0.01 to 100 ({D} features)", rtol=1e-5, atol=1e-6)


def _ff_parts(net) -> list[tuple[str, torch.Tensor]]:
    out = []
    for i, layer in enumerate(net.layers):
        out += [(f"layer {i + 1}'s W", layer.linear.weight), (f"layer {i + 1}'s b", layer.linear.bias)]
    return out


@exercise("02b.7", "the FF network", kind="compute", level=2, minutes=12,
          forbid=["hff_edu.methods.ff.FFNet", "hff_edu.methods.ff.FFLayer"])
def _ff_net(t, MyFFNet):
    from ...methods import ff
    g = torch.Generator().manual_seed(2106)
    for D, widths, C, theta, scale, seed in ((12, [10, 8], 4, 0.8, 2.0, 0), (9, [6], 3, 0.5, 1.0, 4)):
        torch.manual_seed(88)
        expected_next = torch.rand(3)
        torch.manual_seed(88)
        mine = t.call(MyFFNet, D, widths, C, theta, scale, seed=seed)
        after = torch.rand(3)
        ref = ff.FFNet(D, widths, C, theta=theta, label_scale=scale, negatives="uniform", seed=seed)
        t.require(isinstance(getattr(mine, "layers", None), nn.ModuleList) and len(mine.layers) == len(widths),
                  f"`self.layers` should be an nn.ModuleList of {len(widths)} FF layers.")
        for (name, a), (_, b) in zip(_ff_parts(mine), _ff_parts(ref)):
            t.require(tuple(a.shape) == tuple(b.shape), f"{name} has shape {tuple(a.shape)}, not {tuple(b.shape)} "
                      "(layer 1 reads the image and the appended label: D + C inputs).")
            t.require(torch.equal(a.detach(), b.detach()), f"the initial {name} of a network with seed {seed} is "
                      "not the package's: seed torch's generator with `seed`, then build the layers in order.")
        t.require(torch.equal(after, expected_next), "building your network changes torch's global random "
                  "numbers for the code that runs after it: set the seed inside torch.random.fork_rng(devices=[]).")
        # the local losses with the same wrong labels, and their gradients
        x, y = torch.randn(20, D, generator=g), torch.randint(0, C, (20,), generator=g)
        with torch.no_grad():
            for (_, a), (_, b) in zip(_ff_parts(mine), _ff_parts(ref)):
                b.mul_(1.5)  # not the initial weights: the check copies them
                a.copy_(b)
        losses = t.call(mine.local_losses, x, y, torch.Generator().manual_seed(seed + 10))
        L = len(widths)
        t.require(isinstance(losses, (list, tuple)) and len(losses) == L,
                  f"local_losses should return a list of {L} losses, one per layer.")
        ref_losses = ref.local_losses(x, y, torch.Generator().manual_seed(seed + 10))[:L]
        t.close(torch.stack([torch.as_tensor(l).reshape(()) for l in losses]), torch.stack(ref_losses).detach(),
                f"the local losses of widths {widths} with generators seeded alike (are the wrong labels drawn "
                "first, once, from the generator? positive and negative data through every layer?)",
                rtol=1e-5, atol=1e-6)
        t.call(lambda ls=losses: sum(ls).backward() or 0)
        sum(ref_losses).backward()
        for (name, a), (_, b) in zip(_ff_parts(mine), _ff_parts(ref)):
            t.require(a.grad is not None, f"{name} gets no gradient from sum(local_losses).")
            if not torch.allclose(a.grad.double(), b.grad.double(), rtol=1e-4, atol=1e-6):
                t.fail(f"the gradient of sum(local_losses) with respect to {name} is not right: does every layer "
                       "read the previous layer's h detached, for the positive and the negative data?")


# ----------------------------------------------------------------------------
# 02b.8: several prototypes per class


@exercise("02b.8", "several prototypes per class", kind="compute", level=2, minutes=8,
          forbid=["hff_edu.methods.hff.Prototypes", "hff_edu.methods.hff.Prototypes.scores"])
def _lse(t, my_lse_scores):
    g = torch.Generator().manual_seed(2107)
    unit = lambda *s: torch.nn.functional.normalize(torch.randn(*s, generator=g), dim=-1)
    cases = [(unit(20, 16), 3 * torch.randn(10, 3, 16, generator=g), 0.1, "K = 3 prototypes of various lengths"),
             (unit(15, 8), torch.randn(4, 5, 8, generator=g) * torch.rand(4, 5, 1, generator=g) * 9, 1.0,
              "K = 5 and a soft tau_p = 1"),
             (unit(12, 6), torch.randn(3, 1, 6, generator=g) * 4, 0.1, "K = 1 (then S is the plain cosine)"),
             (unit(10, 6), torch.randn(5, 4, 6, generator=g), 0.001, "tau_p = 0.001: cosines / tau_p up to 1000")]
    for z, P, tau_p, what in cases:
        got = t.call(my_lse_scores, z.clone(), P.clone(), tau_p)
        p = P.double() / (P.double().norm(dim=-1, keepdim=True) + 1e-8)
        s = torch.einsum("nd,ckd->nck", z.double(), p)
        ref = tau_p * torch.logsumexp(s / tau_p, dim=2)
        t.require(torch.is_tensor(got) and tuple(got.shape) == tuple(ref.shape),
                  f"for {what} the scores should have shape (N, C) = {tuple(ref.shape)}.")
        t.require(bool(torch.isfinite(got).all()), f"for {what} some scores are NaN or infinite: an exp "
                  "overflows. Which torch function computes log(sum(exp(...))) safely?")
        t.close(got, ref, what, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------
# 02b.5: why a schedule mismatch leaves the first half identical


@exercise("02b.5", "why the first half is identical", kind="explain", level=1, minutes=4)
def _first_half(t, answer):
    t.choice(answer, digest("a"), {
        "b": "Adam divides each gradient by its running size, but the step is still the learning rate times that "
             "ratio: a different learning rate changes every step at once. When do the two runs' learning rates "
             "start to differ?",
        "c": "the loss falls fastest in the first half (look at the layer panels): the weights move a lot there, "
             "on both runs alike. Why alike?",
        "d": "the run is one epoch long, and it departs at the halfway step, inside that epoch: the schedule is "
             "applied step by step. Write down lr * min(1, 2 (1 - t/T)) for t = 0 and t = T/2.",
    })
