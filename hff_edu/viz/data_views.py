"""The datasets, and where gradients go: figures for 00_local_learning.

- :func:`plot_samples`: a grid of images with their class names.
- :func:`plot_gradient_flow`: a diagram of the graph one loss's ``backward()`` walks.
- :func:`grad_norms_by_layer` and :func:`plot_grad_norms`: the per-layer
  gradient norms after ``backward()`` on ONE loss (non-zero in one layer for
  FF, HFF and local-CE; everywhere for backprop).
- :func:`plot_accuracy_curves`: test accuracy per epoch of several trained models (seeds, noise bands).
"""
from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .style import GRADIENT_COLOR, method_color, method_style


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


# ----------------------------------------------------------------------------
# the data

def plot_samples(images, labels, class_names, per_class: int = 4, title: str = "",
                 cmap: str = "gray_r", seed: int = 0) -> Figure:
    """``per_class`` images of every class, one column per class, headed by its name.

    ``images``: (N, H, W) or (N, 1, H, W) pixel values (pass ``ds.unstandardise(x)``
    to see the pictures as they were); ``labels``: (N,) class indices.
    Taught in 00_local_learning.
    """
    x, y = _np(images), _np(labels).astype(int).reshape(-1)
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"plot_samples shows grey images (N, 1, H, W); got {x.shape[1]} channels.")
        x = x[:, 0]
    if x.ndim != 3 or x.shape[0] != y.shape[0]:
        raise ValueError(f"Expected images (N, H, W) and labels (N,); got {x.shape} and {y.shape}.")
    if per_class < 1:
        raise ValueError(f"per_class={per_class}: show at least one image per class.")
    n_classes = len(class_names)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(per_class, n_classes, figsize=(1.1 * n_classes, 1.1 * per_class + 0.5),
                             squeeze=False)
    for c in range(n_classes):
        idx = np.flatnonzero(y == c)
        pick = rng.choice(idx, size=min(per_class, idx.size), replace=False) if idx.size else []
        for r in range(per_class):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if r < len(pick):
                ax.imshow(x[pick[r]], cmap=cmap)
            else:
                ax.set_axis_off()
        axes[0, c].set_title(class_names[c], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# where a loss's gradient goes

def plot_gradient_flow(num_layers: int = 3, loss_layer: int = 2, methods=("bp", "local")) -> Figure:
    """The graph that ``backward()`` walks, one row per entry of ``methods``.

    Forward arrows (black) carry activities up. ``"bp"``: the only loss sits at
    the output and the gradient (red arrows) runs back through every layer.
    ``"local"`` (FF, HFF, local-CE): every layer has its own loss and its input
    is detached (a cut, the dashed line), so ``backward()`` on the loss of layer
    ``loss_layer`` stops inside that layer. Layers are numbered 1..L; shaded
    layers are those that receive a gradient. Taught in 00_local_learning.
    """
    if isinstance(methods, str):
        methods = (methods,)
    bad = [m for m in methods if m not in ("bp", "local")]
    if bad or not methods:
        raise ValueError(f"methods={methods!r}: choose among 'bp' and 'local'.")
    if not 1 <= loss_layer <= num_layers:
        raise ValueError(f"loss_layer={loss_layer}: layers are numbered 1..{num_layers}.")
    fig, axes = plt.subplots(len(methods), 1, figsize=(1.6 * num_layers + 2.4, 2.3 * len(methods)),
                             squeeze=False)
    for ax, method in zip(axes[:, 0], methods):
        _draw_flow(ax, num_layers, loss_layer, method)
    fig.tight_layout()
    return fig


def _draw_flow(ax, num_layers: int, loss_layer: int, method: str) -> None:
    xs = [1.6 * (i + 1) for i in range(num_layers)]
    box_w, box_h, y0, mid = 0.9, 0.8, 1.0, 1.4

    def arrow(a, b, color="black", scale=12):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=scale, color=color))

    ax.text(0.3, mid, "x", ha="center", va="center", fontsize=12)
    reached = range(1, num_layers + 1) if method == "bp" else [loss_layer]
    for i, x in enumerate(xs, start=1):
        face = "#f6d3bf" if i in reached else "#f0f0f0"
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y0), box_w, box_h, boxstyle="round,pad=0.05",
                                    facecolor=face, edgecolor="black"))
        ax.text(x, mid, f"layer {i}\n$W_{i}$", ha="center", va="center", fontsize=9)
        left = 0.45 if i == 1 else xs[i - 2] + box_w / 2
        arrow((left, mid), (x - box_w / 2, mid))
        if method == "local" and i > 1:  # the detach: a cut in the graph
            cx = (left + x - box_w / 2) / 2
            ax.plot([cx, cx], [y0 + 0.05, y0 + box_h - 0.05], ls="--", color=GRADIENT_COLOR, lw=1.5)
            ax.text(cx, y0 - 0.05, "detach", ha="center", va="top", fontsize=7, color=GRADIENT_COLOR)
        if method == "local":
            ax.text(x, y0 + box_h + 0.32, f"$L_{i}$", ha="center", fontsize=11,
                    color=GRADIENT_COLOR if i == loss_layer else "grey")
    if method == "bp":
        ax.text(xs[-1] + 1.0, mid, "$L$", ha="center", va="center", fontsize=12, color=GRADIENT_COLOR)
        arrow((xs[-1] + box_w / 2, mid), (xs[-1] + 0.85, mid))
        start = xs[-1] + 0.9
        for x in reversed(xs):  # the gradient walks back through every layer
            arrow((start, y0 - 0.25), (x - box_w / 2 + 0.1, y0 - 0.25), GRADIENT_COLOR, 10)
            start = x - box_w / 2 + 0.1
        ax.text(xs[0], y0 - 0.35, "gradient", ha="left", va="top", fontsize=7, color=GRADIENT_COLOR)
        title = "backprop: backward() on the output loss reaches every layer"
    else:
        x = xs[loss_layer - 1]
        arrow((x, y0 + box_h + 0.3), (x, y0 + box_h + 0.05), GRADIENT_COLOR, 10)
        title = f"local learning: $L_{loss_layer}$.backward() reaches layer {loss_layer} only"
    ax.set_xlim(0, xs[-1] + 1.4)
    ax.set_ylim(0.4, y0 + box_h + 0.7)
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)


def _block_of(name: str) -> str:
    """Which layer a parameter belongs to, from its name: ``layers.1.*`` and ``heads.1.*``
    are layer 2 (its head is part of its local learner); anything else (e.g. a
    shared ``head``) keeps its own first name."""
    m = re.match(r"(layers|heads)\.(\d+)\.", name)
    if m:
        return f"layer {int(m.group(2)) + 1}"
    return name.split(".")[0]


def grad_norms_by_layer(model: torch.nn.Module) -> dict:
    """``{layer name: (gradient norm, parameters with a non-zero gradient)}`` after a ``backward()``.

    Parameters are grouped by layer (a local-CE layer's head and an HFF layer's
    prototypes count with their layer; FF's softmax head and backprop's output head
    are listed as ``"head"``). A parameter whose ``.grad`` is ``None`` counts as zero.
    The norm is ``sqrt(sum of grad^2)`` over the group. Taught in 00_local_learning.
    """
    norms, touched = {}, {}
    for name, p in model.named_parameters():
        block = _block_of(name)
        g = p.grad
        sq = 0.0 if g is None else float(g.detach().pow(2).sum())
        nz = 0 if g is None else int((g != 0).sum())
        norms[block] = norms.get(block, 0.0) + sq
        touched[block] = touched.get(block, 0) + nz
    return {b: (norms[b] ** 0.5, touched[b]) for b in norms}


def plot_grad_norms(norms_by_method: dict, title: str = "") -> Figure:
    """One panel per method: a bar per layer, the norm of the gradient that one ``backward()`` left there.

    ``norms_by_method``: ``{method: {layer name: norm or (norm, count)}}`` as from
    :func:`grad_norms_by_layer`. Exactly-zero bars are labelled "0" so that an
    absent gradient cannot be confused with a small one. Taught in 00_local_learning.
    """
    if not norms_by_method:
        raise ValueError("norms_by_method is empty: give at least one method's gradient norms.")
    n = len(norms_by_method)
    fig, axes = plt.subplots(1, n, figsize=(2.9 * n, 2.9), squeeze=False)
    for ax, (method, norms) in zip(axes[0], norms_by_method.items()):
        names = list(norms)
        vals = [v[0] if isinstance(v, (tuple, list)) else float(v) for v in norms.values()]
        color = method_color(method)
        bars = ax.bar(range(len(names)), vals, color=color)
        top = max(vals) if max(vals) > 0 else 1.0
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, b.get_height() + 0.02 * top,
                    "0" if v == 0 else f"{v:.2g}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, top * 1.2)
        ax.set_title(method)
        ax.set_ylabel("gradient norm")
        ax.set_xlabel("parameters of", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# a first comparison

def plot_accuracy_curves(histories: dict, chance: float | None = None, title: str = "",
                         n_test: int | None = None, zoom: bool = True) -> Figure:
    """Test accuracy after every epoch, one line per method.

    ``histories``: ``{name: History}``, or ``{name: [History, ...]}`` for several seeds of one
    method: the line is then the mean over the seeds and each seed is a thin line of the same
    colour. ``n_test`` (the test split's size) draws a band of +-2 standard errors of one
    accuracy around each line: an error bar, not a test (two methods on the same test images are
    compared with a paired test, ``core.stats.mcnemar``). ``zoom`` (default) fits the y axis to
    the lines and their bands, so that gaps of a point are visible; the y label says so, and
    ``chance`` (1/C) is drawn as a dotted line where it falls inside the axis, else named in the
    corner. Epochs are whole numbers on the x axis. Taught in 00_local_learning.
    """
    if not histories:
        raise ValueError("histories is empty: give at least one {name: History}.")
    from matplotlib.ticker import MaxNLocator

    from ..core.stats import accuracy_noise

    fig, ax = plt.subplots(figsize=(5.4, 3.3))
    lows, highs, last_epoch = [], [], 1
    for name, runs in histories.items():
        runs = list(runs) if isinstance(runs, (list, tuple)) else [runs]
        curves = [np.asarray(h.column("test_acc"), dtype=float) for h in runs]
        n_ep = min(len(c) for c in curves)
        if n_ep == 0:
            raise ValueError(f"{name!r}: the history has no epochs to plot.")
        curves = np.stack([c[:n_ep] for c in curves])
        epochs = np.arange(1, n_ep + 1)
        last_epoch = max(last_epoch, n_ep)
        color, style = method_color(name), method_style(name)
        if len(curves) > 1:
            for c in curves:
                ax.plot(epochs, c, color=color, ls=style, lw=0.7, alpha=0.35)
        mean = curves.mean(0)
        label = name if len(curves) == 1 else f"{name} (mean of {len(curves)} seeds)"
        ax.plot(epochs, mean, marker="o", label=label, color=color, ls=style)
        band = np.array([accuracy_noise(float(m), n_test) for m in mean]) if n_test else np.zeros_like(mean)
        if n_test:
            ax.fill_between(epochs, mean - band, mean + band, color=color, alpha=0.15, lw=0)
        lows.append(float((curves.min(0) - band).min()))
        highs.append(float((curves.max(0) + band).max()))
    low, high = (min(lows), max(highs)) if zoom else (0.0, 1.0)
    if zoom:
        pad = max(0.01, 0.08 * (high - low))
        low, high = max(0.0, low - pad), min(1.0, high + pad)
    if chance is not None:
        if low <= chance <= high:
            ax.axhline(chance, ls=":", color="black", label="chance")
        else:
            ax.text(0.99, 0.02, f"chance = {chance:.2f} (below the axis)", transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=7)
    ax.set_xlabel("epoch")
    ax.set_xlim(0.7, last_epoch + 0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("test accuracy (zoomed)" if zoom else "test accuracy")
    ax.set_ylim(low, high)
    ax.grid(alpha=0.3)
    # outside the axes, so the legend never covers a curve
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    ax.set_title(title or "test accuracy per epoch")
    fig.tight_layout()
    return fig


__all__ = ["plot_samples", "plot_gradient_flow", "grad_norms_by_layer", "plot_grad_norms",
           "plot_accuracy_curves"]
