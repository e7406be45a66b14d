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
    ``ff.overlay_label`` (e.g. the original, the positive with the true label and
    the negative with a wrong one). ``mode="overwrite"``: the first C pixels (top
    row, left) hold the one-hot code, outlined; ``mode="append"``: the C
    extra features are drawn as a strip of C cells under the image. ``zoom``
    (overwrite only) also shows the first ``zoom`` pixels of the top row enlarged.
    Taught in 01_forward_forward.
    """
    if not inputs:
        raise ValueError("inputs is empty: give {title: flat input}.")
    h, w = image_shape[-2:]
    names = list(inputs)
    n = len(names)
    flats = [_np(inputs[k]).reshape(-1) for k in names]
    expected = h * w + (num_classes if mode == "append" else 0)
    for name, flat in zip(names, flats):
        if flat.size != expected:
            raise ValueError(f"{name!r} has {flat.size} features; a {h}x{w} image with mode={mode!r} "
                             f"needs {expected}.")
    # One grey scale for every panel, so the label pixels compare across panels.
    vmin, vmax = min(f.min() for f in flats), max(f.max() for f in flats)
    strip = mode == "append" or bool(zoom)
    fig = plt.figure(figsize=(2.4 * n, 3.3 if strip else 2.6))
    grid = fig.add_gridspec(2, n, height_ratios=[5, 1] if strip else [5, 0.01])
    for i, (name, flat) in enumerate(zip(names, flats)):
        img, code = _as_picture(flat, image_shape, num_classes, mode)
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(img, cmap="gray_r", vmin=vmin, vmax=vmax)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(name, fontsize=9)
        if mode == "overwrite":
            full_rows, rest = divmod(num_classes, w)  # the label pixels: full rows, then part of one
            if full_rows:
                ax.add_patch(Rectangle((-0.5, -0.5), w, full_rows, fill=False, edgecolor=HIGHLIGHT, lw=1.5))
            if rest:
                ax.add_patch(Rectangle((-0.5, full_rows - 0.5), rest, 1, fill=False, edgecolor=HIGHLIGHT, lw=1.5))
            if zoom:
                zax = fig.add_subplot(grid[1, i])
                zax.imshow(flat[:zoom][None], cmap="gray_r", vmin=vmin, vmax=vmax, aspect="auto")
                zax.add_patch(Rectangle((-0.5, -0.5), min(num_classes, zoom), 1, fill=False,
                                        edgecolor=HIGHLIGHT, lw=1.5))
                zax.set_yticks([])
                step = max(1, zoom // 10)
                zax.set_xticks(range(0, zoom, step))
                zax.tick_params(labelsize=6)
                zax.set_xlabel(f"first {zoom} pixels; label code outlined", fontsize=7)
        else:
            cax = fig.add_subplot(grid[1, i])
            cax.imshow(code[None], cmap="Reds", vmin=0, vmax=1, aspect="auto")
            cax.set_yticks([])
            cax.set_xticks(range(num_classes))
            labels = class_names if class_names is not None and len(class_names) <= 10 else range(num_classes)
            cax.set_xticklabels([str(c)[:5] for c in labels], fontsize=6, rotation=90)
            cax.set_xlabel("appended label code", fontsize=7)
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

def plot_layer_accuracy(layer_acc: dict, mode_acc: dict | None = None, chance: float | None = None) -> Figure:
    """Bars: each layer's own accuracy (its goodness alone), then the network's prediction modes.

    ``layer_acc``: ``{layer name: accuracy}``; ``mode_acc``: ``{mode name: accuracy}``
    (e.g. goodness and softmax). Taught in 01_forward_forward.
    """
    mode_acc = mode_acc or {}
    names = list(layer_acc) + list(mode_acc)
    if not names:
        raise ValueError("Nothing to plot: give at least one accuracy.")
    vals = list(layer_acc.values()) + list(mode_acc.values())
    colors = [ORANGE] * len(layer_acc) + [PURPLE] * len(mode_acc)
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 1.5, 3))
    bars = ax.bar(range(len(names)), vals, color=colors)
    for b, v in zip(bars, vals):
        ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{100 * v:.1f}%", ha="center", fontsize=8)
    if chance is not None:
        ax.axhline(chance, ls=":", color="black")
        ax.annotate("chance", (1.0, chance), xycoords=("axes fraction", "data"), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=7)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.set_title("each layer on its own (orange), the whole net (purple)", fontsize=9)
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

def plot_layer_stats(records_by_run: dict, thetas_by_run: dict) -> Figure:
    """One row per run, three panels: mean goodness of positive (solid) and negative (dashed)
    data divided by the layer's threshold; the fraction of probe images whose positive goodness
    beats the negative one; the Hoyer sparsity of each layer's activity. One colour per layer.

    ``records_by_run``: ``{run name: callbacks.LayerStats.records}`` (FF runs: the records
    hold ``goodness_pos``, ``goodness_neg``, ``separated`` and ``sparsity``);
    ``thetas_by_run``: ``{run name: per-layer thresholds}``. Dividing by theta puts the two
    thresholds on one scale: the loss starts to contrast positive with negative data once
    the goodness reaches theta (1 on this axis). Taught in 01_forward_forward.
    """
    if not records_by_run:
        raise ValueError("records_by_run is empty: give {run name: LayerStats.records}.")
    missing = set(records_by_run) - set(thetas_by_run)
    if missing:
        raise ValueError(f"No thresholds for run(s) {sorted(missing)}: give thetas_by_run[name] = model.thetas.")
    for name, records in records_by_run.items():
        if not records or "goodness_pos" not in records[0]:
            raise ValueError(f"{name!r}: no FF goodness recorded (LayerStats on an FF model records "
                             "goodness_pos, goodness_neg and separated).")
    n_runs = len(records_by_run)
    fig, axes = plt.subplots(n_runs, 3, figsize=(11, 2.7 * n_runs + 0.5), squeeze=False, sharex=True)
    cmap = plt.get_cmap("viridis")
    for row, (name, records) in enumerate(records_by_run.items()):
        epochs = [r["epoch"] for r in records]
        n_layers = len(records[0]["goodness_pos"])
        thetas = list(thetas_by_run[name])
        color = lambda j: cmap(0.85 * j / max(n_layers - 1, 1))
        a_g, a_s, a_h = axes[row]
        for j in range(n_layers):
            pos = [r["goodness_pos"][j] / thetas[j] for r in records]
            neg = [r["goodness_neg"][j] / thetas[j] for r in records]
            a_g.plot(epochs, pos, "o-", ms=3, color=color(j), label=f"layer {j + 1}")
            a_g.plot(epochs, neg, "s--", ms=3, color=color(j))
            a_s.plot(epochs, [r["separated"][j] for r in records], "o-", ms=3, color=color(j))
            a_h.plot(epochs, [r["sparsity"][j] for r in records], "o-", ms=3, color=color(j))
        a_g.axhline(1.0, color="black", ls=":", lw=1)
        a_g.set_yscale("log")
        # plain numbers (0.2, 1, 2, not 2 x 10^-1); of the minor ticks only 2 and 5 times a power of ten
        a_g.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        a_g.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
        a_g.set_ylabel(f"{name}\nmean G / theta (log)", fontsize=8)
        a_s.axhline(0.5, color="grey", ls=":", lw=1)
        a_s.set_ylim(0, 1.02)  # the whole range: no truncated axis
        a_s.set_ylabel("G(pos) > G(neg), fraction", fontsize=8)
        a_h.set_ylim(0, 1.02)
        a_h.set_ylabel("Hoyer sparsity", fontsize=8)
        for ax in axes[row]:
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch (0 = before training)")
    axes[0, 0].set_title("goodness / theta: positive solid, negative dashed", fontsize=9)
    axes[0, 1].set_title("probe images whose true label wins", fontsize=9)
    axes[0, 2].set_title("sparsity of the activity (0 dense, 1 one unit)", fontsize=9)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.97 if n_runs > 1 else 0.92))
    return fig


__all__ = ["plot_label_overlay", "plot_negative_label_matrix", "plot_softplus_identity",
           "plot_goodness_histograms", "goodness_ranges", "plot_layer_accuracy", "plot_inference_cost",
           "plot_layer_stats"]
