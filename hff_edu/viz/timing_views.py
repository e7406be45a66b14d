"""What things cost: inference time against the number of classes, training time,
activation memory against depth, accuracy with error bars, and where the time goes.

Every function takes the plain rows (lists of dicts) that :mod:`hff_edu.measuring`
and the scripts in ``benchmarks/`` produce, so a saved JSON file can be drawn
again. Taught in 05_timing.
"""
from __future__ import annotations

from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import OKABE_ITO, PURPLE, method_color, method_style

def _color(name: str):
    """The suite's colour of a method or variant ("ff goodness" is FF's colour: viz/style.py)."""
    return method_color(name)


def _style(name: str) -> str:
    """Line style: the method's, and for a variant of the same method (FF softmax, HFF sum) dotted
    markers on a thin line so that two variants of one method stay apart in grey print too."""
    return method_style(name) if name.split()[-1] in ("goodness", "last") or " " not in name else ":"


def _require(rows, keys, what):
    if not rows:
        raise ValueError(f"No rows to plot: pass the list that {what} returns.")
    missing = [k for k in keys if k not in rows[0]]
    if missing:
        raise ValueError(f"The rows lack {missing}: pass the list that {what} returns.")


def _class_ticks(ax, classes) -> None:
    """Ticks at the numbers of classes measured (a log axis would otherwise show only 10^1, 10^2)."""
    from matplotlib.ticker import NullFormatter
    ax.set_xticks(list(classes), [str(c) for c in classes])
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_inference_vs_classes(rows: list[dict], batch_sizes=None, metric: str = "samples_per_s",
                              slow: str = "ff goodness", fast: str = "hff last") -> Figure:
    """Inference speed against the number of classes C, and the measured speed-up.

    One panel per batch size: ``metric`` (samples per second, or ``ms_per_batch``)
    of every variant against C, log-log. Last panel: the measured ratio
    time(``slow``) / time(``fast``) against C for each batch size, with the
    line y = C (FF's goodness mode needs C passes, HFF one: the pass-count limit)
    and, when the rows carry ``flops_per_sample``, the ratio of arithmetic.
    ``rows`` come from :func:`hff_edu.measuring.inference.inference_vs_classes`. Taught in 05_timing.
    """
    if metric not in ("samples_per_s", "ms_per_batch"):
        raise ValueError(f"metric={metric!r}: choose 'samples_per_s' or 'ms_per_batch'.")
    _require(rows, ("num_classes", "batch_size", "variant", metric), "timing.inference_vs_classes")
    all_batches = sorted({r["batch_size"] for r in rows})
    batch_sizes = all_batches if batch_sizes is None else [b for b in batch_sizes if b in all_batches]
    if not batch_sizes:
        raise ValueError(f"None of the batch sizes asked for is in the rows (they hold {all_batches}).")
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    fig, axes = plt.subplots(1, len(batch_sizes) + 1, figsize=(4.6 * (len(batch_sizes) + 1), 3.8))
    for ax, b in zip(axes, batch_sizes):
        for v in variants:
            pts = sorted((r["num_classes"], r[metric]) for r in rows if r["variant"] == v and r["batch_size"] == b)
            if pts:
                c, y = zip(*pts)
                ax.plot(c, y, marker="o", ls=_style(v), color=_color(v), label=v, lw=2 if v in (slow, fast) else 1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        _class_ticks(ax, sorted({r["num_classes"] for r in rows}))
        ax.set_xlabel("number of classes C")
        ax.set_ylabel("samples per second" if metric == "samples_per_s" else "ms per batch")
        ax.set_title(f"inference, batch {b}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")  # the empty corner: FF goodness falls from the top left
    ax = axes[-1]
    index = {(r["num_classes"], r["batch_size"], r["variant"]): r["median_s"] for r in rows}
    cs = sorted({r["num_classes"] for r in rows})
    ax.plot(cs, cs, "k--", lw=1, label="y = C (pass-count limit)")
    flops = {(r["num_classes"], r["variant"]): r["flops_per_sample"] for r in rows if r.get("flops_per_sample")}
    pts = [(c, flops[(c, slow)] / flops[(c, fast)]) for c in cs if (c, slow) in flops and (c, fast) in flops]
    if pts:
        c, y = zip(*pts)
        ax.plot(c, y, ":", color=PURPLE, lw=2, label="FLOP ratio (arithmetic)")
    # black and vermillion: neither is a method's colour (FF is orange, HFF blue)
    for b, marker, color in zip(batch_sizes, "osd^v", ("#000000", "#D55E00", "#56B4E9", "#009E73", "#CC79A7")):
        pts = [(c, index[(c, b, slow)] / index[(c, b, fast)]) for c in cs
               if (c, b, slow) in index and (c, b, fast) in index]
        if pts:
            c, y = zip(*pts)
            ax.plot(c, y, marker + "-", color=color, label=f"batch {b}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _class_ticks(ax, cs)
    ax.set_xlabel("number of classes C")
    ax.set_ylabel(f"time({slow}) / time({fast})")
    ax.set_title("measured speed-up of HFF over FF")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")  # the ratios rise from the lower left: that corner stays empty
    fig.tight_layout()
    return fig


def plot_training_cost(rows: list[dict], reference: str = "bp") -> Figure:
    """Seconds per training epoch of every method, grouped by network widths.

    Each bar is annotated with its time and its ratio to ``reference`` (backprop)
    on the same widths. ``rows``: dicts with ``method``, ``widths`` (a label) and
    ``epoch_s``, as written by ``benchmarks/training_cost.py``; rows with a
    ``path`` (``"plain"`` or ``"compiled"``, the fast path) get a bar each, the
    compiled one hatched and compared with the reference on the same path.
    Taught in 05_timing.
    """
    _require(rows, ("method", "widths", "epoch_s"), "benchmarks/training_cost.py")
    variants = list(dict.fromkeys((r["method"], r.get("path", "plain")) for r in rows))
    groups = list(dict.fromkeys(str(r["widths"]) for r in rows))
    t = {((r["method"], r.get("path", "plain")), str(r["widths"])): r["epoch_s"] for r in rows}
    fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(variants) * len(groups) ** 0.5, 3.8))
    step = 0.8 / len(groups)
    for gi, g in enumerate(groups):
        xs = np.arange(len(variants)) + (gi - (len(groups) - 1) / 2) * step
        ys = [t.get((v, g), np.nan) for v in variants]
        bars = ax.bar(xs, ys, width=step * 0.95, label=f"widths {g}", alpha=0.55 + 0.45 * gi / max(1, len(groups) - 1),
                      color=[_color(m) for m, _ in variants], edgecolor="black", linewidth=0.6)
        for bar, (m, path), y in zip(bars, variants, ys):
            if path != "plain":
                bar.set_hatch("//")
            ref = t.get(((reference, path), g))
            if np.isfinite(y):
                text = f"{y:.3g} s" + (f"\n{y / ref:.2f}x {reference}" if ref and m != reference else "")
                ax.annotate(text, (bar.get_x() + bar.get_width() / 2, y), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(variants)), [m if path == "plain" else f"{m}\n{path}" for m, path in variants])
    ax.set_ylabel("seconds per epoch")
    ax.set_title("training cost per epoch (lighter: first widths)" if len(groups) > 1 else "training cost per epoch")
    ax.set_ylim(0, 1.25 * np.nanmax(list(t.values())))
    handles = [plt.Rectangle((0, 0), 1, 1, color="grey", alpha=0.55 + 0.45 * i / max(1, len(groups) - 1))
               for i in range(len(groups))]
    ax.legend(handles, [f"widths {g}" for g in groups], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def plot_memory_vs_depth(rows: list[dict], key: str = "activation_peak") -> Figure:
    """Peak activation memory of one training step against depth, one line per method.

    Local methods (HFF, local-CE, FF) free each layer's activations once its
    loss has been back-propagated, so their line should stay flat; backprop
    must keep every layer's activations until the backward pass: a line that
    grows with depth. The dotted line is depth x one layer's activation (batch
    x width floats). The depth axis is linear, so backprop's linear growth looks
    straight (a log axis bends it into a curve). ``rows`` from
    :func:`hff_edu.measuring.memory.memory_vs_depth`. Taught in 05_timing.
    """
    _require(rows, ("method", "depth", key), "memory.memory_vs_depth")
    fig, ax = plt.subplots(figsize=(7.2, 3.9))
    depths = sorted({r["depth"] for r in rows})
    for m in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["depth"], r[key] / 2**20) for r in rows if r["method"] == m)
        d, mb = zip(*pts)
        ax.plot(d, mb, marker="o", ls=_style(m), color=_color(m), label=m, lw=2)
    if "one_layer_activation" in rows[0]:
        one = rows[0]["one_layer_activation"] / 2**20
        ax.plot(depths, [one * d for d in depths], "k:", lw=1, label="depth x one layer's activation")
    ax.set_xticks(depths, [str(d) for d in depths])  # a linear axis: linear growth is a straight line
    ax.set_xlim(0, max(depths) * 1.05)
    ax.set_xlabel("depth (hidden layers)")
    ax.set_ylabel("peak activation memory (MiB)")
    extra = f", batch {rows[0]['batch_size']}, width {rows[0]['width']}" if "batch_size" in rows[0] else ""
    ax.set_title(f"one training step{extra}")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def plot_accuracy(rows: list[dict], title: str = "test accuracy") -> Figure:
    """Mean test accuracy (bars) with one standard deviation over seeds (error bars),
    annotated with the mean wall time of a run. ``rows``: dicts with ``name``,
    ``mean``, ``std`` and ``wall_s``, as written by ``benchmarks/accuracy.py``.
    Taught in 05_timing.
    """
    _require(rows, ("name", "mean", "std"), "benchmarks/accuracy.py")
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(rows) + 1.4))
    names = [r["name"] for r in rows]
    y = np.arange(len(rows))[::-1]
    means = np.array([r["mean"] for r in rows])
    ax.barh(y, means, xerr=[r["std"] for r in rows], capsize=3,
            color=[_color(n) for n in names], alpha=0.8)
    for yi, r in zip(y, rows):
        note = f"{r['mean']:.4f}" + (f"  ({r['wall_s']:.0f} s/run)" if "wall_s" in r else "")
        ax.text(r["mean"] + 0.005, yi, note, va="center", fontsize=8)
    ax.set_yticks(y, names)
    lo = max(0.0, float(means.min()) - 0.1)
    ax.set_xlim(lo, min(1.0, float(means.max()) + 0.12))
    # bars on an axis that does not start at 0 exaggerate gaps: the label says so
    ax.set_xlabel("test accuracy (mean ± std over seeds)" + (f"; axis starts at {lo:.2f}, not 0" if lo > 0 else ""))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_profile(profiles: dict, top: int = 6) -> Figure:
    """Where the time goes: per variant, a stacked bar of op self time (ms per call).

    ``profiles``: name -> the dict of :func:`hff_edu.measuring.inference.profile_ops`. The
    ``top`` ops overall get their own colour, the rest is "other". Taught in 05_timing.
    """
    if not profiles:
        raise ValueError("No profiles to plot: pass {name: timing.profile_ops(...)}.")
    totals = defaultdict(float)
    for p in profiles.values():
        for op in p["ops"]:
            totals[op["name"]] += op["ms"]
    keep = [k for k, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:top]]
    fig, ax = plt.subplots(figsize=(8.5, 0.6 * len(profiles) + 1.6))
    names = list(profiles)
    palette = OKABE_ITO[:-1]  # colour-blind safe; black is kept for text
    left = np.zeros(len(names))
    for i, op in enumerate(keep + ["other"]):
        vals = []
        for n in names:
            p = profiles[n]
            listed = {o["name"]: o["ms"] for o in p["ops"]}
            vals.append(listed.get(op, 0.0) if op != "other"
                        else p["total_ms"] - sum(listed.get(k, 0.0) for k in keep))
        ax.barh(names, vals, left=left, color=palette[i % len(palette)] if op != "other" else "lightgrey", label=op)
        left += np.array(vals)
    for yi, total in enumerate(left):
        ax.text(total, yi, f" {total:.3g} ms", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("op self time per call (ms)")
    ax.set_xlim(0, left.max() * 1.2)
    ax.set_title("where the time goes (torch.profiler)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig
