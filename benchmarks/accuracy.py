"""Accuracy table: every method with its package defaults (tuned on the validation split by
benchmarks/tune.py), validation accuracy per prediction readout, the test set scored once at
the end; mean and std over seeds, the wall time of each run; a Markdown table for the README.

    python benchmarks/accuracy.py --threads 1 --jobs 2   # Fashion-MNIST 3x500, 20 epochs, 3 seeds, + FF 40 epochs
    python benchmarks/accuracy.py --quick                # digits 2x128, 20 epochs, 3 seeds: under a minute

Protocol (the same for every method): ``data.load(val=...)`` carves a stratified validation
split from the training split (its seed fixed, so every run sees the same split); each run
builds the method with the package defaults (``models.build``), trains with ``train.fit``
(Adam at the method's default learning rate, batch 100, the linear cool-down) reporting only
validation accuracy per epoch (``eval_on="val"``), then scores every readout on the validation
split and, once, on the test split. The "val pick" column marks the readout a user would pick
from the validation split alone. ``--long METHOD:EPOCHS`` adds a longer run (first seed only)
to show a method's ceiling, not only its short-run score.

Every finished run is appended to ``<out-dir>/<name>.runs.jsonl`` with its settings; a rerun of
the same command skips the runs already there (``--fresh`` starts over), so a long table can be
built in pieces. ``--jobs N`` trains N runs at once in separate processes (``--threads`` each).
Writes ``<name>.{md,json,csv,png}``.
"""
from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _common import (header, int_list, metadata, parse_widths, parser, quick_defaults, save_figure, setup,
                     widths_label, write_results)
from hff_edu import data, timing
from hff_edu.methods import DEFAULT_LR, SPECS, build, readouts_of

#: every registered method with an MLP, in the order of the table
METHODS = tuple(name for name, spec in SPECS.items() if spec.mlp is not None)


def readout_rows(method: str, model) -> list:
    """``(row name, predict keyword arguments)`` for every readout the method declares."""
    found = readouts_of(model)
    return [(method if len(found) == 1 else f"{method} {name}", kw) for name, kw in found.items()]


def run_key(job: dict) -> str:
    """The identity of one run: every setting that changes its numbers."""
    text = json.dumps({k: job[k] for k in sorted(job) if k not in ("threads", "device")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_one(job: dict) -> dict:
    """Train one (method, seed, epochs) run; scores every readout on val, then once on test."""
    import torch
    from hff_edu.training.trainer import accuracy, fit
    if job["threads"]:
        torch.set_num_threads(job["threads"])
    ds = data.load(job["dataset"], subset=job["subset"], val=job["val"], val_seed=job["val_seed"],
                   seed=job["seed"])
    start = time.perf_counter()
    model = build(job["method"], ds, job["widths"], seed=job["seed"])
    if json.loads(json.dumps(dict(model.config, seed=0), default=str)) != json.loads(json.dumps(job["defaults"]["config"], default=str)):
        raise RuntimeError(f"{job['method']}: the package defaults changed while the table was being built")
    # the method's own learning rate (methods.DEFAULT_LR, fit's and the CLI's default), recorded in the job
    hist = fit(model, ds, epochs=job["epochs"], batch_size=job["batch_size"], lr=job["defaults"]["lr"],
               seed=job["seed"], progress=False, device=job["device"], eval_on="val")
    train_s = time.perf_counter() - start
    rows = readout_rows(job["method"], model)
    val = {name: accuracy(model, ds.val, **kw) for name, kw in rows}
    test = {name: accuracy(model, ds.test, **kw) for name, kw in rows}  # once, at the end
    return dict(job, key=run_key(job), lr=hist.config["lr"], config=model.config, val_acc=val,
                test_acc=test, val_pick=max(val, key=val.get), wall_s=time.perf_counter() - start,
                train_s=train_s, sec_per_epoch=hist.seconds_per_epoch, val_curve=hist.val_acc,
                layer_val_acc=hist.final.get("layer_val_acc"), train_size=len(ds.train), val_size=len(ds.val),
                test_size=len(ds.test))


def load_runs(path: Path) -> dict:
    if not path.exists():
        return {}
    runs = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            runs[r["key"]] = r
    return runs


def tuning_budget(out_dir: Path, dataset: str) -> str:
    path = out_dir / f"tune_{dataset}.json"
    if not path.exists():
        return "tuning study not found (run benchmarks/tune.py)"
    t = json.loads(path.read_text())
    c = t["meta"]["config"]
    return (f"defaults tuned by `benchmarks/tune.py`: {c['trials']} Optuna TPE trials x {c['epochs']} epochs "
            f"per method on {c['train']} training / {c['val']} validation samples, {c['widths']} "
            f"(results/tune_{dataset}.md)")


def summarise(runs: list[dict]) -> list[dict]:
    rows = []
    for (method, epochs) in dict.fromkeys((r["method"], r["epochs"]) for r in runs):
        rs = [r for r in runs if r["method"] == method and r["epochs"] == epochs]
        for name in rs[0]["val_acc"]:  # every readout the runs scored, in the declaration's order
            vals, tests = [r["val_acc"][name] for r in rs], [r["test_acc"][name] for r in rs]
            sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0  # noqa: E731
            rows.append(dict(name=name if epochs == rs[0]["epochs_main"] else f"{name}, {epochs} epochs",
                             method=method, epochs=epochs, n=len(rs), seeds=[r["seed"] for r in rs],
                             val_mean=statistics.mean(vals), val_std=sd(vals), mean=statistics.mean(tests),
                             std=sd(tests), val_picks=sum(r["val_pick"] == name for r in rs),
                             wall_s=statistics.mean(r["wall_s"] for r in rs),
                             sec_per_epoch=statistics.mean(r["sec_per_epoch"] for r in rs), lr=rs[0]["lr"]))
    return rows


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--subset", type=int, default=None, help="training samples before the val split (default: all)")
    p.add_argument("--val", type=int, default=None,
                   help="validation samples carved from the training split (default: a sixth of it, "
                        "10000 of Fashion-MNIST's 60000)")
    p.add_argument("--val-seed", type=int, default=0, help="seed of the validation split (the same for every run)")
    p.add_argument("--seeds", type=int_list, default=[0, 1, 2])
    p.add_argument("--widths", type=parse_widths, default=[500, 500, 500])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--long", default="ff:40",
                   help="METHOD:EPOCHS, a longer run on the first seed when METHOD is in --methods ('' for none)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once, one process each")
    p.add_argument("--fresh", action="store_true", help="ignore the runs already recorded")
    a = p.parse_args(argv)
    quick_defaults(p, a, dataset="digits", widths=[128, 128], val=300, long="")
    device = setup(a)
    # one load for the name, the sizes the models are built for and the default validation size
    probe = data.load(a.dataset, subset=a.subset, seed=a.seeds[0])
    if a.val is None:
        a.val = round(len(probe.train) / 6)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        p.error(f"unknown method(s) {unknown}: choose from {list(METHODS)}")
    if a.long and a.long.split(":")[0] not in methods:
        a.long = ""  # the longer run belongs to a method of this table
    base = dict(dataset=a.dataset, subset=a.subset, val=a.val, val_seed=a.val_seed, widths=a.widths,
                batch_size=a.batch_size, epochs_main=a.epochs, threads=a.threads, device=str(device))
    # the package defaults are part of a run's identity: a recorded run of other defaults is not reused
    defaults = {m: dict(config=build(m, probe, a.widths, seed=0).config, lr=DEFAULT_LR[m])
                for m in set(methods) | ({a.long.split(":")[0]} if a.long else set())}
    jobs = [dict(base, method=m, seed=s, epochs=a.epochs, defaults=defaults[m]) for s in a.seeds for m in methods]
    if a.long:
        method, epochs = a.long.split(":")
        jobs.append(dict(base, method=method, seed=a.seeds[0], epochs=int(epochs), defaults=defaults[method]))
    settings = dict(dataset=a.dataset, subset=a.subset, val=a.val, widths=widths_label(a.widths), epochs=a.epochs,
                    long=a.long, batch_size=a.batch_size, seeds=a.seeds, methods=methods, jobs=a.jobs)
    meta = metadata(a, device, settings, "python benchmarks/accuracy.py " + " ".join(argv or sys.argv[1:]))
    print(header(f"accuracy, {settings}", meta), flush=True)
    name = f"accuracy_{probe.name}" + ("_quick" if a.quick and probe.name != "digits" else "") \
        + (f"_{a.tag}" if a.tag else "")
    log = Path(a.out_dir) / f"{name}.runs.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    done = {} if a.fresh else load_runs(log)
    if a.fresh and log.exists():
        log.unlink()
    todo = [j for j in jobs if run_key(j) not in done]
    print(f"{len(jobs)} runs, {len(jobs) - len(todo)} already recorded in {log.name}", flush=True)
    start_all = time.perf_counter()

    def record(r):
        done[r["key"]] = r
        with open(log, "a") as f:  # one line per finished run: an interrupted table resumes
            f.write(json.dumps(r, default=str) + "\n")
        print(f"  seed {r['seed']} {r['method']:<8} {r['epochs']} ep  "
              + "  ".join(f"{k}: val {r['val_acc'][k]:.4f} test {r['test_acc'][k]:.4f}" for k in r["val_acc"])
              + f"  ({r['wall_s']:.0f} s, {r['sec_per_epoch']:.1f} s/epoch)", flush=True)

    if a.jobs > 1 and len(todo) > 1:
        import multiprocessing
        # spawn: a forked child of a process that has run OpenMP work can hang
        with ProcessPoolExecutor(a.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for r in pool.map(train_one, todo):
                record(r)
    else:
        for j in todo:
            record(train_one(j))
    runs = [done[run_key(j)] for j in jobs]
    rows = summarise(runs)
    total = sum(r["wall_s"] for r in runs)
    lrs = ", ".join(f"{m} {next(r['lr'] for r in runs if r['method'] == m):g}" for m in dict.fromkeys(r["method"] for r in runs))
    r0 = runs[0]
    md = [f"**{probe.name}** accuracy ({r0['train_size']} train / {r0['val_size']} validation, carved from the "
          f"training split / {r0['test_size']} test, scored once at the end), MLP {widths_label(a.widths)}, "
          f"{a.epochs} epochs, batch {a.batch_size}, Adam with the package's default learning rates ({lrs}) "
          f"and linear cool-down over the second half, every model with the package defaults; "
          f"{tuning_budget(Path(a.out_dir), probe.name)}; mean ± std over seeds {a.seeds}; \"val pick\": in "
          f"how many runs this readout had the best validation accuracy of its method; wall time per run = "
          f"build + train (incl. per-epoch validation) + final scoring, {a.jobs} run(s) at a time; "
          f"{meta['device']}, {meta['threads']} threads per run ({meta['cpu']}), torch {meta['torch']}, load "
          f"average at start {meta.get('load_avg_1_5_15min')}, at end "
          f"{timing.machine_info().get('load_avg_1_5_15min')}. Command: `{meta['command'].strip()}` "
          f"({total / 60:.0f} min of training in all, {(time.perf_counter() - start_all) / 60:.0f} min this call).",
          "",
          "| method (readout) | validation accuracy | test accuracy | val pick | wall time per run (s) | s/epoch |",
          "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['name']} | {100 * r['val_mean']:.2f} ± {100 * r['val_std']:.2f} % | "
                  f"{100 * r['mean']:.2f} ± {100 * r['std']:.2f} % | {r['val_picks']}/{r['n']} | "
                  f"{r['wall_s']:.0f} | {r['sec_per_epoch']:.1f} |")
    table = "\n".join(md)
    print("\n" + table)
    path = write_results(name, a, meta, rows, extra=dict(runs=runs, markdown=table, total_s=total))
    (path.parent / f"{name}.md").write_text(table + "\n")
    if not a.no_plot:
        from hff_edu.viz.timing_views import plot_accuracy
        save_figure(plot_accuracy([r for r in rows if r["epochs"] == a.epochs],
                                  title=f"{probe.name}, {widths_label(a.widths)}, {a.epochs} epochs, "
                                        f"{len(a.seeds)} seeds, test accuracy"), name, a)
    print(f"\nwrote {path.with_suffix('.md')} (+ .json, .csv, .png, {log.name})")
    return dict(rows=rows, runs=runs, path=str(path), markdown=table)


if __name__ == "__main__":
    main()
