"""Answers to 00's exercises: right ones, wrong-but-plausible ones, and ones that call the package."""
import torch
import torch.nn.functional as F

from hff_edu.methods import baselines, ff
from hff_edu.teaching.checks.nb00 import REACH_CASES, rms
from hff_edu.viz import data_views as dv

RIGHT_REACH = {"hff, loss of layer 3": {"layer 3"}, "local-ce, loss of layer 1": {"layer 1"},
               "ff, loss of layer 2": {"layer 2"}, "ff, loss of its softmax head": {"head"},
               "bp, its only loss": {"layer 1", "layer 2", "layer 3", "head"}}


def _reach(**change):
    return lambda: {**RIGHT_REACH, **change}


def _measure_reach():
    # measures with the package's grad_norms_by_layer: forbidden in a prediction
    from hff_edu.teaching.checks.nb00 import _nets
    nets = _nets()
    x, y = torch.randn(8, 12), torch.arange(8) % 4
    out = {}
    for case, (method, which) in REACH_CASES.items():
        net = nets[method]
        net.zero_grad(set_to_none=True)
        losses = net.local_losses(x, y)
        losses[len(losses) - 1 if which in ("head", "only") else which - 1].backward()
        out[case] = {k for k, (n, _) in dv.grad_norms_by_layer(net).items() if n > 0}
    return out


def touched_right(method, in_features, widths, num_classes, layer):
    sizes = [in_features + (num_classes if method == "ff" else 0)] + list(widths)
    lin = [a * b + b for a, b in zip(sizes[:-1], sizes[1:])]
    if method == "ff":
        return lin[layer - 1]
    if method == "local-ce":
        return lin[layer - 1] + widths[layer - 1] * num_classes + num_classes
    return sum(lin) + widths[-1] * num_classes + num_classes


def touched_no_bias(method, in_features, widths, num_classes, layer):
    sizes = [in_features + (num_classes if method == "ff" else 0)] + list(widths)
    lin = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    if method == "ff":
        return lin[layer - 1]
    if method == "local-ce":
        return lin[layer - 1] + widths[layer - 1] * num_classes
    return sum(lin) + widths[-1] * num_classes


def touched_ff_without_label(method, in_features, widths, num_classes, layer):
    if method == "ff":
        sizes = [in_features] + list(widths)
        return sizes[layer - 1] * sizes[layer] + sizes[layer]
    return touched_right(method, in_features, widths, num_classes, layer)


def touched_local_ce_without_head(method, in_features, widths, num_classes, layer):
    if method == "local-ce":
        sizes = [in_features] + list(widths)
        return sizes[layer - 1] * sizes[layer] + sizes[layer]
    return touched_right(method, in_features, widths, num_classes, layer)


def touched_bp_up_to_the_layer(method, in_features, widths, num_classes, layer):
    if method == "bp":
        sizes = [in_features] + list(widths)
        return sum(a * b + b for a, b in zip(sizes[:layer], sizes[1:layer + 1]))
    return touched_right(method, in_features, widths, num_classes, layer)


def touched_by_building(method, in_features, widths, num_classes, layer):
    net = {"ff": lambda: ff.FFNet(in_features, widths, num_classes, label_mode="append"),
           "local-ce": lambda: baselines.LocalCENet(in_features, widths, num_classes),
           "bp": lambda: baselines.BPNet(in_features, widths, num_classes)}[method]()
    losses = net.local_losses(torch.randn(4, in_features), torch.arange(4) % num_classes)
    losses[min(layer - 1, len(losses) - 1)].backward()
    return sum(p.numel() for p in net.parameters() if p.grad is not None)


def leak_fixed(net, x, y):
    losses, a = [], x
    for layer, head in zip(net.layers, net.heads):
        u = a.detach()
        a = torch.relu(layer(u / rms(u)))
        losses.append(F.cross_entropy(head(a), y))
    return losses


def leak_fixed_no_grad(net, x, y):
    losses, a = [], x
    for layer, head in zip(net.layers, net.heads):
        with torch.no_grad():
            u = a / rms(a)
        a = torch.relu(layer(u))
        losses.append(F.cross_entropy(head(a), y))
    return losses


def leak_buggy(net, x, y):  # the notebook's code: the length is measured on the undetached input
    losses, a = [], x
    for layer, head in zip(net.layers, net.heads):
        u = a.detach()
        a = torch.relu(layer(u / rms(a)))
        losses.append(F.cross_entropy(head(a), y))
    return losses


def leak_detach_output(net, x, y):  # cuts after the layer: its own loss no longer reaches it
    losses, a = [], x
    for layer, head in zip(net.layers, net.heads):
        a = torch.relu(layer(a / rms(a))).detach()
        losses.append(F.cross_entropy(head(a), y))
    return losses


def leak_detach_only_the_input(net, x, y):  # detaches x once, then lets every layer read the one below
    losses, a = [], x.detach()
    for layer, head in zip(net.layers, net.heads):
        a = torch.relu(layer(a / rms(a)))
        losses.append(F.cross_entropy(head(a), y))
    return losses


def leak_drop_the_norm(net, x, y):  # "fixes" the leak by no longer normalising: another network
    losses, a = [], x
    for layer, head in zip(net.layers, net.heads):
        a = torch.relu(layer(a.detach()))
        losses.append(F.cross_entropy(head(a), y))
    return losses


def leak_package(net, x, y):
    model = baselines.LocalCENet(x.shape[1], [layer.out_features for layer in net.layers], net.heads[0].out_features)
    model.load_state_dict({**{f"layers.{i}.{k}": v for i, layer in enumerate(net.layers)
                              for k, v in layer.state_dict().items()},
                           **{f"heads.{i}.{k}": v for i, head in enumerate(net.heads)
                              for k, v in head.state_dict().items()}})
    return model.local_losses(x / rms(x), y)


SAMPLES = {
    "00.1": dict(
        right={"the measured sets": _reach(), "lists, not sets": lambda: {k: sorted(v) for k, v in RIGHT_REACH.items()}},
        wrong={"ff's head gets layer 2's gradient (hard negatives)": _reach(**{"ff, loss of layer 2": {"layer 2", "head"}}),
               "the head's loss trains the layers it reads": _reach(**{"ff, loss of its softmax head":
                                                                       {"layer 2", "layer 3", "head"}}),
               "bp without its head": _reach(**{"bp, its only loss": {"layer 1", "layer 2", "layer 3"}}),
               "a local loss also reaches the layers below": _reach(**{"hff, loss of layer 3":
                                                                      {"layer 1", "layer 2", "layer 3"}}),
               "local-ce's head as a part of its own": _reach(**{"local-ce, loss of layer 1": {"layer 1", "head"}}),
               "a case left out": lambda: {k: v for k, v in RIGHT_REACH.items() if not k.startswith("bp")}},
        package={"measured with grad_norms_by_layer": _measure_reach},
    ),
    "00.2": dict(
        right={"by hand": touched_right},
        wrong={"no biases": touched_no_bias, "ff without the label's inputs": touched_ff_without_label,
               "local-ce without its head": touched_local_ce_without_head,
               "bp only up to the layer": touched_bp_up_to_the_layer},
        package={"builds the networks and counts": touched_by_building},
    ),
    "00.3": dict(
        right={"measure the length on the detached input": leak_fixed, "normalise under no_grad": leak_fixed_no_grad},
        wrong={"the given code": leak_buggy, "detach the output": leak_detach_output,
               "detach only the input": leak_detach_only_the_input, "drop the normalisation": leak_drop_the_norm},
        package={"the package's local-CE network": leak_package},
    ),
    "00.4": dict(
        right={"global-norm clipping only": lambda: {"d"}, "as a list": lambda: ["d"]},
        wrong={"every kind of clipping": lambda: {"c", "d", "e"}, "both norm clippings": lambda: {"d", "e"},
               "nothing couples": lambda: set(), "stateful optimisers couple": lambda: {"a", "b", "d"},
               "not a letter": lambda: {"global"}},
    ),
}
