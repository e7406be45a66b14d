"""Training cost: seconds per epoch and samples per second of FF, HFF, local
cross-entropy and backprop on Fashion-MNIST at two widths, and HFF's cost
relative to backprop on the same widths.

    python benchmarks/training_cost.py                 # widths 3x500 and 3x1000, 150 timed steps each
    python benchmarks/training_cost.py --full-epoch    # time whole epochs (slow on a CPU)
    python benchmarks/training_cost.py --quick         # < 1 minute

Each method runs the trainer's own step (train.fit's loop: zero_grad,
backward_local, Adam step, learning-rate cool-down, loss bookkeeping; not its
per-epoch evaluation). The methods take turns in blocks of steps (interleaved)
so machine load hits them alike; seconds per epoch = median seconds per step x
steps per epoch (600 at batch 100). FLOPs per step are counted exactly
(torch.utils.flop_counter); the phases of a step (forward, forward+backward,
optimiser) are timed interleaved; and a torch.profiler pass (HFF and backprop in
turns, medians over rounds) shows which operators take the time. Writes results/training_cost.{json,csv,png}
and training_profile.txt.
"""
from __future__ import annotations

import sys

from _common import (header, metadata, out_name, parse_widths, parser, quick_defaults, save_figure, setup,
                     table, widths_label, write_results)
from hff_edu import data, timing
from hff_edu.models import build

METHODS = ("ff", "hff", "local-ce", "bp")
TARGET = 1.0  # HFF seconds per epoch <= TARGET x backprop's


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--subset", type=int, default=None, help="training samples (default: all; an epoch is over these)")
    p.add_argument("--widths", type=parse_widths, nargs="+", default=[[500] * 3, [1000] * 3])
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=150, help="timed steps per method and width (then scaled to an epoch)")
    p.add_argument("--full-epoch", action="store_true", help="time one whole epoch per method instead of --steps")
    p.add_argument("--blocks", type=int, default=10, help="interleaving blocks")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--profile-steps", type=int, default=4, help="training steps per profiling round")
    p.add_argument("--phase-repeats", type=int, default=9, help="repeats of the per-phase timing")
    p.add_argument("--phase-block-s", type=float, default=0.5, help="shortest timed block of the phase timing")
    p.add_argument("--profile-rounds", type=int, default=7,
                   help="profiling rounds, HFF and backprop in turns (medians over rounds)")
    a = p.parse_args(argv)
    quick_defaults(p, a, subset=2000, widths=[[100, 100], [200, 200]], steps=12, blocks=3, profile_rounds=3,
                   phase_repeats=3, phase_block_s=0.05)
    device = setup(a)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    ds = data.load(a.dataset, subset=a.subset, test_subset=100, seed=a.seed)
    steps = None if a.full_epoch else a.steps
    config = dict(dataset=a.dataset, train_size=len(ds.train), widths=[widths_label(w) for w in a.widths],
                  batch_size=a.batch_size, optimizer="adam", lr=a.lr, cooldown=True, methods=methods,
                  steps_timed=steps or "one epoch", blocks=a.blocks,
                  timing="train.fit's step, methods interleaved in blocks; epoch_s = median s/step x steps/epoch")
    meta = metadata(a, device, config, "python benchmarks/training_cost.py " + " ".join(argv or sys.argv[1:]))
    print(header(f"training cost on {ds.describe()}", meta), flush=True)
    rows, profs, phases = [], {}, {}
    for widths in a.widths:
        models = {m: build(m, ds, widths, seed=a.seed) for m in methods}
        res = timing.time_training(models, ds.train, a.batch_size, a.lr, steps=steps, blocks=a.blocks,
                                   seed=a.seed, device=device, progress=True)
        ref = res.get("bp", {}).get("epoch_s")
        for m in methods:
            r = res[m]
            flops = timing.training_flops(models[m], ds.train, a.batch_size, a.lr)
            rows.append(dict(method=m, widths=widths_label(widths), epoch_s=r["epoch_s"],
                             gflop_per_step=flops["total"] / 1e9, flops_by_op=flops["by_op"],
                             epoch_s_sum=r["epoch_s_sum"], samples_per_s=r["samples_per_s"],
                             ratio_to_bp=r["epoch_s"] / ref if ref else None, steps_timed=r["steps_timed"],
                             steps_per_epoch=r["steps_per_epoch"], train_size=r["train_size"],
                             batch_size=a.batch_size, block_step_s=r["block_step_s"]))
        if not a.no_profile:
            for m, ph in timing.training_phases(models, ds.train, a.batch_size, a.lr, device=device,
                                                repeats=a.phase_repeats, min_block_s=a.phase_block_s).items():
                phases[f"{m} {widths_label(widths)}"] = ph
            pm = {f"{m} {widths_label(widths)}": models[m] for m in ("hff", "bp") if m in methods}
            profs.update(timing.profile_training(pm, ds.train, a.batch_size, a.lr, steps=a.profile_steps,
                                                 rounds=a.profile_rounds, device=device))
    body = [[r["method"], r["widths"], f"{r['epoch_s']:.2f}", f"{r['epoch_s_sum']:.2f}",
             f"{r['samples_per_s']:.0f}", f"{r['ratio_to_bp']:.2f}" if r["ratio_to_bp"] else "-",
             f"{r['gflop_per_step']:.3f}"] for r in rows]
    lines = [f"\nseconds per epoch ({len(ds.train)} samples, batch {a.batch_size}; "
             f"{steps or 'all'} steps timed per method, interleaved):",
             table(["method", "widths", "s/epoch (median)", "s/epoch (sum)", "samples/s", "x backprop",
                    "GFLOP/step"], body)]
    checks = []
    for w in a.widths:
        h = next((r for r in rows if r["method"] == "hff" and r["widths"] == widths_label(w)), None)
        if h and h["ratio_to_bp"] is not None:
            ok = h["ratio_to_bp"] <= TARGET
            checks.append(dict(widths=widths_label(w), hff_over_bp=h["ratio_to_bp"], target=TARGET, held=ok))
            lines.append(f"target HFF s/epoch <= {TARGET} x backprop, widths {widths_label(w)}: "
                         f"measured {h['ratio_to_bp']:.2f} -> {'HELD' if ok else 'MISSED'}")
    if phases:
        lines.append(f"\nphases of one training step, ms (median of {a.phase_repeats}, all timed interleaved; "
                     "forward = the losses with their autograd graph):")
        lines.append(table(["model", "forward", "forward+backward", "opt.step"],
                           [[k, f"{v['forward_ms']:.2f}", f"{v['forward_backward_ms']:.2f}", f"{v['step_ms']:.2f}"]
                            for k, v in phases.items()]))
    if profs:
        lines.append(f"\nprofile, ms per training step: median over {a.profile_rounds} rounds of {a.profile_steps} "
                     "steps, HFF and backprop in turns (torch.profiler op self time; optimizer = Adam.step "
                     "incl. its ops; other = non-matmul ops of forward/backward):")
        body = []
        for k, v in profs.items():
            other = v["total_ms"] - v["matmul_ms"] - v["optimizer_ms"]
            top = ", ".join(f"{o['name'].replace('aten::', '')} {o['ms']:.1f}" for o in v["ops"][:4])
            body.append([k, f"{v['total_ms']:.1f}", f"{v['matmul_ms']:.1f}", f"{v['optimizer_ms']:.1f}",
                         f"{other:.1f}", top])
        lines.append(table(["model", "total", "matmuls", "optimizer", "other", "top ops (ms)"], body))
    summary = "\n".join(lines)
    print(summary)
    name = out_name("training_cost", a)
    path = write_results(name, a, meta, rows, extra=dict(targets=checks, summary=summary, phases=phases, profiles={
        k: {kk: vv for kk, vv in v.items() if kk != "table"} for k, v in profs.items()}))
    if profs:
        (path.parent / f"{out_name('training_profile', a)}.txt").write_text(
            "\n\n".join(timing.format_profile(k, v) + "\n" + v["table"] for k, v in profs.items()) + "\n")
    if not a.no_plot:
        from hff_edu.viz.timing_views import plot_training_cost
        save_figure(plot_training_cost(rows), name, a)
    print(f"\nwrote {path} (+ .csv, .png)")
    return dict(rows=rows, targets=checks, path=str(path))


if __name__ == "__main__":
    main()
