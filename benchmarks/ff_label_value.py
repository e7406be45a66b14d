"""Why FF's one-pass softmax readout falls in long runs (README race: 84 % after 5 epochs, 71 % after
20, 55 % after 40) while SymBa's, with a quieter label, holds at 90 %.

The hypothesis: the softmax readout runs the network once on the *neutral* label (1/C of the label
value in every label position) and a head reads its activities; the layers only ever train on inputs
with one loud label (28 by default). The louder the label, the further the neutral input sits from
anything the layers trained on, and the more the layers specialise to labelled inputs as training
goes on. If so, the softmax readout should fall over the epochs at the default label value and hold at
a quiet one, with everything else FF's defaults. Scored on the validation split only (the test set is
the race's), every epoch, both readouts:

    python benchmarks/ff_label_value.py --threads 1 --subset 20000  # 15 min on one thread (20,000 training images)
    python benchmarks/ff_label_value.py --quick                   # digits, seconds: the plumbing

Writes ``results/ff_label_value_<dataset>.{json,csv,md}``.
"""
from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor

from _common import finish, metadata, parser, quick_defaults, setup, table, write_results


def run(job: dict) -> dict:
    import torch
    from hff_edu import data, methods
    from hff_edu.training.trainer import accuracy, fit
    if job["threads"]:
        torch.set_num_threads(job["threads"])
    ds = data.load(job["dataset"], val=job["val"], seed=job["seed"], subset=job["subset"])
    kwargs = {} if job["label"] is None else dict(label_scale=job["label"])
    model = methods.build("ff", ds, job["widths"], seed=job["seed"], **kwargs)
    curve = []

    def score(m, epoch, history):  # both readouts on the validation split, every epoch
        curve.append(dict(epoch=epoch, goodness=accuracy(m, ds.val, mode="goodness"),
                          softmax=accuracy(m, ds.val, mode="softmax")))

    t0 = time.perf_counter()
    fit(model, ds, epochs=job["epochs"], seed=job["seed"], progress=False, callbacks=[score], eval_on="none")
    return dict(job, label_value=model.label_scale, curve=curve, seconds=time.perf_counter() - t0)


def main(argv=None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--widths", default="500,500,500")
    p.add_argument("--labels", default="default,2.3,1",
                   help="label values to compare ('default' = the package's sqrt(10 D / C))")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--val", type=int, default=10000)
    p.add_argument("--subset", type=int, default=None)
    p.add_argument("--jobs", type=int, default=1)
    a = p.parse_args(argv)
    quick_defaults(p, a, dataset="digits", widths="64,64", epochs=3, val=300)
    setup(a)
    labels = [None if v == "default" else float(v) for v in a.labels.split(",")]
    widths = [int(w) for w in a.widths.split(",")]
    jobs = [dict(dataset=a.dataset, val=a.val, subset=a.subset, seed=a.seed, widths=widths, epochs=a.epochs,
                 label=v, threads=a.threads) for v in labels]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        rows = list(pool.map(run, jobs))
    meta = metadata(a, "cpu", dict(dataset=a.dataset, widths=widths, epochs=a.epochs, val=a.val, labels=a.labels,
                                   jobs=a.jobs), "python benchmarks/ff_label_value.py " + " ".join(argv or sys.argv[1:]))
    name = f"ff_label_value_{a.dataset}" + ("_quick" if a.quick else "") + (f"_{a.tag}" if a.tag else "")
    write_results(name, a, meta, rows)
    shown = sorted({0, 1, a.epochs // 4, a.epochs // 2, a.epochs} & set(range(a.epochs + 1)))
    body = table(["label value", *[f"ep {e} good / soft" for e in shown]],
                 [[f"{r['label_value']:.2f}", *[f"{100 * r['curve'][e]['goodness']:.1f} / "
                                                f"{100 * r['curve'][e]['softmax']:.1f}" for e in shown]]
                  for r in rows])
    text = (f"FF ({a.widths}, every other setting the package default) on **{a.dataset}**, validation accuracy "
            f"(%) of the goodness / softmax readouts after each epoch, seed {a.seed}; {meta['cpu']}, "
            f"{meta['date']}. Command: `{meta['command']}`.\n\n```\n{body}\n```\n")
    return finish(name, a, text, start)


if __name__ == "__main__":
    raise SystemExit(main())
