"""Forward-Forward, seen from the inside: figures for 01_forward_forward.

Notation of the notebook: ``n(x)`` RMS normalisation, ``h`` a layer's activity,
``G(h) = sum_j h_j^2`` its goodness, ``theta`` the threshold,
``p(positive) = sigmoid(G - theta)``.

- :func:`plot_label_overlay`: an image with its true label (positive) and a wrong one (negative) written in.
- :func:`plot_negative_label_matrix`: which negative label each true label got (diagonal = false negatives).
- :func:`plot_softplus_identity`: ``softplus(theta - G)`` and ``-log sigmoid(G - theta)``, one curve.
- :func:`plot_goodness_histograms`: goodness of positive vs negative data, per layer, at some epochs.
- :func:`plot_layer_accuracy`: per-layer accuracy and the two prediction modes.
- :func:`plot_inference_cost`: forward passes and seconds of the two prediction modes.
- :func:`plot_layer_stats`: per-layer goodness (relative to theta), separation and sparsity over
  the epochs, for several runs (``callbacks.LayerStats`` records).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from .style import BLUE, GRADIENT_COLOR, NEG_COLOR, ORANGE, POS_COLOR, PURPLE, SKY

#: outlines that point at something (the label code, the false-negative diagonal)
HIGHLIGHT = GRADIENT_COLOR


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


# ----------------------------------------------------------------------------
# positive and negative data

def _as_picture(flat: np.ndarray, image_shape, num_classes: int, mode: str):
    """Split a flat overlaid input into (image (H, W), appended label code or None)."""
    h, w = image_shape[-2:]
    if mode == "append":
        return flat[:-num_classes].reshape(h, w), flat[-num_classes:]
    if mode == "overwrite":
        return flat.reshape(h, w), None
    raise ValueError(f"Unknown label mode {mode!r}: choose 'overwrite' or 'append'.")


def plot_label_overlay(inputs: dict, image_shape, num_classes: int, mode: str,
                       class_names=None, zoom: int | None = None) -> Figure:
    """Flat inputs with a label written in, drawn as pictures (one panel each).

    ``inputs``: ``{panel title: (D,) or (D + C,) flat input}`` as returned by
    ``ff.overlay_label`` (e.g. the positive with the true label, the negative with a wrong
    one, the neutral label). The image keeps its own grey scale (the label's value does not
    wash it out), and the label code is drawn in orange, its opacity growing with the value,
    so a one-hot 1 stands out on any image. ``mode="overwrite"``: the first C pixels (top row,
    left) hold the code, outlined on the image; ``mode="append"``: the C extra inputs. Under each
    image a strip enlarges the code, one cell per class with its value written in and the cell
    of the label outlined (``class_names`` name the cells in full). ``zoom`` (overwrite only)
    shows the first ``zoom`` pixels in the strip: the code, then the image's own pixels.
    Taught in 01_forward_forward.
    """
    if not inputs:
        raise ValueError("inputs is empty: give {title: flat input}.")
    h, w = image_shape[-2:]
    names = list(inputs)
    n = len(names)
    flats = [_np(inputs[k]).reshape(-1).astype(float) for k in names]
    expected = h * w + (num_classes if mode == "append" else 0)
    for name, flat in zip(names, flats):
        if flat.size != expected:
            raise ValueError(f"{name!r} has {flat.size} features; a {h}x{w} image with mode={mode!r} "
                             f"needs {expected}.")
    if mode not in ("append", "overwrite"):
        raise ValueError(f"Unknown label mode {mode!r}: choose 'overwrite' or 'append'.")
    codes = [f[-num_classes:] if mode == "append" else f[:num_classes] for f in flats]
    pixels = [f[:-num_classes] if mode == "append" else f[num_classes:] for f in flats]
    # one grey scale for the image pixels of every panel, one colour scale for every label code
    vmin, vmax = min(p.min() for p in pixels), max(p.max() for p in pixels)
    code_max = max(float(np.abs(c).max()) for c in codes) or 1.0
    cells = num_classes if mode == "append" or not zoom else max(num_classes, int(zoom))
    names_below = class_names is not None and len(class_names) == num_classes
    fig = plt.figure(figsize=(min(max(2.6, 0.22 * cells), 3.6) * n, 4.3 if names_below else 3.4))
    grid = fig.add_gridspec(2, n, height_ratios=[5, 2.2 if names_below else 1.2])
    label_rgba = plt.get_cmap("Oranges")
    for i, (name, flat, code) in enumerate(zip(names, flats, codes)):
        img, _ = _as_picture(flat, image_shape, num_classes, mode)
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(img, cmap="gray_r", vmin=vmin, vmax=vmax)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(name, fontsize=9)
        if mode == "overwrite":
            for k in range(num_classes):  # the label pixels, coloured by their value
                r, c = divmod(k, w)
                alpha = 0.15 + 0.85 * abs(code[k]) / code_max if code[k] else 0.0
                ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=HIGHLIGHT, alpha=alpha, lw=0))
            full_rows, rest = divmod(num_classes, w)  # outline: full rows, then part of one
            if full_rows:
                ax.add_patch(Rectangle((-0.5, -0.5), w, full_rows, fill=False, edgecolor=HIGHLIGHT, lw=1.5))
            if rest:
                ax.add_patch(Rectangle((-0.5, full_rows - 0.5), rest, 1, fill=False, edgecolor=HIGHLIGHT, lw=1.5))
        # the strip: the code enlarged (and, with zoom, the pixels that follow it)
        sax = fig.add_subplot(grid[1, i])
        values = flat[:cells] if mode == "overwrite" else code
        rgba = np.zeros((1, cells, 4))
        for k in range(cells):
            if k < num_classes:
                rgba[0, k] = label_rgba(0.1 + 0.9 * abs(values[k]) / code_max)
            else:
                rgba[0, k] = plt.get_cmap("gray_r")((values[k] - vmin) / max(vmax - vmin, 1e-12))
        sax.imshow(rgba, aspect="auto")
        for k in range(num_classes):
            v = values[k]
            sax.text(k, 0, f"{v:.2g}", ha="center", va="center", fontsize=6,
                     color="white" if abs(v) > 0.6 * code_max else "black")
            if v and (v == code.max() and (code != v).any()):  # the label's cell (not for a neutral code)
                sax.add_patch(Rectangle((k - 0.5, -0.5), 1, 1, fill=False, edgecolor="black", lw=1.6))
        sax.add_patch(Rectangle((-0.5, -0.5), num_classes, 1, fill=False, edgecolor=HIGHLIGHT, lw=1.2))
        sax.set_yticks([])
        if names_below:
            sax.set_xticks(range(num_classes))
            sax.set_xticklabels([str(c) for c in class_names], fontsize=7, rotation=90)
        else:
            step = max(1, cells // 10)
            sax.set_xticks(range(0, cells, step))
            sax.tick_params(labelsize=6)
        where = "appended label code" if mode == "append" else (
            f"first {cells} pixels: label code (orange), then the image" if cells > num_classes else
            f"the first {num_classes} pixels: the label code")
        sax.set_xlabel(f"{where}; values written in", fontsize=7)
    fig.tight_layout()
    return fig


def plot_negative_label_matrix(y_true, y_neg_by_method: dict, num_classes: int) -> Figure:
    """For each way of drawing negatives, counts of (true label, negative label) as a C x C image.

    The diagonal counts *false negatives*: "negative" samples that carry their
    true label. ``ff.wrong_labels`` leaves it empty; a random permutation of the
    batch's labels puts about 1/C of the samples there. Taught in 01_forward_forward.
    """
    if not y_neg_by_method:
        raise ValueError("y_neg_by_method is empty: give {name: negative labels}.")
    yt = _np(y_true).astype(int).reshape(-1)
    n = len(y_neg_by_method)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.3), squeeze=False)
    for ax, (name, y_neg) in zip(axes[0], y_neg_by_method.items()):
        yn = _np(y_neg).astype(int).reshape(-1)
        if yn.shape != yt.shape:
            raise ValueError(f"{name!r}: {yn.size} negative labels for {yt.size} true labels.")
        counts = np.zeros((num_classes, num_classes))
        np.add.at(counts, (yt, yn), 1)
        ax.imshow(counts, cmap="Blues")
        rate = float(np.trace(counts) / counts.sum())
        ax.set_title(f"{name}\nfalse negatives: {100 * rate:.1f}%", fontsize=9)
        ax.set_xlabel("negative label")
        ax.set_ylabel("true label")
        for c in range(num_classes):  # outline the diagonal, where false negatives land
            ax.add_patch(Rectangle((c - 0.5, c - 0.5), 1, 1, fill=False, edgecolor=HIGHLIGHT, lw=0.8))
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# goodness, threshold, loss

def plot_softplus_identity(theta: float = 0.0, span: float = 8.0) -> Figure:
    """Left: ``softplus(theta - G)`` and ``-log sigmoid(G - theta)`` against G (one curve:
    the loss on a positive sample); right: ``p(positive) = sigmoid(G - theta)``.

    Taught in 01_forward_forward.
    """
    g = torch.linspace(theta - span, theta + span, 401)
    softplus = torch.nn.functional.softplus(theta - g)
    nll = -torch.nn.functional.logsigmoid(g - theta)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3))
    a1.plot(g, softplus, lw=4, alpha=0.4, label=r"softplus$(\theta - G)$")
    a1.plot(g, nll, "k--", lw=1.2, label=r"$-\log\,\sigma(G - \theta)$")
    a1.plot(g, torch.nn.functional.softplus(g - theta), color=NEG_COLOR, lw=1,
            label=r"softplus$(G - \theta)$ (negatives)")
    a1.axvline(theta, color="grey", ls=":")
    a1.set_xlabel("goodness G")
    a1.set_ylabel("loss")
    a1.legend(fontsize=7)
    a1.set_title("loss of a positive (and of a negative) sample", fontsize=9)
    a2.plot(g, torch.sigmoid(g - theta), color=POS_COLOR)
    a2.axvline(theta, color="grey", ls=":")
    a2.axhline(0.5, color="grey", ls=":")
    a2.set_xlabel("goodness G")
    a2.set_ylabel(r"p(positive) = $\sigma(G - \theta)$")
    a2.set_title(rf"$\theta$ = {theta:g}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_goodness_histograms(snapshots: list, epochs=None, thetas=None, bins: int = 40,
                             layer_names=None, ranges=None) -> Figure:
    """Histograms of the goodness of positive (blue) and negative (vermillion) data:
    one row per chosen epoch, one column per layer.

    ``snapshots``: ``callbacks.GoodnessSnapshots.snapshots`` (dicts with ``epoch``,
    ``pos`` and ``neg``, lists per layer). ``epochs``: which epochs to show (default:
    all). ``thetas``: per-layer thresholds, drawn as dotted lines. Each layer keeps
    the same x range in every row, so separation over epochs is easy to see;
    ``ranges`` (per layer ``(low, high)``, e.g. from :func:`goodness_ranges`) fixes
    it, so that a widget scrubbing through epochs does not rescale.
    Taught in 01_forward_forward.
    """
    by_epoch = {s["epoch"]: s for s in snapshots}
    epochs = list(by_epoch) if epochs is None else list(epochs)
    missing = [e for e in epochs if e not in by_epoch]
    if missing or not epochs:
        raise ValueError(f"No snapshot for epoch(s) {missing or epochs}: snapshots hold {sorted(by_epoch)}.")
    n_layers = len(by_epoch[epochs[0]]["pos"])
    layer_names = layer_names or [f"layer {i + 1}" for i in range(n_layers)]
    fig, axes = plt.subplots(len(epochs), n_layers, figsize=(3.3 * n_layers, 2.1 * len(epochs) + 0.4),
                             squeeze=False)
    ranges = ranges or goodness_ranges([by_epoch[e] for e in epochs], thetas)
    for j in range(n_layers):
        lo, hi = ranges[j]
        edges = np.linspace(lo, hi + 1e-9, bins + 1)
        for i, e in enumerate(epochs):
            ax = axes[i, j]
            pos, neg = _np(by_epoch[e]["pos"][j]), _np(by_epoch[e]["neg"][j])
            ax.hist(np.clip(pos, lo, hi), bins=edges, alpha=0.55, color=POS_COLOR, label="positive")
            ax.hist(np.clip(neg, lo, hi), bins=edges, alpha=0.55, color=NEG_COLOR, label="negative",
                    hatch="//", edgecolor=NEG_COLOR)  # hatched: told apart in grey print too
            if thetas is not None:
                ax.axvline(thetas[j], color="black", ls=":", lw=1, label=r"$\theta$")
            ax.set_yticks([])
            ax.set_title(f"{layer_names[j]}, epoch {e}", fontsize=9)
            if i == len(epochs) - 1:
                ax.set_xlabel("goodness G")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="upper right", ncol=3, frameon=False)  # above, covers no bars
    fig.tight_layout(rect=(0, 0, 1, 0.93 if len(epochs) < 3 else 0.96))
    return fig


def goodness_ranges(snapshots: list, thetas=None) -> list:
    """Per layer ``(low, high)``: the 0.5-99.5 percentiles of all goodness values in
    ``snapshots`` (positive and negative), widened to include ``thetas``."""
    ranges = []
    for j in range(len(snapshots[0]["pos"])):
        allv = np.concatenate([np.concatenate([_np(s["pos"][j]), _np(s["neg"][j])]) for s in snapshots])
        lo, hi = (float(v) for v in np.percentile(allv, [0.5, 99.5]))
        if thetas is not None:
            lo, hi = min(lo, thetas[j]), max(hi, thetas[j])
        ranges.append((lo, hi))
    return ranges


# ----------------------------------------------------------------------------
# accuracy and cost

def plot_layer_accuracy(layer_acc: dict, mode_acc: dict | None = None, chance: float | None = None,
                        n_test: int | None = None, zoom: bool = False, title: str = "") -> Figure:
    """Bars: each layer's own accuracy (its goodness alone), then the network's prediction modes.

    ``layer_acc``: ``{layer name: accuracy}``; ``mode_acc``: ``{mode name: accuracy}``
    (e.g. goodness and softmax). ``n_test`` adds error bars of +-2 standard errors of one
    accuracy (an error bar, not a comparison: two readouts of the same test images are compared
    with a paired test). ``zoom`` starts the axis near the lowest bar instead of at 0 (the
    y label says so). Taught in 01_forward_forward.
    """
    from ..core.stats import accuracy_noise

    mode_acc = mode_acc or {}
    names = list(layer_acc) + list(mode_acc)
    if not names:
        raise ValueError("Nothing to plot: give at least one accuracy.")
    vals = [float(v) for v in list(layer_acc.values()) + list(mode_acc.values())]
    errs = [accuracy_noise(v, n_test) for v in vals] if n_test else None
    colors = [ORANGE] * len(layer_acc) + [PURPLE] * len(mode_acc)
    hatches = [""] * len(layer_acc) + ["//"] * len(mode_acc)  # told apart in grey print too
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 1.8, 3.1))
    bars = ax.bar(range(len(names)), vals, color=colors, yerr=errs, capsize=3 if errs else 0,
                  error_kw=dict(lw=1, ecolor="black"))
    for b, hatch in zip(bars, hatches):
        b.set_hatch(hatch)
        b.set_edgecolor("white" if hatch else b.get_facecolor())
    top = max(v + (e if errs else 0) for v, e in zip(vals, errs or [0] * len(vals)))
    low = 0.0
    if zoom:
        bottom = min(v - (e if errs else 0) for v, e in zip(vals, errs or [0] * len(vals)))
        low = max(0.0, bottom - max(0.03, 0.3 * (top - bottom)))
    for b, v, e in zip(bars, vals, errs or [0] * len(vals)):
        ax.text(b.get_x() + b.get_width() / 2, v + e + 0.01 * (1 - low), f"{100 * v:.1f}%", ha="center", fontsize=8)
    if chance is not None and chance >= low:
        ax.axhline(chance, ls=":", color="black")
        ax.annotate("chance", (1.0, chance), xycoords=("axes fraction", "data"), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=7)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(low, min(1.05, top + 0.08 * (1 - low)))
    ax.set_ylabel("test accuracy" + (" (zoomed)" if zoom and low > 0 else ""))
    ax.set_title(title or "each layer on its own (orange), the whole net (purple, hatched)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_inference_cost(passes: dict, seconds: dict) -> Figure:
    """Two panels per prediction mode: forward passes per prediction (counted) and
    wall-clock seconds for the test set (measured). Taught in 01_forward_forward."""
    if set(passes) != set(seconds) or not passes:
        raise ValueError(f"passes and seconds must name the same modes; got {list(passes)} and {list(seconds)}.")
    modes = list(passes)
    colors = [ORANGE, PURPLE, BLUE, SKY][:len(modes)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7, 2.8))
    for ax, values, label, fmt in ((a1, passes, "forward passes per prediction", "{:.0f}"),
                                   (a2, seconds, "seconds for the test set", "{:.3g}")):
        vals = [values[m] for m in modes]
        bars = ax.bar(modes, vals, color=colors)
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, v, fmt.format(v), ha="center", va="bottom", fontsize=8)
        ax.set_ylabel(label, fontsize=8)
        ax.set_ylim(0, max(vals) * 1.2)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# per-layer statistics during training

def plot_layer_stats(records_by_run: dict, thetas_by_run: dict, unit: str = "epoch",
                     panels=("goodness", "separated", "sparsity")) -> Figure:
    """One row per run: mean goodness of positive (solid) and negative (dashed) data divided by
    the layer's threshold; the fraction of probe images whose positive goodness beats the
    negative one; the Hoyer sparsity of each layer's activity. One colour and marker per layer.

    ``records_by_run``: ``{run name: callbacks.LayerStats.records}`` (FF runs: the records
    hold ``goodness_pos``, ``goodness_neg``, ``separated`` and ``sparsity``); the records'
    ``epoch`` field is the x axis, in ``unit`` ``"epoch"`` or ``"step"`` (a loop that calls
    the callback every few optimiser steps passes the step number). ``thetas_by_run``:
    ``{run name: per-layer thresholds}``. Dividing by theta puts different thresholds on one
    scale: the loss starts to contrast positive with negative data once the goodness reaches
    theta (1 on this axis). ``panels``: which of the three panels to draw, in order.
    Taught in 01_forward_forward.
    """
    from matplotlib.ticker import MaxNLocator

    from ..core.palette import series_colors

    if not records_by_run:
        raise ValueError("records_by_run is empty: give {run name: LayerStats.records}.")
    if unit not in ("epoch", "step"):
        raise ValueError(f"unit={unit!r}: choose 'epoch' or 'step'.")
    panels = tuple(panels)
    if not panels or set(panels) - {"goodness", "separated", "sparsity"}:
        raise ValueError(f"panels={panels!r}: choose among 'goodness', 'separated' and 'sparsity'.")
    missing = set(records_by_run) - set(thetas_by_run)
    if missing:
        raise ValueError(f"No thresholds for run(s) {sorted(missing)}: give thetas_by_run[name] = model.thetas.")
    for name, records in records_by_run.items():
        if not records or "goodness_pos" not in records[0]:
            raise ValueError(f"{name!r}: no FF goodness recorded (LayerStats on an FF model records "
                             "goodness_pos, goodness_neg and separated).")
    n_runs = len(records_by_run)
    fig, axes = plt.subplots(n_runs, len(panels), figsize=(3.7 * len(panels), 2.7 * n_runs + 0.6),
                             squeeze=False, sharex=True)
    markers = ("o", "s", "^", "D", "v", "P", "X", "*")
    for row, (name, records) in enumerate(records_by_run.items()):
        xs = [r["epoch"] for r in records]
        n_layers = len(records[0]["goodness_pos"])
        thetas = list(thetas_by_run[name])
        colors = series_colors(n_layers)
        ms = 3 if len(xs) > 15 else 4
        every = max(1, len(xs) // 12)  # markers thin out on a long recording
        ax_of = dict(zip(panels, axes[row]))
        for j in range(n_layers):
            style = dict(color=colors[j], marker=markers[j % len(markers)], ms=ms, markevery=every)
            if "goodness" in ax_of:
                ax_of["goodness"].plot(xs, [r["goodness_pos"][j] / thetas[j] for r in records], "-",
                                       label=f"layer {j + 1}", **style)
                ax_of["goodness"].plot(xs, [r["goodness_neg"][j] / thetas[j] for r in records], "--", **style)
            if "separated" in ax_of:
                ax_of["separated"].plot(xs, [r["separated"][j] for r in records], "-", label=f"layer {j + 1}", **style)
            if "sparsity" in ax_of:
                ax_of["sparsity"].plot(xs, [r["sparsity"][j] for r in records], "-", label=f"layer {j + 1}", **style)
        if "goodness" in ax_of:
            a_g = ax_of["goodness"]
            a_g.axhline(1.0, color="black", ls=":", lw=1)
            a_g.set_yscale("log")
            # plain numbers (0.2, 1, 2, not 2 x 10^-1); of the minor ticks only 2 and 5 times a power of ten
            a_g.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            a_g.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
            a_g.set_ylabel("mean G / theta (log)", fontsize=8)
        if "separated" in ax_of:
            a_s = ax_of["separated"]
            a_s.axhline(0.5, color="grey", ls=":", lw=1)
            a_s.annotate("guessing", (0.0, 0.5), xycoords=("axes fraction", "data"), xytext=(3, 3),
                         textcoords="offset points", fontsize=7, color="grey")
            a_s.set_ylim(0, 1.02)  # the whole range: no truncated axis
            a_s.set_ylabel("fraction: G(pos) > G(neg)", fontsize=8)
        if "sparsity" in ax_of:
            ax_of["sparsity"].set_ylim(0, 1.02)
            ax_of["sparsity"].set_ylabel("Hoyer sparsity", fontsize=8)
        for panel, ax in ax_of.items():
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title({"goodness": f"{name}\ngoodness / theta: positive solid, negative dashed",
                          "separated": f"{name}\nprobe images whose true label wins",
                          "sparsity": f"{name}\nsparsity of the activity (0 dense, 1 one unit)"}[panel], fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("epoch (0 = before training)" if unit == "epoch" else "optimiser step (0 = before training)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.95 if n_runs > 1 else 0.9))
    return fig


__all__ = ["plot_label_overlay", "plot_negative_label_matrix", "plot_softplus_identity",
           "plot_goodness_histograms", "goodness_ranges", "plot_layer_accuracy", "plot_inference_cost",
           "plot_layer_stats"]
