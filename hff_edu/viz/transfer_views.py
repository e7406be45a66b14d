"""Figures for transfer with prototypes: new classes on a frozen body.

Pure functions returning a ``matplotlib.figure.Figure``; taught in 07_transfer_and_prototypes.
(Copies of the shots curve and the prototype agreement first lived in ``viz/conv_views.py``; these
are the ones notebook 07 uses.)
"""
from __future__ import annotations

from itertools import cycle
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from ..core.geometry import cosine_matrix
from .style import OKABE_ITO, YELLOW

#: the line styles of the reference lines (a network trained on the new classes, ...), in order
REFERENCE_STYLES = ["--", "-.", (0, (5, 1, 1, 1, 1, 1))]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def series_colors(n: int) -> list[str]:
    """``n`` colour-blind-safe colours of the Okabe-Ito palette, yellow left out (too pale on white)."""
    spare = cycle([c for c in OKABE_ITO if c != YELLOW])
    return [next(spare) for _ in range(n)]


def two_se(acc: float, n: int) -> float:
    """Two standard errors of one accuracy measured on ``n`` samples: an error bar, not a test (two
    accuracies on the same test images are compared with a paired test, ``core/stats.py``)."""
    if n < 1:
        raise ValueError(f"n = {n}: the number of test samples must be at least 1.")
    p = min(max(float(acc), 1.0 / n), 1.0 - 1.0 / n)
    return 2.0 * (p * (1.0 - p) / n) ** 0.5


def _legend_outside(ax, fontsize: int = 8) -> None:
    """The legend to the right of the axes, where it cannot cover a line or a bar."""
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _zoom(values: Sequence[float], pad_min: float = 0.02) -> tuple[float, float]:
    low, high = float(min(values)), float(max(values))
    pad = max(pad_min, 0.06 * (high - low))
    return max(0.0, low - pad), min(1.0, high + pad)


def plot_block_transfer(results: Mapping[str, Sequence[float]], n_test: int, chance: float | None = None,
                        title: str = "Class-mean prototypes on the new classes, block by block") -> Figure:
    """Grouped bars: the accuracy on the new classes of class-mean prototypes read from every block (x),
    one colour (and hatch) per body, with error bars of two standard errors of one accuracy on ``n_test``
    images. The y axis is zoomed onto the bars, their error bars and chance (the axis label says so): a
    caption should give where it starts. The bars carry their accuracy in per cent."""
    if not results:
        raise ValueError("results is empty: pass {body: [accuracy per block]}.")
    n_blocks = max(len(v) for v in results.values())
    fig, ax = plt.subplots(figsize=(7.4, 3.6))
    width = 0.8 / len(results)
    colors, hatches = series_colors(len(results)), ["", "//", "..", "xx"]
    shown = [] if chance is None else [chance]
    for i, (name, accs) in enumerate(results.items()):
        accs = [float(a) for a in _np(accs).reshape(-1)]
        xs = np.arange(n_blocks - len(accs), n_blocks) + (i - (len(results) - 1) / 2) * width
        err = [two_se(a, n_test) for a in accs]
        bars = ax.bar(xs, accs, width, label=name, color=colors[i], hatch=hatches[i % len(hatches)],
                      edgecolor="white", yerr=err, capsize=3, error_kw=dict(lw=0.9, ecolor="black"))
        ax.bar_label(bars, labels=[f"{100 * a:.0f}" for a in accs], fontsize=7, padding=3)
        shown += [a - e for a, e in zip(accs, err)] + [a + e for a, e in zip(accs, err)]
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    low, high = _zoom(shown, pad_min=0.04)
    ax.set_ylim(low, min(1.0, high + 0.03))  # room for the labels above the error bars
    ax.set_xticks(range(n_blocks), [f"block {i + 1}" for i in range(n_blocks)])
    ax.set_xlabel("block the embedding is read from")
    ax.set_ylabel("test accuracy (axis zoomed;\nbars: ±2 s.e.)")
    ax.set_title(title, fontsize=10)
    _legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_shots_curve(curves: Mapping[str, dict], chance: float | None = None,
                     references: Mapping[str, float] | None = None,
                     title: str = "New classes from a few examples: accuracy vs shots",
                     ylim: tuple[float, float] | None = None) -> Figure:
    """Accuracy against the number of labelled examples per new class (log x axis).

    ``curves`` maps a name to a :func:`hff_edu.training.transfer.shots_curve` result: the
    class-mean prototypes are drawn solid, learned prototypes dashed (same colour), each the mean
    over the repeated draws, with a band from the lowest to the highest draw (the legend says so).
    ``references`` adds horizontal lines (e.g. a network trained on the new classes directly). The
    y axis is zoomed onto the curves, the references and chance (``ylim`` sets it; a caption should
    say where it starts). The legend sits outside the axes.
    """
    if not curves:
        raise ValueError("curves is empty: pass {name: transfer.shots_curve(...)}.")
    fig, ax = plt.subplots(figsize=(7.6, 3.9))
    colors = series_colors(len(curves))
    shown = []
    for i, (name, c) in enumerate(curves.items()):
        shots = c["shots"]
        for key, style, label in (("mean", "o-", "class means"), ("learned", "s--", "learned")):
            if c.get(key) is None:
                continue
            a = _np(c[key])
            m, lo, hi = a.mean(1), a.min(1), a.max(1)
            ax.plot(shots, m, style, color=colors[i], label=f"{name}: {label}")
            ax.fill_between(shots, lo, hi, color=colors[i], alpha=0.12)
            shown += [lo.min(), hi.max()]
    repeats = {_np(c["mean"]).shape[1] for c in curves.values()}
    ax.fill_between([], [], [], color="0.5", alpha=0.25,
                    label=f"band: lowest to highest of {'/'.join(map(str, sorted(repeats)))} draws")
    for j, (name, value) in enumerate((references or {}).items()):
        ax.axhline(value, color="black", ls=REFERENCE_STYLES[j % 3], lw=1, label=name)
        shown.append(value)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
        shown.append(chance)
    ax.set_xscale("log")
    shots = list(next(iter(curves.values()))["shots"])
    ax.set_xticks(shots, [str(s) for s in shots])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(*(ylim if ylim is not None else _zoom(shown)))
    ax.set_xlabel("labelled examples per new class (shots, log axis)")
    ax.set_ylabel("test accuracy on the new classes")
    ax.set_title(title, fontsize=10)
    _legend_outside(ax, fontsize=7)
    fig.tight_layout()
    return fig


def plot_prototype_agreement(a, b, class_names: Sequence[str] | None = None,
                             a_name: str = "class means", b_name: str = "learned") -> Figure:
    """Heatmap of cosines between two sets of prototypes for the same classes, (C, d) each, with the
    values written in the cells (white on the dark ends of the colour map). A dark red diagonal says
    both methods put class c's prototype in the same direction."""
    pa, pb = _np(a).reshape(_np(a).shape[0], -1), _np(b).reshape(_np(b).shape[0], -1)
    if pa.shape != pb.shape:
        raise ValueError(f"Prototype sets of shapes {pa.shape} and {pb.shape}: both must be (C, d).")
    cos = _np(cosine_matrix(torch.as_tensor(pa), torch.as_tensor(pb)))
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(cos))]
    fig, ax = plt.subplots(figsize=(1.6 + 0.55 * len(cos), 1.2 + 0.5 * len(cos)))
    im = ax.imshow(cos, cmap="RdBu_r", vmin=-1, vmax=1)
    for i in range(len(cos)):
        for j in range(len(cos)):
            ax.text(j, i, f"{cos[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(cos[i, j]) > 0.6 else "black")
    ax.set_xticks(range(len(cos)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(cos)), names, fontsize=8)
    ax.set_xlabel(f"{b_name} prototype")
    ax.set_ylabel(f"{a_name} prototype")
    ax.set_title(f"cosine between prototypes: {a_name} vs {b_name}", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, label="cosine")
    fig.tight_layout()
    return fig
