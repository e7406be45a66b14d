"""Peak activation memory of one training step against depth: HFF, local
cross-entropy and FF free each layer's activations as they go; backprop keeps them all.

    python benchmarks/memory_vs_depth.py              # depths 2,4,8,16; width 512; batch 2048
    python benchmarks/memory_vs_depth.py --device cuda  # also torch.cuda.max_memory_allocated
    python benchmarks/memory_vs_depth.py --quick      # < 1 minute

One step exactly as train.fit runs it (zero_grad, model.backward_local, Adam
step), after a first step that creates Adam's state. Every tensor storage that
a torch op creates during the step is accounted for, from its creation to its
release (hff_edu.measuring.memory.LiveTensors, a TorchDispatchMode: it sees the forward,
autograd's backward and the optimiser). Gradients are recognised afterwards and
left out, parameters/optimiser state/the input batch existed before: the peak is
that of activations and temporaries. Writes results/memory_vs_depth.{json,csv,png}.
"""
from __future__ import annotations

import sys

from _common import (header, int_list, metadata, out_name, parser, quick_defaults, save_figure, setup, table,
                     write_results)
from hff_edu import memory

FLAT = 1.25  # a local method's peak at the largest depth <= FLAT x its peak at the smallest


def mib(b) -> str:
    return f"{b / 2**20:.1f}"


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--methods", default="hff,local-ce,ff,bp")
    p.add_argument("--depths", type=int_list, default=[2, 4, 8, 16])
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--in-features", type=int, default=784)
    p.add_argument("--num-classes", type=int, default=10)
    a = p.parse_args(argv)
    quick_defaults(p, a, depths=[2, 4, 8], width=512, batch_size=512)
    device = setup(a)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    config = dict(methods=methods, depths=a.depths, width=a.width, batch_size=a.batch_size,
                  in_features=a.in_features, num_classes=a.num_classes, optimizer="adam",
                  accounting="hff_edu.measuring.memory.LiveTensors (TorchDispatchMode storage accounting); "
                             "peak minus parameters, gradients, optimiser state and input batch")
    meta = metadata(a, device, config, "python benchmarks/memory_vs_depth.py " + " ".join(argv or sys.argv[1:]))
    print(header(f"activation memory vs depth, width {a.width}, batch {a.batch_size}", meta), flush=True)
    rows = memory.memory_vs_depth(methods, a.depths, a.width, a.batch_size, a.in_features, a.num_classes,
                                  device=device, seed=a.seed, progress=True)
    peak = {(r["method"], r["depth"]): r for r in rows}
    one = rows[0]["one_layer_activation"]
    cuda = "cuda_peak_minus_base" in rows[0]
    body = []
    for m in methods:
        growth = peak[(m, a.depths[-1])]["activation_peak"] / peak[(m, a.depths[0])]["activation_peak"]
        body.append([m] + [mib(peak[(m, d)]["activation_peak"]) for d in a.depths]
                    + [f"{growth:.2f}", mib(peak[(m, a.depths[-1])]["optimizer_peak"])])
    lines = [f"\npeak activation memory of one training step, MiB (one layer's activation = "
             f"{mib(one)} MiB; batch {a.batch_size}, width {a.width}):",
             table(["method"] + [f"depth {d}" for d in a.depths]
                   + [f"x{a.depths[-1]}/{a.depths[0]}", f"opt.step temp (depth {a.depths[-1]})"], body)]
    if cuda:
        lines.append("\ntorch.cuda.max_memory_allocated minus memory before the step (gradients included), MiB:")
        lines.append(table(["method"] + [f"depth {d}" for d in a.depths],
                           [[m] + [mib(peak[(m, d)]["cuda_peak_minus_base"]) for d in a.depths] for m in methods]))
    checks = []
    for m in methods:
        g = peak[(m, a.depths[-1])]["activation_peak"] / peak[(m, a.depths[0])]["activation_peak"]
        if m != "bp":
            checks.append(dict(method=m, growth=g, target=FLAT, held=g <= FLAT))
            lines.append(f"target: {m} peak nearly flat (depth {a.depths[-1]} <= {FLAT} x depth {a.depths[0]}): "
                         f"x{g:.2f} -> {'HELD' if g <= FLAT else 'MISSED'}")
    lines.append(f"\nlargest live storages at the peak, depth {a.depths[-1]} (op that made them, MiB):")
    for m in methods:
        top = ", ".join(f"{t['op'].replace('aten.', '')} {mib(t['nbytes'])}"
                        for t in peak[(m, a.depths[-1])]["at_peak"])
        lines.append(f"  {m:<9} {top}")
    summary = "\n".join(lines)
    print(summary)
    name = out_name("memory_vs_depth", a)
    path = write_results(name, a, meta, rows, extra=dict(targets=checks, summary=summary))
    if not a.no_plot:
        from hff_edu.viz.timing_views import plot_memory_vs_depth
        save_figure(plot_memory_vs_depth(rows), name, a)
    print(f"\nwrote {path} (+ .csv, .png)")
    return dict(rows=rows, targets=checks, path=str(path))


if __name__ == "__main__":
    main()
