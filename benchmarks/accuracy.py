"""Accuracy table: test accuracy of FF (goodness and one-pass softmax), HFF (last
layer and summed rules), local cross-entropy and backprop, mean and std over
seeds, with the wall time of each run: a Markdown table for the README.

    python benchmarks/accuracy.py              # Fashion-MNIST, 3 seeds, widths 3x500, 5 epochs
    python benchmarks/accuracy.py --quick      # digits, 3 seeds, widths 2x128, 20 epochs, under a minute

Every run trains with hff_edu.train.fit (Adam, batch 100, linear learning-rate
cool-down over the second half) from scratch: no cache, so the wall time is
real. Writes results/accuracy_<dataset>.{md,json,csv,png}.
"""
from __future__ import annotations

import statistics
import sys
import time

from _common import (header, int_list, metadata, parse_widths, parser, quick_defaults, save_figure, setup,
                     widths_label, write_results)
from hff_edu import data, timing
from hff_edu.models import build
from hff_edu.train import accuracy, fit

METHODS = ("hff", "ff", "local-ce", "bp")
#: every prediction mode/rule a method has: (row name, predict keyword arguments)
READOUTS = {"hff": [("hff last", dict(rule="last")), ("hff sum", dict(rule="sum"))],
            "ff": [("ff goodness", dict(mode="goodness")), ("ff softmax", dict(mode="softmax"))],
            "local-ce": [("local-ce", {})], "bp": [("bp", {})]}


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--subset", type=int, default=None, help="training samples (default: all)")
    p.add_argument("--seeds", type=int_list, default=[0, 1, 2])
    p.add_argument("--widths", type=parse_widths, default=[500, 500, 500])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of hff, local-ce and bp")
    p.add_argument("--ff-lr", type=float, default=None,
                   help="Adam learning rate of ff (default 3e-3; 1e-2 with --quick: FF learns slowly at 1e-3)")
    p.add_argument("--methods", default=",".join(METHODS))
    a = p.parse_args(argv)
    quick_defaults(p, a, dataset="digits", widths=[128, 128], epochs=20)
    if a.ff_lr is None:
        a.ff_lr = 1e-2 if a.quick else 3e-3
    device = setup(a)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    lrs = {m: a.ff_lr if m == "ff" else a.lr for m in methods}
    settings = dict(dataset=a.dataset, subset=a.subset, widths=widths_label(a.widths), epochs=a.epochs,
                    batch_size=a.batch_size, optimizer="adam", lr=lrs, cooldown="linear to 0 over the 2nd half",
                    seeds=a.seeds, methods=methods)
    meta = metadata(a, device, settings, "python benchmarks/accuracy.py " + " ".join(argv or sys.argv[1:]))
    print(header(f"accuracy, {settings}", meta), flush=True)
    runs, start_all = [], time.perf_counter()
    for seed in a.seeds:
        ds = data.load(a.dataset, subset=a.subset, seed=seed)
        for m in methods:
            start = time.perf_counter()
            model = build(m, ds, a.widths, seed=seed)
            hist = fit(model, ds, epochs=a.epochs, batch_size=a.batch_size, lr=lrs[m], seed=seed,
                       progress=False, device=device)
            scores = {name: accuracy(model, ds.test, **kw) for name, kw in READOUTS[m]}
            wall = time.perf_counter() - start
            for name, acc in scores.items():
                runs.append(dict(name=name, method=m, seed=seed, test_acc=acc, wall_s=wall,
                                 sec_per_epoch=hist.seconds_per_epoch,
                                 layer_test_acc=hist.final["layer_test_acc"]))
            print(f"  seed {seed} {m:<8} " + "  ".join(f"{k} {v:.4f}" for k, v in scores.items())
                  + f"  ({wall:.0f} s, {hist.seconds_per_epoch:.1f} s/epoch of training)", flush=True)
    total = time.perf_counter() - start_all
    names = [n for m in methods for n, _ in READOUTS[m]]
    rows = []
    for n in names:
        rs = [r for r in runs if r["name"] == n]
        accs = [r["test_acc"] for r in rs]
        rows.append(dict(name=n, method=rs[0]["method"], mean=statistics.mean(accs),
                         std=statistics.stdev(accs) if len(accs) > 1 else 0.0, n=len(accs),
                         wall_s=statistics.mean(r["wall_s"] for r in rs),
                         sec_per_epoch=statistics.mean(r["sec_per_epoch"] for r in rs)))
    ds = data.load(a.dataset, subset=a.subset, seed=a.seeds[0])
    lr_text = ", ".join(f"{m} {v:g}" for m, v in lrs.items())
    md = [f"**{ds.name}** test accuracy ({len(ds.train)} train / {len(ds.test)} test), MLP widths "
          f"{widths_label(a.widths)}, {a.epochs} epochs, batch {a.batch_size}, Adam (lr: {lr_text}), linear "
          f"lr cool-down over the second half; mean ± std over seeds {a.seeds}; wall time per run = build + "
          f"train (incl. fit's per-epoch evaluation) + final scoring; {meta['device']}, {meta['threads']} "
          f"threads ({meta['cpu']}), torch {meta['torch']}, load average (1/5/15 min) at start "
          f"{meta.get('load_avg_1_5_15min')}, at end {timing.machine_info().get('load_avg_1_5_15min')}. "
          f"Command: `{meta['command'].strip()}` ({total / 60:.1f} min in all).",
          "",
          "| method (prediction) | test accuracy | wall time per run (s) | training s/epoch |",
          "|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['name']} | {100 * r['mean']:.2f} ± {100 * r['std']:.2f} % | {r['wall_s']:.0f} | "
                  f"{r['sec_per_epoch']:.1f} |")
    table = "\n".join(md)
    print("\n" + table)
    name = f"accuracy_{ds.name}" + ("_quick" if a.quick and ds.name != "digits" else "") \
        + (f"_{a.tag}" if a.tag else "")
    path = write_results(name, a, meta, rows, extra=dict(runs=runs, markdown=table, total_s=total))
    (path.parent / f"{name}.md").write_text(table + "\n")
    if not a.no_plot:
        from hff_edu.viz.timing_views import plot_accuracy
        save_figure(plot_accuracy(rows, title=f"{ds.name}, {widths_label(a.widths)}, {a.epochs} epochs, "
                                              f"{len(a.seeds)} seeds"), name, a)
    print(f"\nwrote {path.with_suffix('.md')} (+ .json, .csv, .png); {total / 60:.1f} min")
    return dict(rows=rows, runs=runs, path=str(path), markdown=table)


if __name__ == "__main__":
    main()
