"""Training runs side by side: figures and tables for 03_hff_training.

Every function takes what ``train.fit`` / ``train_or_load`` return: a
``History`` (``records`` with ``epoch``, ``train_loss`` per ``loss_names``,
``test_acc``, ``layer_test_acc`` per ``layer_names``, ``seconds``) or plain
numbers measured from the models.

- :func:`plot_layer_accuracy_curves`: per-layer test accuracy per epoch, one panel per method.
- :func:`plot_loss_curves`: every local loss per epoch, one panel per method.
- :func:`plot_method_summary`: final accuracy and seconds per epoch, one bar per method.
- :func:`plot_layer_choice`: which layer (or rule) to predict from.
- :func:`plot_ablation`: accuracy of ablation runs against the reference.
- :func:`plot_step_losses`: per-step losses of runs that should coincide, and their gap (02b_hff_from_scratch).
- :func:`markdown_table`: a plain Markdown table (no pandas needed).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from .style import BLUE, OKABE_ITO, ORANGE, method_color

def display_color(name: str) -> str:
    """The suite's colour (viz/style.py) of a display name such as ``"HFF"``, ``"backprop"``,
    ``"local CE"`` or ``"FF: goodness, every layer"`` (the part before a colon names the method)."""
    return method_color(name)


def _check_histories(histories: dict) -> None:
    if not histories:
        raise ValueError("histories is empty: give {method name: History}.")
    for name, h in histories.items():
        if not getattr(h, "records", None):
            raise ValueError(f"History {name!r} has no epochs: train for at least one epoch.")


def plot_layer_accuracy_curves(histories: dict, chance: float | None = None) -> Figure:
    """Per-layer test accuracy (thin lines) and the method's prediction (thick dashed) per epoch.

    ``histories``: ``{method name: History}``, one panel each, shared y axis.
    A backprop net has one entry ("output"): its hidden layers cannot classify
    on their own. Taught in 03_hff_training.
    """
    _check_histories(histories)
    n = len(histories)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n + 0.6, 3.4), sharey=True, squeeze=False)
    lo = 1.0
    for ax, (name, h) in zip(axes[0], histories.items()):
        epochs = [r["epoch"] for r in h.records]
        layer_acc = np.array([r["layer_test_acc"] for r in h.records])
        cmap = plt.get_cmap("viridis")
        for j, lname in enumerate(h.layer_names):
            ax.plot(epochs, layer_acc[:, j], "o-", ms=3, lw=1.2,
                    color=cmap(j / max(len(h.layer_names) - 1, 1)), label=lname)
        acc = [r["test_acc"] for r in h.records]
        ax.plot(epochs, acc, "k--", lw=2, label="prediction")
        lo = min(lo, float(np.min(layer_acc)), float(np.min(acc)))
        if chance is not None:
            ax.axhline(chance, color="grey", ls=":", lw=1)
        ax.set_title(f"{name}: {acc[-1]:.3f}", fontsize=10, color=display_color(name))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        # under the panel, outside the axes: never over a curve
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
        ax.grid(alpha=0.3)
    low = max(0.0, lo - 0.05) if chance is None else max(0.0, min(chance, lo) - 0.02)
    axes[0, 0].set_ylabel("test accuracy" + (f" (axis from {low:.2f})" if low > 0 else ""))
    axes[0, 0].set_ylim(low, 1.0)
    fig.tight_layout()
    return fig


def plot_loss_curves(histories: dict) -> Figure:
    """Every local loss (one line per ``loss_names`` entry) per epoch, one panel per method.

    The losses of different methods live on different scales (FF's logistic
    loss on goodness, HFF's cross-entropy on cosines / tau, ...), so each panel
    has its own y axis (log scale where a panel spans more than a factor 20).
    Taught in 03_hff_training.
    """
    _check_histories(histories)
    n = len(histories)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n + 0.6, 3.2), squeeze=False)
    for ax, (name, h) in zip(axes[0], histories.items()):
        epochs = [r["epoch"] for r in h.records]
        losses = np.array([r["train_loss"] for r in h.records])
        cmap = plt.get_cmap("viridis")
        for j, lname in enumerate(h.loss_names):
            ax.plot(epochs, losses[:, j], "o-", ms=3, color=cmap(j / max(len(h.loss_names) - 1, 1)),
                    label=lname)
        if np.all(losses > 0) and losses.max() / losses.min() > 20:
            ax.set_yscale("log")  # FF's goodness losses span decades; the others do not
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(name, fontsize=10, color=display_color(name))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("training loss")
    fig.tight_layout()
    return fig


def plot_method_summary(names, accuracies, seconds_per_epoch=None, chance: float | None = None) -> Figure:
    """Bars of the final test accuracy per method (left) and training seconds per epoch (right).

    Bars start at 0 (no truncated axis) and take the method's colour (:func:`display_color`).
    Taught in 03_hff_training.
    """
    names = list(names)
    acc = np.asarray(accuracies, dtype=float)
    if not names or len(names) != acc.size:
        raise ValueError(f"Give one accuracy per method: {len(names)} names, {acc.size} accuracies.")
    two = seconds_per_epoch is not None
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(10 if two else 5.5, 0.45 * len(names) + 1.4),
                             squeeze=False)
    y = np.arange(len(names))[::-1]
    colors = [display_color(n) for n in names]
    ax = axes[0, 0]
    ax.barh(y, acc, color=colors)
    for yi, a in zip(y, acc):
        ax.text(a, yi, f" {a:.3f}", va="center", fontsize=8)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlim(0.0, 1.0)
    if chance is not None:
        ax.axvline(chance, color="grey", ls=":")
        ax.annotate("chance", (chance, 1.0), xycoords=("data", "axes fraction"), xytext=(2, 2),
                    textcoords="offset points", fontsize=7)
    ax.set_xlabel("test accuracy")
    if two:
        sec = np.asarray(seconds_per_epoch, dtype=float)
        if sec.size != len(names):
            raise ValueError(f"Give one seconds-per-epoch value per method ({len(names)}), got {sec.size}.")
        bx = axes[0, 1]
        bx.barh(y, np.nan_to_num(sec), color=colors)
        for yi, s in zip(y, sec):
            bx.text(np.nan_to_num(s), yi, " -" if not np.isfinite(s) else f" {s:.1f}", va="center", fontsize=8)
        bx.set_yticks(y, names, fontsize=8)
        bx.set_xlabel("training seconds per epoch")
        bx.set_xlim(0, np.nanmax(sec) * 1.25 if np.isfinite(sec).any() else 1)
    fig.tight_layout()
    return fig


def plot_layer_choice(layer_names, layer_acc, rules: dict | None = None) -> Figure:
    """Which layer to predict from: test accuracy of every layer's own prediction,
    then of the combining rules (``rules``: ``{rule name: accuracy}``).

    Taught in 03_hff_training.
    """
    layer_names = list(layer_names)
    layer_acc = np.asarray(layer_acc, dtype=float)
    if not layer_names or layer_acc.size != len(layer_names):
        raise ValueError(f"Give one accuracy per layer: {len(layer_names)} names, {layer_acc.size} values.")
    rules = dict(rules or {})
    labels = layer_names + list(rules)
    values = np.concatenate([layer_acc, np.asarray(list(rules.values()), dtype=float)])
    colors = [BLUE] * len(layer_names) + [ORANGE] * len(rules)
    fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 1.5, 3.6))
    x = np.arange(len(labels))
    ax.bar(x, values, color=colors)
    for xi, v in zip(x, values):
        ax.text(xi, v, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    low = max(0.0, float(values.min()) - 0.05)
    ax.set_ylim(low, min(1.0, float(values.max()) + 0.03))
    # zoomed in, so that gaps of a point are visible: the label says where the axis starts
    ax.set_ylabel("test accuracy" + (f" (axis from {low:.2f}, not 0)" if low > 0 else ""))
    ax.set_title("predict from one layer (blue) or combine layers (orange)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_ablation(names, accuracies, reference: float, groups=None) -> Figure:
    """Horizontal bars of each ablation's test accuracy; the dashed line is the reference run.

    ``groups`` (one label per bar, e.g. "temperature", "margin") colours bars
    that vary the same setting alike. Taught in 03_hff_training.
    """
    names = list(names)
    acc = np.asarray(accuracies, dtype=float)
    if not names or acc.size != len(names):
        raise ValueError(f"Give one accuracy per ablation: {len(names)} names, {acc.size} values.")
    if groups is not None and len(groups) != len(names):
        raise ValueError(f"Give one group per ablation: {len(names)} names, {len(groups)} groups.")
    groups = list(groups) if groups is not None else ["run"] * len(names)
    palette = {g: OKABE_ITO[i % len(OKABE_ITO)] for i, g in enumerate(dict.fromkeys(groups))}
    fig, ax = plt.subplots(figsize=(8.2, 0.38 * len(names) + 1.4))
    y = np.arange(len(names))[::-1]
    ax.barh(y, acc, color=[palette[g] for g in groups])
    for yi, a in zip(y, acc):
        ax.text(a, yi, f" {a:.3f}", va="center", fontsize=8)
    ax.axvline(reference, color="black", ls="--", lw=1.2)
    ax.set_yticks(y, names, fontsize=8)
    low = max(0.0, min(acc.min(), reference) - 0.05)
    ax.set_xlim(low, min(1.0, max(acc.max(), reference) + 0.05))
    ax.set_xlabel("test accuracy (dashed: reference run" + (f"; axis from {low:.2f}, not 0)" if low > 0 else ")"))
    ax.legend(handles=[Patch(color=col, label=g) for g, col in palette.items()], fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def markdown_table(headers, rows, floatfmt: str = ".4f") -> str:
    """A Markdown table from ``headers`` and ``rows`` (floats formatted with ``floatfmt``).

    Show it with ``IPython.display.Markdown``; it also reads well as plain text.
    """
    headers = [str(h) for h in headers]
    if not headers:
        raise ValueError("headers is empty.")
    cells = []
    for row in rows:
        row = list(row)
        if len(row) != len(headers):
            raise ValueError(f"Row {row} has {len(row)} cells but there are {len(headers)} headers.")
        cells.append([format(v, floatfmt) if isinstance(v, (float, np.floating)) else str(v) for v in row])
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines)




def plot_step_losses(curves: dict, layer_names=None, reference: str | None = None,
                     tolerance: float | None = None, floor: float = 1e-9) -> Figure:
    """Every training step's local losses for runs that should coincide, and how far apart they are.

    ``curves``: ``{run name: array (T, L)}``, the loss of each of L layers at each of T
    steps, every run the same shape (a 1-d array is one layer). One panel per layer:
    the first run is a thick line and the others thinner dashed lines on top, so runs
    that agree show as a dashed line on a thick one. With ``reference`` (a key of
    ``curves``) a last panel draws, for every other run, ``max_l |L_l - L_l^ref|`` per
    step on a log axis, exact zeros drawn at ``floor`` (the axis says so), with
    ``tolerance`` as a dotted line when given. Loss axes
    start at 0 unless they span more than a factor 20 (then log). Taught in
    02b_hff_from_scratch.
    """
    if not curves:
        raise ValueError("curves is empty: give {run name: (steps, layers) array of losses}.")
    arrays = {}
    for name, c in curves.items():
        a = np.asarray(c.detach().cpu() if hasattr(c, "detach") else c, dtype=float)
        arrays[name] = a[:, None] if a.ndim == 1 else a
        if arrays[name].ndim != 2 or arrays[name].shape[0] == 0:
            raise ValueError(f"Run {name!r}: expected a (steps, layers) array, got shape {a.shape}.")
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) > 1:
        raise ValueError(f"Every run needs the same (steps, layers) shape to be compared; got {sorted(shapes)}.")
    steps, n_layers = shapes.pop()
    names = list(layer_names) if layer_names is not None else [f"layer {j + 1}" for j in range(n_layers)]
    if len(names) != n_layers:
        raise ValueError(f"{len(names)} layer names for {n_layers} loss columns: give one name per column.")
    if reference is not None:
        if reference not in arrays:
            raise ValueError(f"reference={reference!r} is not one of the runs {list(arrays)}.")
        if len(arrays) < 2:
            raise ValueError("A gap panel needs a second run next to the reference: add one, or pass reference=None.")
    panels = n_layers + (reference is not None)
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels + 0.4, 3.3), squeeze=False)
    x = np.arange(steps)
    colors = {name: OKABE_ITO[i % len(OKABE_ITO)] for i, name in enumerate(arrays)}
    for j, ax in enumerate(axes[0, :n_layers]):
        for i, (name, a) in enumerate(arrays.items()):
            ax.plot(x, a[:, j], color=colors[name], lw=2.6 if i == 0 else 1.3, ls="-" if i == 0 else "--",
                    label=name)
        col = np.concatenate([a[:, j] for a in arrays.values()])
        if np.all(col > 0) and col.max() / col.min() > 20:
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, 1.05 * max(float(col.max()), 1e-12))
        ax.set_title(names[j], fontsize=10)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("local loss")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    if reference is not None:
        gx = axes[0, -1]
        ref = arrays[reference]
        for name, a in arrays.items():
            if name != reference:
                gx.plot(x, np.maximum(np.abs(a - ref).max(axis=1), floor), color=colors[name], lw=1.3,
                        label=name)
        top = max([np.abs(a - ref).max() for a in arrays.values()] + [tolerance or 0.0, floor])
        if tolerance is not None:
            gx.axhline(tolerance, color="black", ls=":", lw=1.2, label=f"tolerance {tolerance:g}")
        gx.set_yscale("log")
        gx.set_ylim(floor / 3, top * 300)  # headroom above everything for the legend
        gx.set_title(f"gap to {reference}", fontsize=10)
        gx.set_xlabel("training step")
        gx.set_ylabel(f"max over layers of |difference|\n(0 drawn at {floor:g})", fontsize=8)
        gx.legend(fontsize=7, loc="upper left")
        gx.grid(alpha=0.3)
    fig.tight_layout()
    return fig
