"""Figures for the convolutional networks (07's transfer figures are in ``transfer_views``).

Pure functions returning a ``matplotlib.figure.Figure``; taught in 06_convolutional_hff.
"""
from __future__ import annotations

from itertools import cycle
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

from ..core.geometry import cosine_matrix
from ..methods import spec_of
from .style import OKABE_ITO, YELLOW, method_color, method_style

#: the notebooks' display names of the methods -> the method names of viz/style.py
def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _method(name: str) -> str | None:
    """The method a display name stands for ("HFF", "FF goodness", "local CE", "backprop"), or None."""
    try:
        return spec_of(name).name
    except ValueError:
        return None


def series_colors(names: Sequence[str]) -> list[str]:
    """One colour-blind-safe colour per series: a method's own colour (viz/style.py) where the name
    is a method, otherwise the next unused colour of the Okabe-Ito palette."""
    taken = {method_color(m) for m in filter(None, map(_method, names))}
    spare = cycle([c for c in OKABE_ITO if c not in taken and c != YELLOW])  # yellow: too pale on white
    return [method_color(m) if (m := _method(n)) else next(spare) for n in names]


def _line_style(name: str, i: int) -> str:
    """A method's own line style, otherwise one per series (figures printed in grey stay readable)."""
    m = _method(name)
    return method_style(m) if m else ["-", "--", "-.", ":"][i % 4]


def _two_se(acc: float, n: int) -> float:
    """Two standard errors of one accuracy measured on ``n`` samples (an error bar)."""
    p = min(max(float(acc), 1.0 / n), 1.0 - 1.0 / n)
    return 2.0 * (p * (1.0 - p) / n) ** 0.5


def _legend_outside(ax, fontsize: int = 8) -> None:
    """The legend to the right of the axes, where it cannot cover a line or a bar."""
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _image(ax, img, title: str = "") -> None:
    """Show one (C, H, W) or (H, W) image: grey for one channel, RGB (rescaled to [0, 1]) for three."""
    a = _np(img)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3:
        a = a.transpose(1, 2, 0)
        a = (a - a.min()) / (a.max() - a.min() + 1e-8)
        ax.imshow(a)
    else:
        ax.imshow(a, cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def plot_augmentations(images, augmented: Sequence, titles: Sequence[str] | None = None,
                       row_names: Sequence[str] | None = None) -> Figure:
    """Originals (top row) and one or more augmented versions of them (one row each).

    ``images`` is (n, C, H, W); ``augmented`` a list of tensors of the same shape
    (e.g. ``[aug(x), aug(x)]``: two random draws). Taught in 06_convolutional_hff.
    """
    rows = [images] + list(augmented)
    n = _np(images).shape[0]
    if any(_np(r).shape != _np(images).shape for r in rows):
        raise ValueError("Every augmented batch must have the shape of the originals (n, C, H, W).")
    names = list(row_names) if row_names else ["original"] + [f"augmented #{i + 1}" for i in range(len(rows) - 1)]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.45 * len(rows)), squeeze=False)
    for r, batch in enumerate(rows):
        for i in range(n):
            _image(axes[r, i], batch[i], titles[i] if (titles is not None and r == 0) else "")
        axes[r, 0].set_ylabel(names[r], fontsize=8)
    fig.suptitle("Random crop (padding) + horizontal flip: one new draw per batch", fontsize=10)
    fig.tight_layout()
    return fig


def plot_feature_maps(image, maps: Sequence, n_channels: int = 8, title: str = "",
                      colorbar: bool = True) -> Figure:
    """One image (left) and the first ``n_channels`` channels of every block's feature map A_l.

    ``maps`` is the list ``model.feature_maps(x)`` for a batch; the first sample
    is shown. Each row is a block: the maps get smaller (pooling) and coarser.
    The channels of one block share one colour scale, from 0 (a ReLU output is never
    negative: dark is "silent") to the row's largest activation, shown by the row's colour
    bar, so that channels of a block can be compared by brightness.
    Taught in 06_convolutional_hff.
    """
    if not len(maps):
        raise ValueError("maps is empty: pass model.feature_maps(x).")
    k = min(n_channels, min(_np(m).shape[1] for m in maps))
    fig, axes = plt.subplots(len(maps), k + 1, figsize=(1.25 * (k + 1) + (0.6 if colorbar else 0), 1.35 * len(maps)),
                             squeeze=False)
    for r, m in enumerate(maps):
        a = _np(m)[0]
        if r == 0:
            _image(axes[0, 0], image, "input")
        else:
            axes[r, 0].axis("off")
        top = float(max(a[:k].max(), 1e-8))
        im = None
        for j in range(k):
            ax = axes[r, j + 1]
            im = ax.imshow(a[j], cmap="viridis", vmin=0.0, vmax=top)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"channel {j + 1}", fontsize=7)
        axes[r, 1].set_ylabel(f"block {r + 1}\n{a.shape[1]}x{a.shape[2]}", fontsize=8)
        if colorbar and im is not None:
            bar = fig.colorbar(im, ax=list(axes[r, 1:]), fraction=0.02, pad=0.01)
            bar.ax.tick_params(labelsize=6)
            bar.set_label("activation", fontsize=7)
    fig.suptitle(title or "Feature maps A_l of each block (first channels)", fontsize=10)
    if not colorbar:
        fig.tight_layout()
    return fig


def plot_block_accuracy(results: Mapping[str, Sequence[float]], chance: float | None = None,
                        title: str = "Test accuracy of each block's own classifier",
                        xlabel: str = "block", n_test: int | None = None) -> Figure:
    """Grouped bars: accuracy of every block (x) for every method (colour).

    ``results`` maps a method name to its per-block accuracies (in [0, 1]); a
    method with a single entry (backprop: only the output classifies) is drawn at
    the last block. ``n_test`` (the number of test samples) adds error bars of two
    standard errors of one accuracy (an error bar, not a test: compare two bars with a
    paired test). Taught in 06_convolutional_hff and 07_transfer_and_prototypes.
    """
    if not results:
        raise ValueError("results is empty: pass {method: [accuracy per block]}.")
    n_blocks = max(len(v) for v in results.values())
    width = 0.8 / len(results)
    colors = series_colors(list(results))
    fig, ax = plt.subplots(figsize=(3.2 + 1.5 * n_blocks, 3.6))
    for i, (name, accs) in enumerate(results.items()):
        accs = list(_np(accs).reshape(-1))
        xs = np.arange(n_blocks - len(accs), n_blocks) + (i - (len(results) - 1) / 2) * width
        err = [_two_se(a, n_test) for a in accs] if n_test else None
        bars = ax.bar(xs, accs, width, label=name, color=colors[i], yerr=err, capsize=2 if err else 0,
                      error_kw=dict(lw=0.8, ecolor="black"))
        ax.bar_label(bars, labels=[f"{100 * a:.0f}" for a in accs], fontsize=7, padding=1)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xticks(range(n_blocks), [f"{xlabel} {i + 1}" for i in range(n_blocks)])
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("test accuracy" + (" (bars: ±2 s.e.)" if n_test else ""))
    ax.set_title(title, fontsize=10)
    _legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_head_dim_sweep(dims: Sequence[int], accs, num_classes: int, labels: Sequence[str] | None = None,
                        title: str = "The AuxConv head: output size d vs accuracy",
                        n_test: int | None = None) -> Figure:
    """Test accuracy against the AuxConv output size d (log x axis), one line per series.

    ``accs`` is (len(dims),) or (len(dims), S) for S series (e.g. one per block);
    a dotted line marks d = C - 1, below which C prototypes cannot be equally
    spread (no simplex ETF fits). The y axis starts at 0, so small gaps look small;
    ``n_test`` adds error bars of two standard errors of one accuracy.
    Taught in 06_convolutional_hff.
    """
    a = _np(accs)
    a = a[:, None] if a.ndim == 1 else a
    if a.shape[0] != len(dims):
        raise ValueError(f"{len(dims)} head sizes but {a.shape[0]} rows of accuracies: one row per d.")
    labels = list(labels) if labels is not None else [f"series {i + 1}" for i in range(a.shape[1])]
    colors = series_colors(labels)
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    for j in range(a.shape[1]):
        ax.plot(dims, a[:, j], "o", ls=_line_style(labels[j], j), color=colors[j], label=labels[j])
        if n_test:
            ax.errorbar(dims, a[:, j], yerr=[_two_se(v, n_test) for v in a[:, j]], fmt="none",
                        ecolor=colors[j], capsize=2, lw=0.8)
    ax.set_ylim(0, 1)
    ax.axvline(num_classes - 1, color="grey", ls=":", lw=1)
    ax.text(num_classes - 1, 0.01, f" d = C-1 = {num_classes - 1}", fontsize=8, va="bottom", color="grey")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(dims), [str(d) for d in dims])
    ax.set_xlabel("head output size d (log scale)")
    ax.set_ylabel("test accuracy" + (" (bars: ±2 s.e.)" if n_test else ""))
    ax.set_title(title, fontsize=10)
    _legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_inference_cost(seconds: Mapping[str, float], passes: Mapping[str, int] | None = None,
                        reference: str | None = None,
                        title: str = "Inference time for the same test batch",
                        flops: Mapping[str, float] | None = None) -> Figure:
    """Horizontal bars: measured prediction time per method, annotated with the forward passes
    it needs and its time ratio to ``reference`` (default: the fastest). ``flops`` (counted
    FLOPs per prediction) adds the ratio of arithmetic, the prediction the time ratio is
    compared with. Taught in 06_convolutional_hff."""
    if not seconds:
        raise ValueError("seconds is empty: pass {method: seconds}.")
    if reference is not None and reference not in seconds:
        raise ValueError(f"reference {reference!r} is not one of {list(seconds)}.")
    names = list(seconds)
    vals = np.array([float(seconds[n]) for n in names])
    fastest = float(seconds[reference]) if reference is not None else vals.min()
    fig, ax = plt.subplots(figsize=(6.2, 0.7 + 0.55 * len(names)))
    bars = ax.barh(names, 1000 * vals, color=series_colors(names))
    ref_flops = (flops or {}).get(reference) if reference is not None else None
    notes = [f"{v / fastest:.1f}x"
             + (f" (FLOPs: {flops[n] / ref_flops:.1f}x)" if ref_flops and n in flops else "")
             + (f"  ({passes[n]} pass{'es' if passes[n] > 1 else ''})" if passes and n in passes else "")
             for n, v in zip(names, vals)]
    ax.bar_label(bars, labels=notes, fontsize=8, padding=3)
    ax.set_xlim(0, 1000 * vals.max() * 1.45)
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds" + (f"  (ratios: time / time of {reference})" if reference else ""))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_learning_curves(histories: Mapping, key: str = "test_acc",
                         title: str = "Test accuracy per epoch", n_test: int | None = None,
                         zoom: bool = False) -> Figure:
    """One line per method: ``history.column(key)`` against the epoch, in each method's colour and line
    style (viz/style.py). An accuracy axis runs from 0 to 1, or with ``zoom=True`` from just below the
    lowest to just above the highest value (the axis label says it is zoomed); ``n_test`` adds a band
    of two standard errors of one accuracy around each line. Integer epoch ticks.
    Taught in 06_convolutional_hff."""
    if not histories:
        raise ValueError("histories is empty: pass {method: History}.")
    colors = series_colors(list(histories))
    fig, ax = plt.subplots(figsize=(6.2, 3.4))
    lows, highs = [], []
    for i, (name, h) in enumerate(histories.items()):
        epochs, values = h.column("epoch"), np.asarray(h.column(key), dtype=float)
        ax.plot(epochs, values, "o", ls=_line_style(name, i), color=colors[i], label=name)
        band = np.array([_two_se(v, n_test) for v in values]) if n_test and "acc" in key else 0 * values
        if n_test and "acc" in key:
            ax.fill_between(epochs, values - band, values + band, color=colors[i], alpha=0.15, lw=0)
        lows.append(float(np.min(values - band)))
        highs.append(float(np.max(values + band)))
    zoomed = zoom and "acc" in key
    if zoomed:
        ax.set_ylim(max(0.0, min(lows) - 0.02), min(1.0, max(highs) + 0.02))
    elif "acc" in key:
        ax.set_ylim(0, 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(key.replace("_", " ") + (" (axis zoomed)" if zoomed else ""))
    ax.set_title(title, fontsize=10)
    _legend_outside(ax)
    fig.tight_layout()
    return fig


def class_affinity(scores, y, temperature: float, num_classes: int | None = None) -> torch.Tensor:
    """``A[c, j]``: the mean of ``softmax(scores / T)[:, j]`` over the samples of class c (C x C, rows sum
    to 1). For HFF the scores are a layer's cosines to the C prototypes, for CwComp its C group
    goodnesses: either way, how much of a class's probability sits on each class's anchor."""
    p = (torch.as_tensor(scores).float() / temperature).softmax(1)
    y = torch.as_tensor(y)
    c = num_classes or p.shape[1]
    return torch.stack([p[y == k].mean(0) if (y == k).any() else torch.zeros(p.shape[1]) for k in range(c)])


def plot_class_affinity(panels: Mapping[str, Sequence], class_names: Sequence[str] | None = None,
                        title: str = "Where each class's probability sits, block by block") -> Figure:
    """A grid of :func:`class_affinity` heatmaps: one row per method (its name: the anchors it scores
    against), one column per block. A bright diagonal: each class lands on its own anchor (HFF: its
    prototype; CwComp: its channel group). Taught in 06_convolutional_hff."""
    if not panels:
        raise ValueError("panels is empty: pass {method: [C x C affinity per block]}.")
    rows, cols = len(panels), max(len(v) for v in panels.values())
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols + 0.8, 2.3 * rows + 0.6), squeeze=False)
    im = None
    for r, (name, mats) in enumerate(panels.items()):
        for b in range(cols):
            ax = axes[r][b]
            if b >= len(mats):
                ax.axis("off")
                continue
            im = ax.imshow(_np(mats[b]), vmin=0, vmax=1, cmap="viridis")
            ax.set_title(f"{name}, block {b + 1}", fontsize=8)
            ticks = range(len(_np(mats[b])))
            short = [str(n)[:7] for n in class_names] if class_names is not None else None
            ax.set_xticks(ticks, short if b == 0 and r == rows - 1 and short else [""] * len(ticks),
                          rotation=90, fontsize=6)
            ax.set_yticks(ticks, short if b == 0 and short else [""] * len(ticks), fontsize=6)
            if b == 0:
                ax.set_ylabel("true class", fontsize=8)
            if r == rows - 1:
                ax.set_xlabel("anchor (prototype / group)", fontsize=8)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.025, label="mean probability")
    fig.suptitle(title, fontsize=10)
    return fig
