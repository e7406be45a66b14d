"""Exercises of 00_local_learning: where a loss's gradient goes, what one update touches, a leak to
find, and which optimiser set-ups couple the layers. Every check measures on networks of its own
(hidden sizes), so an answer is judged against what autograd really does."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..exercises import exercise

#: the parts of a network a gradient can reach, as ``viz.data_views.grad_norms_by_layer`` names them
PARTS = ("layer 1", "layer 2", "layer 3", "head")
#: exercise 00.1's cases: (method, which loss: a 1-based layer, "head" or "only")
REACH_CASES = {"hff, loss of layer 3": ("hff", 3), "local-ce, loss of layer 1": ("local-ce", 1),
               "ff, loss of layer 2": ("ff", 2), "ff, loss of its softmax head": ("ff", "head"),
               "bp, its only loss": ("bp", "only")}


def _nets(widths=(8, 8, 8), in_features=12, num_classes=4, seed=5):
    from ...methods import baselines, ff, hff
    return {"hff": hff.HFFNet(in_features, list(widths), num_classes, seed=seed),
            "local-ce": baselines.LocalCENet(in_features, list(widths), num_classes, seed=seed),
            "ff": ff.FFNet(in_features, list(widths), num_classes, label_mode="append", seed=seed),
            "bp": baselines.BPNet(in_features, list(widths), num_classes, seed=seed)}


def _reached(model, which, x, y) -> set:
    """The parts whose parameters get a non-zero gradient from ``backward()`` on one loss."""
    from ...viz.data_views import grad_norms_by_layer
    model.zero_grad(set_to_none=True)
    losses = model.local_losses(x, y, torch.Generator().manual_seed(0))
    index = len(losses) - 1 if which in ("head", "only") else which - 1
    losses[index].backward()
    return {name for name, (norm, _) in grad_norms_by_layer(model).items() if norm > 0}


def _as_set(value) -> set:
    if isinstance(value, str):
        return {value}
    try:
        return {str(v).strip() for v in value}
    except TypeError:
        return {None}


@exercise("00.1", "where one loss's gradient goes", kind="predict", level=1, minutes=5,
          forbid=["hff_edu.viz.data_views.grad_norms_by_layer"])
def _reach(t, my_prediction):
    answer = t.value(my_prediction)
    t.require(isinstance(answer, dict), "the prediction should be a dict: {case: set of parts}, one entry "
                                        "per case of the exercise.")
    t.require(set(answer) == set(REACH_CASES),
              f"the dict should have exactly the cases {sorted(REACH_CASES)} as keys.")
    g = torch.Generator().manual_seed(11)
    x, y = torch.randn(16, 12, generator=g), torch.arange(16) % 4
    nets = _nets()
    for case, (method, which) in REACH_CASES.items():
        said = _as_set(answer[case])
        t.require(said <= set(PARTS), f"for {case!r} name parts as the section does: {', '.join(PARTS)}.")
        measured = _reached(nets[method], which, x, y)
        if said - measured:
            t.fail(f"for {case!r} you predict a gradient in a part that the measurement leaves untouched "
                   "(its .grad stays None). Which tensors does this loss's graph really start from?")
        if measured - said:
            t.fail(f"for {case!r} the measurement finds a gradient in a part you left out. Which parameters "
                   "does this loss's own computation use?")


def _touched(model, which) -> int:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, model.in_features, generator=g)
    y = torch.arange(6) % model.num_classes
    model.zero_grad(set_to_none=True)
    losses = model.local_losses(x, y, torch.Generator().manual_seed(0))
    losses[min(which - 1, len(losses) - 1)].backward()
    return sum(p.numel() for p in model.parameters() if p.grad is not None)


def _count_cases():
    """Hidden networks: (method, in_features, widths, num_classes, layer) and the measured count."""
    from ...methods import baselines, ff
    build = {"ff": lambda d, w, c: ff.FFNet(d, w, c, label_mode="append"),
             "local-ce": lambda d, w, c: baselines.LocalCENet(d, w, c),
             "bp": lambda d, w, c: baselines.BPNet(d, w, c)}
    shapes = [(12, [7, 5, 3], 4, 1), (12, [7, 5, 3], 4, 3), (9, [6, 11], 3, 2), (20, [5, 5, 5, 5], 7, 2)]
    cases = []
    for method, make in build.items():
        for d, widths, c, layer in shapes:
            cases.append((method, d, widths, c, layer, _touched(make(d, widths, c), layer)))
    return cases


def _mistakes(method, d, widths, c, layer):
    """What common slips would give (the diagnosis of a wrong count, never the right one)."""
    sizes = [d + (c if method == "ff" else 0)] + list(widths)
    lin = lambda i, bias=True: sizes[i] * sizes[i + 1] + (sizes[i + 1] if bias else 0)  # noqa: E731
    k = layer - 1
    out = {}
    if method == "ff":
        out["the label's inputs"] = (d * widths[0] + widths[0]) if k == 0 else None
        out["the biases"] = lin(k, False)
    elif method == "local-ce":
        out["the layer's own head"] = lin(k)
        out["the biases"] = lin(k, False) + widths[k] * c
    else:
        out["the output head"] = sum(lin(i) for i in range(len(widths)))
        out["the layers above the one you were asked about"] = sum(lin(i) for i in range(k + 1))
        out["the biases"] = sum(lin(i, False) for i in range(len(widths))) + widths[-1] * c
    return out


@exercise("00.2", "parameters one loss updates", kind="compute", level=2, minutes=10,
          forbid=["hff_edu.methods.ff.FFNet", "hff_edu.methods.baselines.LocalCENet",
                  "hff_edu.methods.baselines.BPNet", "hff_edu.methods.build"])
def _count(t, touched):
    for method, d, widths, c, layer, expected in _count_cases():
        got = t.call(touched, method, d, list(widths), c, layer)
        what = (f"{method}, the loss of layer {layer}" if method != "bp" else "bp (its only loss)") + \
            f", in a network {d} -> {widths} with {c} classes"
        number = t.number(got, f"the count for {what}")
        if number != expected:
            slips = [name for name, value in _mistakes(method, d, widths, c, layer).items() if value == number]
            hint = f" It looks as if you left out {slips[0]}." if slips else ""
            t.fail(f"for {what} the count is not right.{hint}")


# ----------------------------------------------------------------------------
# 00.3: a leak in a local step

class LeakNet(nn.Module):
    """The exercise's network: ``Linear`` layers, each with a linear head of its own."""

    def __init__(self, sizes, num_classes, seed=0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
            self.heads = nn.ModuleList(nn.Linear(b, num_classes) for b in sizes[1:])


def rms(a: torch.Tensor) -> torch.Tensor:
    """The length of each row as FF measures it: ``sqrt(mean(a^2))`` (+ a small epsilon)."""
    return a.pow(2).mean(dim=1, keepdim=True).sqrt() + 1e-8


def _local_losses_reference(net, x, y):
    losses, a = [], x
    for layer, head in zip(net.layers, net.heads):
        u = a.detach()
        a = torch.relu(layer(u / rms(u)))
        losses.append(F.cross_entropy(head(a), y))
    return losses


@exercise("00.3", "a leak in a local step", kind="debug", level=2, minutes=12,
          forbid=["hff_edu.core.protocol.LocalModel.local_losses", "hff_edu.core.protocol.LocalModel.iter_losses"])
def _leak(t, fixed_local_losses):
    g = torch.Generator().manual_seed(23)
    for sizes, c in (([12, 9, 7, 5], 4), ([6, 10, 10], 3)):
        net = LeakNet(sizes, c, seed=len(sizes))
        x = torch.randn(10, sizes[0], generator=g) * torch.linspace(0.2, 5.0, 10)[:, None]  # lengths differ
        y = torch.arange(10) % c
        with torch.no_grad():
            expected = [float(v) for v in _local_losses_reference(net, x, y)]
        where = f"a network {sizes} with {c} classes"
        losses = t.call(fixed_local_losses, net, x.clone(), y)
        t.require(isinstance(losses, (list, tuple)) and len(losses) == len(sizes) - 1,
                  f"for {where} the answer should return a list of {len(sizes) - 1} losses, one per layer.")
        t.require(all(torch.is_tensor(v) and v.dim() == 0 for v in losses),
                  "every loss should be one number (a 0-dimensional tensor).")
        t.close(torch.stack([v.detach() for v in losses]), torch.tensor(expected), f"the losses' values in {where} "
                "(a fix must not change what the network computes)", rtol=1e-5)
        for k in range(len(losses)):
            net.zero_grad(set_to_none=True)
            t.call(fixed_local_losses, net, x.clone(), y)[k].backward()
            own = [net.layers[k].weight.grad, net.heads[k].weight.grad]
            t.require(all(gr is not None and gr.abs().sum() > 0 for gr in own),
                      f"in {where} the loss of layer {k + 1} leaves layer {k + 1}'s own weights (or its head's) "
                      "without a gradient: the cut is in the wrong place.")
            for j, layer in enumerate(net.layers):
                if j != k and layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0:
                    t.fail(f"in {where} the loss of layer {k + 1} still puts a gradient into layer {j + 1}'s "
                           "weights: something in that loss's computation still uses a tensor that is not "
                           "detached.")


# ----------------------------------------------------------------------------
# 00.4: which optimiser set-ups couple the layers

OPTIONS = ("a", "b", "c", "d", "e")


def _optimiser(option, params):
    if option == "a":
        return torch.optim.Adam(params, lr=1e-2)
    if option == "b":
        return torch.optim.SGD(params, lr=1e-2, momentum=0.9, weight_decay=1e-2)
    return torch.optim.SGD(params, lr=1e-2)


def _clip(option, layer_groups):
    """Option c: every entry to +-0.01; d: the norm of all of them together; e: each layer's norm."""
    every = [p for group in layer_groups for p in group]
    if option == "c":
        torch.nn.utils.clip_grad_value_(every, 0.01)
    elif option == "d":
        torch.nn.utils.clip_grad_norm_(every, 0.1)
    elif option == "e":
        for group in layer_groups:
            torch.nn.utils.clip_grad_norm_(group, 0.1)


def _groups(net):
    return [list(layer.parameters()) + list(head.parameters()) for layer, head in zip(net.layers, net.heads)]


def _gap(option, steps=3) -> float:
    """max |weights(one optimiser on the sum) - weights(one optimiser per layer)| after ``steps`` steps:
    the section's experiment on a small local-CE network, every layer stepping from the same state."""
    from ...methods import baselines
    g = torch.Generator().manual_seed(31)
    x, y = torch.randn(32, 12, generator=g) * 3, torch.arange(32) % 4
    whole = baselines.LocalCENet(12, [10, 10, 10], 4, seed=2)
    split = copy.deepcopy(whole)
    opt = _optimiser(option, list(whole.parameters()))
    opts = [_optimiser(option, group) for group in _groups(split)]
    for _ in range(steps):
        opt.zero_grad()
        sum(whole.local_losses(x, y)).backward()          # one backward, one step
        _clip(option, _groups(whole))
        opt.step()
        losses = split.local_losses(x, y)                 # every layer from the same state
        for layer_opt, group, loss in zip(opts, _groups(split), losses):
            layer_opt.zero_grad()
            loss.backward()
            _clip(option, [group])                         # a layer's optimiser sees its own layer only
            layer_opt.step()
    with torch.no_grad():
        return max(float((p - q).abs().max()) for p, q in zip(whole.parameters(), split.parameters()))


@exercise("00.4", "what couples the layers", kind="predict", level=2, minutes=8)
def _couples(t, couples_the_layers):
    answer = t.value(couples_the_layers)
    picked = {str(v).strip().lower() for v in (answer if isinstance(answer, (set, list, tuple, frozenset)) else [answer])}
    t.require(picked <= set(OPTIONS), f"answer with a set of letters among {', '.join(OPTIONS)}.")
    measured = {o for o in OPTIONS if _gap(o) > 1e-6}
    for option in OPTIONS:
        if (option in picked) != (option in measured):
            said = "couples" if option in picked else "does not couple"
            t.fail(f"you predict that option {option!r} {said} the layers, and the measurement disagrees. "
                   "Ask: does the step of one entry depend on anything computed from another layer's gradient?")
