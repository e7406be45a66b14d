"""Inference cost against the number of classes C: FF (goodness, one-pass softmax),
HFF (last-layer and summed rules), local cross-entropy and backprop, same widths.

    python benchmarks/inference_vs_classes.py            # C in 2..100, batch 1 and 256, widths 3x500
    python benchmarks/inference_vs_classes.py --quick    # < 1 minute

Synthetic inputs (784 features, like Fashion-MNIST): the cost of a forward pass
does not depend on the values. All variants are timed interleaved for each
(C, batch) under torch.inference_mode (warm-up, median of repeats). A
torch.profiler pass of FF goodness and HFF then shows where the time goes.
Writes results/inference_vs_classes.{json,csv,png} and inference_profile.txt.
"""
from __future__ import annotations

import sys

import torch

from _common import (header, int_list, metadata, out_name, parse_widths, parser, quick_defaults, save_figure,
                     setup, table, widths_label, write_results)
from hff_edu import timing

TARGET = 0.9  # FF/HFF >= TARGET x C at C = 10 and C = 100, batch 256


def profiles(widths, in_features, device, batch, classes, seed, rounds):
    """torch.profiler views of FF goodness and HFF (last) at the given C and batch, in turns."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_features, generator=gen).to(device)
    fns = {}
    for c in classes:
        ffm = timing.make_model("ff", in_features, widths, c, seed).to(device).eval()
        hffm = timing.make_model("hff", in_features, widths, c, seed).to(device).eval()
        fns[f"ff goodness C={c} b={batch}"] = (lambda m: lambda: m.predict(x, mode="goodness"))(ffm)
        fns[f"hff last C={c} b={batch}"] = (lambda m: lambda: m.predict(x, rule="last"))(hffm)
    with torch.inference_mode():
        return timing.profile_interleaved(fns, rounds=rounds, calls=1, device=device)


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--classes", type=int_list, default=[2, 5, 10, 20, 50, 100])
    p.add_argument("--batch-sizes", type=int_list, default=[1, 256])
    p.add_argument("--widths", type=parse_widths, default=[500, 500, 500])
    p.add_argument("--in-features", type=int, default=784)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--min-block-s", type=float, default=0.5,
                   help="shortest timed block: faster calls are repeated inside it, so that a fast variant's "
                        "time is averaged over a window of load comparable to a slow one's")
    p.add_argument("--no-profile", action="store_true", help="skip the torch.profiler pass")
    p.add_argument("--profile-rounds", type=int, default=5, help="profiling rounds, taken in turns (medians)")
    a = p.parse_args(argv)
    quick_defaults(p, a, classes=[2, 10, 50], batch_sizes=[1, 64], widths=[256, 256], repeats=3, warmup=1,
                   min_block_s=0.05, profile_rounds=3)
    device = setup(a)
    config = dict(classes=a.classes, batch_sizes=a.batch_sizes, widths=a.widths, in_features=a.in_features,
                  repeats=a.repeats, warmup=a.warmup, min_block_s=a.min_block_s, variants=list(timing.INFERENCE_VARIANTS),
                  timing="torch.inference_mode, eval mode, interleaved variants, median of repeats")
    meta = metadata(a, device, config, "python benchmarks/inference_vs_classes.py " + " ".join(argv or sys.argv[1:]))
    print(header(f"inference vs number of classes, widths {widths_label(a.widths)}, "
                 f"{a.in_features} inputs", meta), flush=True)
    rows = timing.inference_vs_classes(a.classes, a.batch_sizes, a.in_features, a.widths,
                                       repeats=a.repeats, warmup=a.warmup, device=device, seed=a.seed,
                                       progress=True, min_block_s=a.min_block_s)
    ratios = timing.speedups(rows)
    variants = list(dict.fromkeys(r["variant"] for r in rows))  # what was timed
    sps = {(r["num_classes"], r["batch_size"], r["variant"]): r["samples_per_s"] for r in rows}
    passes = {(r["num_classes"], r["variant"]): r["passes"] for r in rows}
    text = []
    for b in a.batch_sizes:
        body = []
        for c in a.classes:
            ratio = next(s for s in ratios if s["num_classes"] == c and s["batch_size"] == b)
            body.append([c] + [f"{sps[(c, b, v)]:.4g}" for v in variants]
                        + [passes[(c, "ff goodness")], f"{ratio['ratio']:.2f}", f"{ratio['ratio_over_C']:.2f}",
                           f"{ratio.get('flop_ratio', float('nan')):.2f}"])
        text.append(f"\nsamples per second, batch {b} (median of {a.repeats}; FF/HFF = time(ff goodness) / "
                    f"time(hff last); FLOP ratio = their matmul arithmetic per sample):\n"
                    + table(["C"] + variants + ["FF passes", "FF/HFF", "ratio/C", "FLOP ratio"], body))
    checks = []
    big = max(a.batch_sizes)
    for c in (10, 100):
        r = next((s for s in ratios if s["num_classes"] == c and s["batch_size"] == big), None)
        if r is not None:
            ok = r["ratio"] >= TARGET * c
            checks.append(dict(num_classes=c, batch_size=big, ratio=r["ratio"], target=TARGET * c, held=ok,
                               flop_ratio=r.get("flop_ratio")))
            text.append(f"target FF/HFF >= {TARGET} x C at C={c}, batch {big}: measured {r['ratio']:.2f} "
                        f"(= {r['ratio_over_C']:.2f} x C; FLOP ratio {r.get('flop_ratio', float('nan')):.2f}) "
                        f"-> {'HELD' if ok else 'MISSED'}")
    prof_text, prof_summary = "", {}
    if not a.no_profile:
        pc = [c for c in (10, 100) if c in a.classes] or a.classes[-1:]
        profs = profiles(a.widths, a.in_features, device, big, pc, a.seed, a.profile_rounds)
        profs.update(profiles(a.widths, a.in_features, device, 1, pc[:1], a.seed, a.profile_rounds))
        blocks = [timing.format_profile(k, v) for k, v in profs.items()]
        prof_text = "\n\n".join(blocks)
        lines = ["\nprofile (op self time per predict call, torch.profiler, median of "
                 f"{a.profile_rounds} interleaved rounds):"]
        for c in pc:
            f, h = profs[f"ff goodness C={c} b={big}"], profs[f"hff last C={c} b={big}"]
            lines.append(f"  C={c:<3} batch {big}: FF {f['total_ms']:.2f} ms ({f['matmul_ms']:.2f} in matmuls), "
                         f"HFF {h['total_ms']:.2f} ms ({h['matmul_ms']:.2f} in matmuls); "
                         f"profile ratio {f['total_ms'] / h['total_ms']:.2f}, matmul-only ratio "
                         f"{f['matmul_ms'] / max(h['matmul_ms'], 1e-9):.2f}")
            proto = sum(o["ms"] for o in h["ops"] if o["name"] == "aten::mm")
            lines.append(f"         HFF's prototype scores (aten::mm) {proto:.2f} ms = "
                         f"{100 * proto / h['total_ms']:.1f}% of HFF's time; FF's non-matmul ops "
                         f"{100 * (1 - f['matmul_ms'] / f['total_ms']):.1f}% of FF's time")
            prof_summary[c] = dict(ff_ms=f["total_ms"], hff_ms=h["total_ms"], ff_matmul_ms=f['matmul_ms'],
                                   hff_matmul_ms=h['matmul_ms'], hff_ops=h["ops"], ff_ops=f["ops"])
        text.append("\n".join(lines))
    summary = "\n".join(text)
    print(summary)
    name = out_name("inference_vs_classes", a)
    path = write_results(name, a, meta, rows, extra=dict(speedups=ratios, targets=checks,
                                                          profile_summary=prof_summary, summary=summary))
    if prof_text:
        (path.parent / f"{out_name('inference_profile', a)}.txt").write_text(prof_text + "\n")
    if not a.no_plot:
        from hff_edu.viz.timing_views import plot_inference_vs_classes
        save_figure(plot_inference_vs_classes(rows), name, a)
    print(f"\nwrote {path} (+ .csv, .png{', profile txt' if prof_text else ''})")
    return dict(rows=rows, speedups=ratios, targets=checks, path=str(path))


if __name__ == "__main__":
    main()
