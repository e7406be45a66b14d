"""Training throughput in parallel: samples per second of HFF training, sequential against a
2-stage layer pipeline and 2-rank data parallelism.

    python benchmarks/parallel.py                  # HFF 4x1000 on 10,000 Fashion-MNIST samples, 3 rounds
    python benchmarks/parallel.py --method hff-conv --channels 32,64,128,256
    python benchmarks/parallel.py --device cuda    # stages on cuda:0 and cuda:1 (or both on cuda:0)
    python benchmarks/parallel.py --quick          # < 1 minute

Configurations (all run train.fit's step: the same batches, Adam, cool-down):
  sequential, 1 thread     train.fit in this process, torch.set_num_threads(1)
  sequential, 2 threads    the same with 2 intra-op threads
  pipeline, 2 x 1 thread   parallel.pipeline_fit: 2 processes, one stage (about half the work) each
  data parallel, 2 x 1     parallel.data_parallel_fit: 2 processes, half of every batch each
Every configuration trains --epochs epochs; the last epoch is timed (the first warms up: allocator,
caches), evaluation excluded. The configurations take turns, round after round, in a rotated
order, so machine load hits them alike; the ratios are medians of the per-round ratios to the
sequential 1-thread run of the same round. Writes results/parallel.{json,csv,png} and
parallel_timeline.png (the pipeline's Gantt chart, first round).

The samples/s ratios need a core per process. On a machine that others use they measure the
machine: Linux's autogroup scheduler (/proc/sys/kernel/sched_autogroup_enabled) shares the CPU
between sessions, so two processes of this script get together what one would. The table
therefore also gives each configuration's CPU seconds for the timed epoch in its busiest
process (process_time, all its threads) and the ratio sequential / busiest: the speed-up the
configuration would reach with a free core per process, which hardly depends on the load.
"""
from __future__ import annotations

import copy
import statistics
import sys
import time

import torch

from _common import (header, metadata, out_name, parse_widths, parser, quick_defaults, save_figure, setup, table,
                     write_results)
from hff_edu import data, parallel, train
from hff_edu.methods import build

TARGET = 1.7  # 2-stage pipeline, one thread per stage, >= TARGET x the sequential one-thread samples/s
#: key -> what is measured
CONFIGS = {"seq1": "sequential, 1 thread", "seq2": "sequential, 2 threads",
           "pipeline": "pipeline, 2 stages x 1 thread", "dp": "data parallel, 2 ranks x 1 thread"}


def run_config(key: str, model, ds, fit_kw: dict, device, timeout: float):
    """Train a copy of ``model``. Returns (samples/s of the last epoch, CPU seconds that epoch took
    in its busiest process or None where not measured, the pipeline run or None)."""
    m = copy.deepcopy(model)
    n = len(ds.train)
    if key in ("seq1", "seq2"):
        cpu = []  # process CPU time at the end of every epoch (fit calls its callbacks then)
        threads = torch.get_num_threads()
        torch.set_num_threads(1 if key == "seq1" else 2)
        try:
            h = train.fit(m, ds, device=device, callbacks=[lambda *_: cpu.append(time.process_time())], **fit_kw)
        finally:
            torch.set_num_threads(threads)
        # two threads of one process: its CPU time is the sum of both, not a time on a free core
        return n / h.records[-1]["seconds"], cpu[-1] - cpu[-2] if key == "seq1" else None, None
    if key == "pipeline":
        devices = ([f"cuda:{i % torch.cuda.device_count()}" for i in range(2)] if device.type == "cuda"
                   else "cpu")
        run = parallel.pipeline_fit(m, ds, stages=2, device=devices, evaluate_every_epoch=False, threads=1,
                                    timeout=timeout, **fit_kw)
        last = run.history.records[-1]
        return n / last["seconds"], max(last["stage_cpu_seconds"]), run
    h = parallel.data_parallel_fit(m, ds, world_size=2, threads=1, timeout=timeout, device=str(device), **fit_kw)
    return n / h.records[-1]["seconds"], None, None


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--subset", type=int, default=10000, help="training samples per epoch")
    p.add_argument("--method", default="hff", choices=["hff", "hff-conv", "local-ce", "local-ce-conv"])
    p.add_argument("--widths", type=parse_widths, default=[1000] * 4, help="MLP widths (default 4x1000)")
    p.add_argument("--channels", type=parse_widths, default=[32, 64, 128, 256], help="conv blocks")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=2, help="epochs per configuration; the last one is timed")
    p.add_argument("--rounds", type=int, default=3, help="rounds of all configurations, in rotated order")
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated keys of {CONFIGS}")
    p.add_argument("--timeout", type=float, default=parallel.DEFAULT_TIMEOUT)
    a = p.parse_args(argv)
    quick_defaults(p, a, subset=2000, widths=[256] * 4, channels=[8, 16], rounds=1)
    device = setup(a)
    configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or "seq1" not in configs:
        raise SystemExit(f"--configs: choose from {list(CONFIGS)}, including seq1 (the reference).")
    if device.type == "cuda" and "seq2" in configs:
        configs.remove("seq2")  # intra-op CPU threads say nothing about a GPU run
    ds = data.load(a.dataset, subset=a.subset, test_subset=100, seed=a.seed)
    sizes = a.channels if a.method.endswith("-conv") else a.widths
    model = build(a.method, ds, sizes, seed=a.seed)
    plan = parallel.plan_stages(model, ds.input_shape, 2)
    fit_kw = dict(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed, progress=False,
                  train_eval_samples=100)  # fit's per-epoch evaluation: 100 test and 100 training samples
    size_label = "x".join([str(len(sizes)), str(sizes[0])]) if len(set(sizes)) == 1 else ",".join(map(str, sizes))
    config = dict(dataset=a.dataset, train_size=len(ds.train), method=a.method, sizes=size_label,
                  batch_size=a.batch_size, lr=a.lr, epochs=a.epochs, timed="last epoch, evaluation excluded",
                  rounds=a.rounds, configs=[CONFIGS[c] for c in configs], stages=[list(u) for u in plan.units], unit_costs=plan.costs,
                  ideal_pipeline_speedup=plan.ideal_speedup,
                  message_floats_per_batch=plan.floats_per_sample(0) * a.batch_size)
    meta = metadata(a, device, config, "python benchmarks/parallel.py " + " ".join(argv or sys.argv[1:]))
    print(header(f"parallel training throughput, {a.method} {size_label} on {ds.describe()}", meta), flush=True)
    print(f"pipeline stages {plan.units} (multiply-adds per sample {plan.costs}): ideal speed-up "
          f"{plan.ideal_speedup:.2f}x; stage 0 sends {plan.floats_per_sample(0) * a.batch_size} floats per batch",
          flush=True)
    samples = {c: [] for c in configs}
    ratios = {c: [] for c in configs}
    cpu = {c: [] for c in configs}
    timeline = None
    for r in range(a.rounds):
        order = configs[r % len(configs):] + configs[:r % len(configs)]
        measured = {}
        for c in order:
            sps, cpu_s, run = run_config(c, model, ds, fit_kw, device, a.timeout)
            measured[c] = sps
            samples[c].append(sps)
            if cpu_s is not None:
                cpu[c].append(cpu_s)
            if run is not None and timeline is None:
                timeline = run.timeline
            print(f"  round {r + 1}: {CONFIGS[c]:<34} {sps:8.0f} samples/s"
                  + (f"   busiest process {cpu_s:6.2f} CPU s" if cpu_s is not None else ""), flush=True)
        for c in configs:
            ratios[c].append(measured[c] / measured["seq1"])
    seq_cpu = statistics.median(cpu["seq1"])
    rows = [dict(config=CONFIGS[c], key=c, samples_per_s=statistics.median(samples[c]), ratio_to_sequential=statistics.median(ratios[c]),
                 samples_per_s_rounds=samples[c], ratio_rounds=ratios[c],
                 busiest_cpu_s=statistics.median(cpu[c]) if cpu[c] else None,
                 cpu_ratio=seq_cpu / statistics.median(cpu[c]) if cpu[c] else None,
                 processes=1 if c.startswith("seq") else 2, threads_per_process=2 if c == "seq2" else 1)
            for c in configs]
    lines = [f"\ntraining samples per second ({len(ds.train)} samples, batch {a.batch_size}, last of {a.epochs} "
             f"epochs timed; median of {a.rounds} round(s); ratio = median of the per-round ratios):",
             table(["configuration", "samples/s", "x sequential (1 thread)", "CPU s, busiest process",
                    "x sequential, by CPU time"],
                   [[r["config"], f"{r['samples_per_s']:.0f}", f"{r['ratio_to_sequential']:.2f}",
                     f"{r['busiest_cpu_s']:.2f}" if r["busiest_cpu_s"] else "-",
                     f"{r['cpu_ratio']:.2f}" if r["cpu_ratio"] else "-"] for r in rows]),
             "(by CPU time: the sequential run's CPU seconds over those of the configuration's busiest process,\n"
             " the ratio one free core per process would give; it does not depend on how busy the machine is)"]
    checks = []
    pipe = next((r for r in rows if r["key"] == "pipeline"), None)
    if pipe is not None:
        ok = pipe["ratio_to_sequential"] >= TARGET
        checks.append(dict(target=f"pipeline >= {TARGET} x sequential 1 thread", measured=pipe["ratio_to_sequential"],
                           ideal=plan.ideal_speedup, held=ok))
        lines.append(f"target: 2-stage pipeline >= {TARGET} x sequential (1 thread): measured "
                     f"{pipe['ratio_to_sequential']:.2f} (ideal for this split {plan.ideal_speedup:.2f}) -> "
                     f"{'HELD' if ok else 'MISSED'}")
    load = meta.get("load_avg_1_5_15min")
    if load and load[0] > 1.5:
        lines.append(f"note: load average {load} at the start on {meta['logical_cpus']} CPUs: the machine was shared, "
                     "so the parallel configurations did not have their cores to themselves.")
    summary = "\n".join(lines)
    print(summary)
    name = out_name("parallel", a)
    path = write_results(name, a, meta, rows, extra=dict(targets=checks, summary=summary))
    if not a.no_plot:
        from hff_edu.viz.parallel_views import plot_throughput, plot_timeline
        save_figure(plot_throughput(rows, ideal=plan.ideal_speedup if pipe else None), name, a)
        if timeline:
            steps = sorted({e["step"] for e in timeline})
            mid = steps[len(steps) // 2]
            save_figure(plot_timeline(timeline, steps=(mid, mid + 6)), f"{name}_timeline", a)
    print(f"\nwrote {path} (+ .csv, .png)")
    return dict(rows=rows, targets=checks, path=str(path))


if __name__ == "__main__":
    main()
