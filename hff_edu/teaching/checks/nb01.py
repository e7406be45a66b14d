"""Exercises of 01_forward_forward: goodness, the FF loss in a form that cannot overflow, negative
labels without false negatives, the passes a prediction costs, and why the classic threshold makes
the deeper layers late. Every check runs hidden cases (or measures on networks of its own)."""
from __future__ import annotations

import math

import torch

from ..exercises import digest, exercise


def _batches(seed: int = 101) -> list[torch.Tensor]:
    """Hidden test batches: small and wide, signed and ReLU-like, one row only."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 7, generator=g), torch.relu(torch.randn(16, 300, generator=g)),
            torch.randn(1, 5, generator=g) * 30]


@exercise("01.2", "goodness", kind="compute", level=1, minutes=5,
          forbid=["hff_edu.methods.ff.goodness"])
def _goodness(t, my_goodness):
    for h in _batches():
        got = t.call(my_goodness, h.clone())
        t.require(torch.is_tensor(got), "the goodness should be a tensor (one value per row of the batch).")
        t.close(got, h.pow(2).sum(dim=1), f"a batch of {h.shape[0]} rows and {h.shape[1]} units", rtol=1e-5)


# ----------------------------------------------------------------------------
# 01.3: the FF loss, written so that it cannot overflow

def _softplus64(z: torch.Tensor) -> torch.Tensor:
    z = z.double()
    return z.clamp_min(0) + torch.log1p(torch.exp(-z.abs()))


@exercise("01.3", "the FF loss, numerically stable", kind="compute", level=2, minutes=12,
          forbid=["hff_edu.methods.ff.ff_loss", "torch.nn.functional.softplus", "torch.nn.functional.logsigmoid",
                  "torch.nn.functional.binary_cross_entropy_with_logits", "torch.nn.functional.soft_margin_loss",
                  "torch.logaddexp", "torch.logsumexp"])
def _ff_loss(t, my_ff_loss):
    g = torch.Generator().manual_seed(102)
    cases = [(torch.rand(8, generator=g) * 100, torch.rand(8, generator=g) * 100, 50.0, "goodness around theta"),
             (torch.tensor([0.5, 3000.0, 40.0]), torch.tensor([2000.0, 0.25, 80.0]), 500.0,
              "goodness in the thousands, far on both sides of theta"),
             (torch.tensor([1e4, 2e4]), torch.tensor([3e4, 1.0]), 5.0, "goodness in the tens of thousands"),
             (torch.rand(5, generator=g) * 3, torch.rand(3, generator=g) * 3, 1.5, "batches of different sizes")]
    for g_pos, g_neg, theta, what in cases:
        got = t.call(my_ff_loss, g_pos.clone(), g_neg.clone(), theta)
        t.require(torch.is_tensor(got) and got.dim() == 0,
                  f"for {what} the loss should be one number (a 0-dimensional tensor): average over the batch.")
        t.require(bool(torch.isfinite(got)), f"for {what} the loss is {float(got)}, not a finite number: "
                  "something overflows (exp of a large number?) or takes the log of 0.")
        expected = _softplus64(theta - g_pos).mean() + _softplus64(g_neg - theta).mean()
        t.close(got, expected, what, rtol=1e-5)
    # the gradient: what training uses (a branch you do not take can still poison it)
    g_pos = torch.tensor([0.3, 3000.0, 49.0, 51.5], requires_grad=True)
    g_neg = torch.tensor([2500.0, 0.7, 50.5], requires_grad=True)
    loss = t.call(my_ff_loss, g_pos, g_neg, 50.0)
    t.require(torch.is_tensor(loss) and loss.requires_grad,
              "the loss should be computed from g_pos and g_neg with torch operations, so that autograd can "
              "differentiate it (no .item(), no numpy, no torch.no_grad()).")
    loss.backward()
    for name, x, sign, n in (("G_pos", g_pos, -1.0, 4), ("G_neg", g_neg, 1.0, 3)):
        t.require(x.grad is not None and bool(torch.isfinite(x.grad).all()),
                  f"the gradient with respect to {name} is NaN or infinite where |G - theta| is in the "
                  "thousands, although the loss there is finite: a branch you do not use still computes an "
                  "overflow, and autograd multiplies it by 0.")
        z = (x.detach().double() - 50.0) * sign
        t.close(x.grad, sign * torch.sigmoid(z) / n, f"the gradient with respect to {name}", rtol=1e-4, atol=1e-7)


# ----------------------------------------------------------------------------
# 01.1: negative labels without false negatives

def _check_labels(t, got, y, num_classes, what):
    t.require(torch.is_tensor(got) and got.shape == y.shape,
              f"for {what} the answer should be a tensor of {tuple(y.shape)} labels, one per sample.")
    t.require(not got.dtype.is_floating_point and got.dtype != torch.bool,
              f"for {what} the labels should be integer class indices (torch.long).")
    t.require(bool(((got >= 0) & (got < num_classes)).all()),
              f"for {what} some labels are not classes (outside 0 .. {num_classes - 1}).")


@exercise("01.1", "negative labels without false negatives", kind="debug", level=2, minutes=10,
          forbid=["hff_edu.methods.ff.wrong_labels"])
def _wrong_labels(t, my_wrong_labels):
    # 1. never the true label: balanced batches, two classes, one class only, many classes
    g = torch.Generator().manual_seed(7)
    batches = [(torch.arange(100) % 10, 10, "a balanced batch of 100 with 10 classes"),
               (torch.arange(64) % 2, 2, "two classes"),
               (torch.full((50,), 3), 10, "a batch in which every sample has label 3"),
               (torch.randint(0, 100, (500,), generator=g), 100, "100 classes")]
    for y, c, what in batches:
        y_before = y.clone()
        got = t.call(my_wrong_labels, y, c, torch.Generator().manual_seed(1))
        t.require(torch.equal(y, y_before), f"for {what} the answer changed the true labels it was given.")
        _check_labels(t, got, y, c, what)
        same = int((got == y).sum())
        t.require(same == 0, f"for {what}, {same} of {len(y)} negative labels equal the true label: those are "
                  "positive data labelled negative.")
    # 2. uniform over the C - 1 wrong classes, for every true class
    c, n = 5, 40_000
    y = torch.arange(n) % c
    got = t.call(my_wrong_labels, y, c, torch.Generator().manual_seed(2))
    _check_labels(t, got, y, c, "a large balanced sample")
    counts = torch.zeros(c, c)
    counts.index_put_((y, got.long()), torch.ones(n), accumulate=True)
    per_cell = n / (c * (c - 1))
    spread = 6 * math.sqrt(per_cell)
    for true in range(c):
        for wrong in range(c):
            if wrong != true and abs(float(counts[true, wrong]) - per_cell) > spread:
                t.fail(f"over {n} samples with {c} classes, the wrong labels given to class {true} are not spread "
                       f"evenly over the {c - 1} other classes (class {wrong} gets too "
                       f"{'many' if counts[true, wrong] > per_cell else 'few'}).")
    # 3. random, and driven by the generator it is given (a seeded run is reproducible)
    y = torch.arange(200) % 10
    a = t.call(my_wrong_labels, y, 10, torch.Generator().manual_seed(5))
    b = t.call(my_wrong_labels, y, 10, torch.Generator().manual_seed(5))
    d = t.call(my_wrong_labels, y, 10, torch.Generator().manual_seed(6))
    t.require(torch.equal(a, b), "two calls with generators seeded alike give different labels: draw the "
              "random numbers from the `generator` argument (generator=generator).")
    t.require(not torch.equal(a, d), "generators with different seeds give the same labels: the negatives "
              "should be random.")


# ----------------------------------------------------------------------------
# 01.4: forward passes per prediction

PASS_MODES = ("goodness", "goodness, layers >= 2", "softmax", "goodness + each layer")


def _measured_passes(mode: str, num_classes: int) -> int:
    from ...methods import ff
    net = ff.FFNet(12, [8, 8, 8], num_classes, label_mode="append")
    calls = []
    hook = net.layers[0].register_forward_hook(lambda module, inputs, output: calls.append(1))
    x = torch.randn(5, 12)
    if mode == "goodness":
        net.predict(x, mode="goodness")
    elif mode == "goodness, layers >= 2":
        net.predict(x, mode="goodness", skip_first=True)
    elif mode == "softmax":
        net.predict(x, mode="softmax")
    else:
        net.predict_and_layers(x)
    hook.remove()
    return len(calls)


@exercise("01.4", "passes per prediction", kind="predict", level=1, minutes=5)
def _passes(t, my_passes):
    for c in (3, 7, 40):
        for mode in PASS_MODES:
            got = t.number(t.call(my_passes, mode, c), f"the passes for {mode!r} with {c} classes")
            if got != _measured_passes(mode, c):
                t.fail(f"for {mode!r} with {c} classes the hook counts a different number of passes through "
                       "layer 1. What does one pass compute, and can one pass serve two purposes?")


# ----------------------------------------------------------------------------
# 01.5: why the classic threshold makes the deeper layers late

@exercise("01.5", "why the deeper layers start late", kind="explain", level=2, minutes=8)
def _late(t, my_explanation):
    t.choice(my_explanation, digest("c"), {
        "a": ("the figure shows the goodness reaching theta within a few dozen steps: Adam gets there quickly. "
              "What happens once it is there?"),
        "b": ("look at the slope of softplus(theta - G) when G is far below theta: it is close to 1, not 0. Which "
              "of the two terms of the loss is flat there?"),
        "d": ("n(x) divides by the root mean square of the input, which does not involve theta; whatever theta is, "
              "every layer's input has the same length."),
    })
