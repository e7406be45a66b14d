"""Training runs side by side: figures and tables for 03_hff_training.

Every function takes what ``train.fit`` / ``train_or_load`` return: a
``History`` (``records`` with ``epoch``, ``train_loss`` per ``loss_names``,
``test_acc``, ``layer_test_acc`` per ``layer_names``, ``seconds``) or plain
numbers measured from the models.

- :func:`plot_layer_accuracy_curves`: per-layer test accuracy per epoch, one panel per method.
- :func:`plot_method_curves`: every method's prediction per epoch on one axis, mean and range of seeds.
- :func:`plot_loss_curves`: every local loss per epoch, one panel per method.
- :func:`plot_method_summary`: final accuracy (dots with error bars) and seconds per epoch (bars).
- :func:`plot_layer_choice`: which layer (or rule) to predict from.
- :func:`plot_temperature_limits`: the sum rule from cold to hot, against a vote and a sum of scores.
- :func:`plot_ablation`: accuracy of ablation runs against the reference, with a noise band.

Accuracy axes are zoomed where the differences are (the label says where an axis starts) and carry
error bars of two standard errors of one accuracy (:func:`noise`): an error bar, not a test;
comparisons use the paired tests of ``core/stats.py``.
- :func:`plot_step_losses`: per-step losses of runs that should coincide, and their gap (02b_hff_from_scratch).
- :func:`markdown_table`: a plain Markdown table (no pandas needed).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from ..core.palette import series_colors
from .style import BLUE, OKABE_ITO, ORANGE, method_color, method_style

#: one marker per layer (lines of several layers, of several rules)
LAYER_MARKERS = ("o", "s", "^", "D", "v", "P")
#: one marker per method, so that methods differ by more than colour
METHOD_MARKERS = ("o", "s", "^", "D", "v", "P")

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


def noise(acc, n_test: int | None) -> np.ndarray:
    """Two standard errors of one accuracy measured on ``n_test`` images (0 when ``n_test`` is None):
    the error bar of every accuracy figure here. An error bar, not a comparison: two accuracies on the
    same test images are compared with a paired test (``core/stats.py``)."""
    acc = np.asarray(acc, dtype=float)
    if not n_test:
        return np.zeros_like(acc)
    p = np.clip(acc, 1.0 / n_test, 1.0 - 1.0 / n_test)
    return 2.0 * np.sqrt(p * (1.0 - p) / n_test)


def zoomed_low(values, chance: float | None = None, pad: float = 0.03) -> float:
    """Where a zoomed accuracy axis starts: a little below the lowest value, on a multiple of 0.05
    (0 when that would be below 0). Chance is left off the axis when it lies far below the data."""
    low = float(np.nanmin(np.asarray(values, dtype=float))) - pad
    if chance is not None and chance > low - 0.05:
        low = min(low, chance - 0.02)
    return max(0.0, np.floor(low * 20) / 20)


def _axis_label(what: str, low: float) -> str:
    return what + (f" (axis from {low:.2f}, not 0)" if low > 0 else "")


def plot_layer_accuracy_curves(histories: dict, chance: float | None = None, n_test: int | None = None) -> Figure:
    """Per-layer test accuracy (thin lines) and the method's prediction (thick dashed) per epoch.

    ``histories``: ``{method name: History}``, one panel each, shared y axis, zoomed to the
    accuracies (the label says where the axis starts). Layers take the colour-blind-safe series
    colours (no yellow) and one marker each; with ``n_test`` the prediction carries a band of
    two standard errors of one accuracy. A backprop net has one entry ("output"): its hidden
    layers cannot classify on their own. Taught in 03_hff_training.
    """
    _check_histories(histories)
    n = len(histories)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n + 0.6, 3.5), sharey=True, squeeze=False)
    values, highs = [], []
    for ax, (name, h) in zip(axes[0], histories.items()):
        epochs = np.array([r["epoch"] for r in h.records])
        layer_acc = np.array([r["layer_test_acc"] for r in h.records])
        colors = series_colors(len(h.layer_names))
        for j, lname in enumerate(h.layer_names):
            ax.plot(epochs, layer_acc[:, j], marker=LAYER_MARKERS[j % len(LAYER_MARKERS)], ms=4, lw=1.2,
                    color=colors[j], label=lname)
        acc = np.array([r["test_acc"] for r in h.records])
        ax.plot(epochs, acc, "k--", lw=2, label="prediction")
        if n_test:
            band = noise(acc, n_test)
            ax.fill_between(epochs, acc - band, acc + band, color="black", alpha=0.12, lw=0,
                            label="prediction ± 2 s.e.")
        values += [layer_acc.min(), acc.min()]
        highs.append(max(layer_acc.max(), acc.max()))
        if chance is not None:
            ax.axhline(chance, color="grey", ls=":", lw=1)
        ax.set_title(f"{name}: {acc[-1]:.3f}", fontsize=10, color=display_color(name))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        # under the panel, outside the axes: never over a curve
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
        ax.grid(alpha=0.3)
    low = zoomed_low(values, chance)
    axes[0, 0].set_ylabel(_axis_label("test accuracy", low))
    axes[0, 0].set_ylim(low, min(1.0, max(highs) + 0.03))
    fig.tight_layout()
    return fig


def plot_method_curves(curves: dict, n_test: int | None = None, chance: float | None = None,
                       title: str = "") -> Figure:
    """Test accuracy of each method's prediction per epoch, every method on one axis.

    ``curves``: ``{method name: array (seeds, epochs)}`` (or ``(epochs,)`` for one seed), the
    epochs counted from 1. The line is the mean over seeds, the shaded band the range of the
    seeds, and with ``n_test`` the error bars are two standard errors of one accuracy. Each method
    has its colour, line style and marker, and is shifted a little along x, so that lines that
    coincide stay visible. The y axis is zoomed (its label says where it starts). Taught in
    03_hff_training.
    """
    if not curves:
        raise ValueError("curves is empty: give {method name: (seeds, epochs) accuracies}.")
    arrays = {}
    for name, c in curves.items():
        a = np.atleast_2d(np.asarray(c, dtype=float))
        if a.shape[1] == 0:
            raise ValueError(f"Method {name!r} has no epochs.")
        arrays[name] = a
    fig, ax = plt.subplots(figsize=(7.2, 3.9))
    width = 0.08 * (len(arrays) - 1)
    values = []
    for i, (name, a) in enumerate(arrays.items()):
        epochs = np.arange(1, a.shape[1] + 1) + (i * 0.08 - width / 2 if len(arrays) > 1 else 0.0)
        mean, lo, hi = a.mean(0), a.min(0), a.max(0)
        color = display_color(name)
        if a.shape[0] > 1:
            ax.fill_between(epochs, lo, hi, color=color, alpha=0.18, lw=0)
        ax.errorbar(epochs, mean, yerr=noise(mean, n_test) if n_test else None, color=color,
                    ls=method_style(name), marker=METHOD_MARKERS[i % len(METHOD_MARKERS)], ms=5, lw=1.8,
                    capsize=2, label=f"{name}: {mean[-1]:.3f}")
        values += [lo.min(), (mean - noise(mean, n_test)).min()]
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1)
    low = zoomed_low(values, chance)
    ax.set_ylim(low, min(1.0, max(float(np.max([a.max() for a in arrays.values()])) + 0.03, low + 0.1)))
    ax.set_ylabel(_axis_label("test accuracy", low))
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    seeds = max(a.shape[0] for a in arrays.values())
    ax.set_title(title or (f"mean of {seeds} seeds (band: their range)" if seeds > 1 else "one seed")
                 + ("; bars: ± 2 s.e. of one accuracy" if n_test else ""), fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
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
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n + 0.6, 3.3), squeeze=False)
    for ax, (name, h) in zip(axes[0], histories.items()):
        epochs = [r["epoch"] for r in h.records]
        losses = np.array([r["train_loss"] for r in h.records])
        colors = series_colors(len(h.loss_names))
        for j, lname in enumerate(h.loss_names):
            ax.plot(epochs, losses[:, j], marker=LAYER_MARKERS[j % len(LAYER_MARKERS)], ms=4, color=colors[j],
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


def _dots(ax, y, acc, colors, n_test, per_seed=None, filled=None):
    """Dots (the accuracy) with error bars (2 s.e. of one accuracy) and small dots per seed, horizontal."""
    err = noise(acc, n_test)
    for i, (yi, a, e, col) in enumerate(zip(y, acc, err, colors)):
        face = col if filled is None or filled[i] is None or filled[i] else "white"
        ax.errorbar([a], [yi], xerr=[e] if n_test else None, fmt="o", ms=8, color=col, mfc=face, mec=col,
                    mew=1.6, capsize=3, zorder=3)
        if per_seed is not None and len(per_seed[i]) > 1:
            ax.scatter(per_seed[i], [yi - 0.22] * len(per_seed[i]), s=12, marker="|", color=col, zorder=2)
    return err


def plot_method_summary(names, accuracies, seconds_per_epoch=None, chance: float | None = None,
                        n_test: int | None = None, per_seed=None) -> Figure:
    """Final test accuracy per method and prediction (left) and training seconds per epoch (right).

    Accuracies are dots on a zoomed axis (its label says where it starts) with error bars of two
    standard errors of one accuracy (``n_test``) and, with ``per_seed`` (one list per name), a tick
    per seed under each dot; seconds are bars from 0. Each entry takes its method's colour
    (:func:`display_color`). Taught in 03_hff_training.
    """
    names = list(names)
    acc = np.asarray(accuracies, dtype=float)
    if not names or len(names) != acc.size:
        raise ValueError(f"Give one accuracy per method: {len(names)} names, {acc.size} accuracies.")
    if per_seed is not None and len(per_seed) != len(names):
        raise ValueError(f"Give one list of per-seed accuracies per method ({len(names)}), got {len(per_seed)}.")
    two = seconds_per_epoch is not None
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(10.5 if two else 5.8, 0.45 * len(names) + 1.5),
                             squeeze=False)
    y = np.arange(len(names))[::-1]
    colors = [display_color(n) for n in names]
    ax = axes[0, 0]
    err = _dots(ax, y, acc, colors, n_test, per_seed)
    for yi, a, e in zip(y, acc, err):
        ax.annotate(f"{a:.3f}", (a + e, yi), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    seeds = [v for row in (per_seed or []) for v in row]
    low = zoomed_low(list(acc - err) + seeds, chance)
    ax.set_xlim(low, min(1.0, float(np.max(acc + err)) + 0.03))
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_yticks(y, names, fontsize=8)
    if chance is not None and chance >= low:
        ax.axvline(chance, color="grey", ls=":")
    ax.set_xlabel(_axis_label("test accuracy", low))
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("dot: accuracy" + (", bar: ± 2 s.e. of one accuracy" if n_test else "")
                 + (", ticks: seeds" if per_seed is not None else ""), fontsize=9)
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
        bx.set_title("training time (bars from 0)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_layer_choice(layer_names, layer_acc, rules: dict | None = None, n_test: int | None = None) -> Figure:
    """Which layer to predict from: test accuracy of every layer's own prediction (blue),
    then of the combining rules (``rules``: ``{rule name: accuracy}``, orange), as dots with
    error bars of two standard errors of one accuracy (``n_test``) on a zoomed axis.

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
    fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 1.8, 3.7))
    x = np.arange(len(labels))
    err = noise(values, n_test)
    for xi, v, e, col, mk in zip(x, values, err, colors, ["o"] * len(layer_names) + ["D"] * len(rules)):
        ax.errorbar([xi], [v], yerr=[e] if n_test else None, fmt=mk, ms=8, color=col, capsize=3)
        ax.annotate(f"{v:.3f}", (xi, v + e), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8)
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    low = zoomed_low(values - err, pad=0.02)
    ax.set_ylim(low, min(1.0, float((values + err).max()) + 0.02))
    ax.set_xlim(-0.5, len(labels) - 0.5)
    # zoomed in, so that gaps of a point are visible: the label says where the axis starts
    ax.set_ylabel(_axis_label("test accuracy", low))
    ax.set_xlabel("prediction: one layer's nearest prototype, or a rule that combines layers")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("predict from one layer (blue) or combine layers (orange)"
                 + ("; bars: ± 2 s.e." if n_test else ""), fontsize=10)
    fig.tight_layout()
    return fig


def plot_temperature_limits(temperatures, agreement: dict, tau: float | None = None) -> Figure:
    """How often the sum rule at temperature T agrees with other rules, against T (log axis).

    ``agreement``: ``{rule name: one fraction per temperature}`` (e.g. a majority vote of the layers,
    the argmax of the summed scores, the last layer). ``tau`` (the model's temperature) is a dotted
    line. Taught in 03_hff_training (the limits of the sum rule)."""
    t = np.asarray(temperatures, dtype=float)
    if t.ndim != 1 or t.size < 2 or np.any(t <= 0):
        raise ValueError("temperatures: give at least two positive values.")
    if not agreement:
        raise ValueError("agreement is empty: give {rule name: one fraction per temperature}.")
    fig, ax = plt.subplots(figsize=(6.6, 3.6))
    colors = series_colors(len(agreement))
    for i, (name, a) in enumerate(agreement.items()):
        a = np.asarray(a, dtype=float)
        if a.shape != t.shape:
            raise ValueError(f"{name!r}: {a.size} fractions for {t.size} temperatures.")
        ax.plot(t, a, marker=LAYER_MARKERS[i % len(LAYER_MARKERS)], color=colors[i], lw=1.8, label=name)
    if tau is not None:
        ax.axvline(tau, color="black", ls=":", lw=1.2, label=f"the model's tau = {tau:g}")
    ax.set_xscale("log")
    ax.set_xlabel("temperature T of the sum rule  argmax_c sum_l softmax(S_l / T)")
    ax.set_ylabel("share of test images where\nthe two rules agree")
    ax.set_ylim(min(0.8, float(min(np.min(v) for v in agreement.values())) - 0.02), 1.005)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", frameon=False)
    ax.set_title("the sum rule, from cold (left) to hot (right)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_ablation(names, accuracies, reference: float, groups=None, n_test: int | None = None,
                  per_seed=None, resolved=None) -> Figure:
    """Each ablation's test accuracy as a dot; the dashed line is the reference run, the grey band
    around it two standard errors of one accuracy (``n_test``; an error bar, not a test).

    ``groups`` (one label per row, e.g. "temperature", "margin") colours rows that vary the same
    setting alike; ``per_seed`` (one list per row) adds a tick per seed; ``resolved`` (one flag per
    row) fills the dots of rows a paired test tells apart from the reference and leaves the others
    open (None: no test, e.g. the reference itself, filled). The axis is zoomed (its label says where it starts). Taught in 03_hff_training.
    """
    names = list(names)
    acc = np.asarray(accuracies, dtype=float)
    if not names or acc.size != len(names):
        raise ValueError(f"Give one accuracy per ablation: {len(names)} names, {acc.size} values.")
    if groups is not None and len(groups) != len(names):
        raise ValueError(f"Give one group per ablation: {len(names)} names, {len(groups)} groups.")
    if resolved is not None and len(resolved) != len(names):
        raise ValueError(f"Give one resolved flag per ablation: {len(names)} names, {len(resolved)} flags.")
    groups = list(groups) if groups is not None else ["run"] * len(names)
    palette = {g: c for g, c in zip(dict.fromkeys(groups), series_colors(len(set(groups))))}
    fig, ax = plt.subplots(figsize=(8.4, 0.42 * len(names) + 1.6))
    y = np.arange(len(names))[::-1]
    if n_test:
        band = float(noise(reference, n_test))
        ax.axvspan(reference - band, reference + band, color="grey", alpha=0.18, lw=0)
    err = _dots(ax, y, acc, [palette[g] for g in groups], n_test, per_seed, resolved)
    for i, (yi, a, e) in enumerate(zip(y, acc, err)):
        right = max([a + e] + (list(per_seed[i]) if per_seed is not None else []))  # past the bar and the ticks
        ax.annotate(f"{a:.3f}", (right, yi + 0.18), xytext=(4, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.axvline(reference, color="black", ls="--", lw=1.2)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_ylim(-0.7, len(names) - 0.3)
    seeds = [v for row in (per_seed or []) for v in row]
    low = zoomed_low(list(acc - err) + seeds + [reference])
    ax.set_xlim(low, min(1.0, max([float(np.max(acc + err)), reference] + seeds) + 0.05))
    ax.set_xlabel(_axis_label("test accuracy (dashed: reference" + ("; grey: its ± 2 s.e.)" if n_test else ")"),
                              low))
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=col, label=g) for g, col in palette.items()]
    if resolved is not None:
        handles += [Line2D([], [], marker="o", ls="", color="black", label="told apart (paired test)"),
                    Line2D([], [], marker="o", ls="", color="black", mfc="white", label="not resolved")]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title("one setting changed at a time" + (f", {len(per_seed[0])} seeds each" if per_seed else "")
                 + ("; filled: told apart from the reference" if resolved is not None else ""), fontsize=10)
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
    colors = dict(zip(arrays, series_colors(len(arrays))))  # Okabe & Ito's, never yellow on white
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
