"""Training in parallel: a Gantt chart of what each pipeline stage did when, and throughput bars.

Both take plain data: the timeline dicts of :func:`hff_edu.training.parallel.pipeline_fit` (or of
:func:`hff_edu.training.parallel.simulated_timeline`) and rows of samples per second, so a saved run can
be drawn again; :func:`stage_busy` says how busy each stage was in a timeline (what a chart's title
should state). Taught in 08_parallel_training.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..core.palette import BLUE, GREEN, GREY, ORANGE, PURPLE, VERMILLION

#: colour per kind of interval (Okabe and Ito's colour-blind-safe palette); waiting for the previous
#: stage is a light grey, waiting for a send to finish vermillion
KIND_COLORS = {"forward": BLUE, "backward": ORANGE, "step": GREEN,
               "recv": "#D0D0D0", "send": VERMILLION, "evaluate": PURPLE}
#: the kinds of interval in which a stage computes (the others: it waits, or stage 0 evaluates)
WORK = ("forward", "backward", "step")
KIND_LABELS = {"forward": "forward (local losses)", "backward": "local backward", "step": "optimiser step",
               "recv": "waiting for the previous stage", "send": "waiting for a send to finish",
               "evaluate": "evaluation (stage 0)"}


def stage_busy(events: list[dict]) -> dict[int, float]:
    """The share of the timeline's span (first start to last end, all stages) each stage spent computing
    (forward, local backward, optimiser step), by stage; waiting and evaluating count as not busy."""
    if not events:
        raise ValueError("stage_busy: the timeline has no events.")
    t0, t1 = min(e["start"] for e in events), max(e["end"] for e in events)
    span = max(t1 - t0, 1e-12)
    stages = sorted({int(e["stage"]) for e in events})
    return {s: sum(e["end"] - e["start"] for e in events if e["stage"] == s and e["kind"] in WORK) / span
            for s in stages}


def _merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def both_busy(events: list[dict], first: int = 0, second: int = 1) -> float:
    """The share of the timeline's span in which stages ``first`` and ``second`` both computed at the same
    time (each on its own batch): what a pipeline adds over one process."""
    if not events:
        raise ValueError("both_busy: the timeline has no events.")
    t0, t1 = min(e["start"] for e in events), max(e["end"] for e in events)
    work = [_merged([(e["start"], e["end"]) for e in events if e["stage"] == s and e["kind"] in WORK])
            for s in (first, second)]
    common = sum(max(0.0, min(b1, b2) - max(a1, a2)) for a1, b1 in work[0] for a2, b2 in work[1])
    return common / max(t1 - t0, 1e-12)


def _window(events: list[dict], steps) -> list[dict]:
    if steps is None:
        return list(events)
    first, stop = steps
    return [e for e in events if first <= e["step"] < stop]


def plot_timeline(timelines, steps: tuple[int, int] | None = None, unit: str = "ms",
                  label_steps: bool = True, kind_labels: dict | None = None) -> Figure:
    """Gantt chart: one row per stage (stage 0 on top), one bar per interval, coloured by kind.

    ``timelines``: the ``timeline`` of a :class:`~hff_edu.training.parallel.PipelineRun` (a list of dicts
    with ``stage``, ``kind``, ``step``, ``start``, ``end`` in seconds), or ``{title: timeline}``
    for one panel each (e.g. backprop against local learning, sharing the time axis).
    ``steps=(first, stop)`` keeps the steps first..stop-1 and starts the clock at the first one.
    The batch number is written on the forward bars when they are wide enough (an event's ``label``,
    e.g. ``"2.3"`` for micro-batch 3 of batch 2, replaces it). ``kind_labels`` renames kinds in the legend
    (e.g. ``{"forward": "forward pass"}`` for a backprop schedule, whose forward pass has no local losses).
    """
    panels = timelines if isinstance(timelines, dict) else {"": timelines}
    if not panels or any(not isinstance(t, list) for t in panels.values()):
        raise ValueError("Pass a timeline (list of dicts with stage, kind, step, start, end) or {title: timeline}.")
    if unit not in ("ms", "s"):
        raise ValueError(f"unit={unit!r}: choose 'ms' or 's'.")
    scale = 1e3 if unit == "ms" else 1.0
    windows = {}
    for title, events in panels.items():
        if events and not {"stage", "kind", "step", "start", "end"} <= set(events[0]):
            raise ValueError(f"Timeline {title!r}: each event needs stage, kind, step, start and end.")
        shown = _window(events, steps)
        if not shown:
            raise ValueError(f"Timeline {title!r} has no events{' in steps %s' % (steps,) if steps else ''}: "
                             "record more steps (max_timeline_steps) or widen steps=.")
        windows[title] = shown
    n_stages = max(e["stage"] for ev in windows.values() for e in ev) + 1
    fig, axes = plt.subplots(len(windows), 1, figsize=(10, 0.55 * n_stages * len(windows) + 1.4),
                             sharex=True, squeeze=False)
    used = set()
    for ax, (title, events) in zip(axes[:, 0], windows.items()):
        t0 = min(e["start"] for e in events)
        span = max(e["end"] for e in events) - t0
        for e in events:
            left, width = (e["start"] - t0) * scale, (e["end"] - e["start"]) * scale
            ax.barh(e["stage"], width, left=left, height=0.7, color=KIND_COLORS.get(e["kind"], "k"),
                    edgecolor="white", linewidth=0.3)
            used.add(e["kind"])
            if label_steps and e["kind"] == "forward" and e["end"] - e["start"] > 0.03 * span:
                ax.text(left + width / 2, e["stage"], str(e.get("label", e["step"])), ha="center", va="center",
                        fontsize=7, color="white")
        ax.set_yticks(range(n_stages), [f"stage {s}" for s in range(n_stages)])
        ax.set_ylabel("worker", fontsize=8)
        ax.set_ylim(n_stages - 0.5, -0.5)
        ax.grid(axis="x", alpha=0.3)
        if title:
            ax.set_title(title, fontsize=10, loc="left")
    axes[-1, 0].set_xlabel(f"time ({unit})" + (f", steps {steps[0]}..{steps[1] - 1}" if steps else ""))
    names = {**KIND_LABELS, **(kind_labels or {})}
    handles = [Patch(color=KIND_COLORS[k], label=names[k]) for k in KIND_COLORS if k in used]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=8,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.08 if len(handles) <= 3 else 0.12, 1, 1))
    return fig


def plot_throughput(rows: list[dict], reference: str | None = None, ideal: float | None = None) -> Figure:
    """Training samples per second of each configuration, with its ratio to ``reference``.

    ``rows``: dicts with ``config`` (a name) and ``samples_per_s``. ``reference`` (default: the
    first row) is the denominator of the ratios written on the bars; ``ideal`` draws the ratio a
    perfectly balanced pipeline without communication would reach (sequential cost / slowest stage).
    """
    if not rows or any("config" not in r or "samples_per_s" not in r for r in rows):
        raise ValueError("rows: give a list of dicts with 'config' and 'samples_per_s'.")
    names = [r["config"] for r in rows]
    reference = reference or names[0]
    if reference not in names:
        raise ValueError(f"reference {reference!r} is not one of the configs {names}.")
    ref = next(r["samples_per_s"] for r in rows if r["config"] == reference)
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.3))
    values = [r["samples_per_s"] for r in rows]
    bars = ax.barh(range(len(rows)), values, color=[GREY if n == reference else BLUE for n in names])
    for bar, v in zip(bars, values):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f"  {v:.0f}/s  ({v / ref:.2f}x)",
                va="center", fontsize=8)
    if ideal is not None:
        ax.axvline(ideal * ref, color=GREEN, ls="--", lw=1, label=f"ideal pipeline: {ideal:.2f}x")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"training samples per second (ratio to {reference})")
    ax.set_xlim(0, max(values + ([ideal * ref] if ideal else [])) * 1.35)
    ax.set_title("Training throughput on this machine, at the time of the run", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
